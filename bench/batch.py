"""Batch scoring: the ``batch_predictions`` asset through Dagster versus bare ``model.predict`` on the same Parquet.

Ours:   ``batch_predictions`` alone, materialized for real for a range of months (default
        2013-11..2013-12): a job selecting it merged into the code location's definitions,
        ``execute_in_process`` with the ``dagster/asset_partition_range_start/end`` tags on a
        fresh ``DagsterInstance.local_temp``, with the embedded ``warehouse``, ``feast`` and
        ``mlflow_store`` resources. Per month it reads the validated flights (every one:
        arrived, cancelled and diverted), retrieves their point-in-time features through
        Feast's historical retrieval (DuckDB offline store) in chunks of ``chunk_rows``
        (50,000, so one chunk per month), scores them with the champion's pyfunc model
        (``unwrap_python_model().predict``), writes the chunk to Parquet, then re-reads the
        file for its blocking ``every_flight_scored`` check.
Peer:   a plain script with no Dagster and no Feast: ``mlflow.pyfunc.load_model(
        "models:/flight_delay@champion").unwrap_python_model()``, ``pd.read_parquet`` of the
        home's training set filtered to the same months (its ``month`` column), then
        ``.predict(None, rows[FEATURES])`` once per month. Those rows were joined by the same
        Feast retrieval when the training set was built, but hold arrived flights only, so
        the peer scores fewer rows than ours; rates are per row, and both row counts are shown.

The prepared home (``--prepared``, default ``./.openclaw``: a full-year ``openclaw run`` with a
champion) is never modified. Every measurement runs on its own ``shutil.copytree`` of it; for
each side the copy's MLflow database is re-pointed at the copy's artifacts (four location
columns; loading ``models:/...`` from a local store writes ``registered_model_meta`` into the
model's artifact directory, which would otherwise be the prepared home's), and for ours the Feast
registry is re-pointed at the copy by materializing ``feast_registry`` there. Both are untimed:
the latter rewrites ``feature_store.yaml`` and re-registers the offline sources with the copy's
absolute paths.

Each side runs in a fresh child; before its clock starts it imports what it uses, timed per
group (Dagster and the code location, pandas / pyarrow / LightGBM, Feast with the DuckDB store,
MLflow and the model's module; the peer has no Dagster or Feast). Ours' figure is the
``batch_predictions`` step by Dagster's clock; inside it, the functions the step calls are
timed by wrappers that only time and call through: model lookup and load, opening Feast,
Parquet reads, entity rows, retrieval (``FeatureStore.get_historical_features`` and the
returned job's ``to_df``), ``predict``, ``ParquetWriter.write_table`` and the output's sha256;
``score_month`` (the chunked loop) also has a clock of its own. "Scoring + writing" is
``score_month`` minus retrieval: predict, the missing-feature flags, building the output frame,
the Parquet write and the sha256. The peer's work is model load + read + predict.

Headline ratios, all rows/s ours ÷ rows/s peer (below 1: ours is slower per row): ours' step
over the peer's work, whole process over whole process, and scoring only (ours' scoring +
writing over the peer's predict; and ours' predict alone over the peer's). Peak RSS comes from
``wait4``. A check afterwards (untimed) retrieves ours' features again exactly as the asset does,
on ours' copy, compares them with the training set's rows for the flights both sides scored,
and reports the largest difference between ours' written probabilities and the peer's
(expected 0: same features, same model); nothing asserts on it.

Run alone: ``python -m bench.batch [--prepared HOME] [--months 2013-11:2013-12] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from bench._batch_tasks import PREDICT, RETRIEVAL, TRAINING_SET, WRITE
from bench._harness import (
    YEAR_MONTHS,
    BenchError,
    Child,
    finish,
    fmt_ratio,
    format_table,
    heading,
    load_average,
    median,
    ratio,
    run_task,
    versions,
)

NAME = "batch"
TASKS = "bench._batch_tasks"
DEFAULT_PREPARED = Path(".openclaw")
"""A home where a full-year ``openclaw run`` left a champion model (used when ``--prepared`` is not given)."""
DEFAULT_MONTHS = "2013-11:2013-12"
CHILD_TIMEOUT_S = 420.0
PEER = (
    "plain script: mlflow.pyfunc.load_model('models:/flight_delay@champion').unwrap_python_model(),"
    " pd.read_parquet(training set, month filter), .predict(None, rows[FEATURES]) per month; no Dagster or Feast"
)
LABELS = {"ours": "ours: batch_predictions via Dagster", "peer": "peer: bare model.predict"}
NEEDED = (
    "feast/registry.db",
    "mlflow/mlflow.db",
    str(TRAINING_SET),
)


def _task(task: str, spec: dict[str, Any]) -> Child:
    return run_task(task, spec, timeout_s=CHILD_TIMEOUT_S, module=TASKS)


def parse_months(text: str) -> list[str]:
    """``2013-11:2013-12`` or ``2013-11`` -> the partition keys of that contiguous range."""
    start, _, end = text.partition(":")
    end = end or start
    if start not in YEAR_MONTHS or end not in YEAR_MONTHS:
        raise BenchError(f"--months {text!r}: months run from {YEAR_MONTHS[0]} to {YEAR_MONTHS[-1]}")
    first, last = YEAR_MONTHS.index(start), YEAR_MONTHS.index(end)
    if first > last:
        raise BenchError(f"--months {text!r}: {start} is after {end}")
    return YEAR_MONTHS[first : last + 1]


# ---------------------------------------------------------------- homes


def champion_version(home: Path) -> str | None:
    """The version the ``champion`` alias points at in ``home``'s MLflow database, opened read-only."""
    with closing(sqlite3.connect(f"file:{home / 'mlflow' / 'mlflow.db'}?mode=ro", uri=True)) as db:
        try:
            row = db.execute(
                "SELECT version FROM registered_model_aliases WHERE name = 'flight_delay' AND alias = 'champion'"
            ).fetchone()
        except sqlite3.DatabaseError:
            return None
    return None if row is None else str(row[0])


