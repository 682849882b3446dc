"""Release readiness: the rubric, its scoring, and the evidence read from real files, processes and HTTP."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

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


# --- gathering: real reports, a real scan, real HTTP, a real ledger ---------------------------------

SAMPLE_TESTS = """
import pytest

from openclaw_assets.kernel.months import shift


def test_passes():
    assert shift("2013-12", 1) == "2014-01"


def test_fails():
    assert shift("2013-01", 1) == "2013-03"


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass


@pytest.fixture
def broken():
    raise RuntimeError("setup fails")


def test_errors(broken):
    pass
"""


def test_a_real_pytest_run_gives_the_junit_and_coverage_the_rubric_reads(tmp_path: Path):
    (tmp_path / "test_sample.py").write_text(SAMPLE_TESTS, encoding="utf-8")
    reports = tmp_path / "reports"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "test_sample.py",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={reports / 'junit.xml'}",
            "--cov=openclaw_assets.kernel",
            f"--cov-report=xml:{reports / 'coverage.xml'}",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # one test fails, one errors
    tests, coverage, why = gathering.read_reports(reports, datetime.now(UTC), max_age_days=1)
    assert why == {} and tests is not None and coverage is not None
    assert tests.cases == {
        "test_sample.py::test_passes": "passed",
        "test_sample.py::test_fails": "failed",
        "test_sample.py::test_skipped": "skipped",
        "test_sample.py::test_errors": "error",
    }
    covered, lines = coverage.lines(("kernel/months.py",))
    assert 0 < covered < lines  # shift() ran, most of the module did not
    assert coverage.lines(("data/",)) == (0, 0)

    later = datetime.now(UTC) + timedelta(days=30)
    assert gathering.read_reports(reports, later, max_age_days=7)[:2] == (None, None)
    assert "days old" in gathering.read_reports(reports, later, max_age_days=7)[2]["tests"]
    (reports / "junit.xml").write_text("<testsuites><testcase", encoding="utf-8")
    (reports / "coverage.xml").write_text("<report/>", encoding="utf-8")
    _, _, broken = gathering.read_reports(reports, datetime.now(UTC), max_age_days=None)
    assert "not well-formed XML" in broken["tests"] and "not a coverage report" in broken["coverage"]
    assert "no junit.xml" in gathering.read_reports(tmp_path / "none", datetime.now(UTC), 7)[2]["tests"]


def test_the_reports_folder_comes_from_the_environment_or_the_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.delenv(gathering.REPORTS_VARIABLE, raising=False)
    assert gathering.reports_dir() == ROOT / "reports"
    monkeypatch.setenv(gathering.REPORTS_VARIABLE, str(tmp_path))
    assert gathering.reports_dir() == tmp_path
    assert gathering.reports_dir(tmp_path / "given") == tmp_path / "given"


def test_bandit_fails_a_high_severity_finding_and_the_package_has_none(tmp_path: Path):
    (tmp_path / "weak.py").write_text('import hashlib\n\nDIGEST = hashlib.md5(b"x").hexdigest()\n', encoding="utf-8")
    weak = gathering.security_scan(tmp_path)
    assert weak.severities["HIGH"] == 1 and "B324" in weak.high[0]
    assert _status(score(dataclasses.replace(good_evidence(), security=weak)), "data.security") is Status.FAILED
    ours = gathering.security_scan(gathering.PACKAGE_DIR)
    assert ours.severities["HIGH"] == 0 and ours.files > 50 and ours.unread == (), ours
    assert _status(score(dataclasses.replace(good_evidence(), security=ours)), "data.security") is Status.AUTOMATED


class _Metrics(BaseHTTPRequestHandler):
    body = b""
    status = 200

    def do_GET(self):
        ok = self.path == "/metrics"
        self.send_response(self.status if ok else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body if ok else b"")

    def log_message(self, *args):
        pass


@pytest.fixture
def metrics_server() -> Iterator[tuple[str, type[_Metrics]]]:
    from openclaw_assets.compute.gateway.metrics import GatewayMetrics

    handler = type("Handler", (_Metrics,), {"body": GatewayMetrics().exposition(), "status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_metrics_probe_reads_the_gateways_families_over_http(metrics_server, tmp_path: Path):
    url, handler = metrics_server
    endpoint = tmp_path / "endpoint.json"
    endpoint.write_text(json.dumps({"url": url, "pid": os.getpid()}), encoding="utf-8")
    probe = gathering.probe_metrics(endpoint)
    assert probe.url == f"{url}/metrics" and set(GATEWAY_METRICS) <= probe.families
    assert _status(score(dataclasses.replace(good_evidence(), metrics=probe)), "monitoring.instrumented") is (
        Status.AUTOMATED
    )
    handler.status = 500
    with pytest.raises(gathering.EvidenceError, match="answered HTTP 500"):
        gathering.probe_metrics(endpoint)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    endpoint.write_text(json.dumps({"url": url, "pid": int(gone.stdout)}), encoding="utf-8")
    with pytest.raises(gathering.EvidenceError, match="is gone"):
        gathering.probe_metrics(endpoint)
    with pytest.raises(gathering.EvidenceError, match="no running gateway"):
        gathering.probe_metrics(tmp_path / "absent.json")


def test_the_staging_log_counts_the_lines_that_trace_a_prediction(tmp_path: Path):
    from openclaw_assets.compute.gateway.predlog import PredictionLog

    run = "staging-run-0001"
    root = tmp_path / "gateway" / "staging" / run / "predictions"
    line = {"ts": "2026-12-01T12:00:00Z", "request_id": "r1", "flight_id": "UA1-2013-02-01", "model_version": "3"}
    log = PredictionLog(root)
    log.append([{**line, "features_sha256": "ab" * 8}, {**line, "request_id": "r2", "features_sha256": "cd" * 8}])
    log.append([{**line, "request_id": "r3", "features_sha256": ""}])  # no hash of what it scored
    log.close()
    (segment,) = root.glob("*/*.jsonl")
    with open(segment, "a", encoding="utf-8") as handle:
        handle.write('{"request_id": "torn')
    sample = gathering.staging_log(tmp_path, run)
    assert (sample.lines, sample.traceable, sample.versions) == (3, 2, frozenset({"3"}))
    assert _status(score(dataclasses.replace(good_evidence(), staging_log=sample)), "infra.debuggable") is (
        Status.FAILED
    )
    with pytest.raises(gathering.EvidenceError, match="no prediction log"):
        gathering.staging_log(tmp_path, "another-run")


def test_the_ledger_gives_counts_the_latest_attestation_per_item_and_the_models_entry(tmp_path: Path):
    from openclaw_assets.control.ledger import Ledger

    ledger = Ledger.open(tmp_path)
    data = ledger.append("table", "table:features/training_set/all", digest="e" * 64)
    model = ledger.append("model", "model:flight_delay/3", inputs=[data.seq])
    ledger.append("attestation", "readiness:data.privacy", facts={"by": "Ada", "note": "first look"})
    latest = ledger.append("attestation", "readiness:data.privacy", facts={"by": "Grace", "note": "second look"})
    ledger.append("attestation", "readiness:no.such_item", facts={"by": "Ada", "note": "ignored"})
    ledger.append("attestation", "readiness:model.tuned", facts={"note": "nobody said who"})
    release = Release("flight_delay", "3")
    kinds, attestations, provenance = gathering.ledger_evidence(ledger, release)
    assert kinds == {"table": 1, "model": 1, "attestation": 4}
    assert list(attestations) == ["data.privacy"]
    assert (attestations["data.privacy"].by, attestations["data.privacy"].seq) == ("Grace", latest.seq)
    assert provenance == Provenance(model.seq, "model", "model:flight_delay/3", (data.seq,))
    assert gathering.ledger_evidence(ledger, Release("flight_delay", "4"))[2] is None
    ledger.close()


# --- the asset, on a real instance and ledger, behind stand-ins for the stages it follows ----------


def _stand_ins(version: str):
    """trained_model, model_evaluation and staging_validation as the instance sees them (metadata and checks)."""
    import dagster as dg

    lineage = {name: f"{name}-value" for name in readiness.LINEAGE_FIELDS} | {"holdout_months": "2013-02:2013-02"}

    @dg.asset(name="trained_model")
    def trained():
        return dg.MaterializeResult(
            metadata={"model_name": "flight_delay", "model_version": version, "seed": 7, **lineage}
            | {"holdout_auc": 0.79, "holdout_log_loss": 0.44}
        )

    evaluation_checks = [key.split(":", 1)[1] for key in readiness.EVALUATION_CHECKS]

    @dg.asset(
        name="model_evaluation",
        deps=["trained_model"],
        check_specs=[dg.AssetCheckSpec(n, asset="model_evaluation", blocking=True) for n in evaluation_checks],
    )
    def evaluation():
        figures = {"holdout_auc": 0.79, "baseline_auc": 0.62, "calibration_error": 0.05, "out_of_range_share": 0.01}
        yield dg.MaterializeResult(metadata={"model_version": version, **figures})
        for name in evaluation_checks:
            yield dg.AssetCheckResult(check_name=name, passed=True)

    @dg.asset(
        name="staging_validation",
        deps=["model_evaluation"],
        check_specs=[
            dg.AssetCheckSpec(n, asset="staging_validation", blocking=True) for n in ("latency_budget", "error_budget")
        ],
    )
    def staging():
        yield dg.MaterializeResult(metadata={"model_version": version, "requests": 320, "p99_ms": 9.5})
        yield dg.AssetCheckResult(check_name="latency_budget", passed=True)
        yield dg.AssetCheckResult(check_name="error_budget", passed=True)

    @dg.asset(deps=["release_readiness"])
    def released():
        return dg.MaterializeResult(metadata={"released": version})

    return [trained, evaluation, staging, released]


def _materialize_readiness(home: Path, instance, minimum: float):
    import dagster as dg

    from openclaw_assets.control.assets import release_readiness
    from openclaw_assets.control.resource import ProvenanceLedger
    from openclaw_assets.kernel.warehouse import Warehouse

    warehouse = Warehouse(home=str(home), profile="embedded")
    config = {"minimum_score": minimum, "security_scan": False, "reports_dir": str(home / "no-reports")}
    return dg.materialize(
        [*_stand_ins("1"), release_readiness],
        instance=instance,
        resources={"warehouse": warehouse, "ledger": ProvenanceLedger(warehouse=warehouse)},
        run_config={"ops": {"release_readiness": {"config": config}}},
        raise_on_error=False,
    )


def test_the_asset_reports_every_item_records_the_ledger_and_blocks_below_the_floor(home: Path):
    import dagster as dg

    from openclaw_assets.control.ledger import Ledger

    ledger = Ledger.open(home)
    model = ledger.append("model", "model:flight_delay/1", inputs=[ledger.append("table", "table:x/y/all").seq])
    privacy = ledger.append("attestation", "readiness:data.privacy", facts={"by": "Ada", "note": "public data"})
    instance = dg.DagsterInstance.ephemeral()

    passed = _materialize_readiness(home, instance, minimum=0.5)
    assert passed.success
    (materialized,) = passed.asset_materializations_for_node("release_readiness")
    metadata = {key: value.value for key, value in materialized.metadata.items()}
    # no data gate ran here and the scan is off: the data section holds only the attestation's half point
    assert metadata["readiness/data"] == 0.5 and metadata["readiness/score"] == 0.5
    assert metadata["readiness/model"] == 5  # lineage, provenance, baseline, slices, calibration
    assert metadata["readiness/infra"] == 2 and metadata["readiness/monitoring"] == 2
    assert (metadata["model_name"], metadata["model_version"], metadata["weakest_sections"]) == (
        "flight_delay",
        "1",
        "data",
    )
    rows = {record.data["item"]: record.data for record in metadata["items"].records}
    assert len(rows) == 28 and rows["data.privacy"]["status"] == "attested"
    assert (
        rows["infra.gated"]["status"] == "automated"
        and "model_evaluation:calibration" in rows["infra.gated"]["evidence"]
    )
    assert "no junit.xml" in rows["infra.rollback"]["detail"]
    (floor,) = [e for e in passed.get_asset_check_evaluations() if e.check_name == "readiness_floor"]
    assert floor.passed and passed.asset_materializations_for_node("released")
    gates = gathering.check_records(instance, readiness.EVALUATION_CHECKS)
    assert {(g.status, g.blocking, g.run_id) for g in gates.values()} == {("SUCCEEDED", True, passed.run_id)}

    recorded = Ledger.open(home).latest("readiness:flight_delay/1")
    assert recorded is not None and recorded.kind == "readiness" and recorded.seq == metadata["ledger_seq"]
    assert recorded.facts["score"] == 0.5 and recorded.facts["minimum"] == 0.5 and recorded.facts["passed"]
    assert recorded.facts["points"]["data.privacy"] == 0.5 and len(recorded.facts["points"]) == 28
    assert set(recorded.inputs) == {privacy.seq, model.seq} and recorded.digest == metadata["report_sha256"]
    assert metadata["ledger_entries_by_kind"] == {"attestation": 1, "model": 1, "table": 1}

    blocked = _materialize_readiness(home, instance, minimum=1.0)
    (floor,) = [e for e in blocked.get_asset_check_evaluations() if e.check_name == "readiness_floor"]
    assert not floor.passed and "readiness 0.5 of 7" in (floor.description or "")
    assert blocked.asset_materializations_for_node("release_readiness")
    assert not blocked.asset_materializations_for_node("released")  # the floor is blocking
    assert len(Ledger.open(home).find(kind="readiness")) == 2


def test_with_nothing_staged_or_evaluated_there_is_no_release_to_judge(home: Path):
    import dagster as dg

    from openclaw_assets.control.assets import release_readiness
    from openclaw_assets.control.resource import ProvenanceLedger
    from openclaw_assets.kernel.warehouse import Warehouse

    warehouse = Warehouse(home=str(home), profile="embedded")
    result = dg.materialize(
        [release_readiness],
        instance=dg.DagsterInstance.ephemeral(),
        resources={"warehouse": warehouse, "ledger": ProvenanceLedger(warehouse=warehouse)},
        run_config={"ops": {"release_readiness": {"config": {"security_scan": False}}}},
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "no release to judge" in failure.event_specific_data.error.message


# --- on a real pipeline: the two-month home, a trained and staged challenger, a real gateway --------


TODAY_AUTOMATED = {
    "data.contract",
    "data.feature_baseline",
    "data.point_in_time",
    "data.security",
    "model.versioned",
    "model.provenance",
    "model.beats_baseline",
    "model.slices",
    "model.calibrated",
    "infra.gated",
    "infra.debuggable",
    "infra.canary",
    "monitoring.instrumented",
    "monitoring.skew",
    "monitoring.staleness",
    "monitoring.latency",
}
"""What today's two-month pipeline shows by itself, with a gateway serving and no CI reports."""


