"""Release readiness: a release scored from evidence, on the model of the ML Test Score.

Breck et al. (2017) list 28 tests in four sections of seven: data and features, model
development, ML infrastructure, monitoring. Here each is one item, worded for what this
project can show. An item scores 1 when automated evidence shows it holds, 0.5 when a person
has attested it in the ledger and no automated evidence says otherwise, and 0 when its
evidence fails or is missing. A section scores the sum of its items; the release scores its
weakest section, so a neglected section cannot hide behind the others.

The module is pure and cheap to import: ``Evidence`` is gathered once
(``control.evidence.collect_evidence``), ``score`` only reads it. Every automated item can fail:
each judges figures or results that a worse release would not have.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeGuard

from openclaw_assets.kernel.months import MonthError, split_key

SECTIONS: dict[str, str] = {
    "data": "Data and features",
    "model": "Model development",
    "infra": "ML infrastructure",
    "monitoring": "Monitoring",
}
"""The four sections, by key, in the paper's order."""

ATTESTATION_KIND = "attestation"
READINESS_KIND = "readiness"
SUBJECT_PREFIX = "readiness:"
"""Attestations are ledger entries of kind ``attestation`` with subject ``readiness:<item id>``."""

LINEAGE_FIELDS = (
    "dagster_run_id",
    "training_set_sha256",
    "training_months",
    "holdout_months",
    "feature_service",
    "code_version",
    "params_sha256",
)
"""What ``trained_model`` records of a version (the same values as its MLflow tags)."""

DEFAULT_MINIMUM = 3.0
"""The release score promotion needs by default: today's pipeline meets it on its own evidence
(README: "Release readiness")."""

GATEWAY_METRICS = (
    "openclaw_gateway_requests",
    "openclaw_gateway_request_seconds",
    "openclaw_gateway_predictions",
    "openclaw_gateway_model_errors",
    "openclaw_gateway_model_seconds",
    "openclaw_gateway_feature_seconds",
    "openclaw_gateway_missing_features",
    "openclaw_gateway_risk_flags",
    "openclaw_gateway_model_version",
    "openclaw_gateway_challenger_share",
    "openclaw_gateway_unrecorded_denials",
)
"""The metric families the gateway's ``GET /metrics`` exports (a test keeps this list equal to the gateway's)."""

CONTRACT_CHECKS = tuple(
    f"{asset}:{name}"
    for asset in ("airlines", "airports", "planes")
    for name in ("row_accounting", "quarantine_rate", "key_uniqueness")
) + tuple(
    f"{asset}:{name}"
    for asset in ("validated_flights", "validated_weather")
    for name in ("row_accounting", "quarantine_rate", "key_uniqueness", "partition_completeness")
)
FEATURE_BASELINE_CHECKS = tuple(
    f"{view}:null_rate_and_range"
    for view in ("aircraft", "carrier_stats", "origin_stats", "route_stats", "tail_recent", "weather_hourly")
)
TRAINING_SET_CHECKS = ("training_set:point_in_time", "training_set:training_row_accounting")
ONLINE_CHECKS = ("online_features:online_offline_parity", "online_features:online_freshness")
QUALITY_FLOOR = "model_evaluation:quality_floor"
SLICE_FLOOR = "model_evaluation:slice_floor"
CALIBRATION = "model_evaluation:calibration"
NO_REGRESSION = "model_evaluation:no_regression_vs_champion"
TRAINING_DATA_GATES = "model_evaluation:training_data_gates_passed"
EVALUATION_CHECKS = (QUALITY_FLOOR, NO_REGRESSION, SLICE_FLOOR, CALIBRATION, TRAINING_DATA_GATES)
LATENCY_BUDGET = "staging_validation:latency_budget"
ERROR_BUDGET = "staging_validation:error_budget"
STAGING_CHECKS = (LATENCY_BUDGET, ERROR_BUDGET)
RELEASE_CHECKS = frozenset(EVALUATION_CHECKS + STAGING_CHECKS)
"""Checks judged in the run that evaluated or staged the release, not at their latest evaluation."""

DATA_TEST_MODULES = (
    "test_checks.py",
    "test_contracts.py",
    "test_landing.py",
    "test_features_checks.py",
    "test_features_compute.py",
)
MODEL_TEST_MODULES = ("test_models.py",)
INTEGRATION_TEST_MODULES = ("test_features_pipeline.py", "test_rollout.py")
REPRODUCIBLE_TEST = "test_models.py::test_training_is_reproducible"
ROLLBACK_TEST = "test_rollout.py::test_an_induced_live_breach_rolls_the_champion_back_within_one_tick"


