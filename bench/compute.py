"""Compute plane cases: batch scoring, and the serving gateway against ``feast serve`` + ``mlflow models serve``."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import random
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import _project as p
from bench.models import TRAINING_SET, default_home, needs, run_asset
from bench.runner import (
    BIN,
    PYTHON,
    ROOT,
    BenchError,
    Case,
    imports,
    instrument,
    median,
    n,
    ratio,
    run_task,
    stop_group,
    x,
)

MODEL = "flight_delay"
CHAMPION = f"models:/{MODEL}@champion"
MLFLOW_LOCATIONS = "experiments.artifact_location runs.artifact_uri logged_models.artifact_location"
MLFLOW_LOCATIONS += " model_versions.storage_location"
"""The columns of an embedded MLflow database that hold absolute artifact locations."""


def tracking(home: Path | str) -> str:
    return f"sqlite:///{home}/mlflow/mlflow.db"


@contextmanager
def copied(source: Path) -> Iterator[Path]:
    """A copy of ``source`` whose MLflow database points at the copy's artifacts (loading a model writes there)."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-compute-") as root:
        home = Path(root) / "home"
        shutil.copytree(source, home, symlinks=True, ignore=shutil.ignore_patterns("dagster", "landing"))
        old, new = f"{source}/mlflow/", f"{home}/mlflow/"
        with closing(sqlite3.connect(home / "mlflow" / "mlflow.db")) as db, db:
            for table, column in (location.split(".") for location in MLFLOW_LOCATIONS.split()):
                db.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (old, new))
        (Path(root) / "dagster").mkdir()
        yield home


# ---------------------------------------------------------------- batch children


def feast_registry(spec: dict[str, Any]) -> dict[str, Any]:
    """Re-point the copy's Feast registry at the copy (untimed): materialize ``feast_registry`` there."""
    run_asset(spec["home"], spec["dagster_home"], "feast_registry")
    return {}


def batch_ours(spec: dict[str, Any]) -> dict[str, Any]:
    """``batch_predictions`` alone for a partition range, through Dagster, its step split by the functions it calls."""
    import_s = imports(*p.CODE_LOCATION, "pandas", "pyarrow.parquet", "lightgbm", *p.FEAST, *p.MLFLOW, p.REGISTRY)
    phases = instrument(p.BATCH_PHASES, wrap_result=p.RETRIEVAL)
    loop = instrument(p.SCORE_MONTH)
    months = spec["months"]
    tags = {"dagster/asset_partition_range_start": months[0], "dagster/asset_partition_range_end": months[-1]}
    result, step_s = run_asset(spec["home"], spec["dagster_home"], "batch_predictions", tags)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    if not checks or not all(checks.values()) or not phases[f"calls:{p.RETRIEVAL}"]:
        raise BenchError(f"batch_predictions did not score every flight: checks {checks}, calls {phases}")
    import pandas as pd

    home = Path(spec["home"])
    frames = [pd.read_parquet(p.warehouse_file(home, "predictions", p.TABLE, m)) for m in months]
    pd.concat(frames)[["flight_id", "probability"]].to_parquet(spec["out"], index=False)
    return {"import_s": import_s, "step_s": step_s, "phases_s": phases, "score_month_s": loop["score_month"]}


def batch_peer(spec: dict[str, Any]) -> dict[str, Any]:
    """The champion via ``mlflow.pyfunc.load_model``, the months' rows of the training set, ``predict`` per month."""
    import_s = imports("pandas", "pyarrow.parquet", "lightgbm", "mlflow", "mlflow.pyfunc", p.TRAINING)
    import mlflow
    import pandas as pd

    numbers = [int(month[5:]) for month in spec["months"]]
    started = time.perf_counter()
    mlflow.set_tracking_uri(tracking(spec["home"]))
    model = mlflow.pyfunc.load_model(CHAMPION).unwrap_python_model()
    frame = pd.read_parquet(Path(spec["home"]) / TRAINING_SET, filters=[("month", "in", numbers)])
    predicting = time.perf_counter()
    scored = pd.concat([model.predict(None, frame[frame["month"] == m][p.FEATURES])["probability"] for m in numbers])
    ended = time.perf_counter()
    pd.DataFrame({"flight_id": frame.loc[scored.index, "flight_id"], "probability": scored}).to_parquet(spec["out"])
    return {"import_s": import_s, "work_s": ended - started, "predict_s": ended - predicting, "rows": len(frame)}


