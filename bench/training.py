"""Model training: the ``trained_model`` asset through Dagster versus the same LightGBM fit in a plain script.

Ours:   ``trained_model`` alone, materialized for real: a job selecting it merged into the code
        location's definitions, ``execute_in_process`` on a fresh ``DagsterInstance.local_temp``
        with the embedded resources (read the training set, split, prepare, fit, holdout
        metrics, MLflow run, ``pyfunc.log_model``, registration, tags and the challenger alias).
Peer:   a plain script: ``pd.read_parquet``, ``split`` to 2013-01..10, ``prepare``, and
        ``LGBMClassifier`` with the ``TrainConfig`` defaults, seed 7, deterministic, 2 threads.

Both read a copy of the full-year training set (327,346 rows) of a prepared home, each in a
fresh child; ours writes to a scratch home whose MLflow store was created beforehand
(untimed), as after a first run. Headline ratios: ours' step time (Dagster's clock) over the
peer's fit time, and whole process over whole process. The asset's own ``fit_seconds``
covers the same span as the peer's fit, so their ratio shows how far apart the machine put
identical work: the 2-thread fit slows down by up to 3x when other processes compete for the
cores, and its CPU seconds grow with it (OpenMP threads spin while they wait), so CPU time is
reported but is no remedy. The time outside the fit does not swing like that, so the same
ratios are also given fit-normalised: ours' time outside its fit plus the peer's fit, over
the peer's figure. Both models must score the
holdout months (2013-11..12) with the same AUC (within 1e-9); the version ours registered is
reloaded from MLflow and its holdout predictions compared with the peer's.

Run alone: ``python -m bench.training [--prepared HOME] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import features
from bench._harness import (
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
from bench._training_tasks import HOLDOUT_MONTHS, PARAMS, SEED, TRAIN_MONTHS

NAME = "training"
TASKS = "bench._training_tasks"
DEFAULT_PREPARED = Path("/tmp/oc3")
"""Where a prepared full-year home is looked for when ``--prepared`` is not given."""
TRAINING_SET = Path("warehouse/features/training_set/all.parquet")
TRAINING_ROWS = features.TRAINING_ROWS
AUC_TOLERANCE = 1e-9
CHILD_TIMEOUT_S = 1200.0
FIT_AGREEMENT = (0.8, 1.25)
"""Ours' fit over the peer's fit outside this range gets a warning that the raw ratios are mostly machine noise."""
PEER = (
    "plain script: pd.read_parquet + split 2013-01..10 + prepare + LGBMClassifier(TrainConfig defaults,"
    " random_state=7, deterministic, force_row_wise, n_jobs=2).fit, no Dagster or MLflow"
)
LABELS = {"ours": "ours: trained_model via Dagster", "peer": "peer: plain LightGBM script"}


def _task(task: str, spec: dict[str, Any]) -> Child:
    return run_task(task, spec, timeout_s=CHILD_TIMEOUT_S, module=TASKS)


# ---------------------------------------------------------------- homes


@contextmanager
def source_home(prepared: Path | None, seeded: Path | None = None) -> Iterator[Path]:
    """A home holding the full-year training set: ``prepared`` if it has one, else one prepared like bench.features."""
    if prepared is not None and (prepared / TRAINING_SET).exists():
        print(f"reading the training set of {prepared.resolve()} (copied, never modified)", flush=True)
        yield prepared.resolve()
        return
    where = f"{prepared} has no {TRAINING_SET}" if prepared is not None else "no prepared home given"
    print(f"{where}: preparing one like bench.features (untimed)", flush=True)
    with features.prepared_home(seeded) as home:
        yield home


@contextmanager
def template_home(source: Path) -> Iterator[Path]:
    """A scratch OPENCLAW_HOME: a copy of ``source``'s training set and a freshly created, empty MLflow store."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-training-") as scratch:
        home = Path(scratch)
        (home / TRAINING_SET).parent.mkdir(parents=True)
        shutil.copyfile(source / TRAINING_SET, home / TRAINING_SET)
        _task("init_mlflow", {"home": str(home)})
        yield home