@pytest.mark.slow
def test_a_staged_release_of_the_real_pipeline_passes_the_default_floor_and_promotion_reads_it(
    feature_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import shutil

    from openclaw_assets.compute.gateway import server
    from openclaw_assets.control.ledger import Ledger
    from openclaw_assets.control.readiness import DEFAULT_MINIMUM
    from openclaw_assets.models.registry import CHALLENGER, CHAMPION
    from openclaw_assets_tests.conftest import run_job
    from openclaw_assets_tests.test_rollout import STAGING, alias, failures, train

    home = tmp_path / "home"
    shutil.copytree(feature_home, home)
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    monkeypatch.setenv(gathering.REPORTS_VARIABLE, str(tmp_path / "no-reports"))
    assert run_job(home, selection=["feast_registry"]).success
    trained, version = train(home)
    assert trained.success, failures(trained)
    staged = run_job(home, {}, {"ops": {"staging_validation": {"config": STAGING}}}, ["staging_validation"])
    assert staged.success, failures(staged)

    # a real gateway at the home's endpoint file (serving the challenger: there is no champion yet)
    endpoint = home / "gateway" / "endpoint.json"
    tokens = {"OPENCLAW_GATEWAY_PREDICT_TOKEN": "p" * 24, "OPENCLAW_GATEWAY_ADMIN_TOKEN": "a" * 24}
    process = server.start_child(home, port=0, endpoint_file=endpoint, pin=CHALLENGER, env=tokens)
    try:
        server.wait_ready(endpoint, process, 180)
        judged = run_job(home, selection=["release_readiness"])
    finally:
        server.stop(process.pid)
    assert judged.success, failures(judged)
    (materialized,) = judged.asset_materializations_for_node("release_readiness")
    rows = {r.data["item"]: r.data for r in materialized.metadata["items"].value.records}
    automated = {item for item, row in rows.items() if row["status"] == "automated"}
    assert automated == TODAY_AUTOMATED, {item: rows[item]["detail"] for item in automated ^ TODAY_AUTOMATED}
    # a model fitted on January alone meets many February values outside its training ranges (the full year: 1%)
    assert (
        rows["monitoring.numerics"]["status"] == "failed"
        and "outside the training ranges" in (rows["monitoring.numerics"]["detail"])
    )
    assert materialized.metadata["model_version"].value == version
    assert materialized.metadata["readiness/infra"].value == 3 == materialized.metadata["readiness/score"].value
    (floor,) = [e for e in judged.get_asset_check_evaluations() if e.check_name == "readiness_floor"]
    assert floor.passed and DEFAULT_MINIMUM == 3

    # promotion reads the recorded score: a floor above it is denied, the default one allows it
    recorded = Ledger.open(home).latest(f"readiness:flight_delay/{version}")
    assert recorded is not None and recorded.facts["score"] == 3
    deploy = ["production_deployment"]
    denied = run_job(home, {}, {"ops": {"production_deployment": {"config": {"min_readiness": 3.5}}}}, deploy)
    assert not denied.success and "readiness" in " ".join(failures(denied))
    allowed = run_job(home, {}, {"ops": {"production_deployment": {"config": {"min_readiness": 3.0}}}}, deploy)
    assert allowed.success, failures(allowed)
    assert alias(home, CHAMPION) == version