class Status(StrEnum):
    """How an item was judged."""

    AUTOMATED = "automated"  # automated evidence shows it holds: 1 point
    ATTESTED = "attested"  # only a person's attestation in the ledger: 0.5
    FAILED = "failed"  # automated evidence shows it does not hold: 0, whatever was attested
    MISSING = "missing"  # no evidence either way: 0


POINTS: dict[Status, float] = {Status.AUTOMATED: 1.0, Status.ATTESTED: 0.5, Status.FAILED: 0.0, Status.MISSING: 0.0}


# --- the evidence ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckRecord:
    """One asset check's evaluation as the Dagster instance recorded it."""

    asset: str
    name: str
    status: str  # SUCCEEDED, FAILED or PLANNED (still running)
    run_id: str
    blocking: bool | None = None  # from the code location's check spec, when known

    @property
    def key(self) -> str:
        return f"{self.asset}:{self.name}"


@dataclass(frozen=True)
class Materialization:
    """One materialization of an asset: its run and its metadata as plain values."""

    asset: str
    run_id: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Release:
    """The model version being released and the materializations that trained, evaluated and staged it."""

    model_name: str
    version: str
    trained: Materialization | None = None
    evaluation: Materialization | None = None
    staging: Materialization | None = None

    @property
    def name(self) -> str:
        return f"{self.model_name}/{self.version}"

    @property
    def subject(self) -> str:
        """The ledger subject of this release's readiness record."""
        return f"{SUBJECT_PREFIX}{self.name}"


@dataclass(frozen=True)
class Attestation:
    """A person's word for an item, from the ledger."""

    item: str
    by: str
    note: str
    seq: int
    recorded_at: str


@dataclass(frozen=True)
class Provenance:
    """The ledger entry that records the release's model, and the entries it names as inputs."""

    seq: int
    kind: str
    subject: str
    inputs: tuple[int, ...]


@dataclass(frozen=True)
class JUnitReport:
    """A JUnit XML report: each test case's outcome, keyed ``<module file>::<test name>``."""

    path: str
    timestamp: str | None
    cases: Mapping[str, str]  # passed, failed, error or skipped

    def in_module(self, module: str) -> dict[str, str]:
        return {case: outcome for case, outcome in self.cases.items() if case.split("::", 1)[0] == module}

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for outcome in self.cases.values():
            found[outcome] = found.get(outcome, 0) + 1
        return found


@dataclass(frozen=True)
class CoverageReport:
    """A Cobertura coverage report (coverage.py's XML): covered and measured lines per package file."""

    path: str
    timestamp: str | None
    files: Mapping[str, tuple[int, int]]  # path inside the package, e.g. data/checks.py -> (covered, lines)

    def lines(self, prefixes: tuple[str, ...]) -> tuple[int, int]:
        """Covered and measured lines of the files under any of ``prefixes``."""
        chosen = [counts for path, counts in self.files.items() if path.startswith(prefixes)]
        return sum(c for c, _ in chosen), sum(n for _, n in chosen)


@dataclass(frozen=True)
class SecurityScan:
    """A static security scan of the package's source: findings by severity."""

    tool: str
    target: str
    files: int
    severities: Mapping[str, int]  # HIGH, MEDIUM, LOW -> findings
    high: tuple[str, ...] = ()  # each high-severity finding, "file:line test: text"
    unread: tuple[str, ...] = ()  # files the scanner could not parse, with why


@dataclass(frozen=True)
class MetricsProbe:
    """What a running gateway's ``GET /metrics`` answered."""

    url: str
    families: frozenset[str]


@dataclass(frozen=True)
class LogSample:
    """The release's own prediction log from staging: lines, and those that trace a prediction fully."""

    path: str
    lines: int
    traceable: int  # lines naming the request, the model version and a hash of the features
    versions: frozenset[str]


@dataclass(frozen=True)
class LiveQuality:
    """The serving champion's live figures from ``ab_results`` beside its offline holdout AUC."""

    version: str
    labelled: int
    live_auc: float | None
    offline_auc: float | None
    source: str