@contextmanager
def measurement_home(template: Path) -> Iterator[tuple[Path, Path]]:
    """A copy of ``template`` for one measurement, and an empty directory for its Dagster instance."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-training-run-") as scratch:
        home, dagster = Path(scratch) / "home", Path(scratch) / "dagster"
        shutil.copytree(template, home)
        dagster.mkdir()
        yield home, dagster


# ---------------------------------------------------------------- measuring


def measure(template: Path, repeat: int) -> tuple[dict[str, list[Child]], dict[str, Any]]:
    """Ours then the peer, ``repeat`` rounds; in the first round, the model ours registered is reloaded and compared."""
    children: dict[str, list[Child]] = {"ours": [], "peer": []}
    training_set = str(template / TRAINING_SET)
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-predictions-") as outputs:
        ours_out, peer_out = Path(outputs) / "ours.npy", Path(outputs) / "peer.npy"
        reloaded: Child | None = None
        for round_ in range(repeat):
            suffix = f" (round {round_ + 1}/{repeat})" if repeat > 1 else ""
            print(f"  {LABELS['ours']}{suffix} ...", flush=True)
            with measurement_home(template) as (home, dagster):
                ours = _task("ours", {"home": str(home), "dagster_home": str(dagster)})
                children["ours"].append(ours)
                if reloaded is None:
                    print("  check: reload the registered model, score the holdout (untimed) ...", flush=True)
                    spec = {
                        "home": str(home),
                        "version": ours.report["model_version"],
                        "training_set": training_set,
                        "out": str(ours_out),
                    }
                    reloaded = _task("holdout_predictions", spec)
            print(f"  {LABELS['peer']}{suffix} ...", flush=True)
            children["peer"].append(_task("peer", {"training_set": training_set, "predictions": str(peer_out)}))
        assert reloaded is not None
        check = _compare(children, reloaded, ours_out, peer_out)
    _validate(children)
    return children, check


def _compare(children: dict[str, list[Child]], reloaded: Child, ours_out: Path, peer_out: Path) -> dict[str, Any]:
    """Holdout AUC of every model and the largest difference between the reloaded model's and the peer's scores."""
    import numpy as np

    ours_scores, peer_scores = np.load(ours_out), np.load(peer_out)
    aucs = {
        "ours_asset": [c.report["holdout_auc"] for c in children["ours"]],
        "ours_reloaded": reloaded.report["holdout_auc"],
        "peer": [c.report["holdout_auc"] for c in children["peer"]],
    }
    every = [*aucs["ours_asset"], aucs["ours_reloaded"], *aucs["peer"]]
    spread = max(every) - min(every)
    same_shape = ours_scores.shape == peer_scores.shape
    return {
        "holdout_months": HOLDOUT_MONTHS,
        "holdout_rows": reloaded.report["holdout_rows"],
        "holdout_auc": aucs,
        "auc_max_abs_difference": spread,
        "auc_tolerance": AUC_TOLERANCE,
        "same_auc": spread <= AUC_TOLERANCE,
        "predictions_max_abs_difference": float(np.abs(ours_scores - peer_scores).max()) if same_shape else None,
        "predictions_identical": bool(same_shape and np.array_equal(ours_scores, peer_scores)),
    }


def _validate(children: dict[str, list[Child]]) -> None:
    """Fail if the two sides did not fit the same rows with the same configuration."""
    for ours in children["ours"]:
        config = ours.report["config"]
        if config["params"] != PARAMS or config["seed"] != SEED:
            raise BenchError(f"TrainConfig defaults {config} differ from the peer's {PARAMS}, seed {SEED}")
        months = (config["train_months"], config["holdout_months"])
        expected = (f"{TRAIN_MONTHS[0]}:{TRAIN_MONTHS[-1]}", f"{HOLDOUT_MONTHS[0]}:{HOLDOUT_MONTHS[-1]}")
        if months != expected:
            raise BenchError(f"TrainConfig months {months} differ from the peer's {expected}")
    for peer in children["peer"]:
        if peer.report["rows"] != TRAINING_ROWS:
            raise BenchError(f"the training set has {peer.report['rows']:,} rows, expected {TRAINING_ROWS:,}")
    rows = {c.report["training_rows"] for side in children.values() for c in side}
    if len(rows) != 1:
        raise BenchError(f"ours and the peer fitted on different numbers of rows: {sorted(rows)}")


# ---------------------------------------------------------------- summary


def _medians(reports: list[dict[str, Any]], key: str) -> dict[str, float]:
    return {name: median([r[key][name] for r in reports]) for name in reports[0][key]}


def summarise(children: dict[str, list[Child]], check: dict[str, Any]) -> dict[str, Any]:
    """Medians per side, the ratios against the peer, the step's breakdown and the model check."""
    sides: dict[str, dict[str, Any]] = {}
    for key, runs in children.items():
        reports = [c.report for c in runs]
        side = {
            "label": LABELS[key],
            "fit_s": median([r["fit_s"] for r in reports]),
            "fit_cpu_s": median([r["fit_cpu_s"] for r in reports]),
            "import_s": median([r["import_s"] for r in reports]),
            "imports_s": _medians(reports, "imports_s"),
            "wall_s": median([c.wall_s for c in runs]),
            "process_cpu_s": median([r["process_cpu_s"] for r in reports]),
            "max_rss_mib": max(c.max_rss_mib for c in runs),
            "training_rows": reports[0]["training_rows"],
        }
        if key == "ours":
            for name in ("step_s", "execute_s", "execute_cpu_s", "run_s", "before_run_s", "after_run_s"):
                side[name] = median([r[name] for r in reports])
            for name in ("build_job_s", "instance_s"):
                side[name] = median([r[name] for r in reports])
            side["step_phases_s"] = _medians(reports, "step_phases_s")
            side["step_phases_cpu_s"] = _medians(reports, "step_phases_cpu_s")
        else:
            for name in ("read_prepare_s", "work_s", "work_cpu_s"):
                side[name] = median([r[name] for r in reports])
        side["runs"] = [c.as_json() for c in runs]
        sides[key] = side
    ours, peer = sides["ours"], sides["peer"]
    # ours with the peer's fit time in place of its own: what is left is the cost around the fit
    step_normalised = ours["step_s"] - ours["fit_s"] + peer["fit_s"]
    process_normalised = ours["wall_s"] - ours["fit_s"] + peer["fit_s"]
    return {
        "rows": TRAINING_ROWS,
        "training_rows": peer["training_rows"],
        "train_months": TRAIN_MONTHS,
        "holdout_months": HOLDOUT_MONTHS,
        "peer": PEER,
        "ratio": {
            "ours_step_vs_peer_fit": ratio(ours["step_s"], peer["fit_s"]),
            "ours_process_vs_peer_process": ratio(ours["wall_s"], peer["wall_s"]),
            "ours_step_vs_peer_work": ratio(ours["step_s"], peer["work_s"]),
            "ours_fit_vs_peer_fit": ratio(ours["fit_s"], peer["fit_s"]),
            "ours_fit_cpu_vs_peer_fit_cpu": ratio(ours["fit_cpu_s"], peer["fit_cpu_s"]),
            "ours_process_cpu_vs_peer_process_cpu": ratio(ours["process_cpu_s"], peer["process_cpu_s"]),
            "ours_vs_peer_outside_fit_process": ratio(ours["wall_s"] - ours["fit_s"], peer["wall_s"] - peer["fit_s"]),
            "ours_step_vs_peer_fit_fit_normalised": ratio(step_normalised, peer["fit_s"]),
            "ours_process_vs_peer_process_fit_normalised": ratio(process_normalised, peer["wall_s"]),
        },
        "outside_fit_s": {
            "ours_step": ours["step_s"] - ours["fit_s"],
            "ours_process": ours["wall_s"] - ours["fit_s"],
            "peer_work": peer["work_s"] - peer["fit_s"],
            "peer_process": peer["wall_s"] - peer["fit_s"],
        },
        "sides": sides,
        "model_check": check,
        "repeat": len(children["ours"]),
    }


