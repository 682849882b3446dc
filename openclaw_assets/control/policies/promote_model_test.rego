package openclaw.promote_model_test

import rego.v1

import data.openclaw.promote_model

good := {
	"version": "3",
	"checks": [
		{"asset": "model_evaluation", "name": "auc_floor", "passed": true, "blocking": true},
		{"asset": "model_evaluation", "name": "calibration_note", "passed": false, "blocking": false},
	],
	"quality": {"auc": 0.82, "floor": 0.70},
	"staging": {"p99_ms": 12.9, "budget_ms": 100.0, "passed": true},
	"rolled_back_versions": ["2"],
	"approval": {"required": false, "approvals": []},
	"readiness": {"score": 2.5, "minimum": 2.0},
}

# the changed fields replace the good ones whole (object.union alone would merge nested objects)
with_changes(changes) := object.union(object.remove(good, [key | some key, _ in changes]), changes)

test_a_ready_version_is_promoted if {
	count(promote_model.deny) == 0 with input as good
}

test_a_version_without_a_name_denies if {
	promote_model.deny == {"version must name the model version"} with input as with_changes({"version": ""})
}

test_a_failed_blocking_check_is_named if {
	promote_model.deny == {"blocking check auc_floor of model_evaluation failed"} with input as with_changes({"checks": [{"asset": "model_evaluation", "name": "auc_floor", "passed": false, "blocking": true}]})
}

test_a_check_without_a_result_counts_as_failed if {
	promote_model.deny == {"blocking check auc_floor of model_evaluation failed"} with input as with_changes({"checks": [{"asset": "model_evaluation", "name": "auc_floor"}]})
}

test_checks_that_are_not_a_list_deny if {
	promote_model.deny == {"checks must be a list of check results"} with input as object.remove(good, ["checks"])
}

test_an_auc_below_the_floor_denies if {
	promote_model.deny == {"AUC 0.65 is below the floor 0.7"} with input as with_changes({"quality": {"auc": 0.65, "floor": 0.70}})
}

test_an_auc_at_the_floor_is_allowed if {
	count(promote_model.deny) == 0 with input as with_changes({"quality": {"auc": 0.70, "floor": 0.70}})
}

test_quality_without_numbers_denies if {
	promote_model.deny == {"quality needs a numeric auc and floor"} with input as with_changes({"quality": {"auc": null, "floor": 0.70}})
}

test_a_failed_staging_denies if {
	promote_model.deny == {"staging validation did not pass"} with input as with_changes({"staging": {"p99_ms": 12.9, "budget_ms": 100.0, "passed": false}})
}

test_staging_without_a_verdict_denies if {
	promote_model.deny == {"staging validation did not pass"} with input as with_changes({"staging": {"p99_ms": 12.9, "budget_ms": 100.0}})
}

test_a_p99_over_budget_denies if {
	promote_model.deny == {"staging p99 120.5 ms is over the 100 ms budget"} with input as with_changes({"staging": {"p99_ms": 120.5, "budget_ms": 100, "passed": true}})
}

test_staging_without_latency_figures_denies if {
	promote_model.deny == {"staging needs a numeric p99_ms and budget_ms"} with input as with_changes({"staging": {"passed": true}})
}

test_a_version_rolled_back_before_denies if {
	promote_model.deny == {"version 2 was rolled back before"} with input as with_changes({"version": "2"})
}

test_rolled_back_versions_that_are_not_a_list_deny if {
	promote_model.deny == {"rolled_back_versions must be a list of versions"} with input as with_changes({"rolled_back_versions": null})
}

test_a_required_approval_that_is_missing_denies if {
	promote_model.deny == {"version 3 needs an approval and has none"} with input as with_changes({"approval": {"required": true, "approvals": [{"by": "ana", "version": "2"}]}})
}

test_a_required_approval_for_this_version_is_allowed if {
	count(promote_model.deny) == 0 with input as with_changes({"approval": {"required": true, "approvals": [{"by": "ana", "version": "3"}]}})
}

test_an_approval_by_nobody_is_no_approval if {
	promote_model.deny == {"version 3 needs an approval and has none"} with input as with_changes({"approval": {"required": true, "approvals": [{"by": "", "version": "3"}]}})
}

test_approval_is_required_unless_the_input_says_otherwise if {
	promote_model.deny == {"version 3 needs an approval and has none"} with input as object.remove(good, ["approval"])
}

test_a_readiness_below_the_minimum_denies if {
	promote_model.deny == {"readiness score 1.5 is below the minimum 2"} with input as with_changes({"readiness": {"score": 1.5, "minimum": 2}})
}

test_readiness_without_numbers_denies if {
	promote_model.deny == {"readiness needs a numeric score and minimum"} with input as with_changes({"readiness": {}})
}

test_an_empty_input_gives_every_reason if {
	count(promote_model.deny) == 8 with input as {}
	"version (none) needs an approval and has none" in promote_model.deny with input as {}
}
