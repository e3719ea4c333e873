# The Gatekeeper library's k8sallowedrepos constraint template
# (github.com/open-policy-agent/gatekeeper-library, library/general/allowedrepos):
# an image is allowed when it starts with one of `input.parameters.repos`,
# for containers, initContainers and ephemeralContainers. Written here in
# Rego v1 syntax (which regorus expects); the logic is the library's.
package k8sallowedrepos

container_lists := ["containers", "initContainers", "ephemeralContainers"]

violation contains {"msg": msg} if {
	some list in container_lists
	some container in input.review.object.spec[list]
	not strings.any_prefix_match(container.image, input.parameters.repos)
	msg := sprintf("%v <%v> has an invalid image repo <%v>, allowed repos are %v", [list, container.name, container.image, input.parameters.repos])
}
