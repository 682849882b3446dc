package openclaw.gateway_request_test

import rego.v1

import data.openclaw.gateway_request

call(role, method, route) := {"role": role, "method": method, "route": route, "model": null}

allowed(request) if count(gateway_request.deny) == 0 with input as request

reasons(request) := found if {
	found := gateway_request.deny with input as request
}

test_predict_may_score if {
	allowed(call("predict", "POST", "/v1/predict"))
}

test_predict_may_not_read_the_admin_status if {
	reasons(call("predict", "GET", "/v1/admin/status")) == {"this endpoint needs the admin role"}
}

test_predict_may_not_reload if {
	reasons(call("predict", "POST", "/v1/admin/reload")) == {"this endpoint needs the admin role"}
}

test_predict_may_not_read_the_ledger if {
	reasons(call("predict", "GET", "/v1/audit/head")) == {"this endpoint needs the admin or auditor role"}
}

test_admin_may_call_everything if {
	every request in [
		call("admin", "POST", "/v1/predict"),
		call("admin", "GET", "/v1/admin/status"),
		call("admin", "POST", "/v1/admin/reload"),
		call("admin", "GET", "/v1/audit/entries"),
		call("admin", "GET", "/v1/audit/proof/{seq}"),
		call("admin", "POST", "/v1/jobs"),
	] {
		allowed(request)
	}
}

test_auditor_may_read_the_ledger if {
	every route in ["/v1/audit/head", "/v1/audit/entries", "/v1/audit/decisions", "/v1/audit/proof/{seq}"] {
		allowed(call("auditor", "GET", route))
	}
}

test_auditor_may_not_score if {
	reasons(call("auditor", "POST", "/v1/predict")) == {"this endpoint needs the admin or predict role"}
}

test_auditor_may_not_change_state if {
	reasons(call("auditor", "POST", "/v1/admin/reload")) == {"this endpoint needs the admin role"}
	reasons(call("auditor", "POST", "/v1/audit/entries")) == {"this endpoint needs the admin role"}
}

test_auditor_may_not_read_the_admin_status if {
	reasons(call("auditor", "GET", "/v1/admin/status")) == {"this endpoint needs the admin role"}
}

test_a_route_no_grant_names_is_for_admin_alone if {
	reasons(call("predict", "POST", "/v1/jobs")) == {"this endpoint needs the admin role"}
}

test_no_token_is_refused_with_the_reason if {
	reasons(call(null, "POST", "/v1/predict")) == {"a valid bearer token is required"}
	reasons({"method": "GET", "route": "/v1/audit/head"}) == {"a valid bearer token is required"}
}

test_an_unknown_role_is_refused if {
	reasons(call("root", "POST", "/v1/predict")) == {"unknown role root"}
}

test_probes_and_metrics_are_open_to_anyone if {
	every route in ["/healthz", "/readyz", "/metrics"] {
		allowed(call(null, "GET", route))
		allowed(call("auditor", "GET", route))
	}
}

test_an_open_route_is_open_for_its_method_only if {
	reasons(call(null, "POST", "/healthz")) == {"a valid bearer token is required"}
}

test_a_request_without_a_method_or_route_is_refused if {
	reasons({"role": "admin", "route": "/v1/predict"}) == {"the request must name its method and route"}
	reasons({"role": "admin", "method": "GET", "route": ""}) == {"the request must name its method and route"}
}

test_only_admin_may_pin_the_challenger if {
	allowed(object.union(call("admin", "POST", "/v1/predict"), {"model": "challenger"}))
	reasons(object.union(call("predict", "POST", "/v1/predict"), {"model": "challenger"})) == {"only the admin role may pin a request to the challenger"}
}

test_anyone_who_may_score_may_ask_for_the_champion if {
	allowed(object.union(call("predict", "POST", "/v1/predict"), {"model": "champion"}))
}

test_an_unknown_variant_is_refused if {
	reasons(object.union(call("admin", "POST", "/v1/predict"), {"model": "shadow"})) == {"unknown model variant shadow"}
}

test_a_role_that_is_not_a_string_is_no_role if {
	reasons(call(5, "POST", "/v1/predict")) == {"a valid bearer token is required"}
}

test_pinning_without_a_role_is_refused_for_both_reasons if {
	reasons({"method": "POST", "route": "/v1/predict", "model": "challenger"}) == {
		"a valid bearer token is required",
		"only the admin role may pin a request to the challenger",
	}
}