def render(summary: dict[str, Any]) -> str:
    ours, peer = summary["sides"]["ours"], summary["sides"]["peer"]
    table = format_table(
        ["path", "fit s", "fit CPU s", "step / work s", "imports s", "process s", "process CPU s", "peak MiB"],
        [
            [
                side["label"],
                side["fit_s"],
                side["fit_cpu_s"],
                side["step_s"] if "step_s" in side else side["work_s"],
                side["import_s"],
                side["wall_s"],
                side["process_cpu_s"],
                round(side["max_rss_mib"]),
            ]
            for side in (ours, peer)
        ],
    )
    r, outside, check = summary["ratio"], summary["outside_fit_s"], summary["model_check"]
    fits = r["ours_fit_vs_peer_fit"] or 1.0
    uneven = (
        f"the two identical fits differ by {abs(fits - 1):.0%}: the machine was busy, and the raw ratios measure"
        " that more than Dagster; read the time outside the fit and the fit-normalised ratios"
        if not FIT_AGREEMENT[0] <= fits <= FIT_AGREEMENT[1]
        else None
    )
    phases = sorted(ours["step_phases_s"].items(), key=lambda kv: -kv[1])
    imports = ", ".join(f"{k} {v:.1f}s" for k, v in ours["imports_s"].items())
    aucs = check["holdout_auc"]
    return "\n".join(
        [
            f"{summary['rows']:,} training-set rows; fit on {summary['training_rows']:,}"
            f" ({summary['train_months'][0]}..{summary['train_months'][-1]}); peer = {summary['peer']}",
            table,
            "step / work s: ours = the trained_model step by Dagster's clock; peer = read + split + prepare + fit",
            f"ratio ours step / peer fit: {fmt_ratio(r['ours_step_vs_peer_fit'])};"
            f" ours process / peer process: {fmt_ratio(r['ours_process_vs_peer_process'])}"
            f" (CPU: {fmt_ratio(r['ours_process_cpu_vs_peer_process_cpu'])})",
            f"the same fit on both sides: ours fit / peer fit {fmt_ratio(r['ours_fit_vs_peer_fit'])} wall,"
            f" {fmt_ratio(r['ours_fit_cpu_vs_peer_fit_cpu'])} CPU (how far apart the machine put identical work)",
            f"outside the fit: ours step {outside['ours_step']:.1f}s, process {outside['ours_process']:.1f}s;"
            f" peer work {outside['peer_work']:.1f}s, process {outside['peer_process']:.1f}s"
            f" ({fmt_ratio(r['ours_vs_peer_outside_fit_process'])} per process); fit-normalised ratios (ours with the"
            f" peer's fit time): step / peer fit {fmt_ratio(r['ours_step_vs_peer_fit_fit_normalised'])},"
            f" process / peer process {fmt_ratio(r['ours_process_vs_peer_process_fit_normalised'])}",
            *([uneven] if uneven else []),
            "trained_model step: " + ", ".join(f"{k} {v:.2f}s" for k, v in phases),
            f"around the step: imports {imports} (peer {peer['import_s']:.1f}s); instance {ours['instance_s']:.1f}s,"
            f" job {ours['build_job_s']:.2f}s, run start {ours['before_run_s']:.2f}s,"
            f" in the run outside the step {ours['run_s'] - ours['step_s']:.2f}s,"
            f" after run end {ours['after_run_s']:.2f}s",
            f"holdout AUC ({check['holdout_months'][0]}..{check['holdout_months'][-1]},"
            f" {check['holdout_rows']:,} rows): ours {_aucs(aucs['ours_asset'])} (asset metadata),"
            f" {aucs['ours_reloaded']:.12f} (reloaded from MLflow), peer {_aucs(aucs['peer'])};"
            f" spread {check['auc_max_abs_difference']:.1e}"
            f" ({'within' if check['same_auc'] else 'NOT within'} {check['auc_tolerance']:g})",
            "holdout scores, reloaded model vs peer: "
            + (
                "identical"
                if check["predictions_identical"]
                else f"differ, max |difference| {check['predictions_max_abs_difference']}"
            ),
        ]
    )