@dataclass
class Evidence:
    """Everything the rubric reads, gathered once. A source that could not be read is None, and says why."""

    release: Release | None = None
    checks: Mapping[str, CheckRecord] = field(default_factory=dict)  # "asset:check" -> evaluation
    months: tuple[str, ...] = ()  # the months the instance holds
    ledger_kinds: Mapping[str, int] = field(default_factory=dict)
    attestations: Mapping[str, Attestation] = field(default_factory=dict)  # item id -> the latest
    provenance: Provenance | None = None
    tests: JUnitReport | None = None
    coverage: CoverageReport | None = None
    security: SecurityScan | None = None
    metrics: MetricsProbe | None = None
    staging_log: LogSample | None = None
    live: LiveQuality | None = None
    unavailable: Mapping[str, str] = field(default_factory=dict)  # source -> why it was not read

    def why(self, source: str, default: str) -> str:
        return self.unavailable.get(source, default)


@dataclass(frozen=True)
class Limits:
    """The thresholds the automated items apply."""

    min_line_coverage: float = 0.75
    max_model_age_months: int = 1
    max_out_of_range_share: float = 0.05
    min_live_labelled: int = 200
    min_live_auc: float = 0.6
    max_offline_online_gap: float = 0.05


# --- judging -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """What an item's evidence says: holds (True), does not (False) or cannot tell (None), and why."""

    holds: bool | None
    detail: str
    read: tuple[str, ...] = ()


Judge = Callable[[Evidence, Limits], Finding]


@dataclass(frozen=True)
class Item:
    """One test of the rubric: what it asks, what evidence proves it, and the function that reads it."""

    id: str
    section: str
    title: str
    proves: str
    judge: Judge | None = None  # None: no automated evidence exists yet; only an attestation counts


