"""``pipeline_health``: the pipeline's own metrics, with anomaly checks (``observability.anomaly``).

The figures are read where they are kept, by the contracts other planes publish (this plane
imports none of them): validated and quarantined rows per month from the warehouse files
(``warehouse/<layer>/<table>/<YYYY-MM>.parquet``), staging p99 per model version from the
``staging_validation`` materializations' metadata, predictions per hour from the gateway's
prediction log (``predictions/log/<UTC date>/*.jsonl``, the ``ts`` of each line).

The checks are WARN: they judge a metric against its own history, which says "look at this",
not "this is wrong". What is wrong is already gated by blocking checks with absolute limits
(day coverage, the quarantine ceiling, the latency budget); an anomaly under those limits (a
quarantine rate from 0% to 1.5% under a 2% ceiling, a p99 tripling under its budget) is what
these add. A failed one is notified by ``check_failure_alert_sensor`` with severity warning.
"""

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets.kernel.outcomes import Outcome
from openclaw_assets.kernel.partitions import is_month
from openclaw_assets.kernel.paths import table_partitions, warehouse_file
from openclaw_assets.kernel.reporting import check_results, table
from openclaw_assets.kernel.warehouse import WAREHOUSE, Warehouse
from openclaw_assets.observability import anomaly
from openclaw_assets.observability.anomaly import Bounds, Judgement

ASSET = "pipeline_health"
ROW_COUNTS = "row_count_anomaly"
QUARANTINE_RATE = "quarantine_rate_anomaly"
STAGING_LATENCY = "staging_latency_anomaly"
PREDICTION_RATE = "prediction_rate_anomaly"
CHECKS = frozenset({ROW_COUNTS, QUARANTINE_RATE, STAGING_LATENCY, PREDICTION_RATE})

TABLES = ("flights", "weather")
"""The monthly tables whose rows and quarantine are watched."""
STAGING = "staging_validation"

ON_METRICS = (
    (dg.AutomationCondition.any_deps_updated() | dg.AutomationCondition.cron_tick_passed("0 * * * *"))
    & ~dg.AutomationCondition.any_deps_in_progress()
    & ~dg.AutomationCondition.in_progress()
).with_label("when a watched asset changes, and hourly")
"""Rows and staging change with their assets; the prediction log changes outside Dagster: hourly."""


class HealthConfig(dg.Config):
    """When the pipeline's own metrics are anomalous (see ``observability.anomaly.Bounds``)."""

    count_max_z: float = Field(default=4.0, gt=0, description="Robust z-score a month's row level must exceed.")
    count_min_change: float = Field(
        default=0.10, ge=0, description="Relative change of a month's weekday-adjusted row level that it must exceed."
    )
    quarantine_max_z: float = Field(default=4.0, gt=0, description="Robust z-score a quarantine rate must exceed.")
    quarantine_min_excess: float = Field(
        default=0.005, ge=0, description="Rate (share of rows) by which a quarantine rate must exceed the median."
    )
    latency_max_z: float = Field(default=4.0, gt=0, description="Robust z-score the newest staging p99 must exceed.")
    latency_min_increase: float = Field(
        default=0.5, ge=0, description="Relative increase over the earlier versions' median p99 it must exceed."
    )
    latency_versions: int = Field(default=20, ge=1, description="Earlier versions the newest p99 is judged against.")
    rate_window_hours: int = Field(default=24, ge=1, le=168, description="Hours of predictions judged at once.")
    rate_weeks: int = Field(default=8, ge=1, description="Earlier weeks the same hours are compared with.")
    rate_max_z: float = Field(default=4.0, gt=0, description="Robust z-score the window's predictions must exceed.")
    rate_min_change: float = Field(
        default=0.3,
        ge=0,
        description="Relative change of the window's predictions against the same hours it must exceed.",
    )
    rate_end: str | None = Field(
        default=None, description="End of the judged prediction window (ISO time, UTC); default: the current hour."
    )
    min_history: int = Field(
        default=4, ge=2, description="Fewest earlier values (months, versions, weeks) to judge by."
    )


