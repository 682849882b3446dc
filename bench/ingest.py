"""Full-year ingestion throughput: the ``openclaw_main`` Dagster run versus a plain pandas + pandera script.

Ours:   ``openclaw run --months 2013-01:2013-12`` in-process on a fresh OPENCLAW_HOME and
        DAGSTER_HOME (raw -> validated + quarantine for flights and weather, plus the three
        reference tables, with every gate).
Ours, contract only: ``read_drop`` + ``validate_flights`` / ``validate_weather`` per month,
        no Dagster and no files written, to separate the pipeline's overhead from the contract.
Peer:   a plain script: ``pd.read_csv`` (default typed parsing), cast to the schema's dtypes,
        ``schema.validate(lazy=True)`` with the same ``flights_schema`` / ``weather_schema``.

Rows are the flights and weather rows of the twelve months (362,891). Throughput uses the
time the child measured around the work (imports and interpreter start excluded); the
whole-process wall time is reported beside it.

Run alone: ``python -m bench.ingest [--repeat N]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench._harness import (
    EXPECTED_YEAR_ROWS,
    FULL_YEAR,
    YEAR_MONTHS,
    BenchError,
    Child,
    fmt_ratio,
    format_table,
    fresh_home,
    heading,
    median,
    ratio,
    run_task,
    seeded_landing,
    write_result,
)

NAME = "ingest"
PEER = "plain script: pandas.read_csv + cast to schema dtypes + the same pandera schemas, same files"
LABELS = {
    "dagster_run": "ours: openclaw_main Dagster run",
    "contract": "ours: contract only (no Dagster)",
    "plain_script": "peer: pandas.read_csv + pandera",
}


def measure_dagster_run(seeded: Path, months: str) -> Child:
    """One ``openclaw run`` over ``months`` in a fresh home holding a copy of the seeded landing zone."""
    with fresh_home(seeded) as home:
        return run_task("dagster_run", {"home": str(home), "months": months}, timeout_s=900.0)


def measure(seeded: Path, repeat: int = 1) -> dict[str, list[Child]]:
    """Every ingestion path over the full year, ``repeat`` times each, one child process per measurement."""
    children: dict[str, list[Child]] = {key: [] for key in LABELS}
    for round_ in range(repeat):
        suffix = f" (round {round_ + 1}/{repeat})" if repeat > 1 else ""
        print(f"  {LABELS['dagster_run']}{suffix} ...", flush=True)
        children["dagster_run"].append(measure_dagster_run(seeded, FULL_YEAR))
        print(f"  {LABELS['contract']}{suffix} ...", flush=True)
        children["contract"].append(run_task("contract", {"home": str(seeded), "months": YEAR_MONTHS}))
        print(f"  {LABELS['plain_script']}{suffix} ...", flush=True)
        children["plain_script"].append(run_task("plain_script", {"home": str(seeded), "months": YEAR_MONTHS}))
    for key, runs in children.items():
        for child in runs:
            if child.report.get("rows") != EXPECTED_YEAR_ROWS:
                raise BenchError(f"{LABELS[key]} saw {child.report.get('rows')} rows, expected {EXPECTED_YEAR_ROWS:,}")
    return children


def summarise(children: dict[str, list[Child]]) -> dict[str, Any]:
    """Medians per path, rows/s, and the ratios against the peer."""
    paths: dict[str, dict[str, Any]] = {}
    for key, runs in children.items():
        work = median([c.report["work_s"] for c in runs])
        wall = median([c.wall_s for c in runs])
        paths[key] = {
            "label": LABELS[key],
            "rows": EXPECTED_YEAR_ROWS,
            "work_s": work,
            "wall_s": wall,
            "import_s": median([c.report["import_s"] for c in runs]),
            "rows_per_s": EXPECTED_YEAR_ROWS / work,
            "rows_per_s_wall": EXPECTED_YEAR_ROWS / wall,
            "max_rss_mib": max(c.max_rss_mib for c in runs),
            "runs": [c.as_json() for c in runs],
        }
        for part in ("read_s", "validate_s"):
            values = [c.report[part] for c in runs if c.report.get(part) is not None]
            if values:
                paths[key][part] = median(values)
    ours, contract, peer = paths["dagster_run"], paths["contract"], paths["plain_script"]
    first = children["dagster_run"][0].report
    steps = first.get("steps_s", {})
    breakdown = {
        "before_run_s": first.get("before_run_s"),
        "steps_total_s": sum(steps.values()),
        "between_steps_s": first["run_s"] - sum(steps.values()) if first.get("run_s") is not None else None,
        "after_run_s": first.get("after_run_s"),
        "steps_s": steps,
        "contract_only_s": contract["work_s"],
    }
    return {
        "rows": EXPECTED_YEAR_ROWS,
        "peer": PEER,
        "ratio": {
            "ours_vs_peer_rows_per_s": ratio(ours["rows_per_s"], peer["rows_per_s"]),
            "ours_vs_peer_rows_per_s_wall": ratio(ours["rows_per_s_wall"], peer["rows_per_s_wall"]),
            "contract_vs_peer_rows_per_s": ratio(contract["rows_per_s"], peer["rows_per_s"]),
            "ours_vs_contract_rows_per_s": ratio(ours["rows_per_s"], contract["rows_per_s"]),
        },
        "paths": paths,
        "dagster_breakdown": breakdown,
        "repeat": len(children["dagster_run"]),
    }


def render(summary: dict[str, Any]) -> str:
    paths = summary["paths"]
    rows = [
        [p["label"], p["work_s"], round(p["rows_per_s"]), p["wall_s"], round(p["rows_per_s_wall"]), p["max_rss_mib"]]
        for p in paths.values()
    ]
    table = format_table(["path", "work s", "rows/s", "process s", "rows/s (process)", "peak MiB"], rows)
    r = summary["ratio"]
    breakdown = summary["dagster_breakdown"]
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in sorted(breakdown["steps_s"].items(), key=lambda kv: -kv[1]))
    contract, peer = paths["contract"], paths["plain_script"]
    lines = [
        f"{summary['rows']:,} rows (flights + weather, 12 months); peer = {summary['peer']}",
        table,
        f"ratio ours/peer (rows/s): {fmt_ratio(r['ours_vs_peer_rows_per_s'])} work, "
        f"{fmt_ratio(r['ours_vs_peer_rows_per_s_wall'])} whole process",
        f"ratio contract-only/peer (rows/s): {fmt_ratio(r['contract_vs_peer_rows_per_s'])}",
        f"contract split: read {contract.get('read_s', 0):.1f}s + validate {contract.get('validate_s', 0):.1f}s "
        f"(peer: read {peer.get('read_s', 0):.1f}s + cast/validate {peer.get('validate_s', 0):.1f}s)",
        f"Dagster run {paths['dagster_run']['work_s']:.1f}s = before run start {_s(breakdown['before_run_s'])}"
        f" + steps {breakdown['steps_total_s']:.1f}s + between steps {_s(breakdown['between_steps_s'])}"
        f" + after run end {_s(breakdown['after_run_s'])}",
        f"steps: {steps}",
    ]
    return "\n".join(lines)


def _s(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}s"


def run(seeded: Path | None = None, repeat: int = 1) -> tuple[dict[str, Any], dict[str, list[Child]]]:
    """Measure, print and write ``bench/results/ingest.json``; also hand back the children for the memory report."""
    heading("ingest: full-year throughput")
    if seeded is None:
        with seeded_landing() as home:
            children = measure(home, repeat)
    else:
        children = measure(seeded, repeat)
    summary = summarise(children)
    print(render(summary))
    path = write_result(NAME, summary)
    print(f"wrote {path}")
    return summary, children


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="measurements per path; medians are reported (default 1)")
    args = parser.parse_args(argv)
    run(repeat=max(1, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