def _plain(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _gates(evidence: Evidence, keys: tuple[str, ...], need_blocking: bool = False) -> Finding:
    """Whether every check in ``keys`` passed: at its latest evaluation, or in the release's own run."""
    release = evidence.release
    read = tuple(f"check {key}" for key in keys)
    runs: dict[str, str | None] = {}
    if release is not None:
        runs = {
            "model_evaluation": release.evaluation.run_id if release.evaluation else None,
            "staging_validation": release.staging.run_id if release.staging else None,
        }
    found: dict[str, CheckRecord] = {}
    unknown: list[str] = []
    for key in keys:
        record = evidence.checks.get(key)
        if key in RELEASE_CHECKS:
            if release is None:
                unknown.append(f"{key} (no release identified)")
                continue
            wanted = runs[key.split(":", 1)[0]]
            if record is None or wanted is None or record.run_id != wanted:
                unknown.append(f"{key} (not evaluated in the run that judged v{release.version})")
                continue
        if record is None:
            unknown.append(f"{key} (never evaluated)")
        elif record.status == "PLANNED":
            unknown.append(f"{key} (still running)")
        else:
            found[key] = record
    failed = [key for key, record in found.items() if record.status != "SUCCEEDED"]
    if failed:
        return Finding(False, "failed: " + ", ".join(failed), read)
    advisory = [key for key, record in found.items() if need_blocking and record.blocking is False]
    if advisory:
        return Finding(False, "not blocking, so a failure would not stop the release: " + ", ".join(advisory), read)
    if unknown:
        return Finding(None, "no result for " + ", ".join(unknown), read)
    return Finding(True, f"{len(keys)} of {len(keys)} passed", read)


def _release_metadata(evidence: Evidence, which: str) -> tuple[Materialization | None, str]:
    release = evidence.release
    if release is None:
        return None, "no release identified (no staged or evaluated version in the instance)"
    found = getattr(release, which)
    if found is None:
        return None, f"no {which} materialization of v{release.version} in the instance"
    return found, ""


def _finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _both(first: Finding, second: Finding) -> Finding:
    """Both must hold: a failure of either fails, then an unknown leaves it unknown."""
    read = first.read + second.read
    detail = f"{first.detail}; {second.detail}"
    if first.holds is False or second.holds is False:
        return Finding(False, detail, read)
    if first.holds is None or second.holds is None:
        return Finding(None, detail, read)
    return Finding(True, detail, read)


def _modules_pass(evidence: Evidence, modules: tuple[str, ...]) -> Finding:
    """Every test of these modules in the JUnit report passed, and each module ran at least one."""
    tests = evidence.tests
    read = tuple(f"junit {module}" for module in modules)
    if tests is None:
        return Finding(None, evidence.why("tests", "no JUnit report"), read)
    read = tuple(f"junit {tests.path} {module}" for module in modules)
    bad = [case for module in modules for case, out in tests.in_module(module).items() if out in ("failed", "error")]
    if bad:
        return Finding(False, f"{len(bad)} failed: " + ", ".join(bad[:5]), read)
    passed = {m: sum(o == "passed" for o in tests.in_module(m).values()) for m in modules}
    absent = [m for m, n in passed.items() if n == 0]
    if absent:
        return Finding(None, "no passed test from " + ", ".join(absent) + " in the report", read)
    return Finding(True, f"{sum(passed.values())} tests passed in " + ", ".join(modules), read)


def _named_test(evidence: Evidence, case: str) -> Finding:
    tests = evidence.tests
    if tests is None:
        return Finding(None, evidence.why("tests", "no JUnit report"), (f"junit {case}",))
    outcome = tests.cases.get(case)
    read = (f"junit {tests.path} {case}",)
    if outcome == "passed":
        return Finding(True, f"{case} passed", read)
    if outcome in ("failed", "error"):
        return Finding(False, f"{case} {outcome}", read)
    return Finding(None, f"{case} {'was skipped' if outcome else 'is not in the report'}", read)


def _covered(evidence: Evidence, limits: Limits, prefixes: tuple[str, ...]) -> Finding:
    coverage = evidence.coverage
    where = ", ".join(f"openclaw_assets/{p}" for p in prefixes)
    if coverage is None:
        return Finding(None, evidence.why("coverage", "no coverage report"), (f"coverage {where}",))
    covered, lines = coverage.lines(prefixes)
    read = (f"coverage {coverage.path} {where}",)
    if lines == 0:
        return Finding(None, f"the coverage report measured no line of {where}", read)
    rate = covered / lines
    return Finding(
        rate >= limits.min_line_coverage,
        f"line coverage of {where} {rate:.1%} ({covered:,} of {lines:,}; floor {limits.min_line_coverage:.0%})",
        read,
    )


# --- the items ---------------------------------------------------------------------------------


def _data_contract(evidence: Evidence, limits: Limits) -> Finding:
    return _gates(evidence, CONTRACT_CHECKS)


def _feature_baseline(evidence: Evidence, limits: Limits) -> Finding:
    return _gates(evidence, FEATURE_BASELINE_CHECKS)


def _point_in_time(evidence: Evidence, limits: Limits) -> Finding:
    return _gates(evidence, (*TRAINING_SET_CHECKS, TRAINING_DATA_GATES))


def _security(evidence: Evidence, limits: Limits) -> Finding:
    scan = evidence.security
    if scan is None:
        return Finding(None, evidence.why("security", "no security scan"), ("security scan",))
    counts = ", ".join(f"{scan.severities.get(s, 0)} {s.lower()}" for s in ("HIGH", "MEDIUM", "LOW"))
    read = (f"{scan.tool} over {scan.target}",)
    detail = f"{scan.files} files: {counts} severity findings"
    if scan.severities.get("HIGH", 0) > 0:
        return Finding(False, detail + " (" + "; ".join(scan.high[:3]) + ")", read)
    if scan.unread:
        unread = "; ".join(scan.unread[:3])
        return Finding(None, f"{detail}; {len(scan.unread)} files could not be scanned: {unread}", read)
    return Finding(True, detail, read)


def _data_tested(evidence: Evidence, limits: Limits) -> Finding:
    return _both(_modules_pass(evidence, DATA_TEST_MODULES), _covered(evidence, limits, ("data/", "features/")))


def _versioned(evidence: Evidence, limits: Limits) -> Finding:
    trained, why = _release_metadata(evidence, "trained")
    if trained is None:
        return Finding(None, why, ("trained_model metadata",))
    read = (f"trained_model metadata (run {trained.run_id[:8]})",)
    empty = [name for name in LINEAGE_FIELDS if not str(trained.metadata.get(name) or "").strip()]
    if empty:
        return Finding(False, "lineage not recorded: " + ", ".join(empty), read)
    return Finding(True, "recorded: " + ", ".join(LINEAGE_FIELDS), read)


def _provenance(evidence: Evidence, limits: Limits) -> Finding:
    release = evidence.release
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(evidence.ledger_kinds.items())) or "none"
    if release is None:
        return Finding(None, "no release identified", ("ledger",))
    subject = f"model:{release.name}"
    read = (f"ledger {subject}", "ledger entries by kind")
    found = evidence.provenance
    if found is None:
        return Finding(None, f"{evidence.why('ledger', f'no ledger entry for {subject}')} (entries: {kinds})", read)
    if not found.inputs:
        return Finding(False, f"ledger #{found.seq} ({subject}) names no inputs: its lineage is not captured", read)
    inputs = ", ".join(f"#{seq}" for seq in found.inputs)
    return Finding(True, f"ledger #{found.seq} ({subject}) built from {inputs}", read)


