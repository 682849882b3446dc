# May the Feast registry be applied? Every view is owned, expires and is described; every field is
# classified; nothing personal is served online; every service names views that exist.
#
# Input: {"feature_views": [{"name": "...", "owner": "..." | null, "ttl_seconds": 0 | int,
#           "description": "...", "online": true,
#           "fields": [{"name": "...", "classification": "public" | "internal" | "personal" | null}]}],
#         "feature_services": [{"name": "...", "views": ["..."]}]}
package openclaw.feast_apply

import rego.v1

import data.common.has_text
import data.common.shown

classifications := {"public", "internal", "personal"}

views := input.feature_views if is_array(input.feature_views)

else := []

services := input.feature_services if is_array(input.feature_services)

else := []

fields(view) := view.fields if is_array(view.fields)

else := []

view_names := {view.name | some view in views}

deny contains "feature_views must be a list of feature views" if not is_array(input.feature_views)

deny contains "feature_services must be a list of feature services" if not is_array(input.feature_services)

deny contains sprintf("feature view %v has no owner", [shown(view, "name")]) if {
	some view in views
	not has_text(view.owner)
}

deny contains sprintf("feature view %v has no TTL: its values would never expire", [shown(view, "name")]) if {
	some view in views
	not positive(view.ttl_seconds)
}

positive(value) if {
	is_number(value)
	value > 0
}

deny contains sprintf("feature view %v has no description", [shown(view, "name")]) if {
	some view in views
	not has_text(view.description)
}

deny contains msg if {
	some view in views
	some field in fields(view)
	not field.classification in classifications
	msg := sprintf(
		"field %v of feature view %v has no classification (public, internal or personal)",
		[shown(field, "name"), shown(view, "name")],
	)
}

deny contains msg if {
	some view in views
	view.online == true
	some field in fields(view)
	field.classification == "personal"
	msg := sprintf(
		"feature view %v is served online but its field %v is classed personal",
		[shown(view, "name"), shown(field, "name")],
	)
}

deny contains msg if {
	some service in services
	is_array(service.views)
	some name in service.views
	not name in view_names
	msg := sprintf("feature service %v names feature view %v, which does not exist", [shown(service, "name"), name])
}
