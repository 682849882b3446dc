# May this gateway request go ahead? The gateway asks for every request it routes; it answers 401
# when there is no role (no token, or an unknown one) and 403 otherwise, with these reasons.
#
#   predict  POST /v1/predict
#   auditor  GET /v1/audit/* (the ledger and its decisions); nothing that scores or changes state
#   admin    everything, /v1/admin/* included
#   anyone   the probes and scraping: GET /healthz, /readyz, /metrics
#
# A route no grant names is for admin alone, so a new endpoint starts closed. Pinning a request
# to the challenger is for admin alone (the gateway sends "model": null: callers cannot choose a
# variant today).
#
# Input: {"role": "predict" | "admin" | "auditor" | null, "method": "POST", "route": "/v1/predict",
#         "model": "champion" | "challenger" | null}
#
# This runs on every request, so it is written for speed: literal sets and one partial set, no
# function calls (each reference to another rule costs regorus a few microseconds).
package openclaw.gateway_request

import rego.v1

# The roles that may make this call.
permitted contains "admin"

permitted contains "predict" if {
	input.method == "POST"
	input.route == "/v1/predict"
}

permitted contains "auditor" if {
	input.method == "GET"
	startswith(input.route, "/v1/audit/")
}

# Calls anyone may make, with a token or without.
is_open if {
	input.method == "GET"
	input.route in {"/healthz", "/readyz", "/metrics"}
}

deny contains "the request must name its method and route" if not is_string(input.method)

deny contains "the request must name its method and route" if input.method == ""

deny contains "the request must name its method and route" if not is_string(input.route)

deny contains "the request must name its method and route" if input.route == ""

deny contains "a valid bearer token is required" if {
	not is_string(input.role)
	not is_open
}

deny contains sprintf("unknown role %v", [input.role]) if {
	is_string(input.role)
	not input.role in {"predict", "admin", "auditor"}
	not is_open
}

deny contains sprintf("this endpoint needs the %s role", [concat(" or ", sort(permitted))]) if {
	input.role in {"predict", "admin", "auditor"}
	not input.role in permitted
	not is_open
}

deny contains "only the admin role may pin a request to the challenger" if {
	input.model == "challenger"
	not input.role == "admin"
}

deny contains sprintf("unknown model variant %v", [input.model]) if {
	input.model != null
	not input.model in {"champion", "challenger"}
}