def measure_batch(home: str | None = None, months: tuple[str, ...] = ("2013-11", "2013-12")) -> dict[str, Any]:
    flights = [f"warehouse/validated/flights/{m}.parquet" for m in months]
    source = needs(Path(home or default_home()), "feast/registry.db", "mlflow/mlflow.db", str(TRAINING_SET), *flights)
    import pandas as pd

    with copied(source) as ours_home, copied(source) as peer_home, tempfile.TemporaryDirectory() as out:
        spec = {"home": str(ours_home), "dagster_home": str(ours_home.parent / "dagster"), "months": list(months)}
        run_task("bench.compute:feast_registry", spec, {"OPENCLAW_HOME": spec["home"]})
        env, peer_spec = {"OPENCLAW_HOME": spec["home"]}, {"home": str(peer_home), "months": list(months)}
        ours = run_task("bench.compute:batch_ours", {**spec, "out": f"{out}/ours.parquet"}, env)
        peer = run_task("bench.compute:batch_peer", {**peer_spec, "out": f"{out}/peer.parquet"})
        both = pd.read_parquet(f"{out}/ours.parquet").merge(pd.read_parquet(f"{out}/peer.parquet"), on="flight_id")
        ours_rows = len(pd.read_parquet(f"{out}/ours.parquet"))
    largest = float((both["probability_x"] - both["probability_y"]).abs().max())
    o, q = ours.report, peer.report
    retrieval = o["phases_s"][p.RETRIEVAL]
    scoring = o["score_month_s"] - retrieval
    rate = {
        "step": ours_rows / o["step_s"],
        "process": ours_rows / ours.wall_s,
        "scoring": ours_rows / scoring,
        "peer": q["rows"] / q["work_s"],
        "peer_process": q["rows"] / peer.wall_s,
        "peer_predict": q["rows"] / q["predict_s"],
    }
    span = f"{months[0]}..{months[-1]}"
    rows = [
        [
            f"batch scoring, {span} ({ours_rows:,} flights, cancelled and diverted included), rows/s",
            f"`batch_predictions` through Dagster: {n(rate['step'])} per step second (Feast point-in-time retrieval"
            f" {retrieval / o['step_s']:.0%} of the step, scoring and writing {scoring / o['step_s']:.0%})",
            f"bare `model.predict` on the same months' already-joined training set ({q['rows']:,} rows):"
            f" {n(rate['peer'])}",
            f"{x(ratio(rate['step'], rate['peer']))}; scoring alone {x(ratio(rate['scoring'], rate['peer_predict']))};"
            f" largest probability difference on the {len(both):,} flights both scored {largest:.2g}",
        ],
        [
            "batch scoring, whole process, rows/s",
            n(rate["process"]),
            n(rate["peer_process"]),
            x(ratio(rate["process"], rate["peer_process"])),
        ],
    ]
    return {"rows": rows, "rows_per_s": rate, "ours": vars(ours), "peer": vars(peer)}


# ---------------------------------------------------------------- serving: the load generator (a child)


