# May a trained model version be registered? It must say where it came from (run, code, feature
# service, partitions), carry every required tag, and its training set must be the one in the ledger.
#
# Input: {"model": "flight_delay", "run_id": "...", "code_version": "...", "feature_service": "...",
#         "partitions": ["2013-01", ...], "training_set": {"digest": "...", "ledger_digest": "..." | null},
#         "missing_tags": []}
package openclaw.register_model

import rego.v1

import data.common.has_text
import data.common.non_empty_array

deny contains sprintf("%s is empty: a registered version must name it", [name]) if {
	some name in ["run_id", "code_version", "feature_service"]
	not has_text(input[name])
}

deny contains "the model was trained on no partitions" if not non_empty_array(input.partitions)

deny contains "the training set has no digest" if not has_text(input.training_set.digest)

deny contains "the training set is not in the ledger" if not has_text(input.training_set.ledger_digest)

deny contains msg if {
	has_text(input.training_set.digest)
	has_text(input.training_set.ledger_digest)
	input.training_set.digest != input.training_set.ledger_digest
	msg := sprintf(
		"the training set's digest %s differs from the ledger's %s",
		[input.training_set.digest, input.training_set.ledger_digest],
	)
}

deny contains sprintf("the version lacks the tags %s", [concat(", ", sort(input.missing_tags))]) if {
	is_array(input.missing_tags)
	count(input.missing_tags) > 0
}

deny contains "missing_tags must be a list of tag names" if not is_array(input.missing_tags)
