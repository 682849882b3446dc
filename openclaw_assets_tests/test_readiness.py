"""Release readiness: the rubric, its scoring, and the evidence read from real files, processes and HTTP."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from openclaw_assets.control import evidence as gathering
from openclaw_assets.control import readiness
from openclaw_assets.control.readiness import (
    GATEWAY_METRICS,
    RUBRIC,
    SECTIONS,
    Attestation,
    CheckRecord,
    CoverageReport,
    Evidence,
    JUnitReport,
    LiveQuality,
    LogSample,
    Materialization,
    MetricsProbe,
    Provenance,
    Release,
    SecurityScan,
    Status,
    score,
)

ROOT = Path(__file__).resolve().parent.parent
EVALUATION_RUN, STAGING_RUN, DATA_RUN = "evaluation-run-0001", "staging-run-0001", "data-run-0001"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


# --- a release whose automated evidence all holds -----------------------------------------------


def _check(key: str) -> CheckRecord:
    asset, name = key.split(":", 1)
    run = {"model_evaluation": EVALUATION_RUN, "staging_validation": STAGING_RUN}.get(asset, DATA_RUN)
    return CheckRecord(asset, name, "SUCCEEDED", run, True)


def good_evidence() -> Evidence:
    """Everything a ready release shows: every gate passed, tests, coverage, scan, metrics, traces, live AUC."""
    trained = {
        "model_name": "flight_delay",
        "model_version": "3",
        "dagster_run_id": "train-run-0001",
        "training_set_sha256": "a" * 64,
        "training_months": "2013-01:2013-10",
        "holdout_months": "2013-11:2013-12",
        "feature_service": "flight_delay_v1",
        "code_version": "0.1.0",
        "params_sha256": "b" * 64,
        "seed": 7,
        "holdout_auc": 0.828,
        "holdout_log_loss": 0.41,
    }
    evaluation = {
        "model_version": "3",
        "holdout_auc": 0.828,
        "baseline_auc": 0.623,
        "calibration_error": 0.008,
        "out_of_range_share": 0.0095,
    }
    release = Release(
        "flight_delay",
        "3",
        Materialization("trained_model", "train-run-0001", trained),
        Materialization("model_evaluation", EVALUATION_RUN, evaluation),
        Materialization("staging_validation", STAGING_RUN, {"model_version": "3", "requests": 320, "p99_ms": 8.7}),
    )
    modules = (*readiness.DATA_TEST_MODULES, *readiness.MODEL_TEST_MODULES, *readiness.INTEGRATION_TEST_MODULES)
    cases = {f"{module}::test_something": "passed" for module in modules}
    cases |= {readiness.REPRODUCIBLE_TEST: "passed", readiness.ROLLBACK_TEST: "passed"}
    coverage = {"data/checks.py": (90, 100), "features/compute.py": (80, 100), "models/training.py": (85, 100)}
    return Evidence(
        release=release,
        checks={key: _check(key) for key in gathering.RUBRIC_CHECKS},
        months=tuple(f"2013-{m:02d}" for m in range(1, 13)),
        ledger_kinds={"model": 3, "table": 40},
        provenance=Provenance(12, "model", "model:flight_delay/3", (4, 9)),
        tests=JUnitReport("reports/junit.xml", NOW.isoformat(), cases),
        coverage=CoverageReport("reports/coverage.xml", NOW.isoformat(), coverage),
        security=SecurityScan("bandit", "openclaw_assets", 70, {"HIGH": 0, "MEDIUM": 1, "LOW": 5}),
        metrics=MetricsProbe("http://127.0.0.1:8765/metrics", frozenset(GATEWAY_METRICS)),
        staging_log=LogSample("gateway/staging/x/predictions", 310, 310, frozenset({"3"})),
        live=LiveQuality("2", 1_000, 0.80, 0.82, "ab_results (run 0000abcd)"),
    )


def _with_check(evidence: Evidence, key: str, **changes) -> Evidence:
    return dataclasses.replace(evidence, checks={**evidence.checks, key: dataclasses.replace(_check(key), **changes)})


def _with_metadata(evidence: Evidence, which: str, **changes) -> Evidence:
    release = evidence.release
    assert release is not None
    found = getattr(release, which)
    changed = dataclasses.replace(found, metadata={**found.metadata, **changes})
    return dataclasses.replace(evidence, release=dataclasses.replace(release, **{which: changed}))


def _with_case(evidence: Evidence, case: str, outcome: str) -> Evidence:
    assert evidence.tests is not None
    return dataclasses.replace(
        evidence, tests=dataclasses.replace(evidence.tests, cases={**evidence.tests.cases, case: outcome})
    )


FAILING: dict[str, Callable[[Evidence], Evidence]] = {
    "data.contract": lambda e: _with_check(e, "validated_flights:row_accounting", status="FAILED"),
    "data.feature_baseline": lambda e: _with_check(e, "tail_recent:null_rate_and_range", status="FAILED"),
    "data.point_in_time": lambda e: _with_check(e, "training_set:point_in_time", status="FAILED"),
    "data.security": lambda e: dataclasses.replace(
        e, security=SecurityScan("bandit", "x", 70, {"HIGH": 1}, ("x.py:3 B324: md5",))
    ),
    "data.tested": lambda e: _with_case(e, "test_contracts.py::test_a_rule", "failed"),
    "model.versioned": lambda e: _with_metadata(e, "trained", code_version=""),
    "model.provenance": lambda e: dataclasses.replace(
        e, provenance=Provenance(12, "model", "model:flight_delay/3", ())
    ),
    "model.beats_baseline": lambda e: _with_metadata(e, "evaluation", baseline_auc=0.9),
    "model.slices": lambda e: _with_check(e, "model_evaluation:slice_floor", status="FAILED"),
    "model.calibrated": lambda e: _with_check(e, "model_evaluation:calibration", status="FAILED"),
    "model.offline_online": lambda e: dataclasses.replace(e, live=LiveQuality("2", 1_000, 0.57, 0.82, "ab")),
    "infra.reproducible": lambda e: _with_case(e, readiness.REPRODUCIBLE_TEST, "failed"),
    "infra.model_tested": lambda e: dataclasses.replace(
        e, coverage=CoverageReport("c.xml", None, {"data/a.py": (9, 10), "models/training.py": (10, 100)})
    ),
    "infra.integration": lambda e: _with_case(e, "test_rollout.py::test_a_rollout", "error"),
    "infra.gated": lambda e: _with_check(e, "model_evaluation:no_regression_vs_champion", status="FAILED"),
    "infra.debuggable": lambda e: dataclasses.replace(e, staging_log=LogSample("p", 310, 300, frozenset({"3"}))),
    "infra.canary": lambda e: _with_check(e, "staging_validation:error_budget", status="FAILED"),
    "infra.rollback": lambda e: _with_case(e, readiness.ROLLBACK_TEST, "failed"),
    "monitoring.instrumented": lambda e: dataclasses.replace(
        e, metrics=MetricsProbe("u", frozenset(GATEWAY_METRICS[1:]))
    ),
    "monitoring.skew": lambda e: _with_check(e, "online_features:online_offline_parity", status="FAILED"),
    "monitoring.staleness": lambda e: dataclasses.replace(e, months=(*e.months, "2014-01", "2014-02")),
    "monitoring.numerics": lambda e: _with_metadata(e, "trained", holdout_log_loss=float("nan")),
    "monitoring.latency": lambda e: _with_check(e, "staging_validation:latency_budget", status="FAILED"),
    "monitoring.live_quality": lambda e: dataclasses.replace(e, live=LiveQuality("2", 1_000, 0.55, 0.56, "ab")),
}
"""For every automated item, a worse release on which it fails: an item that cannot fail is a defect."""


def _status(report: readiness.Report, item: str) -> Status:
    (found,) = [s for s in report.items if s.item.id == item]
    return found.status


def _attested(*items: str) -> dict[str, Attestation]:
    return {i: Attestation(i, "Ada Reviewer", "checked by hand", 40 + n, NOW.isoformat()) for n, i in enumerate(items)}


# --- the rubric --------------------------------------------------------------------------------


def test_the_rubric_has_seven_items_in_each_of_four_sections():
    assert len(RUBRIC) == 28 and len({item.id for item in RUBRIC}) == 28
    assert {s: sum(i.section == s for i in RUBRIC) for s in SECTIONS} == dict.fromkeys(SECTIONS, 7)
    assert all(item.id.startswith(f"{item.section}.") and item.title and item.proves for item in RUBRIC)


def test_every_automated_item_has_a_release_it_fails_on():
    assert set(FAILING) == {item.id for item in RUBRIC if item.judge is not None}
    assert score(good_evidence()).items  # the good release itself is scored below
    for item, worse in FAILING.items():
        assert _status(score(good_evidence()), item) is Status.AUTOMATED, item
        assert _status(score(worse(good_evidence())), item) is Status.FAILED, item


def test_every_check_the_rubric_reads_is_declared_with_its_blocking():
    from openclaw_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    declared = {
        f"{key.asset_key.to_user_string()}:{key.name}": graph.get_check_spec(key).blocking
        for key in graph.asset_check_keys
    }
    missing = [key for key in gathering.RUBRIC_CHECKS if key not in declared]
    assert missing == []
    assert all(declared[key] for key in gathering.RUBRIC_CHECKS)


def test_the_rubric_names_the_gateways_metric_families_and_tests_that_exist():
    from openclaw_assets.compute.gateway.metrics import GatewayMetrics

    assert set(GATEWAY_METRICS) == {family.name for family in GatewayMetrics().registry.collect()}
    modules = {*readiness.DATA_TEST_MODULES, *readiness.MODEL_TEST_MODULES, *readiness.INTEGRATION_TEST_MODULES}
    assert all((ROOT / "openclaw_assets_tests" / module).is_file() for module in modules)
    for case in (readiness.REPRODUCIBLE_TEST, readiness.ROLLBACK_TEST):
        module, name = case.split("::")
        assert f"def {name}(" in (ROOT / "openclaw_assets_tests" / module).read_text(encoding="utf-8"), case


# --- scoring -----------------------------------------------------------------------------------


def test_missing_evidence_scores_zero_on_every_item():
    report = score(Evidence())
    assert {s.status for s in report.items} == {Status.MISSING}
    assert report.score == 0 and set(report.sections.values()) == {0}
    assert all(s.points == 0 and s.detail for s in report.items)


def test_an_attestation_scores_half_a_point_where_no_automated_evidence_exists():
    report = score(dataclasses.replace(Evidence(), attestations=_attested("data.privacy", "infra.rollback")))
    assert _status(report, "data.privacy") is Status.ATTESTED
    assert _status(report, "infra.rollback") is Status.ATTESTED  # no JUnit report: the person's word counts
    (privacy,) = [s for s in report.items if s.item.id == "data.privacy"]
    assert privacy.points == 0.5 and "Ada Reviewer" in privacy.detail and "ledger #40" in privacy.read[-1]
    assert report.sections["data"] == 0.5 and report.sections["infra"] == 0.5 and report.score == 0


def test_an_attestation_does_not_outweigh_evidence_that_fails():
    worse = FAILING["infra.rollback"](good_evidence())
    report = score(dataclasses.replace(worse, attestations=_attested("infra.rollback")))
    (rollback,) = [s for s in report.items if s.item.id == "infra.rollback"]
    assert rollback.status is Status.FAILED and rollback.points == 0
    assert "not counted" in rollback.detail


def test_automated_evidence_scores_one_and_the_score_is_the_weakest_section():
    report = score(good_evidence())
    # automated items hold everywhere; the items only a person can attest are missing
    assert report.sections == {"data": 5, "model": 6, "infra": 7, "monitoring": 6}
    assert report.score == 5 and report.weakest() == ["data"]
    assert report.carried_by() == [
        "data.contract",
        "data.feature_baseline",
        "data.point_in_time",
        "data.security",
        "data.tested",
    ]
    attested = score(
        dataclasses.replace(
            good_evidence(),
            attestations=_attested("data.feature_value", "data.privacy", "model.tuned", "monitoring.dependencies"),
        )
    )
    assert attested.sections == {"data": 6, "model": 6.5, "infra": 7, "monitoring": 6.5}
    assert attested.score == 6


def test_the_release_gates_count_only_from_the_runs_that_judged_the_release():
    other_run = _with_check(good_evidence(), "model_evaluation:quality_floor", run_id="a-later-run")
    assert _status(score(other_run), "model.beats_baseline") is Status.MISSING
    # and a failure in another run is not this release's failure either
    failed_elsewhere = _with_check(
        good_evidence(), "staging_validation:error_budget", run_id="a-later-run", status="FAILED"
    )
    assert _status(score(failed_elsewhere), "infra.canary") is Status.MISSING
    no_release = dataclasses.replace(good_evidence(), release=None)
    report = score(no_release)
    assert _status(report, "infra.gated") is Status.MISSING and _status(report, "data.contract") is Status.AUTOMATED


def test_a_check_still_running_is_no_evidence_and_an_advisory_gate_is_not_a_gate():
    running = _with_check(good_evidence(), "online_features:online_freshness", status="PLANNED")
    assert _status(score(running), "monitoring.skew") is Status.MISSING
    advisory = _with_check(good_evidence(), "model_evaluation:calibration", blocking=False)
    report = score(advisory)
    assert _status(report, "infra.gated") is Status.FAILED and _status(report, "model.calibrated") is Status.AUTOMATED


def test_skipped_or_absent_tests_are_no_evidence():
    report = score(_with_case(good_evidence(), readiness.ROLLBACK_TEST, "skipped"))
    assert _status(report, "infra.rollback") is Status.MISSING
    nothing_ran = dataclasses.replace(good_evidence(), tests=JUnitReport("j.xml", None, {}))
    assert _status(score(nothing_ran), "infra.integration") is Status.MISSING


def test_the_report_facts_are_json_and_name_every_items_points():
    report = score(dataclasses.replace(good_evidence(), attestations=_attested("model.tuned")))
    facts = json.loads(json.dumps(report.facts(minimum=3.0)))
    assert facts["score"] == 5 and facts["minimum"] == 3.0 and facts["passed"] is True
    assert facts["sections"] == {"data": 5, "model": 6.5, "infra": 7, "monitoring": 6}
    assert facts["points"]["model.tuned"] == 0.5 and len(facts["points"]) == 28
    assert (facts["model_name"], facts["model_version"]) == ("flight_delay", "3")
    assert len(report.rows()) == 28 and {r["status"] for r in report.rows()} == {"automated", "attested", "missing"}
    assert report.release is not None and report.release.subject == "readiness:flight_delay/3"
