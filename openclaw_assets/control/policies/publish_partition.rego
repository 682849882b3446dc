# May a validated partition be published downstream?
#
# Input: {"table": "flights", "partition": "2013-01", "rows": 27004, "quarantined": 3,
#         "quarantine_share": 0.0001, "checks": [{"name": "...", "passed": true, "blocking": true}]}
package openclaw.publish_partition

import rego.v1

import data.common.shown

# The largest share of a partition's rows that may be quarantined before the partition is held back.
max_quarantine_share := 0.05

deny contains sprintf("blocking check %v failed", [shown(check, "name")]) if {
	is_array(input.checks)
	some check in input.checks
	not check.blocking == false # a check that does not say counts as blocking
	not check.passed == true
}

deny contains "checks must be a list of check results" if not is_array(input.checks)

deny contains sprintf("partition %v of %v has no rows", [shown(input, "partition"), shown(input, "table")]) if {
	is_number(input.rows)
	input.rows <= 0
}

deny contains "rows must be a number" if not is_number(input.rows)

deny contains msg if {
	is_number(input.quarantine_share)
	input.quarantine_share > max_quarantine_share
	msg := sprintf(
		"%.2f%% of the rows were quarantined, over the %.0f%% limit",
		[input.quarantine_share * 100, max_quarantine_share * 100],
	)
}

deny contains "quarantine_share must be a number" if not is_number(input.quarantine_share)
