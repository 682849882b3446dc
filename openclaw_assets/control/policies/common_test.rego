package common_test

import rego.v1

import data.common

test_text_is_a_string_that_is_not_blank if {
	common.has_text("a")
	not common.has_text(" \t")
	not common.has_text(null)
	not common.has_text(3)
}

test_numbers_are_both_numbers if {
	common.numbers(1, 0.5)
	not common.numbers(1, "2")
	not common.numbers(null, 2)
}

test_a_non_empty_array_has_an_item if {
	common.non_empty_array([1])
	not common.non_empty_array([])
	not common.non_empty_array("ab")
}

test_shown_names_a_field_or_says_none if {
	common.shown({"name": "schema"}, "name") == "schema"
	common.shown({"name": null}, "name") == "(none)"
	common.shown({}, "name") == "(none)"
	common.shown("not an object", "name") == "(none)"
}