def _aucs(values: list[float]) -> str:
    return " / ".join(f"{v:.12f}" for v in values)


def figures(summary: dict[str, Any]) -> list[list[Any]]:
    """The headline rows: measure, ours, its value, peer, its value, ratio."""
    ours, peer, r = summary["sides"]["ours"], summary["sides"]["peer"], summary["ratio"]
    return [
        [
            "model training s",
            "trained_model step",
            f"{ours['step_s']:.1f}",
            "plain LightGBM fit",
            f"{peer['fit_s']:.1f}",
            fmt_ratio(r["ours_step_vs_peer_fit"]),
        ],
        [
            "model training s (fit-normalised)",
            "step, peer's fit time",
            f"{ours['step_s'] - ours['fit_s'] + peer['fit_s']:.1f}",
            "plain LightGBM fit",
            f"{peer['fit_s']:.1f}",
            fmt_ratio(r["ours_step_vs_peer_fit_fit_normalised"]),
        ],
        [
            "model training s (process)",
            "Dagster child",
            f"{ours['wall_s']:.1f}",
            "plain script",
            f"{peer['wall_s']:.1f}",
            fmt_ratio(r["ours_process_vs_peer_process"]),
        ],
    ]


def run(prepared: Path | None = DEFAULT_PREPARED, seeded: Path | None = None, repeat: int = 1) -> dict[str, Any]:
    """Measure, print and write ``bench/results/training.json``."""
    heading("training: the delay model over the full year, ours vs a plain LightGBM script")
    started, load_before = time.perf_counter(), load_average()
    with source_home(prepared, seeded) as source, template_home(source) as template:
        children, check = measure(template, repeat)
        source_name = str(source)
    summary = summarise(children, check)
    summary["source_home"] = source_name
    summary["model_libraries"] = versions(("lightgbm", "mlflow", "scikit-learn"))
    print(render(summary))
    return finish(NAME, summary, started, load_before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.training", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--prepared",
        type=Path,
        default=DEFAULT_PREPARED,
        help=f"a home holding {TRAINING_SET} (default {DEFAULT_PREPARED}); without one, a home is prepared"
        " like bench.features does (about 2 minutes more)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="measurements per side; medians are reported (default 1)")
    args = parser.parse_args(argv)
    run(prepared=args.prepared, repeat=max(1, args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
