"""``python -m bench``: every benchmark in one go, then a combined summary.

The landing zone is seeded once (untimed) and shared; the memory report reuses the
full-year measurements of the ingest benchmark rather than running them twice, and one
feature-plane home is prepared from a copy of the same landing zone for the features
benchmark and the training benchmark (which copies its training set). The serving
benchmark needs a home where the whole pipeline ran (``--serving-source``, default
``./.openclaw``) and is skipped, with a message, when there is none.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench import batch, features, import_time, ingest, memory, serving, training
from bench._harness import command_line, fmt_ratio, format_table, heading, seeded_landing, write_result


def _row(measure: str, ours: str, ours_value: Any, peer: str, peer_value: Any, value: float | None) -> list[Any]:
    return [measure, ours, ours_value, peer, peer_value, fmt_ratio(value)]


def _feature_rows(plane: dict[str, Any]) -> list[list[Any]]:
    training, mat, online, peaks = (plane[k] for k in ("training_set", "materialize", "online_reads", "memory"))
    ours, peer = training["ours_subset"], training["peer_subset"]
    rows = [
        _row(
            f"training set rows/s ({training['subset']['label']})",
            "Feast + DuckDB",
            round(ours["rows_per_s"]),
            "Feast file store (dask)",
            round(peer["rows_per_s"]) if "rows_per_s" in peer else "failed",
            training["ratio"]["peer_vs_ours_time_subset"],
        ),
        _row(
            "materialize rows/s (process)",
            "store.materialize",
            round(mat["ours"]["rows_per_s_wall"]),
            "feast materialize CLI",
            round(mat["cli"]["rows_per_s_wall"]),
            mat["ratio"]["ours_vs_cli_rows_per_s_wall"],
        ),
    ]
    redis = online.get("redis", {}).get("latency", {}).get("100")
    sqlite = online["sqlite"]["latency"]["100"]
    rows.append(
        _row(
            "online p50 ms (100 rows)",
            "SQLite",
            f"{sqlite['p50_ms']:.1f}",
            "Redis",
            f"{redis['p50_ms']:.1f}" if redis else "skipped",
            sqlite["p50_ms"] / redis["p50_ms"] if redis else None,
        )
    )
    rows.append(
        _row(
            "materialize peak RSS MiB",
            "12 months",
            round(peaks["figures"]["months_12"]["max_rss_mib"]),
            "1 month",
            round(peaks["figures"]["months_1"]["max_rss_mib"]),
            peaks["ratio"]["year_vs_month_peak"],
        )
    )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Run every benchmark.")
    parser.add_argument("--repeat", type=int, default=1, help="full-year ingestion measurements per path (default 1)")
    parser.add_argument("--import-runs", type=int, default=7, help="measured imports per side (default 7)")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis part of the features benchmark")
    parser.add_argument(
        "--serving-source",
        type=Path,
        default=serving.DEFAULT_SOURCE,
        help="a home where `openclaw run` finished, for the serving benchmark (default ./.openclaw; only read)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    imports = import_time.run(max(1, args.import_runs))
    with seeded_landing() as seeded:
        throughput, children = ingest.run(seeded, repeat=max(1, args.repeat))
        peaks = memory.run(seeded, reuse=children)
        with features.prepared_home(seeded) as prepared:
            plane = features.run(prepared=prepared, redis=None if args.no_redis else "127.0.0.1:6379")
            model = training.run(prepared=prepared)
    scored = batch.run()  # a home with a champion (default ./.openclaw), else skipped with a message
    skipped = serving.missing_prerequisites(args.serving_source.resolve())
    if skipped:
        heading("serving")
        print(f"skipped: {skipped}")
        served = None
    else:
        served = serving.run(source=args.serving_source)
    elapsed = time.perf_counter() - started

    paths, figures, import_sides = throughput["paths"], peaks["figures"], imports["sides"]
    rows = [
        _row(
            "ingest rows/s",
            "ours (Dagster run)",
            round(paths["dagster_run"]["rows_per_s"]),
            "plain pandas + pandera",
            round(paths["plain_script"]["rows_per_s"]),
            throughput["ratio"]["ours_vs_peer_rows_per_s"],
        ),
        _row(
            "ingest rows/s",
            "ours (contract only)",
            round(paths["contract"]["rows_per_s"]),
            "plain pandas + pandera",
            round(paths["plain_script"]["rows_per_s"]),
            throughput["ratio"]["contract_vs_peer_rows_per_s"],
        ),
        _row(
            "import s (median)",
            "openclaw_assets.definitions",
            f"{import_sides['ours']['import_s_median']:.3f}",
            "dagster",
            f"{import_sides['peer']['import_s_median']:.3f}",
            imports["ratio"]["ours_vs_peer_import"],
        ),
        _row(
            "peak RSS MiB",
            "ours, 12 months",
            round(figures["dagster_year"]["max_rss_mib"]),
            "ours, 1 month",
            round(figures["dagster_month"]["max_rss_mib"]),
            peaks["ratio"]["year_vs_month_peak"],
        ),
        _row(
            "peak RSS MiB",
            "ours, 12 months",
            round(figures["dagster_year"]["max_rss_mib"]),
            "plain pandas + pandera",
            round(figures["peer_year"]["max_rss_mib"]),
            peaks["ratio"]["ours_vs_peer_peak"],
        ),
        *_feature_rows(plane),
        *training.figures(model),
        *batch.figures(scored),
        *(serving.figures(served) if served else []),
    ]
    heading("summary")
    print(format_table(["measure", "ours", "value", "peer", "value", "ours/peer"], rows))
    print(f"import target <= {import_time.TARGET}: {'met' if imports['meets_target'] else 'MISSED'}")
    print(f"command: {command_line()}  (cwd: the project root)")
    print(f"whole benchmark: {elapsed:.0f}s")
    path = write_result(
        "summary",
        {
            "elapsed_s": elapsed,
            "ratios": {
                "ingest": throughput["ratio"],
                "import_time": imports["ratio"],
                "memory": peaks["ratio"],
                "features": {key: plane[key].get("ratio") for key in ("training_set", "materialize", "online_reads")}
                | {"memory": plane["memory"]["ratio"]},
                "training": model["ratio"],
                "batch": scored["ratio"] if scored else None,
                "serving": {key: cell["ratio"] for key, cell in served["load"].items()} if served else None,
            },
            "serving_targets_met": served["targets_met"] if served else None,
            "import_meets_target": imports["meets_target"],
            "training_same_auc": model["model_check"]["same_auc"],
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
