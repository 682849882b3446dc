# May a model version become champion? Its blocking checks passed, its quality is at least the
# floor, staging passed within its latency budget, it was never rolled back, it is approved when
# approval is required, and its release readiness reaches the minimum.
#
# Input: {"version": "3", "checks": [{"asset": "model_evaluation", "name": "...", "passed": true, "blocking": true}],
#         "quality": {"auc": 0.82, "floor": 0.70}, "staging": {"p99_ms": 12.9, "budget_ms": 100.0, "passed": true},
#         "rolled_back_versions": ["2"], "approval": {"required": false, "approvals": [{"by": "...", "version": "3"}]},
#         "readiness": {"score": 2.5, "minimum": 2.0}}
package openclaw.promote_model

import rego.v1

import data.common.has_text
import data.common.numbers
import data.common.shown

deny contains "version must name the model version" if not has_text(input.version)

deny contains sprintf("blocking check %v of %v failed", [shown(check, "name"), shown(check, "asset")]) if {
	is_array(input.checks)
	some check in input.checks
	not check.blocking == false # a check that does not say counts as blocking
	not check.passed == true
}

deny contains "checks must be a list of check results" if not is_array(input.checks)

deny contains sprintf("AUC %v is below the floor %v", [input.quality.auc, input.quality.floor]) if {
	numbers(input.quality.auc, input.quality.floor)
	input.quality.auc < input.quality.floor
}

deny contains "quality needs a numeric auc and floor" if not numbers(input.quality.auc, input.quality.floor)

deny contains "staging validation did not pass" if not input.staging.passed == true

deny contains sprintf("staging p99 %v ms is over the %v ms budget", [input.staging.p99_ms, input.staging.budget_ms]) if {
	numbers(input.staging.p99_ms, input.staging.budget_ms)
	input.staging.p99_ms > input.staging.budget_ms
}

deny contains "staging needs a numeric p99_ms and budget_ms" if not numbers(input.staging.p99_ms, input.staging.budget_ms)

deny contains sprintf("version %v was rolled back before", [input.version]) if {
	is_array(input.rolled_back_versions)
	input.version in input.rolled_back_versions
}

deny contains "rolled_back_versions must be a list of versions" if not is_array(input.rolled_back_versions)

deny contains sprintf("version %v needs an approval and has none", [shown(input, "version")]) if {
	not input.approval.required == false # required unless the input says otherwise
	not approved
}

approved if {
	is_array(input.approval.approvals)
	some approval in input.approval.approvals
	approval.version == input.version
	has_text(approval.by)
}

deny contains sprintf("readiness score %v is below the minimum %v", [input.readiness.score, input.readiness.minimum]) if {
	numbers(input.readiness.score, input.readiness.minimum)
	input.readiness.score < input.readiness.minimum
}

deny contains "readiness needs a numeric score and minimum" if not numbers(input.readiness.score, input.readiness.minimum)