# --- reading the figures --------------------------------------------------------------------------
def daily_rows(home: Path, table_name: str) -> dict[str, dict[date, int]]:
    """Validated rows per calendar day (every day present) of each month of ``table_name``."""
    import pyarrow.parquet as pq

    out = {}
    for path in table_partitions(home, "validated", table_name):
        if not is_month(path.stem):
            continue
        frame = pq.read_table(path, columns=["year", "month", "day"]).to_pandas()
        counts = frame.groupby(["year", "month", "day"]).size()
        found = {date(int(y), int(m), int(d)): int(n) for (y, m, d), n in counts.items()}
        out[path.stem] = {day: found.get(day, 0) for day in anomaly.calendar_days(path.stem)}
    return out


def quarantine_rates(home: Path, table_name: str) -> dict[str, float]:
    """Quarantined share of each month's rows (from the Parquet footers: no data read)."""
    import pyarrow.parquet as pq

    out = {}
    for path in table_partitions(home, "validated", table_name):
        quarantined = warehouse_file(home, "quarantine", table_name, path.stem)
        if not is_month(path.stem) or not quarantined.exists():
            continue
        valid, bad = pq.ParquetFile(path).metadata.num_rows, pq.ParquetFile(quarantined).metadata.num_rows
        out[path.stem] = bad / (valid + bad) if valid + bad else 0.0
    return out


def staging_p99(instance: dg.DagsterInstance, limit: int = 500) -> list[tuple[str, float]]:
    """Each staged version's single-row p99 (ms), its latest staging, oldest version first."""
    found = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=dg.AssetKey(STAGING)), limit=limit)
    latest: dict[str, tuple[float, float]] = {}
    for record in found.records:  # newest first
        event = record.asset_materialization
        metadata = event.metadata if event is not None else {}
        version, p99 = metadata.get("model_version"), metadata.get("p99_ms")
        if version is None or p99 is None or not isinstance(p99.value, (int, float)):
            continue
        latest.setdefault(f"v{version.value}", (record.timestamp, float(p99.value)))
    return [(v, p99) for v, (_, p99) in sorted(latest.items(), key=lambda kv: kv[1][0])]


_TS = re.compile(rb'"ts":"(\d{4}-\d\d-\d\dT\d\d)')
_DAY = re.compile(r"\d{4}-\d\d-\d\d")


def rate_windows(end: datetime, window_hours: int, weeks: int) -> list[tuple[datetime, datetime]]:
    """The judged window before ``end`` and the same hours in each of ``weeks`` earlier weeks."""
    stop = anomaly.hour_of(end)
    span = timedelta(hours=window_hours)
    return [(stop - timedelta(weeks=k) - span, stop - timedelta(weeks=k)) for k in range(weeks + 1)]


def prediction_hours(
    home: Path, windows: Sequence[tuple[datetime, datetime]]
) -> tuple[dict[datetime, int], datetime | None]:
    """Prediction-log lines per UTC hour inside ``windows`` ([start, end)), and the first hour ever logged.

    Only the day folders the windows touch are read (and the first one, for the first hour), each
    line's ``ts`` found by a pattern rather than parsed: a busy gateway logs millions of lines a week.
    """
    root = home / "predictions" / "log"
    folders = sorted(p for p in root.iterdir() if p.is_dir() and _DAY.fullmatch(p.name)) if root.is_dir() else []
    wanted = set()
    for start, stop in windows:  # a line's day folder may be the day after its ts (written at midnight)
        day = start.date() - timedelta(days=1)
        while day <= stop.date():
            wanted.add(day.isoformat())
            day += timedelta(days=1)
    hourly: dict[datetime, int] = {}
    first: datetime | None = None
    for index, folder in enumerate(folders):
        if index and folder.name not in wanted:
            continue
        counts: Counter[bytes] = Counter()
        for path in sorted(folder.glob("*.jsonl")):
            counts.update(_TS.findall(path.read_bytes()))
        for stamp, lines in counts.items():
            hour = datetime.strptime(stamp.decode(), "%Y-%m-%dT%H").replace(tzinfo=UTC)
            first = hour if first is None or hour < first else first
            if any(start <= hour < stop for start, stop in windows):
                hourly[hour] = hourly.get(hour, 0) + lines
    return hourly, first


