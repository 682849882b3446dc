package openclaw.register_model_test

import rego.v1

import data.openclaw.register_model

good := {
	"model": "flight_delay",
	"run_id": "4f0c2b1e",
	"code_version": "5b28a36",
	"feature_service": "flight_delay_v1",
	"partitions": ["2013-01", "2013-02"],
	"training_set": {"digest": "ab12", "ledger_digest": "ab12"},
	"missing_tags": [],
}

with_changes(changes) := object.union(good, changes)

test_a_traceable_version_is_registered if {
	count(register_model.deny) == 0 with input as good
}

test_an_empty_run_id_denies if {
	register_model.deny == {"run_id is empty: a registered version must name it"} with input as with_changes({"run_id": ""})
}

test_an_empty_code_version_denies if {
	register_model.deny == {"code_version is empty: a registered version must name it"} with input as with_changes({"code_version": " "})
}

test_a_missing_feature_service_denies if {
	register_model.deny == {"feature_service is empty: a registered version must name it"} with input as object.remove(good, ["feature_service"])
}

test_no_partitions_denies if {
	register_model.deny == {"the model was trained on no partitions"} with input as with_changes({"partitions": []})
}

test_partitions_that_are_not_a_list_deny if {
	register_model.deny == {"the model was trained on no partitions"} with input as with_changes({"partitions": "2013-01"})
}

test_a_training_set_missing_from_the_ledger_denies if {
	register_model.deny == {"the training set is not in the ledger"} with input as with_changes({"training_set": {"digest": "ab12", "ledger_digest": null}})
}

test_a_training_set_without_a_digest_denies if {
	register_model.deny == {"the training set has no digest"} with input as with_changes({"training_set": {"digest": null, "ledger_digest": "ab12"}})
}

test_a_training_set_that_differs_from_the_ledger_denies if {
	register_model.deny == {"the training set's digest cd34 differs from the ledger's ab12"} with input as with_changes({"training_set": {"digest": "cd34", "ledger_digest": "ab12"}})
}

test_missing_tags_are_named if {
	register_model.deny == {"the version lacks the tags code_version, partitions"} with input as with_changes({"missing_tags": ["partitions", "code_version"]})
}

test_missing_tags_that_are_not_a_list_deny if {
	register_model.deny == {"missing_tags must be a list of tag names"} with input as object.remove(good, ["missing_tags"])
}

test_an_empty_input_gives_every_reason if {
	count(register_model.deny) == 7 with input as {}
}
