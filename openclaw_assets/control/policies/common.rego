# Helpers the decision points share. Not a decision point itself (its package is not openclaw.*).
package common

import rego.v1

# A string with something other than blanks in it.
has_text(value) if {
	is_string(value)
	trim_space(value) != ""
}

# Both are numbers (so that comparing them means something).
numbers(a, b) if {
	is_number(a)
	is_number(b)
}

# A non-empty list.
non_empty_array(value) if {
	is_array(value)
	count(value) > 0
}

# thing[key] for a message, or "(none)" when it is missing or null, so that a reason is never lost
# because the input lacks the field it would name.
shown(thing, key) := thing[key] if thing[key] != null

else := "(none)"
