"""Gathering a release's readiness evidence once, from where each piece already lives.

- the Dagster instance: the release (the version staging validated, with the materializations
  that trained, evaluated and staged it), every asset check's latest evaluation (the release's
  own gates: their evaluation in the run that judged it), the months it holds;
- the ledger: entries by kind, attestations, the release's model entry;
- the CI reports: JUnit and coverage XML under ``<project root>/reports/`` or
  ``$OPENCLAW_READINESS_REPORTS``;
- a bandit scan of the package's source;
- the running gateway's ``GET /metrics``, found through its endpoint file;
- the release's staging prediction log, and the serving champion's live results.

A source that cannot be read is left empty with the reason, never guessed. This module reads
what other planes write through their documented files and the instance, and imports none of
them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess  # nosec B404: runs bandit only, with a fixed argument list and no shell
import sys
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from openclaw_assets.control import subjects
from openclaw_assets.control.readiness import (
    ATTESTATION_KIND,
    CONTRACT_CHECKS,
    EVALUATION_CHECKS,
    FEATURE_BASELINE_CHECKS,
    ITEMS,
    ONLINE_CHECKS,
    STAGING_CHECKS,
    SUBJECT_PREFIX,
    TRAINING_SET_CHECKS,
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
)

if TYPE_CHECKING:
    import dagster as dg

PACKAGE_DIR = Path(__file__).resolve().parent.parent
PROJECT_ROOT = PACKAGE_DIR.parent
REPORTS_VARIABLE = "OPENCLAW_READINESS_REPORTS"
JUNIT_FILE = "junit.xml"
COVERAGE_FILE = "coverage.xml"
DEFAULT_MODEL_NAME = "flight_delay"
RUBRIC_CHECKS = (
    *CONTRACT_CHECKS,
    *FEATURE_BASELINE_CHECKS,
    *TRAINING_SET_CHECKS,
    *ONLINE_CHECKS,
    *EVALUATION_CHECKS,
    *STAGING_CHECKS,
)
"""Every check an item of the rubric reads."""
TRACE_FIELDS = ("request_id", "model_version", "features_sha256")
"""What a prediction-log line must name for the prediction to be traced."""


class LedgerReader(Protocol):
    """What readiness reads of ``control.ledger.Ledger``."""

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Any]: ...

    def find(self, kind: str | None = None, subject_prefix: str | None = None) -> list[Any]: ...

    def latest(self, subject: str) -> Any | None: ...


def reports_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the CI reports are: ``explicit``, else ``$OPENCLAW_READINESS_REPORTS``, else ``<project root>/reports``."""
    value = explicit or os.environ.get(REPORTS_VARIABLE)
    return Path(value).expanduser().resolve() if value else PROJECT_ROOT / "reports"


# --- parsing the files -------------------------------------------------------------------------


class EvidenceError(ValueError):
    """A report that exists but cannot be read: the message says which and why."""


def _xml_root(text: str, what: str):
    # The reports are this project's own CI output; expat (>= 2.4.1 in Python 3.11) bounds entity expansion.
    import xml.etree.ElementTree as ElementTree  # nosec B405

    try:
        return ElementTree.fromstring(text)  # nosec B314
    except ElementTree.ParseError as exc:
        raise EvidenceError(f"{what} is not well-formed XML: {exc}") from None


def _module_of(classname: str) -> str:
    """``openclaw_assets_tests.test_models`` (or ``...test_models.TestClass``) -> ``test_models.py``."""
    parts = classname.split(".")
    modules = [p for p in parts if p.startswith("test_")]
    return f"{modules[0] if modules else parts[-1]}.py"


def parse_junit(text: str, path: str = JUNIT_FILE) -> JUnitReport:
    """A pytest JUnit XML report: every test case's outcome by ``<module file>::<name>``."""
    root = _xml_root(text, path)
    if root.tag not in ("testsuite", "testsuites"):
        raise EvidenceError(f"{path} is not a JUnit report (its root is <{root.tag}>)")
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases: dict[str, str] = {}
    for case in root.iter("testcase"):
        name = f"{_module_of(case.get('classname', ''))}::{case.get('name', '')}"
        tags = {child.tag for child in case}
        outcome = "passed"
        if "failure" in tags:
            outcome = "failed"
        elif "error" in tags:
            outcome = "error"
        elif "skipped" in tags:
            outcome = "skipped"
        if cases.get(name) not in ("failed", "error"):  # a setup error and a teardown error: the worst stays
            cases[name] = outcome
    stamps = [s.get("timestamp") for s in suites if s.get("timestamp")]
    return JUnitReport(path, min(stamps) if stamps else None, cases)