def _stats(seconds: list[float]) -> dict[str, float]:
    import numpy as np

    ms = np.asarray(seconds or [float("nan")]) * 1000
    return {"requests": len(seconds), "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


async def _ours(session, spec: dict[str, Any], flights: list[dict[str, Any]], calls: dict[str, list[float]]):
    headers = {"Authorization": f"Bearer {spec['token']}"}
    async with session.post(spec["ours"] + "/v1/predict", json={"flights": flights}, headers=headers) as answer:
        if answer.status != 200:
            raise BenchError(f"gateway answered {answer.status}")
        return [(a["probability"], ",".join(a["out_of_range"])) for a in (await answer.json())["predictions"]]


async def _peer(session, spec: dict[str, Any], flights: list[dict[str, Any]], calls: dict[str, list[float]]):
    """Feast's feature server for the entity rows, then MLflow's scoring server for the model's input columns."""
    started = time.perf_counter()
    routes = [f"{f['origin']}-{f['dest']}" for f in flights]
    entities = {
        "carrier": [f["carrier"] for f in flights],
        "origin": [f["origin"] for f in flights],
        "route": routes,
        "tailnum": [f["tailnum"] or "UNKNOWN" for f in flights],
    }
    body = {"feature_service": spec["service"], "entities": entities}
    async with session.post(spec["feast"] + "/get-online-features", json=body) as answer:
        read = await answer.json()
    values = dict(zip(read["metadata"]["feature_names"], (r["values"] for r in read["results"]), strict=True))
    between = time.perf_counter()
    rows = []
    for i, flight in enumerate(flights):
        at = datetime.fromisoformat(flight["scheduled_departure"])
        head = [at.weekday(), at.hour, at.minute, flight["distance"], flight["carrier"], flight["origin"], routes[i]]
        rows.append([*head, *(values[name][i] for name in spec["columns"][7:])])
    body = {"dataframe_split": {"columns": spec["columns"], "data": rows}}
    scoring = time.perf_counter()
    async with session.post(spec["mlflow"] + "/invocations", json=body) as answer:
        if answer.status != 200:
            raise BenchError(f"mlflow answered {answer.status}")
        predictions = (await answer.json())["predictions"]
    calls["feast"].append(between - started)
    calls["mlflow"].append(time.perf_counter() - scoring)
    return [(a["probability"], a["out_of_range"]) for a in predictions]


async def _drive(spec: dict[str, Any]) -> dict[str, Any]:
    import aiohttp

    flights = json.loads(Path(spec["mix"]).read_text())
    side = _ours if spec["side"] == "ours" else _peer
    size, width = spec["size"], spec["concurrency"]
    latencies: list[float] = []
    calls: dict[str, list[float]] = {"feast": [], "mlflow": []}
    issued, failed = [0], [0]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=width)) as session:
        if spec.get("check"):
            ours = await _ours(session, spec, flights[:100], calls)
            peer = await _peer(session, spec, flights[:100], calls)
            return {"largest": max(abs(a[0] - b[0]) for a, b in zip(ours, peer, strict=True)), "flags": ours == peer}

        async def loop(deadline: float, record: bool) -> None:
            while time.perf_counter() < deadline and (record or issued[0] < 20):
                start = issued[0] * size % (len(flights) - size)
                issued[0] += 1
                sink, sent = calls if record else {"feast": [], "mlflow": []}, time.perf_counter()
                try:
                    await side(session, spec, flights[start : start + size], sink)
                except (aiohttp.ClientError, BenchError, KeyError):
                    failed[0] += record
                    continue
                if record:
                    latencies.append(time.perf_counter() - sent)

        await asyncio.gather(*(loop(time.perf_counter() + 60, False) for _ in range(width)))  # 20 warm-up requests
        started = time.perf_counter()
        await asyncio.gather(*(loop(started + spec["duration_s"], True) for _ in range(width)))
        elapsed = time.perf_counter() - started
    out = {"latency": _stats(latencies), "requests_per_s": len(latencies) / elapsed, "failed": failed[0]}
    if spec["side"] == "peer":
        out["calls_p99_ms"] = sum(_stats(values)["p99_ms"] for values in calls.values())
    return out


def load(spec: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_drive(spec))