def _beats_baseline(evidence: Evidence, limits: Limits) -> Finding:
    gate = _gates(evidence, (QUALITY_FLOOR,))
    evaluation, why = _release_metadata(evidence, "evaluation")
    if evaluation is None:
        return _both(gate, Finding(None, why))
    auc, baseline = evaluation.metadata.get("holdout_auc"), evaluation.metadata.get("baseline_auc")
    figures = Finding(
        _finite(auc) and _finite(baseline) and auc > baseline,
        f"holdout AUC {_plain(auc)} against the raw-columns baseline's {_plain(baseline)}",
        ("model_evaluation metadata",),
    )
    return _both(gate, figures)


def _slices(evidence: Evidence, limits: Limits) -> Finding:
    return _gates(evidence, (SLICE_FLOOR,))


def _calibrated(evidence: Evidence, limits: Limits) -> Finding:
    return _gates(evidence, (CALIBRATION,))


def _live(evidence: Evidence, limits: Limits) -> tuple[LiveQuality | None, Finding | None]:
    live = evidence.live
    if live is None:
        return None, Finding(None, evidence.why("live", "no live results (ab_results)"), ("ab_results",))
    read = (live.source,)
    if live.labelled < limits.min_live_labelled or live.live_auc is None:
        return None, Finding(
            None,
            f"champion v{live.version} has {live.labelled:,} labelled live predictions "
            f"(at least {limits.min_live_labelled:,} needed for a live AUC)",
            read,
        )
    return live, None


def _offline_online(evidence: Evidence, limits: Limits) -> Finding:
    live, missing = _live(evidence, limits)
    if live is None or live.live_auc is None:
        return missing or Finding(None, "no live AUC")
    read = (live.source, f"model_evaluation metadata of v{live.version}")
    if live.offline_auc is None:
        return Finding(None, f"no offline evaluation of v{live.version} in the instance", read)
    gap = abs(live.live_auc - live.offline_auc)
    return Finding(
        gap <= limits.max_offline_online_gap,
        f"v{live.version}: live AUC {live.live_auc:.4f} on {live.labelled:,} labelled predictions, offline "
        f"{live.offline_auc:.4f} (gap {gap:.4f}, at most {limits.max_offline_online_gap})",
        read,
    )


def _reproducible(evidence: Evidence, limits: Limits) -> Finding:
    trained, why = _release_metadata(evidence, "trained")
    if trained is None:
        recorded = Finding(None, why)
    else:
        wanted = ("seed", "training_set_sha256", "params_sha256", "code_version")
        empty = [name for name in wanted if str(trained.metadata.get(name, "")).strip() in ("", "None")]
        recorded = Finding(
            not empty,
            f"v{trained.metadata.get('model_version', '?')} lacks " + ", ".join(empty)
            if empty
            else "the release records its seed, training-set hash, parameters digest and code version",
            ("trained_model metadata",),
        )
    return _both(_named_test(evidence, REPRODUCIBLE_TEST), recorded)


def _model_tested(evidence: Evidence, limits: Limits) -> Finding:
    return _both(_modules_pass(evidence, MODEL_TEST_MODULES), _covered(evidence, limits, ("models/",)))


def _integration(evidence: Evidence, limits: Limits) -> Finding:
    return _modules_pass(evidence, INTEGRATION_TEST_MODULES)


def _gated(evidence: Evidence, limits: Limits) -> Finding:
    return _gates(evidence, EVALUATION_CHECKS, need_blocking=True)


def _debuggable(evidence: Evidence, limits: Limits) -> Finding:
    release = evidence.release
    sample = evidence.staging_log
    if release is None or sample is None:
        why = "no release identified" if release is None else evidence.why("staging_log", "no staging prediction log")
        return Finding(None, why, ("staging prediction log",))
    read = (f"prediction log {sample.path}",)
    if sample.lines == 0:
        return Finding(None, "the staging prediction log is empty", read)
    others = sorted(sample.versions - {release.version})
    detail = f"{sample.traceable:,} of {sample.lines:,} lines name their request, model version and feature hash"
    if others:
        return Finding(False, detail + "; lines from other versions: " + ", ".join(others), read)
    return Finding(sample.traceable == sample.lines, detail, read)