# --- judging them ---------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{x:+.1%}" if abs(x) != float("inf") else "new"


def _z(x: float) -> str:
    return f"{x:+.1f}" if abs(x) != float("inf") else "∞"


def verdict(what: str, judgements: Sequence[Judgement], unjudged: Sequence[str], show) -> Outcome:
    """One check's outcome over its judgements, naming the anomalies or else the furthest value."""
    bad = [j for j in judgements if j.anomalous]
    parts = [show(j) for j in bad]
    if not bad and judgements:
        furthest = max(judgements, key=lambda j: abs(j.z) if j.spread else abs(j.relative))
        parts.append(f"{len(judgements)} {what} judged, none anomalous (furthest: {show(furthest)})")
    parts += list(unjudged)
    finite = [j.z for j in judgements if abs(j.z) != float("inf")]
    return Outcome(
        not bad,
        "; ".join(parts) or f"no {what} to judge",
        {
            "judged": len(judgements),
            "anomalies": len(bad),
            "largest_abs_z": max((abs(z) for z in finite), default=0.0),
            "judgements": table([j.row() for j in judgements] or [{"subject": "none"}]),
        },
    )


def row_count_outcome(daily: Mapping[str, Mapping[str, Mapping[date, int]]], bounds: Bounds) -> Outcome:
    judgements, unjudged = [], []
    for name, months in daily.items():
        found = anomaly.row_counts(months, bounds)
        if not found:
            unjudged.append(f"{name}: {len(months)} months, {bounds.min_history + 1} needed to judge")
        judgements += [replace(j, subject=f"{name} {j.subject}") for j in found]

    def show(j: Judgement) -> str:
        return (
            f"{j.subject}: weekday-adjusted row level {j.value:.3f} vs {j.expected:.3f} of the other months "
            f"({_pct(j.relative)}, z {_z(j.z)})"
        )

    return verdict("months", judgements, unjudged, show)


def quarantine_outcome(rates: Mapping[str, Mapping[str, float]], bounds: Bounds) -> Outcome:
    judgements, unjudged = [], []
    for name, months in rates.items():
        found = anomaly.rates(months, bounds)
        if not found:
            unjudged.append(f"{name}: {len(months)} months, {bounds.min_history + 1} needed to judge")
        judgements += [replace(j, subject=f"{name} {j.subject}") for j in found]

    def show(j: Judgement) -> str:
        return (
            f"{j.subject}: quarantine rate {j.value:.2%} vs {j.expected:.2%} of the other months "
            f"(allowed +{j.allowed:.2%})"
        )

    return verdict("months", judgements, unjudged, show)


def latency_outcome(series: Sequence[tuple[str, float]], bounds: Bounds, versions: int) -> Outcome:
    judged = anomaly.latest_against_earlier(series, bounds, versions)
    unjudged = [] if judged else [f"{len(series)} staged versions, {bounds.min_history + 1} needed to judge"]

    def show(j: Judgement) -> str:
        return (
            f"{j.subject} staging p99 {j.value:.1f} ms vs {j.expected:.1f} ms for {j.history} earlier versions "
            f"({_pct(j.relative)}, allowed +{j.allowed:.1f} ms)"
        )

    return verdict("versions", [judged] if judged else [], unjudged, show)