def rollout(spec: dict[str, Any]) -> dict[str, Any]:
    """New versions of the champion's model, the alias moved to each while one-row requests go back to back."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=spec["tracking"], registry_uri=spec["tracking"])
    base = client.get_model_version_by_alias(MODEL, "champion")
    body = json.dumps({"flights": json.loads(Path(spec["mix"]).read_text())[:1]}).encode()
    answers: list[tuple[float, float, str | None]] = []
    halt, headers = threading.Event(), {"Authorization": f"Bearer {spec['token']}", "Content-Type": "application/json"}

    def probe() -> None:
        while not halt.is_set():
            sent, version = time.monotonic(), None
            request = urllib.request.Request(spec["ours"] + "/v1/predict", body, headers)
            with suppress(OSError), urllib.request.urlopen(request, timeout=30) as answer:
                version = json.loads(answer.read())["predictions"][0]["model_version"]
            answers.append((sent, time.monotonic(), version))

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    trials, rng = [], random.Random(11)
    try:
        for mode in ["poll", "reload"] * spec["trials"]:
            version = str(client.create_model_version(MODEL, source=base.source, run_id=base.run_id).version)
            time.sleep(rng.uniform(0.0, 2.0))  # a random phase against the gateway's 2 s alias poll
            client.set_registered_model_alias(MODEL, "champion", version)
            alias_set = time.monotonic()
            if mode == "reload":
                admin = {"Authorization": f"Bearer {spec['admin_token']}"}
                request = urllib.request.Request(spec["ours"] + "/v1/admin/reload", method="POST", headers=admin)
                urllib.request.urlopen(request, timeout=60).read()
            deadline = alias_set + 60
            while time.monotonic() < deadline and not any(v == version and r >= alias_set for _, r, v in answers[-50:]):
                time.sleep(0.002)
            first = min((r for _, r, v in answers if v == version), default=None)
            during = [r - s for s, r, _ in answers if alias_set <= s <= (first or deadline)]
            answered = first and first - alias_set
            trials.append({"mode": mode, "to_first_answer_s": answered, "max_ms": max(during, default=0) * 1000})
            time.sleep(0.5)
    finally:
        halt.set()
        prober.join(timeout=35)
    return {"trials": trials, "failed": sum(1 for *_, v in answers if v is None), "requests": len(answers)}


# ---------------------------------------------------------------- serving: the servers (the parent)


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server(argv: list[str], env: dict[str, str], ready: str, log: Path) -> Iterator[float]:
    """Start ``argv`` in its own process group; yield seconds from spawn to ``ready`` answering 200; end the group."""
    started = time.perf_counter()
    with open(log, "ab") as out:
        # its own group (ended below), and SIGTERM from Linux if this process dies first
        tie = functools.partial(p.exit_with_parent, os.getpid())
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=tie
        )
    try:
        while time.perf_counter() - started < 240:
            if process.poll() is not None:
                raise BenchError(f"{argv[0]} exited with {process.returncode}:\n{log.read_text()[-1500:]}")
            with suppress(OSError), urllib.request.urlopen(ready, timeout=2) as answer:
                if answer.status == 200:
                    break
            time.sleep(0.1)
        else:
            raise BenchError(f"{argv[0]} was not ready after 240 s:\n{log.read_text()[-1500:]}")
        yield time.perf_counter() - started
    finally:
        stop_group(process, 15)


def _mix(source: Path, target: Path) -> None:
    """Every flight of 2013-12 as a request row (departure in New York time), shuffled with a fixed seed."""
    import pandas as pd

    frame = pd.read_parquet(source / "warehouse/validated/flights/2013-12.parquet")
    local = frame["time_hour"].dt.tz_convert("America/New_York").dt.tz_localize(None)
    frame["scheduled_departure"] = (local + pd.to_timedelta(frame["minute"], unit="m")).dt.strftime("%Y-%m-%dT%H:%M:%S")
    frame = frame.astype({"flight_id": str, "distance": float}).astype(object).where(frame.notna(), None)
    columns = ["flight_id", "carrier", "origin", "dest", "tailnum", "scheduled_departure", "distance"]
    flights = frame[columns].to_dict("records")
    random.Random(13).shuffle(flights)
    target.write_text(json.dumps(flights))


def measure_serving(home: str | None = None, duration_s: float = 12.0, rollout_trials: int = 3) -> dict[str, Any]:
    import yaml

    names = ("feast/registry.db", "feast/online.db", "mlflow/mlflow.db")
    source = needs(Path(home or default_home()), *names, "warehouse/validated/flights/2013-12.parquet")
    tokens = {"token": secrets.token_urlsafe(24), "admin_token": secrets.token_urlsafe(24)}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "MLFLOW_"))}
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"  # mlflow starts `uvicorn` by name
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-serving-") as root:
        home_ = Path(root) / "home"
        for name in names:
            (home_ / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / name, home_ / name)
        config = p.feature_store_config(home_, "embedded", registry_url="unused", redis_url="unused")
        (home_ / "feast" / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
        mix = Path(root) / "mix.json"
        _mix(source, mix)
        ports = {side: _port() for side in ("ours", "feast", "mlflow")}
        urls = {side: f"http://127.0.0.1:{port}" for side, port in ports.items()}
        ours_env = {
            **base,
            "OPENCLAW_HOME": str(home_),
            "OPENCLAW_PROFILE": "embedded",
            "OPENCLAW_GATEWAY_PREDICT_TOKEN": tokens["token"],
            "OPENCLAW_GATEWAY_ADMIN_TOKEN": tokens["admin_token"],
            "OPENCLAW_GATEWAY_POLL_SECONDS": "2",
        }
        gateway = [PYTHON, "-m", p.CLI, "--home", str(home_), "serve", "--host", "127.0.0.1", "--port"]
        gateway += [str(ports["ours"]), "--parent-pid", str(os.getpid())]
        # --max-requests 0: gunicorn would otherwise replace its worker (and reload the registry) mid-measurement
        feast = [str(BIN / "feast"), "-c", str(home_ / "feast"), "serve", "-h", "127.0.0.1", "-p", str(ports["feast"])]
        feast += ["--no-access-log", "--max-requests", "0"]
        mlflow = [str(BIN / "mlflow"), "models", "serve", "-m", CHAMPION, "--env-manager", "local"]
        mlflow += ["-h", "127.0.0.1", "-p", str(ports["mlflow"])]
        runtime = Path(root) / "xdg"  # gunicorn's control socket
        runtime.mkdir(mode=0o700)
        feast_env = {**base, "XDG_RUNTIME_DIR": str(runtime), "TQDM_DISABLE": "1"}
        mlflow_env = {**base, "MLFLOW_TRACKING_URI": tracking(home_), "UVICORN_ACCESS_LOG": "false"}
        spec = {"mix": str(mix), **urls, **tokens, "service": "flight_delay_v1", "columns": list(p.FEATURES)}
        with (
            server(gateway, ours_env, urls["ours"] + "/readyz", Path(root) / "gateway.log") as ready_ours,
            server(feast, feast_env, urls["feast"] + "/health", Path(root) / "feast.log") as ready_feast,
            server(mlflow, mlflow_env, urls["mlflow"] + "/ping", Path(root) / "mlflow.log") as ready_mlflow,
        ):
            check_spec = {**spec, "check": True, "side": "ours", "size": 100, "concurrency": 1}
            check = run_task("bench.compute:load", check_spec).report
            cells = {}
            for index, (size, width) in enumerate([(1, 1), (1, 8), (100, 1), (100, 8)]):
                order = ("ours", "peer") if index % 2 == 0 else ("peer", "ours")  # which goes first alternates
                setting = {**spec, "size": size, "concurrency": width, "duration_s": duration_s}
                cells[size, width] = {
                    side: run_task("bench.compute:load", {**setting, "side": side}).report for side in order
                }
            spec_rollout = {**spec, "tracking": tracking(home_), "trials": rollout_trials}
            roll = run_task("bench.compute:rollout", spec_rollout, {"MLFLOW_TRACKING_URI": tracking(home_)}).report
    return _serving_rows(cells, check, roll, {"gateway": ready_ours, "feast": ready_feast, "mlflow": ready_mlflow})


def _serving_rows(cells, check, roll, ready) -> dict[str, Any]:
    rows = []
    for (size, width), cell in cells.items():
        o, q = cell["ours"], cell["peer"]
        lo, lq = o["latency"], q["latency"]
        p99 = ratio(lo["p99_ms"], q["calls_p99_ms"])
        tput = ratio(o["requests_per_s"], q["requests_per_s"])
        met = "met" if p99 and p99 <= 0.5 and tput and tput >= 2 else "missed"
        rows.append(
            [
                f"online, {size} flight(s) per request, {width} in flight: p50 / p99, requests/s",
                f"gateway {lo['p50_ms']:.1f} / {lo['p99_ms']:.1f} ms, {o['requests_per_s']:.1f}/s",
                f"`feast serve` + `mlflow models serve`: {lq['p50_ms']:.0f} / {lq['p99_ms']:.0f} ms (sum of the calls'"
                f" p99 {q['calls_p99_ms']:.0f}), {q['requests_per_s']:.1f}/s",
                f"p99 {x(p99)}, throughput {x(tput)} (targets {met}; failed {o['failed']} / {q['failed']})",
            ]
        )
    rows.append(["same answers (100 flights)", "–", "–", f"largest probability difference {check['largest']:.2g}"])
    done = {
        m: [t["to_first_answer_s"] for t in roll["trials"] if t["mode"] == m and t["to_first_answer_s"]]
        for m in ("poll", "reload")
    }
    poll, reload = (f"{median(v):.2f} s" if v else "none" for v in done.values())
    rows.append(
        [
            "rollout: alias set to the first answer from the new version",
            f"{poll} median with the 2 s poll; {reload} with `POST /v1/admin/reload`; {roll['failed']} of"
            f" {roll['requests']} requests failed, the slowest {max(t['max_ms'] for t in roll['trials']):.0f} ms",
            f"`mlflow models serve` reads the alias only at start: a restart, {ready['mlflow']:.1f} s to ready",
            "–",
        ]
    )
    return {"rows": rows, "cells": {f"{s}x{w}": c for (s, w), c in cells.items()}, "rollout": roll, "ready_s": ready}


CASES = [
    Case(
        "batch",
        "Compute plane",
        "`batch_predictions` for a range of months through Dagster (`execute_in_process` with the partition-range"
        " tags) on a copy of a home with a champion",
        "`mlflow.pyfunc.load_model(champion)`, the same months' already-joined training-set rows, `predict` per month",
        "rows/s per step / work and per process; the step split into retrieval and scoring + writing",
        "ours ÷ peer rows/s, scoring alone too; largest probability difference on the flights both scored",
        measure_batch,
        full={"home": None, "months": ["2013-11", "2013-12"]},
        quick={"months": ["2013-12"]},
        libraries=("feast", "duckdb", "mlflow", "lightgbm"),
        minutes="1.5",
    ),
    Case(
        "serving",
        "Compute plane",
        "the gateway (`openclaw serve`): one `POST /v1/predict`, Feast online features, scored in-process",
        "`feast serve` then `mlflow models serve`, same stores and model, glue included; a restart for a new champion",
        "p50 / p99 ms and requests/s, 1 and 100 flights per request, 1 and 8 in flight; rollout seconds",
        "ours ÷ peer; targets p99 at most 0.5x (against the sum of the peer's calls' p99), throughput at least 2x",
        measure_serving,
        full={"home": None, "duration_s": 12.0, "rollout_trials": 3},
        quick={"duration_s": 2.0, "rollout_trials": 1},
        libraries=("feast", "mlflow", "fastapi", "uvicorn", "gunicorn", "aiohttp"),
        minutes="3",
    ),
]
