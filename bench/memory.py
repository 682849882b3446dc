"""Peak memory of ingestion: a full-year run versus a one-month run, and versus the plain-script peer.

Each figure is the peak resident set size (``ru_maxrss``) of one child process, read by
the parent with ``wait4``. A flat ratio of full year to one month shows the run holds one
partition at a time rather than the whole range. Two imports-only children give the
floors: what the Dagster run imports (Dagster, the code location, pandas, pyarrow,
pandera) and what the plain script imports; each figure is also shown above its floor.

Run alone: ``python -m bench.memory`` (it also measures the full-year run and the peer).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench import ingest
from bench._harness import (
    FIRST_MONTH,
    FULL_YEAR,
    YEAR_MONTHS,
    Child,
    fmt_ratio,
    format_table,
    heading,
    ratio,
    run_task,
    seeded_landing,
    write_result,
)

NAME = "memory"
PEER = "the ingest peer (pandas.read_csv + pandera over the same 12 months) and a one-month Dagster run"


def measure(seeded: Path, reuse: dict[str, list[Child]] | None = None) -> dict[str, Child]:
    """Children for each memory figure, reusing full-year measurements from the ingest benchmark when given."""
    reuse = reuse or {}
    out: dict[str, Child] = {}
    print("  imports only ...", flush=True)
    out["floor_dagster"] = run_task("imports_only", {"side": "dagster"})
    out["floor_plain"] = run_task("imports_only", {"side": "plain"})
    print("  ours: one month (2013-01) ...", flush=True)
    out["dagster_month"] = ingest.measure_dagster_run(seeded, FIRST_MONTH)
    if reuse.get("dagster_run"):
        out["dagster_year"] = max(reuse["dagster_run"], key=lambda c: c.max_rss_mib)
    else:
        print("  ours: full year ...", flush=True)
        out["dagster_year"] = ingest.measure_dagster_run(seeded, FULL_YEAR)
    if reuse.get("plain_script"):
        out["peer_year"] = max(reuse["plain_script"], key=lambda c: c.max_rss_mib)
    else:
        print("  peer: full year ...", flush=True)
        out["peer_year"] = run_task("plain_script", {"home": str(seeded), "months": YEAR_MONTHS})
    return out


LABELS = {
    "floor_dagster": "floor: imports of the Dagster run",
    "floor_plain": "floor: imports of the plain script",
    "dagster_month": "ours: Dagster run, 2013-01",
    "dagster_year": "ours: Dagster run, 2013-01..12",
    "peer_year": "peer: pandas + pandera, 12 months",
}


FLOOR_OF = {
    "floor_dagster": "dagster",
    "floor_plain": "plain",
    "dagster_month": "dagster",
    "dagster_year": "dagster",
    "peer_year": "plain",
}


def summarise(children: dict[str, Child]) -> dict[str, Any]:
    floors = {"dagster": children["floor_dagster"].max_rss_mib, "plain": children["floor_plain"].max_rss_mib}
    figures = {
        key: {
            "label": LABELS[key],
            "max_rss_mib": child.max_rss_mib,
            "above_floor_mib": child.max_rss_mib - floors[FLOOR_OF[key]],
            "rows": child.report.get("rows"),
            "work_s": child.report.get("work_s"),
            "wall_s": child.wall_s,
        }
        for key, child in children.items()
    }
    year, month, peer = figures["dagster_year"], figures["dagster_month"], figures["peer_year"]
    return {
        "peer": PEER,
        "ratio": {
            "year_vs_month_peak": ratio(year["max_rss_mib"], month["max_rss_mib"]),
            "year_vs_month_above_floor": ratio(year["above_floor_mib"], month["above_floor_mib"]),
            "ours_vs_peer_peak": ratio(year["max_rss_mib"], peer["max_rss_mib"]),
            "ours_vs_peer_above_floor": ratio(year["above_floor_mib"], peer["above_floor_mib"]),
        },
        "floor_mib": floors,
        "figures": figures,
    }


def render(summary: dict[str, Any]) -> str:
    rows = [
        [f["label"], f["rows"] if f["rows"] is not None else "-", f["max_rss_mib"], f["above_floor_mib"]]
        for f in summary["figures"].values()
    ]
    r = summary["ratio"]
    return "\n".join(
        [
            format_table(["process", "rows", "peak MiB", "above floor MiB"], rows),
            f"ratio full year / one month (peak): {fmt_ratio(r['year_vs_month_peak'])}"
            f" (above floor: {fmt_ratio(r['year_vs_month_above_floor'])})",
            f"ratio ours / peer, full year (peak): {fmt_ratio(r['ours_vs_peer_peak'])}"
            f" (above each one's floor: {fmt_ratio(r['ours_vs_peer_above_floor'])})",
        ]
    )


def run(seeded: Path | None = None, reuse: dict[str, list[Child]] | None = None) -> dict[str, Any]:
    heading("memory: peak RSS, full year vs one month vs peer")
    if seeded is None:
        with seeded_landing() as home:
            children = measure(home, reuse)
    else:
        children = measure(seeded, reuse)
    summary = summarise(children)
    print(render(summary))
    path = write_result(NAME, summary)
    print(f"wrote {path}")
    return summary


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0]).parse_args(argv)
    run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