def _package_path(filename: str, sources: list[str]) -> str:
    """A coverage file name as a path inside the package (``data/checks.py``), whatever the source root was."""
    candidates = [f"{source.rstrip('/')}/{filename}" for source in sources] or [filename]
    for candidate in [*candidates, filename]:
        marker = candidate.replace("\\", "/").rfind("openclaw_assets/")
        if marker >= 0:
            return candidate[marker + len("openclaw_assets/") :]
    return filename


def parse_coverage(text: str, path: str = COVERAGE_FILE) -> CoverageReport:
    """coverage.py's Cobertura XML: covered and measured lines of each package file."""
    root = _xml_root(text, path)
    if root.tag != "coverage":
        raise EvidenceError(f"{path} is not a coverage report (its root is <{root.tag}>)")
    sources = [s.text.strip() for s in root.iter("source") if s.text and s.text.strip()]
    files: dict[str, tuple[int, int]] = {}
    for item in root.iter("class"):
        lines = [int(line.get("hits", "0")) for line in item.iter("line")]
        where = _package_path(item.get("filename", ""), sources)
        covered, measured = files.get(where, (0, 0))
        files[where] = (covered + sum(h > 0 for h in lines), measured + len(lines))
    stamp = root.get("timestamp")
    when = datetime.fromtimestamp(int(stamp) / 1000, UTC).isoformat() if stamp and stamp.isdigit() else None
    return CoverageReport(path, when, files)


def parse_metric_families(text: str) -> frozenset[str]:
    """The metric families a Prometheus text exposition declares (counters without their ``_total``)."""
    found = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[:2] == ["#", "TYPE"]:
            name, kind = parts[2], parts[3]
            found.add(name.removesuffix("_total") if kind == "counter" else name)
    return frozenset(found)


def parse_bandit(text: str, target: str) -> SecurityScan:
    """bandit's JSON report: findings by severity, each high one named."""
    try:
        report = json.loads(text)
        results = report["results"]
        measured = [name for name in report["metrics"] if name != "_totals"]
    except (ValueError, KeyError, TypeError) as exc:
        raise EvidenceError(f"bandit gave no JSON report: {exc}") from None
    severities = {s: sum(1 for r in results if r.get("issue_severity") == s) for s in ("HIGH", "MEDIUM", "LOW")}
    high = tuple(
        f"{r.get('filename')}:{r.get('line_number')} {r.get('test_id')}: {r.get('issue_text')}"
        for r in results
        if r.get("issue_severity") == "HIGH"
    )
    unread = tuple(f"{e.get('filename')}: {e.get('reason')}" for e in report.get("errors") or [])
    return SecurityScan("bandit", target, len(measured), severities, high, unread)


# --- the instance ------------------------------------------------------------------------------


def _plain_metadata(entry: Any) -> dict[str, Any]:
    materialization = entry.asset_materialization if entry is not None else None
    if materialization is None:
        return {}
    return {key: value.value for key, value in materialization.metadata.items()}


def _materializations(instance: dg.DagsterInstance, asset: str, limit: int = 1000) -> Iterator[Any]:
    """An asset's materialization records, newest first (at most ``limit``)."""
    import dagster as dg

    cursor, seen = None, 0
    while seen < limit:
        found = instance.fetch_materializations(dg.AssetKey(asset), limit=100, cursor=cursor)
        for record in found.records:
            seen += 1
            yield record
        if not found.has_more:
            return
        cursor = found.cursor


def materialization_of(instance: dg.DagsterInstance, asset: str, version: str | None = None) -> Materialization | None:
    """The newest materialization of ``asset`` (of that ``model_version``, if given)."""
    for record in _materializations(instance, asset):
        metadata = _plain_metadata(record.event_log_entry)
        if version is None or str(metadata.get("model_version")) == version:
            return Materialization(asset, record.run_id, metadata)
    return None


