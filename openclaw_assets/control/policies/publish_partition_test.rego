package openclaw.publish_partition_test

import rego.v1

import data.openclaw.publish_partition

good := {
	"table": "flights",
	"partition": "2013-01",
	"rows": 27004,
	"quarantined": 3,
	"quarantine_share": 0.0001,
	"checks": [
		{"name": "schema", "passed": true, "blocking": true},
		{"name": "late_arrivals", "passed": false, "blocking": false},
	],
}

test_a_clean_partition_is_published if {
	count(publish_partition.deny) == 0 with input as good
}

test_a_failed_non_blocking_check_does_not_hold_it_back if {
	count(publish_partition.deny) == 0 with input as object.union(good, {"checks": [{"name": "drift", "passed": false, "blocking": false}]})
}

test_no_checks_at_all_is_allowed if {
	count(publish_partition.deny) == 0 with input as object.union(good, {"checks": []})
}

test_a_failed_blocking_check_is_named if {
	publish_partition.deny == {"blocking check schema failed"} with input as object.union(good, {"checks": [
		{"name": "schema", "passed": false, "blocking": true},
		{"name": "keys", "passed": true, "blocking": true},
	]})
}

test_a_blocking_check_without_a_result_counts_as_failed if {
	publish_partition.deny == {"blocking check keys failed"} with input as object.union(good, {"checks": [{"name": "keys", "passed": null, "blocking": true}]})
}

test_a_check_that_does_not_say_whether_it_blocks_counts_as_blocking if {
	publish_partition.deny == {"blocking check keys failed"} with input as object.union(good, {"checks": [{"name": "keys", "passed": false}]})
}

test_a_blocking_check_without_a_passed_field_counts_as_failed if {
	publish_partition.deny == {"blocking check keys failed"} with input as object.union(good, {"checks": [{"name": "keys", "blocking": true}]})
}

test_checks_that_are_not_a_list_deny if {
	"checks must be a list of check results" in publish_partition.deny with input as object.union(good, {"checks": null})
}

test_an_empty_partition_is_held_back if {
	publish_partition.deny == {"partition 2013-01 of flights has no rows"} with input as object.union(good, {"rows": 0})
}

test_rows_that_are_not_a_number_deny if {
	publish_partition.deny == {"rows must be a number"} with input as object.remove(good, ["rows"])
}

test_a_quarantine_share_at_the_limit_is_allowed if {
	count(publish_partition.deny) == 0 with input as object.union(good, {"quarantine_share": 0.05})
}

test_a_quarantine_share_over_the_limit_is_held_back if {
	publish_partition.deny == {"5.10% of the rows were quarantined, over the 5% limit"} with input as object.union(good, {"quarantine_share": 0.051})
}

test_a_missing_quarantine_share_denies if {
	publish_partition.deny == {"quarantine_share must be a number"} with input as object.union(good, {"quarantine_share": "0.01"})
}

test_every_reason_is_given_at_once if {
	count(publish_partition.deny) == 3 with input as object.union(good, {
		"rows": 0,
		"quarantine_share": 0.5,
		"checks": [{"name": "schema", "passed": false, "blocking": true}],
	})
}

test_a_reason_is_given_even_when_the_input_lacks_the_names if {
	publish_partition.deny == {"partition (none) of (none) has no rows", "blocking check (none) failed"} with input as {
		"rows": 0,
		"quarantine_share": 0,
		"checks": [{"passed": false}],
	}
}
