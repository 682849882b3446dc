"""The shipped alert rules: generated from code, valid for promtool, each firing and silent in its unit tests."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from openclaw_assets.observability import alerts
from openclaw_assets.observability.promql import metric_names
from openclaw_assets_tests.prometheus import exported_names, tool


def _promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), *args], capture_output=True, text=True, timeout=60)


def test_the_checked_in_files_are_the_generated_ones():
    for path, text in alerts.generated().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run python -m openclaw_assets.observability.alerts"
        )
    assert alerts.main(["--check"]) == 0


def test_check_mode_fails_on_a_file_that_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    target = tmp_path / "alerts.yaml"
    text = alerts.to_yaml(alerts.rules_document())
    assert alerts.write_or_check({target: text}, check=True, command="regen") == 1  # missing
    assert alerts.write_or_check({target: text}, check=False, command="regen") == 0
    assert target.read_text() == text
    target.write_text(text.replace("> 0.25", "> 0.5"))
    assert alerts.write_or_check({target: text}, check=True, command="regen") == 1
    assert "out of date: run regen" in capsys.readouterr().err


def test_promtool_accepts_the_rules_and_their_unit_tests_pass():
    checked = _promtool("check", "rules", str(alerts.RULES_FILE))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {sum(len(g) for g in alerts.rules().values())} rules found" in checked.stdout
    tested = _promtool("test", "rules", str(alerts.TESTS_FILE))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_rule_has_a_firing_and_a_silent_case_and_names_its_numbers():
    found = [rule for group in alerts.rules().values() for rule in group]
    assert {r.alert for r in found} >= {
        "GatewayLatencyP99OverBudget",
        "GatewayErrorRateHigh",
        "LiveAucBelowFloor",
        "FeatureDriftHigh",
        "OnlineStoreBehind",
        "OnlineStoreStale",
        "BlockingGateFailed",
    }
    for rule in found:
        assert any(c.fires is not None for c in rule.cases), rule.alert
        assert any(c.fires is None for c in rule.cases), rule.alert
        assert rule.severity in ("critical", "warning") and rule.summary and rule.description
    t = alerts.Thresholds()
    text = {r.alert: r.summary + " " + r.description for r in found}
    assert "250 ms" in text["GatewayLatencyP99OverBudget"]
    assert "5%" in text["GatewayErrorRateHigh"] and "20 requests" in text["GatewayErrorRateHigh"]
    assert f"{t.min_live_auc:g}" in text["LiveAucBelowFloor"]
    assert "DriftConfig" in text["FeatureDriftHigh"] and "32 days" in text["OnlineStoreStale"]


def _run_tests_of(document: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "alerts.yaml").write_text(alerts.RULES_FILE.read_text())
    (tmp_path / "alerts.test.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    return _promtool("test", "rules", str(tmp_path / "alerts.test.yaml"))


def test_each_case_decides_the_outcome_promtool_fails_when_an_expectation_is_flipped(tmp_path: Path):
    """No vacuous case: expecting silence where a rule fires, or an alert where it is silent, fails promtool."""
    original = yaml.safe_load(alerts.TESTS_FILE.read_text())
    assert _run_tests_of(original, tmp_path).returncode == 0
    for index, test in enumerate(original["tests"]):
        flipped = copy.deepcopy(original)
        expectation = flipped["tests"][index]["alert_rule_test"][0]
        if expectation["exp_alerts"]:
            expectation["exp_alerts"] = []
        else:
            expectation["exp_alerts"] = [{"exp_labels": {"severity": "critical"}}]
        flipped["tests"] = [flipped["tests"][index]]
        result = _run_tests_of(flipped, tmp_path)
        assert result.returncode == 1, f"flipping {test['name']!r} still passed"
        assert "FAILED" in result.stdout + result.stderr


def test_a_breach_under_its_for_duration_is_still_pending(tmp_path: Path):
    """The error-rate rule waits its ``for:``: three minutes of 10% errors do not fire, ten do."""
    document = yaml.safe_load(alerts.TESTS_FILE.read_text())
    firing = next(t for t in document["tests"] if t["name"].startswith("GatewayErrorRateHigh fires"))
    early = copy.deepcopy(firing)
    early["alert_rule_test"][0]["eval_time"] = "3m"
    early["alert_rule_test"][0]["exp_alerts"] = []
    assert _run_tests_of({**document, "tests": [early, firing]}, tmp_path).returncode == 0


def test_the_gateway_thresholds_are_the_rollback_sensors_slo():
    from openclaw_assets.compute.sensors import Slo

    t, slo = alerts.Thresholds(), Slo()
    assert t.p99_seconds == slo.p99_ms / 1000
    assert t.max_error_rate == slo.max_error_rate
    assert t.min_requests == slo.min_requests
    assert t.min_live_auc == slo.min_auc


def test_every_metric_the_rules_read_is_one_the_code_exports():
    exported = exported_names()
    assert "openclaw_gateway_requests_total" in exported and "openclaw_drift_score" in exported
    for group in alerts.rules().values():
        for rule in group:
            names = metric_names(rule.expr)
            assert names, rule.alert
            assert names <= exported, (rule.alert, names - exported)


def test_the_short_timings_keep_the_expressions_but_the_windows():
    shipped = {r.alert: r for g in alerts.rules().values() for r in g}
    fast = {r.alert: r for g in alerts.rules(timings=alerts.E2E_TIMINGS).values() for r in g}
    assert shipped.keys() == fast.keys()
    for name, rule in shipped.items():
        assert rule.expr.replace("[5m]", "[10s]") == fast[name].expr, name


def test_a_duration_that_is_not_one_is_refused():
    assert alerts.seconds("1h30m") == 5400 and alerts.seconds("0s") == 0
    with pytest.raises(ValueError, match="not a Prometheus duration"):
        alerts.seconds("5 minutes")


def test_the_gateway_the_rules_and_the_dashboard_leave_out_the_same_probes(tmp_path: Path):
    """One probe list: the gateway does not trace them, the error rate and the request panels do not count them."""
    from openclaw_assets.compute.gateway.app import PROBES
    from openclaw_assets.observability import dashboards
    from openclaw_assets.observability.probes import PROBE_PATHS, PROBE_REGEX

    assert set(PROBE_PATHS) == PROBES and "/readyz" in PROBES
    error_rate = next(r for r in alerts.rules()["openclaw-gateway"] if r.alert == "GatewayErrorRateHigh")
    assert error_rate.expr.count(f'path!~"{PROBE_REGEX}"') == 3
    requests = [e for e in dashboards.expressions(json.loads(dashboards.render())) if "requests_total" in e]
    assert requests and all(f'path!~"{PROBE_REGEX}"' in e for e in requests)
    # the unready-gateway case decides: with /readyz counted as traffic, its 503s would fire the alert
    document = yaml.safe_load(alerts.TESTS_FILE.read_text())
    unready = [t for t in document["tests"] if "/readyz" in t["name"]]
    assert len(unready) == 1
    (tmp_path / "alerts.yaml").write_text(alerts.RULES_FILE.read_text().replace(PROBE_REGEX, "/metrics|/healthz"))
    (tmp_path / "alerts.test.yaml").write_text(yaml.safe_dump({**document, "tests": unready}, sort_keys=False))
    counted = _promtool("test", "rules", str(tmp_path / "alerts.test.yaml"))
    assert counted.returncode == 1 and "GatewayErrorRateHigh" in counted.stdout + counted.stderr
