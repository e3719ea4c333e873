# The k8sallowedrepos shape with regexes instead of prefixes, the peer of a
# policy of regex rules: an image is allowed when it matches one of
# `input.parameters.patterns` (each anchored at both ends).
package k8sallowedreposregex

container_lists := ["containers", "initContainers", "ephemeralContainers"]

violation contains {"msg": msg} if {
	some list in container_lists
	some container in input.review.object.spec[list]
	not matches_any(container.image)
	msg := sprintf("%v <%v> has an invalid image <%v>", [list, container.name, container.image])
}

matches_any(image) if {
	some pattern in input.parameters.patterns
	regex.match(pattern, image)
}