def find_release(instance: dg.DagsterInstance, model_name: str = DEFAULT_MODEL_NAME) -> Release | None:
    """The version being released: the one staging validated last (as the deployment step takes it).

    Before any staging, the version the latest evaluation judged. Each materialization is the
    newest of that version, found by its ``model_version`` metadata.
    """
    staging = materialization_of(instance, "staging_validation")
    latest = staging or materialization_of(instance, "model_evaluation")
    if latest is None or latest.metadata.get("model_version") is None:
        return None
    version = str(latest.metadata["model_version"])
    trained = materialization_of(instance, "trained_model", version)
    evaluation = materialization_of(instance, "model_evaluation", version)
    name = str(trained.metadata.get("model_name") or model_name) if trained else model_name
    return Release(name, version, trained, evaluation, staging)


def _record(instance: dg.DagsterInstance, key: Any, run_id: str, limit: int = 1000) -> Any | None:
    """The check's evaluation in ``run_id`` (its history is newest first)."""
    storage = instance.event_log_storage
    cursor, seen = None, 0
    while seen < limit:
        records = storage.get_asset_check_execution_history(key, limit=100, cursor=cursor)
        for record in records:
            if record.run_id == run_id:
                return record
        seen += len(records)
        if len(records) < 100:
            return None
        cursor = records[-1].id
    return None


def check_records(
    instance: dg.DagsterInstance,
    keys: Iterable[str],
    blocking: Mapping[str, bool | None] | None = None,
    release: Release | None = None,
) -> dict[str, CheckRecord]:
    """Each check's latest evaluation; the release's own gates as evaluated in the run that judged it.

    Dagster 1.13 has no public instance method for check results; this reads the event log
    storage's execution records, as the instance's own (non-public) method does. Whether a check
    was blocking comes from its evaluation event, else from ``blocking`` (the code location's specs).
    """
    import dagster as dg

    blocking = blocking or {}
    wanted = {key: dg.AssetCheckKey(dg.AssetKey(key.split(":", 1)[0]), key.split(":", 1)[1]) for key in keys}
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(wanted.values()))
    runs: dict[str, str] = {}
    if release is not None and release.evaluation is not None:
        runs["model_evaluation"] = release.evaluation.run_id
    if release is not None and release.staging is not None:
        runs["staging_validation"] = release.staging.run_id
    found: dict[str, CheckRecord] = {}
    for key, check_key in wanted.items():
        record = latest.get(check_key)
        run = runs.get(key.split(":", 1)[0])
        if run is not None and (record is None or record.run_id != run):
            record = _record(instance, check_key, run) or record
        if record is None:
            continue
        evaluation = record.evaluation
        declared = evaluation.blocking if evaluation is not None and evaluation.blocking is not None else None
        asset, name = key.split(":", 1)
        found[key] = CheckRecord(
            asset, name, record.status.value, record.run_id, declared if declared is not None else blocking.get(key)
        )
    return found


def check_specs(graph: Any) -> dict[str, bool | None]:
    """Every check of an asset graph (a code location's or a job's) and whether it is blocking."""
    if graph is None:
        return {}
    return {
        f"{key.asset_key.to_user_string()}:{key.name}": bool(graph.get_check_spec(key).blocking)
        for key in graph.asset_check_keys
    }


# --- the ledger --------------------------------------------------------------------------------


def ledger_evidence(
    ledger: LedgerReader, release: Release | None
) -> tuple[dict[str, int], dict[str, Attestation], Provenance | None]:
    """Entries by kind, the latest attestation of each rubric item, and the release's model entry."""
    kinds: dict[str, int] = {}
    for entry in ledger.entries():
        kinds[entry.kind] = kinds.get(entry.kind, 0) + 1
    attestations: dict[str, Attestation] = {}
    for entry in ledger.find(kind=ATTESTATION_KIND, subject_prefix=SUBJECT_PREFIX):
        item = entry.subject[len(SUBJECT_PREFIX) :]
        facts = dict(entry.facts or {})
        if item not in ITEMS or not str(facts.get("by") or "").strip():
            continue
        if item not in attestations or entry.seq > attestations[item].seq:
            attestations[item] = Attestation(
                item, str(facts["by"]), str(facts.get("note") or ""), entry.seq, entry.recorded_at
            )
    provenance = None
    if release is not None:
        found = ledger.latest(subjects.model(release.model_name, release.version))
        if found is not None:
            provenance = Provenance(found.seq, found.kind, found.subject, tuple(found.inputs))
    return kinds, attestations, provenance