def rate_outcome(
    hourly: Mapping[datetime, int], first: datetime | None, end: datetime, bounds: Bounds, window: int, weeks: int
) -> Outcome:
    judged = anomaly.window_rate(hourly, end, bounds, window, weeks, first) if first is not None else None
    if first is None:
        unjudged = ["no prediction log"]
    elif judged is None:
        unjudged = [f"the prediction log starts {first:%Y-%m-%d %H}:00: {bounds.min_history} earlier weeks needed"]
    else:
        unjudged = []

    def show(j: Judgement) -> str:
        return (
            f"{j.subject}: {j.value:.0f} predictions vs {j.expected:.0f} in the same hours "
            f"of {j.history} earlier weeks "
            f"({_pct(j.relative)}, z {_z(j.z)})"
        )

    return verdict("windows", [judged] if judged else [], unjudged, show)


def _end(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise dg.Failure(description=f"rate_end {text!r} is not an ISO date-time", allow_retries=False) from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


@dg.asset(
    group_name="observability",
    deps=[*(f"{layer}_{name}" for name in TABLES for layer in ("validated", "quarantine")), STAGING],
    automation_condition=ON_METRICS,
    code_version="observability-1",
    check_specs=[
        dg.AssetCheckSpec(
            ROW_COUNTS, asset=ASSET, description="Each month's rows, weekday-adjusted, are in line with the others."
        ),
        dg.AssetCheckSpec(
            QUARANTINE_RATE, asset=ASSET, description="No month quarantines markedly more than the others."
        ),
        dg.AssetCheckSpec(
            STAGING_LATENCY, asset=ASSET, description="The newest version's staging p99 is in line with earlier ones."
        ),
        dg.AssetCheckSpec(
            PREDICTION_RATE,
            asset=ASSET,
            description="The last day's predictions are in line with the same hours of earlier weeks.",
        ),
    ],
    description="The pipeline's own metrics (rows and quarantine per month, staging p99 per version, predictions "
    "per hour), each judged against its own history for anomalies.",
)
def pipeline_health(context: dg.AssetExecutionContext, config: HealthConfig, warehouse: Warehouse):
    home = warehouse.root
    end = _end(config.rate_end)
    daily = {name: daily_rows(home, name) for name in TABLES}
    rates = {name: quarantine_rates(home, name) for name in TABLES}
    p99 = staging_p99(context.instance)
    hourly, first = prediction_hours(home, rate_windows(end, config.rate_window_hours, config.rate_weeks))
    history = config.min_history
    outcomes = {
        ROW_COUNTS: row_count_outcome(daily, Bounds(config.count_max_z, config.count_min_change, 0.0, history)),
        QUARANTINE_RATE: quarantine_outcome(
            rates, Bounds(config.quarantine_max_z, 0.0, config.quarantine_min_excess, history, "high")
        ),
        STAGING_LATENCY: latency_outcome(
            p99,
            Bounds(config.latency_max_z, config.latency_min_increase, 0.0, history, "high"),
            config.latency_versions,
        ),
        PREDICTION_RATE: rate_outcome(
            hourly,
            first,
            end,
            Bounds(config.rate_max_z, config.rate_min_change, 0.0, history),
            config.rate_window_hours,
            config.rate_weeks,
        ),
    }
    figures: dict[str, Any] = {}
    for name in TABLES:
        if daily[name]:
            newest = max(daily[name])
            figures[f"{name}_newest_month"] = newest
            figures[f"{name}_newest_month_rows"] = sum(daily[name][newest].values())
        if rates[name]:
            figures[f"{name}_newest_quarantine_rate"] = rates[name][max(rates[name])]
    if p99:
        figures["newest_staging_p99_ms"] = p99[-1][1]
    window_end = anomaly.hour_of(end)
    figures["predictions_in_window"] = sum(
        n for hour, n in hourly.items() if window_end - timedelta(hours=config.rate_window_hours) <= hour < window_end
    )
    for check, outcome in outcomes.items():
        context.log.info(f"{check}: {outcome.summary}")
    yield dg.MaterializeResult(metadata=figures)
    yield from check_results(ASSET, {None: outcomes}, warn_only=CHECKS)


defs = dg.Definitions(assets=[pipeline_health], resources={"warehouse": WAREHOUSE})