def unusable(home: Path, months: list[str]) -> str | None:
    """Why ``home`` cannot serve as the prepared home for ``months`` (None if it can)."""
    missing = [
        n for n in (*NEEDED, *(f"warehouse/validated/flights/{m}.parquet" for m in months)) if not (home / n).exists()
    ]
    if missing:
        return f"{home} has no {', '.join(missing)}: it needs a full `openclaw run`"
    if champion_version(home) is None:
        return f"{home}'s MLflow registry has no flight_delay@champion"
    return None


MLFLOW_LOCATIONS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
)
"""The columns of an embedded MLflow database that hold absolute artifact locations."""


def repoint_mlflow(home: Path, prepared: Path) -> int:
    """Point the copied MLflow database's artifact locations at the copy's artifacts; return the cells changed.

    Loading ``models:/...`` from a local artifact store writes ``registered_model_meta`` into the
    model's artifact directory, so without this every load would write into the prepared home.
    """
    old, new = f"{prepared}/mlflow/", f"{home}/mlflow/"
    changed = 0
    with closing(sqlite3.connect(home / "mlflow" / "mlflow.db")) as db, db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, column in MLFLOW_LOCATIONS:
            if table in tables:
                cursor = db.execute(
                    f"UPDATE {table} SET {column} = replace({column}, ?, ?) WHERE instr({column}, ?) > 0",
                    (old, new, old),
                )
                changed += cursor.rowcount
    return changed


@contextmanager
def scratch_home(prepared: Path, label: str) -> Iterator[tuple[Path, Path]]:
    """A copy of ``prepared`` for one measurement, and a directory for its Dagster instances (``prepare``, ``run``)."""
    with tempfile.TemporaryDirectory(prefix=f"openclaw-bench-batch-{label}-") as scratch:
        home, dagster = Path(scratch) / "home", Path(scratch) / "dagster"
        shutil.copytree(prepared, home, symlinks=True)
        if not repoint_mlflow(home, prepared):
            raise BenchError(f"the MLflow database copied from {prepared} names no artifacts under it")
        for use in ("prepare", "run"):
            (dagster / use).mkdir(parents=True)
        yield home, dagster