def _canary(evidence: Evidence, limits: Limits) -> Finding:
    gate = _gates(evidence, (ERROR_BUDGET,))
    staging, why = _release_metadata(evidence, "staging")
    if staging is None:
        return _both(gate, Finding(None, why))
    requests = staging.metadata.get("requests")
    replayed = Finding(
        _finite(requests) and requests > 0,
        f"{_plain(requests)} held-out requests replayed through a staging gateway",
        ("staging_validation metadata",),
    )
    return _both(gate, replayed)


def _rollback(evidence: Evidence, limits: Limits) -> Finding:
    return _named_test(evidence, ROLLBACK_TEST)


def _instrumented(evidence: Evidence, limits: Limits) -> Finding:
    probe = evidence.metrics
    if probe is None:
        return Finding(None, evidence.why("metrics", "no running gateway"), ("gateway GET /metrics",))
    missing = [name for name in GATEWAY_METRICS if name not in probe.families]
    read = (f"GET {probe.url}",)
    if missing:
        return Finding(False, "missing metric families: " + ", ".join(missing), read)
    return Finding(True, f"all {len(GATEWAY_METRICS)} metric families exported", read)


def _skew(evidence: Evidence, limits: Limits) -> Finding:
    return _gates(evidence, ONLINE_CHECKS)


def _staleness(evidence: Evidence, limits: Limits) -> Finding:
    trained, why = _release_metadata(evidence, "trained")
    if trained is None:
        return Finding(None, why, ("trained_model metadata",))
    read = ("trained_model metadata", "the instance's months")
    holdout = str(trained.metadata.get("holdout_months") or "")
    if not holdout or not evidence.months:
        return Finding(None, "no holdout months recorded" if not holdout else "the instance holds no months", read)
    try:
        newest_year, newest_month = max(split_key(m) for m in evidence.months)
        year, month = split_key(holdout.split(":")[-1])
    except MonthError as exc:
        return Finding(None, str(exc), read)
    age = (newest_year - year) * 12 + newest_month - month
    return Finding(
        age <= limits.max_model_age_months,
        f"holds out up to {holdout.split(':')[-1]}; the newest month is {newest_year:04d}-{newest_month:02d} "
        f"({age} month(s) later, at most {limits.max_model_age_months})",
        read,
    )


def _numerics(evidence: Evidence, limits: Limits) -> Finding:
    trained, why = _release_metadata(evidence, "trained")
    evaluation, why_evaluation = _release_metadata(evidence, "evaluation")
    if trained is None or evaluation is None:
        return Finding(None, why or why_evaluation, ("trained_model metadata", "model_evaluation metadata"))
    read = ("trained_model metadata", "model_evaluation metadata")
    figures = {
        **{f"trained {k}": trained.metadata.get(k) for k in ("holdout_auc", "holdout_log_loss")},
        **{f"evaluation {k}": evaluation.metadata.get(k) for k in ("holdout_auc", "calibration_error")},
    }
    broken = [name for name, value in figures.items() if not _finite(value)]
    share = evaluation.metadata.get("out_of_range_share")
    if broken:
        return Finding(False, "not finite: " + ", ".join(f"{n} = {figures[n]!r}" for n in broken), read)
    if not _finite(share):
        return Finding(None, "the evaluation reports no out-of-range share", read)
    return Finding(
        share <= limits.max_out_of_range_share,
        f"{len(figures)} figures finite; {share:.2%} of holdout rows outside the training ranges "
        f"(at most {limits.max_out_of_range_share:.0%})",
        read,
    )


def _latency(evidence: Evidence, limits: Limits) -> Finding:
    gate = _gates(evidence, (LATENCY_BUDGET,))
    staging = evidence.release.staging if evidence.release else None
    if gate.holds and staging is not None and _finite(staging.metadata.get("p99_ms")):
        return Finding(True, f"single-row p99 {staging.metadata['p99_ms']:.1f} ms in staging", gate.read)
    return gate


def _live_quality(evidence: Evidence, limits: Limits) -> Finding:
    live, missing = _live(evidence, limits)
    if live is None or live.live_auc is None:
        return missing or Finding(None, "no live AUC")
    return Finding(
        live.live_auc >= limits.min_live_auc,
        f"champion v{live.version}: live AUC {live.live_auc:.4f} on {live.labelled:,} labelled predictions "
        f"(floor {limits.min_live_auc})",
        (live.source,),
    )


