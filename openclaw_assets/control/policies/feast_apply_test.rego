package openclaw.feast_apply_test

import rego.v1

import data.openclaw.feast_apply

view(changes) := object.union(
	{
		"name": "carrier_stats",
		"owner": "ml-platform",
		"ttl_seconds": 7776000,
		"description": "Point-in-time delay rates per carrier.",
		"online": true,
		"fields": [
			{"name": "carrier_delay_rate", "classification": "internal"},
			{"name": "carrier", "classification": "public"},
		],
	},
	changes,
)

registry(views, services) := {"feature_views": views, "feature_services": services}

good := registry(
	[view({}), view({"name": "tail_recent", "online": false, "fields": [{"name": "tailnum", "classification": "personal"}]})],
	[{"name": "flight_delay_v1", "views": ["carrier_stats", "tail_recent"]}],
)

test_a_complete_registry_is_applied if {
	count(feast_apply.deny) == 0 with input as good
}

test_an_empty_registry_is_applied if {
	count(feast_apply.deny) == 0 with input as registry([], [])
}

test_a_view_without_an_owner_denies if {
	feast_apply.deny == {"feature view carrier_stats has no owner"} with input as registry([view({"owner": null})], [])
}

test_a_blank_owner_is_no_owner if {
	feast_apply.deny == {"feature view carrier_stats has no owner"} with input as registry([view({"owner": "  "})], [])
}

test_a_view_without_a_ttl_denies if {
	feast_apply.deny == {"feature view carrier_stats has no TTL: its values would never expire"} with input as registry([view({"ttl_seconds": 0})], [])
}

test_a_null_ttl_is_no_ttl if {
	feast_apply.deny == {"feature view carrier_stats has no TTL: its values would never expire"} with input as registry([view({"ttl_seconds": null})], [])
}

test_a_view_without_a_description_denies if {
	feast_apply.deny == {"feature view carrier_stats has no description"} with input as registry([view({"description": ""})], [])
}

test_an_unclassified_field_denies if {
	feast_apply.deny == {"field carrier of feature view carrier_stats has no classification (public, internal or personal)"} with input as registry(
		[view({"fields": [{"name": "carrier", "classification": null}]})],
		[],
	)
}

test_an_unknown_classification_denies if {
	feast_apply.deny == {"field carrier of feature view carrier_stats has no classification (public, internal or personal)"} with input as registry(
		[view({"fields": [{"name": "carrier", "classification": "secret"}]})],
		[],
	)
}

test_a_personal_field_in_an_online_view_denies if {
	feast_apply.deny == {"feature view carrier_stats is served online but its field tailnum is classed personal"} with input as registry(
		[view({"fields": [{"name": "tailnum", "classification": "personal"}]})],
		[],
	)
}

test_a_personal_field_offline_only_is_allowed if {
	count(feast_apply.deny) == 0 with input as registry(
		[view({"online": false, "fields": [{"name": "tailnum", "classification": "personal"}]})],
		[],
	)
}

test_a_view_without_fields_is_allowed if {
	count(feast_apply.deny) == 0 with input as registry([view({"fields": null})], [])
}

test_a_service_naming_a_missing_view_denies if {
	feast_apply.deny == {"feature service flight_delay_v1 names feature view weather_hourly, which does not exist"} with input as registry(
		[view({})],
		[{"name": "flight_delay_v1", "views": ["carrier_stats", "weather_hourly"]}],
	)
}

test_a_registry_that_is_not_lists_denies if {
	feast_apply.deny == {
		"feature_views must be a list of feature views",
		"feature_services must be a list of feature services",
	} with input as {}
}

test_every_problem_of_a_view_is_listed if {
	count(feast_apply.deny) == 3 with input as registry([view({"owner": null, "ttl_seconds": 0, "description": null})], [])
}

test_a_view_without_a_name_is_still_judged if {
	feast_apply.deny == {"feature view (none) has no owner"} with input as registry([object.remove(view({"owner": null}), ["name"])], [])
}