# ---------------------------------------------------------------- measuring


def measure(prepared: Path, months: list[str], repeat: int) -> tuple[dict[str, list[Child]], dict[str, Any]]:
    """Ours then the peer, ``repeat`` rounds; after the first round, the two sides' outputs are compared."""
    children: dict[str, list[Child]] = {"ours": [], "peer": []}
    check: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-batch-out-") as outputs:
        peer_out = Path(outputs) / "peer.parquet"
        for round_ in range(repeat):
            suffix = f" (round {round_ + 1}/{repeat})" if repeat > 1 else ""
            with scratch_home(prepared, "ours") as (home, dagster):
                prep = _task("prepare", {"home": str(home), "dagster_home": str(dagster / "prepare")})
                print(f"  copied the home, re-applied the Feast registry in {prep.wall_s:.1f}s (untimed)", flush=True)
                print(f"  {LABELS['ours']}{suffix} ...", flush=True)
                spec = {"home": str(home), "dagster_home": str(dagster / "run"), "months": months}
                children["ours"].append(_task("ours", spec))
                with scratch_home(prepared, "peer") as (peer_home, _):
                    print(f"  {LABELS['peer']}{suffix} ...", flush=True)
                    spec = {"home": str(peer_home), "months": months, "predictions": str(peer_out)}
                    children["peer"].append(_task("peer", spec))
                if check is None:
                    print("  check: ours' features and probabilities against the peer's (untimed) ...", flush=True)
                    spec = {"home": str(home), "months": months, "peer_predictions": str(peer_out)}
                    check = _task("check", spec).report
    assert check is not None
    _validate(children, months)
    return children, check


def _validate(children: dict[str, list[Child]], months: list[str]) -> None:
    """Fail if ours did not score every flight or the sides scored different months."""
    for ours in children["ours"]:
        report = ours.report
        if not all(report["checks"].values()):
            raise BenchError(f"batch_predictions' checks failed: {report['checks']}")
        if sorted(report["rows_per_month"]) != months:
            raise BenchError(f"ours wrote {sorted(report['rows_per_month'])}, expected {months}")
    for peer in children["peer"]:
        empty = [m for m, n in peer.report["rows_per_month"].items() if not n]
        if empty:
            raise BenchError(f"the training set has no rows for {', '.join(empty)}")
    for side, runs in children.items():
        if len({c.report["rows"] for c in runs}) != 1:
            raise BenchError(f"{side} scored different row counts across rounds")


# ---------------------------------------------------------------- summary


def _medians(reports: list[dict[str, Any]], key: str) -> dict[str, float]:
    return {name: median([r[key][name] for r in reports]) for name in reports[0][key]}


def _rate(rows: int, seconds: float) -> float | None:
    return rows / seconds if seconds > 0 else None


