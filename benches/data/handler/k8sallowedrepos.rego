# The Gatekeeper library's k8sallowedrepos policy (general/allowedrepos, the
# current template with strings.any_prefix_match): an image is allowed when it
# starts with one of input.parameters.repos. Rules for the three container
# lists, as in the library, in Rego v0 syntax as the library's template is.
#
# Gatekeeper judges a Deployment by expanding it into the Pod it makes
# (ExpansionTemplate); the benchmark's input conversion does the same, so the
# rules read input.review.object.spec as a Pod spec.
package k8sallowedrepos

violation[{"msg": msg}] {
  container := input.review.object.spec.containers[_]
  not strings.any_prefix_match(container.image, input.parameters.repos)
  msg := sprintf("container <%v> has an invalid image repo <%v>, allowed repos are %v", [container.name, container.image, input.parameters.repos])
}

violation[{"msg": msg}] {
  container := input.review.object.spec.initContainers[_]
  not strings.any_prefix_match(container.image, input.parameters.repos)
  msg := sprintf("initContainer <%v> has an invalid image repo <%v>, allowed repos are %v", [container.name, container.image, input.parameters.repos])
}

violation[{"msg": msg}] {
  container := input.review.object.spec.ephemeralContainers[_]
  not strings.any_prefix_match(container.image, input.parameters.repos)
  msg := sprintf("ephemeralContainer <%v> has an invalid image repo <%v>, allowed repos are %v", [container.name, container.image, input.parameters.repos])
}
