# May this gateway request go ahead? The gateway asks for every request it routes; it answers 401
# when there is no role (no token, or an unknown one) and 403 otherwise, with these reasons.
#
#   predict  POST /v1/predict
#   auditor  GET /v1/audit/* (the ledger and its decisions); nothing that scores or changes state
#   admin    everything, /v1/admin/* included
#   anyone   the probes and scraping: GET /healthz, /readyz, /metrics
#
# A route the grants below do not name is for admin alone, so a new endpoint starts closed.
# Pinning a request to the challenger is for admin alone (the gateway sends "model": null while
# callers cannot choose a variant).
#
# Input: {"role": "predict" | "admin" | "auditor" | null, "method": "POST", "route": "/v1/predict",
#         "model": "champion" | "challenger" | null}
package openclaw.gateway_request

import rego.v1

import data.common.has_text

roles := {"predict", "admin", "auditor"}

variants := {"champion", "challenger"}

# Routes anyone may call, with a token or without.
open_routes := {["GET", "/healthz"], ["GET", "/readyz"], ["GET", "/metrics"]}

role := object.get(input, "role", null)

model := object.get(input, "model", null)

is_open if [input.method, input.route] in open_routes

grants(who, _, _) if who == "admin"

grants(who, method, route) if {
	who == "predict"
	method == "POST"
	route == "/v1/predict"
}

grants(who, method, route) if {
	who == "auditor"
	method == "GET"
	startswith(route, "/v1/audit/")
}

# The roles that could make this call, for the reason a weaker one is refused.
needed := sort([who | some who in roles; grants(who, input.method, input.route)])

deny contains "the request must name its method and route" if {
	not has_text(input.method)
}

deny contains "the request must name its method and route" if {
	not has_text(input.route)
}

deny contains "a valid bearer token is required" if {
	not is_open
	role == null
}

deny contains sprintf("unknown role %v", [role]) if {
	not is_open
	role != null
	not role in roles
}

deny contains sprintf("this endpoint needs the %s role", [concat(" or ", needed)]) if {
	not is_open
	role in roles
	has_text(input.method)
	has_text(input.route)
	not grants(role, input.method, input.route)
}

deny contains "only the admin role may pin a request to the challenger" if {
	model == "challenger"
	role != "admin"
}

deny contains sprintf("unknown model variant %v", [model]) if {
	model != null
	not model in variants
}
