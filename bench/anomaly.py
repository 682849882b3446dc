"""The anomaly checks' calibration: false alarms on the real 2013 months against injected anomalies.

Reads a home where ``openclaw run`` finished (its validated and quarantine files, its staging
history) and judges with ``pipeline_health``'s own functions under ``HealthConfig``'s defaults.
Measures no time: its table goes into a README block of its own (``<!-- anomaly:begin -->``).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.models import default_home, needs
from bench.runner import Case

DROPS = (0.05, 0.10, 0.15, 0.20, 0.50)
SPIKES = (0.0025, 0.005, 0.01, 0.015)
RATE_SAMPLE = 200


def _rows_detection(daily: dict[str, dict[date, int]], bounds, drop: float | None) -> tuple[int, int]:
    """(months caught, other months flagged) when each month in turn loses ``drop`` of its rows (None: days 16+)."""
    from openclaw_assets.observability import anomaly

    caught = false = 0
    for month in daily:
        days = daily[month]
        hurt = {d: (0 if d.day > 15 else n) if drop is None else round(n * (1 - drop)) for d, n in days.items()}
        flagged = {j.subject for j in anomaly.row_counts({**daily, month: hurt}, bounds) if j.anomalous}
        caught += month in flagged
        false += len(flagged - {month})
    return caught, false


def measure_anomaly(home: str | None = None, seed: int = 0) -> dict[str, Any]:
    from openclaw_assets.observability import anomaly, health
    from openclaw_assets.observability.anomaly import Bounds

    root = needs(Path(home or default_home()), "warehouse/validated/flights")
    config = health.HealthConfig()
    history = config.min_history
    rows_bounds = Bounds(config.count_max_z, config.count_min_change, 0.0, history)
    quarantine_bounds = Bounds(config.quarantine_max_z, 0.0, config.quarantine_min_excess, history, "high")
    rate_bounds = Bounds(config.rate_max_z, config.rate_min_change, 0.0, history)
    lines = [
        f"`HealthConfig` defaults: rows `count_max_z` {config.count_max_z}, `count_min_change` "
        f"{config.count_min_change};"
        f" quarantine `quarantine_max_z` {config.quarantine_max_z}, `quarantine_min_excess` "
        f"{config.quarantine_min_excess}; predictions `rate_max_z` {config.rate_max_z}, `rate_min_change` "
        f"{config.rate_min_change}, {config.rate_window_hours} h against {config.rate_weeks} weeks.",
        "",
        "| metric | real 2013 months: alarms | furthest real value | injected | caught | others flagged |",
        "|---|---|---|---|---|---|",
    ]
    figures: dict[str, Any] = {}
    for name in health.TABLES:
        daily = health.daily_rows(root, name)
        judged = anomaly.row_counts(daily, rows_bounds)
        far = max(judged, key=lambda j: abs(j.z))
        figures[f"{name}_levels"] = {j.subject: [j.value, j.relative, j.z] for j in judged}
        alarms = sum(j.anomalous for j in judged)
        for drop in (*DROPS, None):
            caught, false = _rows_detection(daily, rows_bounds, drop)
            what = "days 16 to the end missing" if drop is None else f"{drop:.0%} of its rows missing"
            head = (
                [
                    f"{name} rows per month",
                    f"{alarms} of {len(judged)}",
                    f"{far.subject}: {far.relative:+.1%}, z {far.z:+.1f}",
                ]
                if drop == DROPS[0]
                else ["", "", ""]
            )
            lines.append(f"| {' | '.join(head)} | {what} | {caught} of {len(daily)} | {false} |")
        rates = health.quarantine_rates(root, name)
        judged_q = anomaly.rates(rates, quarantine_bounds)
        worst = max(rates.items(), key=lambda kv: kv[1])
        for spike in SPIKES:
            caught = false = 0
            for month in rates:
                flagged = {
                    j.subject
                    for j in anomaly.rates({**rates, month: rates[month] + spike}, quarantine_bounds)
                    if j.anomalous
                }
                caught += month in flagged
                false += len(flagged - {month})
            head = (
                [
                    f"{name} quarantine rate",
                    f"{sum(j.anomalous for j in judged_q)} of {len(judged_q)}",
                    f"{worst[0]}: {worst[1]:.2%}",
                ]
                if spike == SPIKES[0]
                else ["", "", ""]
            )
            lines.append(f"| {' | '.join(head)} | +{spike:.2%} of its rows | {caught} of {len(rates)} | {false} |")

    # predictions: one per real flight at its scheduled hour (time_hour, UTC), the traffic shape a gateway serves
    import pyarrow.parquet as pq

    hourly: dict[datetime, int] = {}
    for path in sorted((root / "warehouse" / "validated" / "flights").glob("2013-*.parquet")):
        for stamp in pq.read_table(path, columns=["time_hour"]).column(0).to_pylist():
            hourly[stamp] = hourly.get(stamp, 0) + 1
    first, last = min(hourly), max(hourly)
    ends = [
        first + timedelta(weeks=config.rate_weeks, hours=h) for h in range(int((last - first).total_seconds() // 3600))
    ]
    ends = [e for e in ends if e <= last]
    alarmed = [
        e
        for e in ends
        if (j := anomaly.window_rate(hourly, e, rate_bounds, config.rate_window_hours, config.rate_weeks, first))
        and j.anomalous
    ]
    days = sorted({(e - timedelta(hours=config.rate_window_hours / 2)).strftime("%m-%d") for e in alarmed})
    sample = random.Random(seed).sample(ends, min(RATE_SAMPLE, len(ends)))
    window = timedelta(hours=config.rate_window_hours)
    injections = {
        "the window's traffic halved": lambda e, t, n: n // 2 if e - window <= t < e else n,
        "the window's traffic x0.8": lambda e, t, n: round(n * 0.8) if e - window <= t < e else n,
        "the window's traffic x1.5": lambda e, t, n: round(n * 1.5) if e - window <= t < e else n,
        "an 8-hour outage in the window": lambda e, t, n: 0 if e - timedelta(hours=8) <= t < e else n,
    }
    for index, (what, change) in enumerate(injections.items()):
        caught = 0
        for end in sample:
            hurt = {t: change(end, t, n) for t, n in hourly.items()}
            verdict = anomaly.window_rate(hurt, end, rate_bounds, config.rate_window_hours, config.rate_weeks, first)
            caught += bool(verdict and verdict.anomalous)
        head = (
            [
                f"predictions per {config.rate_window_hours} h (flights as traffic)",
                f"{len(alarmed)} of {len(ends)} hourly windows",
                f"alarms on {', '.join(days) or 'no day'}",
            ]
            if index == 0
            else ["", "", ""]
        )
        lines.append(f"| {' | '.join(head)} | {what} | {caught} of {len(sample)} | – |")
    figures["rate_alarm_days"] = days
    figures["rate_alarm_windows"] = [len(alarmed), len(ends)]

    import dagster as dg

    instance_dir = root / "dagster"
    staged: list[tuple[str, float]] = []
    if instance_dir.is_dir():
        with dg.DagsterInstance.local_temp(tempdir=str(instance_dir)) as instance:
            staged = health.staging_p99(instance)
    figures["staged_p99_ms"] = staged
    lines += [
        "",
        f"Staging p99 per version in that home: {', '.join(f'{v} {p:.1f} ms' for v, p in staged) or 'none'}"
        f" ({'judged' if len(staged) > history else f'not judged: {history + 1} versions needed'}).",
    ]
    return {"markdown": lines, "figures": figures, "rows": []}


CASES = [
    Case(
        "anomaly",
        "Observability",
        "`pipeline_health`'s anomaly checks (`observability.anomaly` under `HealthConfig`) on a full-year home's"
        " validated and quarantine files and staging history",
        "the same months with injected anomalies: rows missing, quarantine spikes; flights per hour as prediction"
        " traffic, halved, scaled, cut by an outage",
        "alarms on the real months, injected anomalies caught, other months flagged",
        "– (the real months should not alarm, an injected anomaly should)",
        measure_anomaly,
        full={"home": None, "seed": 0},
        quick={},
        minutes="0.5",
        block="anomaly",
    ),
]