RUBRIC: tuple[Item, ...] = (
    Item(
        "data.contract",
        "data",
        "Landed data meets its written contract",
        "The contract gates of the validated and reference tables (row accounting, quarantine rate, key "
        "uniqueness, month completeness) passed at their latest evaluation.",
        _data_contract,
    ),
    Item(
        "data.feature_baseline",
        "data",
        "Feature tables stay near their recorded baseline",
        "Each feature table's null-rate and range gate against the stored baseline passed.",
        _feature_baseline,
    ),
    Item(
        "data.point_in_time",
        "data",
        "Training rows hold only values known before departure",
        "The training set's point-in-time and row-accounting gates passed, and the release's evaluation found "
        "them passed in the run that wrote its rows.",
        _point_in_time,
    ),
    Item(
        "data.feature_value",
        "data",
        "Every feature view earns its place",
        "An ablation showing each view adds quality (the `gates` benchmark covers three views, not every "
        "release): attested by a person.",
    ),
    Item(
        "data.privacy",
        "data",
        "Personal data is identified and controlled",
        "A review that the inputs hold no personal data, or that what they hold is controlled: attested by a person.",
    ),
    Item(
        "data.security",
        "data",
        "The code passes a static security scan",
        "bandit over the package source reports no high-severity finding.",
        _security,
    ),
    Item(
        "data.tested",
        "data",
        "Contract and feature code is unit tested",
        "The CI report's contract, landing and feature tests all passed, and its line coverage of the data and "
        "feature planes is at least the floor.",
        _data_tested,
    ),
    Item(
        "model.versioned",
        "model",
        "The release is registered with its lineage",
        "trained_model recorded the version's run, training-set hash, months, feature service, code version and "
        "parameters digest (its MLflow tags).",
        _versioned,
    ),
    Item(
        "model.provenance",
        "model",
        "The ledger records where the release came from",
        "A ledger entry for the model version (`model:<name>/<version>`) that names the entries it was built from.",
        _provenance,
    ),
    Item(
        "model.tuned",
        "model",
        "Hyperparameters were chosen by a search",
        "The training parameters are fixed defaults; a person attests a search chose them.",
    ),
    Item(
        "model.beats_baseline",
        "model",
        "A simpler model is not better",
        "The quality gate passed for this version, and its holdout AUC is above the raw-columns baseline's.",
        _beats_baseline,
    ),
    Item(
        "model.slices",
        "model",
        "Quality holds on every carrier, origin and month",
        "The slice gate passed for this version.",
        _slices,
    ),
    Item(
        "model.calibrated",
        "model",
        "Predicted probabilities match observed delay rates",
        "The calibration gate passed for this version.",
        _calibrated,
    ),
    Item(
        "model.offline_online",
        "model",
        "Offline quality predicts live quality",
        "The serving champion's live AUC (ab_results) is within the allowed gap of its offline holdout AUC.",
        _offline_online,
    ),
    Item(
        "infra.reproducible",
        "infra",
        "Training is reproducible",
        "The reproducibility test passed, and the release records its seed, training-set hash, parameters and "
        "code version.",
        _reproducible,
    ),
    Item(
        "infra.model_tested",
        "infra",
        "Model code is unit tested",
        "The CI report's model tests all passed, and its line coverage of the model plane is at least the floor.",
        _model_tested,
    ),
    Item(
        "infra.integration",
        "infra",
        "The pipeline is tested end to end",
        "The CI report's feature-pipeline and rollout tests (real runs, a real registry and gateway) all passed.",
        _integration,
    ),
    Item(
        "infra.gated",
        "infra",
        "Model quality is validated before serving",
        "The five evaluation gates are blocking and passed in the run that evaluated this version.",
        _gated,
    ),
    Item(
        "infra.debuggable",
        "infra",
        "Each prediction can be traced",
        "Every line of the release's staging prediction log names its request, this version and a hash of the "
        "features it scored.",
        _debuggable,
    ),
    Item(
        "infra.canary",
        "infra",
        "The release is canaried before it serves",
        "Held-out flights were replayed through a staging gateway serving this version, within the error budget.",
        _canary,
    ),
    Item(
        "infra.rollback",
        "infra",
        "A bad release can be rolled back",
        "The rollback test (a live breach moves the champion back within one sensor tick) passed.",
        _rollback,
    ),
    Item(
        "monitoring.dependencies",
        "monitoring",
        "Upstream changes raise an alert",
        "No alert exists yet for a changed drop schema, library or registry (the observability plane's): "
        "attested by a person.",
    ),
    Item(
        "monitoring.instrumented",
        "monitoring",
        "The serving gateway exports its metrics",
        "The running gateway's GET /metrics lists every metric family of the project.",
        _instrumented,
    ),
    Item(
        "monitoring.skew",
        "monitoring",
        "Serving features equal training features",
        "The online store's parity with the offline tables and its freshness gates passed.",
        _skew,
    ),
    Item(
        "monitoring.staleness",
        "monitoring",
        "The release is trained on recent months",
        "The release holds out months ending within the allowed age of the newest month the instance holds.",
        _staleness,
    ),
    Item(
        "monitoring.numerics",
        "monitoring",
        "The release's figures are finite and its inputs in range",
        "Its training and evaluation figures are finite, and few holdout rows fall outside the training ranges.",
        _numerics,
    ),
    Item(
        "monitoring.latency",
        "monitoring",
        "Serving latency is within budget",
        "The staging latency gate passed for this version.",
        _latency,
    ),
    Item(
        "monitoring.live_quality",
        "monitoring",
        "Live prediction quality is above its floor",
        "The serving champion's live AUC from ab_results, on enough labelled predictions, meets the floor.",
        _live_quality,
    ),
)
"""The 28 items, seven per section."""