def summarise(children: dict[str, list[Child]], check: dict[str, Any], months: list[str]) -> dict[str, Any]:
    """Medians per side, rows/s, the ratios against the peer, the step's split and the output check."""
    ours_runs, peer_runs = children["ours"], children["peer"]
    ours_reports, peer_reports = [c.report for c in ours_runs], [c.report for c in peer_runs]
    ours_rows, peer_rows = ours_reports[0]["rows"], peer_reports[0]["rows"]
    phases = _medians(ours_reports, "step_phases_s")
    ours: dict[str, Any] = {
        "label": LABELS["ours"],
        "rows": ours_rows,
        "rows_per_month": ours_reports[0]["rows_per_month"],
        "model_version": ours_reports[0]["materializations"][0]["model_version"],
        "import_s": median([r["import_s"] for r in ours_reports]),
        "imports_s": _medians(ours_reports, "imports_s"),
        "wall_s": median([c.wall_s for c in ours_runs]),
        "process_cpu_s": median([r["process_cpu_s"] for r in ours_reports]),
        "max_rss_mib": max(c.max_rss_mib for c in ours_runs),
        "step_phases_s": phases,
        "step_phases_cpu_s": _medians(ours_reports, "step_phases_cpu_s"),
        "step_phase_calls": ours_reports[0]["step_phase_calls"],
    }
    for name in (
        "step_s",
        "execute_s",
        "execute_cpu_s",
        "run_s",
        "before_run_s",
        "after_run_s",
        "build_job_s",
        "instance_s",
        "score_month_s",
        "score_month_cpu_s",
    ):
        ours[name] = median([r[name] for r in ours_reports])
    ours["retrieval_s"] = median([r["step_phases_s"][RETRIEVAL] for r in ours_reports])
    ours["predict_s"] = median([r["step_phases_s"][PREDICT] for r in ours_reports])
    ours["write_s"] = median([r["step_phases_s"][WRITE] for r in ours_reports])
    ours["scoring_writing_s"] = median([r["score_month_s"] - r["step_phases_s"][RETRIEVAL] for r in ours_reports])
    ours["outside_score_month_s"] = median([r["step_s"] - r["score_month_s"] for r in ours_reports])
    peer: dict[str, Any] = {
        "label": LABELS["peer"],
        "rows": peer_rows,
        "rows_per_month": peer_reports[0]["rows_per_month"],
        "model_type": peer_reports[0]["model_type"],
        "import_s": median([r["import_s"] for r in peer_reports]),
        "imports_s": _medians(peer_reports, "imports_s"),
        "wall_s": median([c.wall_s for c in peer_runs]),
        "process_cpu_s": median([r["process_cpu_s"] for r in peer_reports]),
        "max_rss_mib": max(c.max_rss_mib for c in peer_runs),
        "work_parts_s": _medians(peer_reports, "work_parts_s"),
    }
    for name in ("work_s", "work_cpu_s", "predict_s", "predict_cpu_s"):
        peer[name] = median([r[name] for r in peer_reports])

    rates = {
        "ours_step": _rate(ours_rows, ours["step_s"]),
        "ours_process": _rate(ours_rows, ours["wall_s"]),
        "ours_scoring_writing": _rate(ours_rows, ours["scoring_writing_s"]),
        "ours_predict": _rate(ours_rows, ours["predict_s"]),
        "ours_retrieval": _rate(ours_rows, ours["retrieval_s"]),
        "peer_work": _rate(peer_rows, peer["work_s"]),
        "peer_process": _rate(peer_rows, peer["wall_s"]),
        "peer_predict": _rate(peer_rows, peer["predict_s"]),
    }

    def over(a: str, b: str) -> float | None:
        return ratio(rates[a] or 0.0, rates[b] or 0.0)

    ours["runs"] = [c.as_json() for c in ours_runs]
    peer["runs"] = [c.as_json() for c in peer_runs]
    return {
        "months": months,
        "peer": PEER,
        "rows": {"ours": ours_rows, "peer": peer_rows},
        "rows_per_s": rates,
        "us_per_row": {key: (1e6 / value if value else None) for key, value in rates.items()},
        "ratio": {
            "ours_step_vs_peer_work_rows_per_s": over("ours_step", "peer_work"),
            "ours_process_vs_peer_process_rows_per_s": over("ours_process", "peer_process"),
            "ours_scoring_writing_vs_peer_predict_rows_per_s": over("ours_scoring_writing", "peer_predict"),
            "ours_predict_vs_peer_predict_rows_per_s": over("ours_predict", "peer_predict"),
            "ours_vs_peer_peak_rss": ratio(ours["max_rss_mib"], peer["max_rss_mib"]),
        },
        "step_split": {
            "retrieval_s": ours["retrieval_s"],
            "scoring_writing_s": ours["scoring_writing_s"],
            "outside_score_month_s": ours["outside_score_month_s"],
            "retrieval_share": ratio(ours["retrieval_s"], ours["step_s"]),
            "scoring_writing_share": ratio(ours["scoring_writing_s"], ours["step_s"]),
        },
        "sides": {"ours": ours, "peer": peer},
        "check": check,
        "repeat": len(ours_runs),
    }


