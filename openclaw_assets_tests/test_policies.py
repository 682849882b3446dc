"""The policy engine and the project's policies: the Rego tests, decisions on the contract inputs, failing closed."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from openclaw_assets.control import policy
from openclaw_assets.control.policy import POINTS, Decision, Policies, PolicyError, load_policies, run_tests

# The input documents the callers send, as the contract shows them (section "Policies" of the README).
CONTRACT_INPUTS: dict[str, dict[str, Any]] = {
    "publish_partition": {
        "table": "flights",
        "partition": "2013-01",
        "rows": 27004,
        "quarantined": 3,
        "quarantine_share": 0.0001,
        "checks": [{"name": "flights_schema", "passed": True, "blocking": True}],
    },
    "feast_apply": {
        "feature_views": [
            {
                "name": "carrier_stats",
                "owner": "ml-platform",
                "ttl_seconds": 7_776_000,
                "description": "Point-in-time delay rates per carrier.",
                "online": True,
                "fields": [{"name": "carrier_delay_rate", "classification": "internal"}],
            }
        ],
        "feature_services": [{"name": "flight_delay_v1", "views": ["carrier_stats"]}],
    },
    "register_model": {
        "model": "flight_delay",
        "run_id": "4f0c2b1e",
        "code_version": "5b28a36",
        "feature_service": "flight_delay_v1",
        "partitions": ["2013-01", "2013-02"],
        "training_set": {"digest": "ab12", "ledger_digest": "ab12"},
        "missing_tags": [],
    },
    "promote_model": {
        "version": "3",
        "checks": [{"asset": "model_evaluation", "name": "auc_floor", "passed": True, "blocking": True}],
        "quality": {"auc": 0.82, "floor": 0.70},
        "staging": {"p99_ms": 12.9, "budget_ms": 100.0, "passed": True},
        "rolled_back_versions": ["2"],
        "approval": {"required": False, "approvals": [{"by": "ana", "version": "3"}]},
        "readiness": {"score": 2.5, "minimum": 2.0},
    },
    "gateway_request": {"role": "predict", "method": "POST", "route": "/v1/predict", "model": None},
}

# One change to each contract input, and the reason it must give.
DENIALS = {
    "publish_partition": ({"rows": 0}, "partition 2013-01 of flights has no rows"),
    "feast_apply": (
        {"feature_services": [{"name": "s", "views": ["nope"]}]},
        "feature service s names feature view nope, which does not exist",
    ),
    "register_model": ({"missing_tags": ["partitions"]}, "the version lacks the tags partitions"),
    "promote_model": ({"quality": {"auc": 0.6, "floor": 0.7}}, "AUC 0.6 is below the floor 0.7"),
    "gateway_request": ({"role": "auditor"}, "this endpoint needs the admin or predict role"),
}


def _copy_policies(tmp_path: Path) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(policy.POLICY_DIR, target)
    return target


def test_every_rego_test_passes():
    results = run_tests()
    failed = [f"{r.name}: {r.message}" for r in results if not r.passed]
    assert not failed, "failing policy tests:\n" + "\n".join(failed)
    assert len(results) >= 80
    packages = {r.name.rsplit(".", 1)[0] for r in results}
    assert {f"openclaw.{point}_test" for point in POINTS} <= packages


def test_the_tests_reach_every_line_of_every_policy():
    uncovered = policy.uncovered_lines()
    assert set(uncovered) == {f"{point}.rego" for point in POINTS} | {"common.rego"}
    assert all(not lines for lines in uncovered.values()), uncovered


@pytest.mark.parametrize("point", POINTS)
def test_the_contract_input_is_allowed_and_one_change_denies_it_with_its_reason(point: str):
    policies = load_policies()
    allowed = policies.decide(point, CONTRACT_INPUTS[point])
    assert allowed == Decision(point, True, (), policy.input_digest(CONTRACT_INPUTS[point]), policies.bundle_hash)
    change, reason = DENIALS[point]
    denied = policies.decide(point, {**CONTRACT_INPUTS[point], **change})
    assert not denied.allowed and denied.reasons == (reason,)


def test_a_decision_names_the_digest_of_its_input_and_the_bundle():
    policies = Policies.load()
    document = {"route": "/v1/predict", "model": None, "role": "predict", "method": "POST"}
    decision = policies.decide("gateway_request", document)
    canonical = '{"method":"POST","model":null,"role":"predict","route":"/v1/predict"}'
    assert decision.input_digest == hashlib.sha256(canonical.encode()).hexdigest()
    # the same document in another key order is the same input
    assert policies.decide("gateway_request", dict(reversed(document.items()))).input_digest == decision.input_digest
    facts = decision.facts()
    assert json.loads(json.dumps(facts)) == facts
    assert facts == {
        "point": "gateway_request",
        "allowed": True,
        "reasons": [],
        "input_digest": decision.input_digest,
        "bundle_hash": policies.bundle_hash,
    }


def test_reasons_are_sorted_and_all_given():
    decision = load_policies().decide("register_model", {})
    assert not decision.allowed
    assert list(decision.reasons) == sorted(decision.reasons) and len(decision.reasons) == 7


def test_the_bundle_hash_covers_the_policies_not_their_tests(tmp_path: Path):
    directory = _copy_policies(tmp_path)
    before = Policies.load(directory).bundle_hash
    assert before == load_policies().bundle_hash
    expected = hashlib.sha256()
    for path in sorted(p for p in directory.glob("*.rego") if not p.name.endswith("_test.rego")):
        data = path.read_bytes()
        expected.update(path.name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    assert before == expected.hexdigest()
    (directory / "gateway_request_test.rego").write_text("package openclaw.gateway_request_test\n")
    assert Policies.load(directory).bundle_hash == before
    policy_file = directory / "publish_partition.rego"
    policy_file.write_text(policy_file.read_text().replace("0.05", "0.10"))
    changed = Policies.load(directory)
    assert changed.bundle_hash != before
    assert changed.decide(
        "publish_partition", {**CONTRACT_INPUTS["publish_partition"], "quarantine_share": 0.08}
    ).allowed


def test_the_default_bundle_is_loaded_once_and_decides_every_point():
    assert load_policies() is load_policies()
    assert set(POINTS) <= set(load_policies().points)
    assert "common" not in load_policies().points


# --- failing closed ------------------------------------------------------------------------------


def _bundle(tmp_path: Path, text: str) -> Policies:
    directory = tmp_path / "bundle"
    directory.mkdir(exist_ok=True)
    (directory / "p.rego").write_text(f"package openclaw.p\n\nimport rego.v1\n\n{text}\n")
    return Policies.load(directory)


@pytest.mark.parametrize(
    ("rules", "problem"),
    [
        ("allow := true", "deny is undefined"),
        ('deny := "no"', "deny must be a set of reasons, not a str"),
        ('deny := ["no"]', "deny must be a set of reasons, not a list"),
        ("deny contains 3 if true", "every reason in deny must be a string"),
        ("deny contains x if { x := 1 / input.zero }", "divide by zero"),
        ("deny := null", "deny is undefined (or null)"),
    ],
)
def test_an_undefined_or_ill_typed_answer_is_a_policy_error(tmp_path: Path, rules: str, problem: str):
    with pytest.raises(PolicyError, match=re.escape(problem)):
        _bundle(tmp_path, rules).decide("p", {"zero": 0})


def test_a_policy_that_does_not_parse_fails_the_load_naming_the_place(tmp_path: Path):
    with pytest.raises(PolicyError, match=r"p\.rego:5:\d+: .*"):
        _bundle(tmp_path, "deny contains x if { x := }")


def test_unknown_points_inputs_and_directories_are_policy_errors(tmp_path: Path):
    policies = load_policies()
    with pytest.raises(PolicyError, match="no policy for 'nope'"):
        policies.decide("nope", {})
    with pytest.raises(PolicyError, match="no policy for 'common'"):
        policies.decide("common", {})
    with pytest.raises(PolicyError, match="the input is not JSON"):
        policies.decide("gateway_request", {"role": {"a", "set"}})
    with pytest.raises(PolicyError, match="the input is not JSON"):
        policies.decide("publish_partition", {"quarantine_share": float("nan")})
    with pytest.raises(PolicyError, match="no policy directory"):
        Policies.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError, match=r"no policy files \(\*\.rego\)"):
        Policies.load(tmp_path / "empty")


def test_decisions_from_many_threads_at_once_agree():
    """regorus engines are bound to their thread: each thread gets its own, none panics."""
    policies = Policies.load()
    calls = [("POST", "/v1/predict"), ("GET", "/v1/admin/status"), ("GET", "/v1/audit/head"), ("GET", "/healthz")]
    inputs = [
        {"role": role, "method": method, "route": route, "model": None}
        for role in ("predict", "admin", "auditor", None)
        for method, route in calls
    ]
    expected = [policies.decide("gateway_request", document) for document in inputs]
    seen: list[list[Decision]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work() -> None:
        try:
            start.wait()
            mine = []
            for _ in range(50):
                mine = [policies.decide("gateway_request", document) for document in inputs]
            seen.append(mine)
        except BaseException as exc:  # a pyo3 panic is a BaseException
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(seen) == 6
    assert all(found == expected for found in seen)
    # predict: scoring and the probe; admin: all four; auditor: the ledger and the probe; no role: the probe
    assert [d.allowed for d in expected] == [True, False, False, True] + [True] * 4 + [False, False, True, True] + [
        False,
        False,
        False,
        True,
    ]


# --- the test runner and its command line ------------------------------------------------------------


def _failing_suite(tmp_path: Path) -> Path:
    directory = tmp_path / "suite"
    directory.mkdir()
    (directory / "p.rego").write_text('package openclaw.p\n\nimport rego.v1\n\ndeny contains "x" if input.x\n')
    (directory / "p_test.rego").write_text(
        "package openclaw.p_test\n\nimport rego.v1\n\nimport data.openclaw.p\n\n"
        'test_passes if { p.deny == {"x"} with input as {"x": true} }\n\n'
        "test_is_false := false\n\n"
        "test_is_undefined if { count(p.deny) == 1 with input as {} }\n\n"
        "test_errs if { 1 / 0 == 1 }\n\n"
        "helper_not_a_test := false\n"
    )
    (directory / "q_test.rego").write_text("package q_test\n\ntest_broken if {\n")
    return directory


def test_the_runner_fails_false_undefined_and_erring_tests_and_broken_files(tmp_path: Path):
    results = {r.name: r for r in run_tests(_failing_suite(tmp_path))}
    assert set(results) == {
        "openclaw.p_test.test_passes",
        "openclaw.p_test.test_is_false",
        "openclaw.p_test.test_is_undefined",
        "openclaw.p_test.test_errs",
        "q_test.rego",
    }
    assert results["openclaw.p_test.test_passes"].passed
    assert results["openclaw.p_test.test_is_false"].message == "gave false, not true"
    assert results["openclaw.p_test.test_is_undefined"].message.startswith("undefined")
    assert "divide by zero" in results["openclaw.p_test.test_errs"].message
    assert results["q_test.rego"].message.startswith("does not parse: q_test.rego:")
    assert [r.passed for r in results.values()].count(True) == 1


def _policy_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "openclaw_assets.control.policy", *args], capture_output=True, text=True, timeout=60
    )


def test_the_command_line_runs_the_tests_and_exits_1_on_a_failure(tmp_path: Path):
    done = _policy_cli("test")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert all(line.startswith("PASS ") for line in lines if line.startswith(("PASS", "FAIL")))
    assert any(line.endswith(" passed, 0 failed") for line in lines)
    assert "coverage gateway_request.rego: every line" in lines
    failing = _policy_cli("test", "--dir", str(_failing_suite(tmp_path)))
    assert failing.returncode == 1
    assert "FAIL openclaw.p_test.test_is_false: gave false, not true" in failing.stdout
    assert "1 passed, 4 failed" in failing.stdout
    missing = _policy_cli("test", "--dir", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and missing.stderr.startswith("error: no policy directory")
    assert "Traceback" not in missing.stderr


def test_the_command_line_decides_one_input():
    allowed = _policy_cli("decide", "gateway_request", json.dumps(CONTRACT_INPUTS["gateway_request"]))
    assert allowed.returncode == 0 and json.loads(allowed.stdout)["allowed"] is True
    denied = _policy_cli("decide", "gateway_request", '{"method": "GET", "route": "/v1/admin/status"}')
    assert denied.returncode == 1
    assert json.loads(denied.stdout)["reasons"] == ["a valid bearer token is required"]
    bad = _policy_cli("decide", "gateway_request", "{not json")
    assert bad.returncode == 2 and bad.stderr.startswith("error: the input is not JSON")