# --- files beside the pipeline -----------------------------------------------------------------


def _age_days(stamp: str | None, fallback: Path, now: datetime) -> float:
    when = None
    if stamp:
        try:
            when = datetime.fromisoformat(stamp)
        except ValueError:
            when = None
    if when is None:
        when = datetime.fromtimestamp(fallback.stat().st_mtime, UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (now - when).total_seconds() / 86400


def read_reports(
    directory: Path, now: datetime, max_age_days: float | None
) -> tuple[JUnitReport | None, CoverageReport | None, dict[str, str]]:
    """The JUnit and coverage reports in ``directory``; a missing, unreadable or stale one says why."""
    why: dict[str, str] = {}
    found: dict[str, Any] = {}
    for source, name, parse in (("tests", JUNIT_FILE, parse_junit), ("coverage", COVERAGE_FILE, parse_coverage)):
        path = directory / name
        if not path.is_file():
            why[source] = f"no {name} in {directory}"
            continue
        try:
            report = parse(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError, EvidenceError) as exc:
            why[source] = f"{path} could not be read: {exc}"
            continue
        age = _age_days(report.timestamp, path, now)
        if max_age_days is not None and age > max_age_days:
            why[source] = f"{path} is {age:.1f} days old (at most {max_age_days:g})"
            continue
        found[source] = report
    return found.get("tests"), found.get("coverage"), why


def security_scan(package_dir: Path = PACKAGE_DIR, timeout: float = 300.0) -> SecurityScan:
    """bandit over the package source, in a child process (its exit status 1 only means it found something)."""
    import importlib.util

    if importlib.util.find_spec("bandit") is None:
        raise EvidenceError("bandit is not installed")
    command = [sys.executable, "-m", "bandit", "-r", str(package_dir), "-f", "json", "-q"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # nosec B603
    except subprocess.TimeoutExpired:
        raise EvidenceError(f"bandit did not finish within {timeout:g} s") from None
    if done.returncode not in (0, 1):
        raise EvidenceError(f"bandit exited with {done.returncode}: {done.stderr.strip()[-300:]}")
    return parse_bandit(done.stdout, str(package_dir))


def probe_metrics(endpoint_file: Path, timeout: float = 5.0) -> MetricsProbe:
    """The metric families a live gateway exports, found through its endpoint file."""
    import httpx

    from openclaw_assets.kernel.atomic import pid_alive

    try:
        endpoint = json.loads(endpoint_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvidenceError(f"no running gateway ({endpoint_file} does not exist)") from None
    except (OSError, ValueError) as exc:
        raise EvidenceError(f"{endpoint_file} could not be read: {exc}") from None
    if not isinstance(endpoint, dict) or not endpoint.get("url"):
        raise EvidenceError(f"{endpoint_file} names no gateway URL")
    if not pid_alive(int(endpoint.get("pid") or 0)):
        raise EvidenceError(f"the gateway recorded in {endpoint_file} (pid {endpoint.get('pid')}) is gone")
    url = f"{str(endpoint['url']).rstrip('/')}/metrics"
    try:
        answer = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        raise EvidenceError(f"GET {url} failed: {type(exc).__name__}: {exc}") from None
    if answer.status_code != 200:
        raise EvidenceError(f"GET {url} answered HTTP {answer.status_code}")
    return MetricsProbe(url, parse_metric_families(answer.text))


def staging_log(home: Path, staging_run_id: str) -> LogSample:
    """The prediction log the staging gateway of that run wrote (``gateway/staging/<run>/predictions``)."""
    root = home / "gateway" / "staging" / staging_run_id / "predictions"
    files = sorted(root.glob("*/*.jsonl"))
    if not files:
        raise EvidenceError(f"no prediction log under {root}")
    lines = traceable = 0
    versions: set[str] = set()
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a torn last line
            if not isinstance(row, dict):
                continue
            lines += 1
            versions.add(str(row.get("model_version")))
            traceable += all(str(row.get(name) or "").strip() for name in TRACE_FIELDS)
    return LogSample(str(root), lines, traceable, frozenset(versions))


def _history_champion(home: Path) -> str | None:
    """The champion the deployment history's latest line names (``deployment/history.jsonl``)."""
    path = home / "deployment" / "history.jsonl"
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return None
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("champion") is not None:
            return str(entry["champion"])
    return None


def live_quality(instance: dg.DagsterInstance, home: Path) -> LiveQuality:
    """The serving champion's row of the latest ``ab_results``, beside its offline holdout AUC."""
    champion = _history_champion(home)
    if champion is None:
        raise EvidenceError("no champion in the deployment history")
    results = materialization_of(instance, "ab_results")
    if results is None:
        raise EvidenceError("ab_results was never materialized")
    table = results.metadata.get("variants")
    rows = [record.data for record in getattr(table, "records", None) or []]
    mine = [r for r in rows if str(r.get("model_version")) == champion and r.get("variant") == "champion"]
    source = f"ab_results (run {results.run_id[:8]})"
    if not mine:
        raise EvidenceError(f"ab_results (run {results.run_id[:8]}) has no live row for champion v{champion}")
    auc = mine[0].get("auc")
    evaluation = materialization_of(instance, "model_evaluation", champion)
    offline = evaluation.metadata.get("holdout_auc") if evaluation is not None else None
    return LiveQuality(
        champion,
        int(mine[0].get("labelled") or 0),
        float(auc) if isinstance(auc, (int, float)) and math.isfinite(auc) else None,
        float(offline) if isinstance(offline, (int, float)) and math.isfinite(offline) else None,
        source,
    )


# --- all of it ---------------------------------------------------------------------------------


def collect_evidence(
    instance: dg.DagsterInstance,
    home: Path,
    ledger: LedgerReader | None,
    *,
    blocking: Mapping[str, bool | None] | None = None,
    reports: Path | None = None,
    max_report_age_days: float | None = 7.0,
    scan: bool = True,
    package_dir: Path = PACKAGE_DIR,
    endpoint_file: Path | None = None,
    model_name: str = DEFAULT_MODEL_NAME,
    now: datetime | None = None,
) -> Evidence:
    """Everything the rubric reads, once. ``blocking``: the code location's checks (see ``check_specs``)."""
    from openclaw_assets.kernel.partitions import registered_months

    now = now or datetime.now(UTC)
    why: dict[str, str] = {}
    release = find_release(instance, model_name)
    checks = check_records(instance, RUBRIC_CHECKS, blocking, release)

    kinds: dict[str, int] = {}
    attestations: dict[str, Attestation] = {}
    provenance = None
    if ledger is None:
        why["ledger"] = "no ledger"
    else:
        try:
            kinds, attestations, provenance = ledger_evidence(ledger, release)
        except Exception as exc:  # a ledger that cannot be read is missing evidence, not a crash here
            why["ledger"] = f"the ledger could not be read: {type(exc).__name__}: {exc}"

    tests, coverage, report_why = read_reports(reports or reports_dir(), now, max_report_age_days)
    why.update(report_why)

    security = None
    if scan:
        try:
            security = security_scan(package_dir)
        except EvidenceError as exc:
            why["security"] = str(exc)
    else:
        why["security"] = "the security scan was switched off"

    metrics = None
    try:
        metrics = probe_metrics(endpoint_file or home / "gateway" / "endpoint.json")
    except EvidenceError as exc:
        why["metrics"] = str(exc)

    log = None
    if release is not None and release.staging is not None:
        try:
            log = staging_log(home, release.staging.run_id)
        except (OSError, EvidenceError) as exc:
            why["staging_log"] = str(exc)

    live = None
    try:
        live = live_quality(instance, home)
    except (OSError, EvidenceError) as exc:
        why["live"] = str(exc)

    return Evidence(
        release=release,
        checks=checks,
        months=tuple(registered_months(instance)),
        ledger_kinds=kinds,
        attestations=attestations,
        provenance=provenance,
        tests=tests,
        coverage=coverage,
        security=security,
        metrics=metrics,
        staging_log=log,
        live=live,
        unavailable=why,
    )