def _us(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def render(summary: dict[str, Any]) -> str:
    ours, peer = summary["sides"]["ours"], summary["sides"]["peer"]
    rates, us, r, split, check = (summary[k] for k in ("rows_per_s", "us_per_row", "ratio", "step_split", "check"))
    months = summary["months"]
    table = format_table(
        ["path", "rows", "step / work s", "rows/s", "process s", "rows/s (process)", "imports s", "peak MiB"],
        [
            [
                ours["label"],
                ours["rows"],
                ours["step_s"],
                round(rates["ours_step"] or 0),
                ours["wall_s"],
                round(rates["ours_process"] or 0),
                ours["import_s"],
                round(ours["max_rss_mib"]),
            ],
            [
                peer["label"],
                peer["rows"],
                peer["work_s"],
                round(rates["peer_work"] or 0),
                peer["wall_s"],
                round(rates["peer_process"] or 0),
                peer["import_s"],
                round(peer["max_rss_mib"]),
            ],
        ],
    )
    scoring = format_table(
        ["scoring only", "s", "rows", "rows/s", "us/row"],
        [
            [
                "ours: scoring + writing (score_month - retrieval)",
                ours["scoring_writing_s"],
                ours["rows"],
                round(rates["ours_scoring_writing"] or 0),
                _us(us["ours_scoring_writing"]),
            ],
            [
                "ours: predict alone",
                ours["predict_s"],
                ours["rows"],
                round(rates["ours_predict"] or 0),
                _us(us["ours_predict"]),
            ],
            [
                "peer: predict",
                peer["predict_s"],
                peer["rows"],
                round(rates["peer_predict"] or 0),
                _us(us["peer_predict"]),
            ],
        ],
    )
    phases = sorted(ours["step_phases_s"].items(), key=lambda kv: -kv[1])
    imports = ", ".join(f"{k} {v:.1f}s" for k, v in ours["imports_s"].items())
    peer_imports = ", ".join(f"{k} {v:.1f}s" for k, v in peer["imports_s"].items())
    status = ", ".join(f"{k} {v:,}" for k, v in check["ours_status"].items())
    identical = check["overlap_identical_features"] == check["overlap"]
    return "\n".join(
        [
            f"months {months[0]}..{months[-1]}: ours scores {ours['rows']:,} validated flights ({status});"
            f" the peer {peer['rows']:,} training-set rows (arrived flights only); champion v{ours['model_version']}",
            f"peer = {summary['peer']}",
            table,
            "step / work s: ours = the batch_predictions step by Dagster's clock; peer = model load + read + predict",
            f"rows/s ours / peer: step vs work {fmt_ratio(r['ours_step_vs_peer_work_rows_per_s'])},"
            f" process {fmt_ratio(r['ours_process_vs_peer_process_rows_per_s'])},"
            f" scoring + writing vs predict {fmt_ratio(r['ours_scoring_writing_vs_peer_predict_rows_per_s'])},"
            f" predict vs predict {fmt_ratio(r['ours_predict_vs_peer_predict_rows_per_s'])}"
            " (below 1: ours is slower per row)",
            f"the step: feature retrieval {split['retrieval_s']:.2f}s ({split['retrieval_share']:.0%}),"
            f" scoring + writing {split['scoring_writing_s']:.2f}s ({split['scoring_writing_share']:.0%}),"
            f" outside the chunked loop {split['outside_score_month_s']:.2f}s",
            scoring,
            "batch_predictions step: " + ", ".join(f"{k} {v:.2f}s" for k, v in phases),
            f"around the step: imports {imports} (peer: {peer_imports}); instance {ours['instance_s']:.1f}s,"
            f" job {ours['build_job_s']:.2f}s, run start {ours['before_run_s']:.2f}s,"
            f" in the run outside the step {ours['run_s'] - ours['step_s']:.2f}s,"
            f" after run end {ours['after_run_s']:.2f}s",
            "peer work: " + ", ".join(f"{k} {v:.2f}s" for k, v in peer["work_parts_s"].items()),
            f"peak RSS ours / peer: {fmt_ratio(r['ours_vs_peer_peak_rss'])}",
            f"check: {check['overlap']:,} flights scored by both ({check['peer_only']:,} only by the peer);"
            f" features {'identical on all' if identical else 'identical on'} {check['overlap_identical_features']:,}"
            + ("" if identical else f" (differing columns: {check['differing_feature_columns']})")
            + f"; probabilities max |ours - peer| {check['probability_max_abs_difference']}"
            f" ({check['probabilities_equal']:,} exactly equal; on identical features:"
            f" {check['probability_max_abs_difference_identical_features']})",
        ]
    )


def figures(summary: dict[str, Any] | None) -> list[list[Any]]:
    """The headline rows: measure, ours, its value, peer, its value, ratio (none if the benchmark was skipped)."""
    if summary is None:
        return []
    rates, r = summary["rows_per_s"], summary["ratio"]
    return [
        [
            "batch scoring rows/s",
            "batch_predictions step",
            round(rates["ours_step"] or 0),
            "bare model.predict script",
            round(rates["peer_work"] or 0),
            fmt_ratio(r["ours_step_vs_peer_work_rows_per_s"]),
        ],
        [
            "batch scoring rows/s (process)",
            "Dagster child",
            round(rates["ours_process"] or 0),
            "plain script",
            round(rates["peer_process"] or 0),
            fmt_ratio(r["ours_process_vs_peer_process_rows_per_s"]),
        ],
        [
            "batch scoring only rows/s",
            "predict + write",
            round(rates["ours_scoring_writing"] or 0),
            "model.predict",
            round(rates["peer_predict"] or 0),
            fmt_ratio(r["ours_scoring_writing_vs_peer_predict_rows_per_s"]),
        ],
    ]


def run(prepared: Path = DEFAULT_PREPARED, months: str = DEFAULT_MONTHS, repeat: int = 1) -> dict[str, Any] | None:
    """Measure, print and write ``bench/results/batch.json``; None (with a message) if ``prepared`` cannot serve."""
    heading("batch: batch_predictions through Dagster vs bare model.predict on the same Parquet")
    keys = parse_months(months)
    prepared = prepared.resolve()
    reason = unusable(prepared, keys)
    if reason is not None:
        print(f"skipped: {reason}", flush=True)
        return None
    print(f"reading {prepared} (copied per measurement, never modified)", flush=True)
    started, load_before = time.perf_counter(), load_average()
    children, check = measure(prepared, keys, max(1, repeat))
    summary = summarise(children, check, keys)
    summary["prepared_home"] = str(prepared)
    summary["model_libraries"] = versions(("feast", "duckdb", "ibis-framework", "mlflow", "lightgbm", "pyarrow"))
    print(render(summary))
    return finish(NAME, summary, started, load_before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--prepared",
        type=Path,
        default=DEFAULT_PREPARED,
        help=f"a home where `openclaw run` left a champion (default {DEFAULT_PREPARED}); only copied",
    )
    parser.add_argument(
        "--months", default=DEFAULT_MONTHS, help=f"A:B range of months to score (default {DEFAULT_MONTHS})"
    )
    parser.add_argument("--repeat", type=int, default=1, help="measurements per side; medians are reported (default 1)")
    args = parser.parse_args(argv)
    try:
        summary = run(prepared=args.prepared, months=args.months, repeat=args.repeat)
    except BenchError as exc:
        print(f"batch benchmark failed: {exc}", file=sys.stderr)
        return 1
    return 0 if summary is not None else 1


if __name__ == "__main__":
    sys.exit(main())