ITEMS: dict[str, Item] = {item.id: item for item in RUBRIC}


# --- the report --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemScore:
    """One item as scored: its status and points, and the evidence it read."""

    item: Item
    status: Status
    points: float
    detail: str
    read: tuple[str, ...]
    attestation: Attestation | None = None


@dataclass(frozen=True)
class Report:
    """The scored rubric: items, section scores, and the release's score (the weakest section's)."""

    items: tuple[ItemScore, ...]
    sections: Mapping[str, float]
    score: float
    release: Release | None = None

    def weakest(self) -> list[str]:
        """The sections that set the score."""
        return [section for section, points in self.sections.items() if points == self.score]

    def carried_by(self) -> list[str]:
        """The items that earned the weakest sections' points."""
        weakest = set(self.weakest())
        return [s.item.id for s in self.items if s.item.section in weakest and s.points > 0]

    def rows(self) -> list[dict[str, Any]]:
        """One plain row per item, for a table."""
        return [
            {
                "item": s.item.id,
                "section": s.item.section,
                "title": s.item.title,
                "status": s.status.value,
                "points": s.points,
                "detail": s.detail,
                "evidence": "; ".join(s.read),
            }
            for s in self.items
        ]

    def facts(self, minimum: float | None = None) -> dict[str, Any]:
        """JSON-safe facts for the ledger: the score, the minimum applied, the sections and every item's points."""
        found: dict[str, Any] = {
            "score": self.score,
            "sections": dict(self.sections),
            "points": {s.item.id: s.points for s in self.items},
            "status": {s.item.id: s.status.value for s in self.items},
        }
        if minimum is not None:
            found["minimum"] = minimum
            found["passed"] = self.score >= minimum
        if self.release is not None:
            found["model_name"], found["model_version"] = self.release.model_name, self.release.version
        return found


NO_AUTOMATION = "no automated evidence exists for this item yet"


def score(evidence: Evidence, limits: Limits | None = None) -> Report:
    """Judge every item of the rubric on ``evidence``; sum the sections; the score is the lowest section."""
    limits = limits or Limits()
    scored: list[ItemScore] = []
    for item in RUBRIC:
        finding = item.judge(evidence, limits) if item.judge is not None else Finding(None, NO_AUTOMATION)
        attestation = evidence.attestations.get(item.id)
        read = finding.read
        if attestation is not None:
            read += (f"ledger #{attestation.seq} {SUBJECT_PREFIX}{item.id}",)
        if finding.holds is True:
            status, detail = Status.AUTOMATED, finding.detail
        elif finding.holds is False:
            status, detail = Status.FAILED, finding.detail
            if attestation is not None:
                detail += f" (attested by {attestation.by}, not counted: the evidence says otherwise)"
        elif attestation is not None:
            status = Status.ATTESTED
            detail = f"attested by {attestation.by} ({attestation.recorded_at}): {attestation.note}; {finding.detail}"
        else:
            status, detail = Status.MISSING, finding.detail
        scored.append(ItemScore(item, status, POINTS[status], detail, read, attestation))
    sections = {key: sum(s.points for s in scored if s.item.section == key) for key in SECTIONS}
    return Report(tuple(scored), sections, min(sections.values()), evidence.release)
