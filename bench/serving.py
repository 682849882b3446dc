"""Serving: the gateway against ``feast serve`` plus ``mlflow models serve``, and how fast a new champion is served.

Ours:   the gateway (``openclaw serve``): one ``POST /v1/predict`` per request; it reads the
        features from the Feast online store (``get_online_features`` with the
        ``flight_delay_v1`` service) and scores them with the champion, in one process.
Peer:   Feast's feature server (``feast serve``) on the same registry and online store, and
        MLflow's scoring server (``mlflow models serve -m models:/flight_delay@champion
        --env-manager local``) on the same model. One peer request is a ``POST
        /get-online-features`` for the entity rows, then a ``POST /invocations`` with the
        model's input columns, glue included.

The same load generator (a child process: asyncio + aiohttp, keep-alive, a closed loop with
1 or 8 requests in flight) sends both sides the same request mix: real flights of
2013-12 from the home's validated table, shuffled with a fixed seed, 1 or 100 per request.
Each figure is p50 / p99 latency and requests/s over ``--duration`` seconds after warm-up
requests; the two sides are measured one after the other for each setting (which goes
first alternates), so the machine's load hits both alike. A check request first makes both
sides score the same 100 flights: the probabilities must agree.

Rollout: with the gateway running, new versions of the champion's model (same source and
run) are registered and the ``champion`` alias is moved to each, timing alias set -> first
``/v1/predict`` answer naming the new version while one-row requests go back to back; half
the trials wait for the gateway's alias poll (every 2 s), half force it with ``POST
/v1/admin/reload``. ``mlflow models serve`` resolves the alias once, at start: its figure is
a restart, spawn to ready.

Everything runs on a scratch OPENCLAW_HOME holding copies of the source home's Feast
registry, online store and MLflow database (``--source``, default ``./.openclaw``, which must
have run ``openclaw run``; it is only read: the model's artifacts stay where its registry
points). Every server is started in its own process group and stopped (SIGTERM, then
SIGKILL after a deadline) before the benchmark returns.

Run alone: ``python -m bench.serving [--source HOME] [--duration S] [--rollout-trials N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._harness import (
    PROJECT_ROOT,
    PYTHON,
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

NAME = "serving"
TASKS = "bench._serving_tasks"
DEFAULT_SOURCE = PROJECT_ROOT / ".openclaw"
MODEL_NAME = "flight_delay"
FEATURE_SERVICE = "flight_delay_v1"
MIX_MONTH = "2013-12"
MIX_SEED = 13
SIZES = (1, 100)
CONCURRENCY = (1, 8)
DURATION_S = 12.0
WARMUP = 20
MAX_REQUESTS = 20_000
ROLLOUT_TRIALS = 3
POLL_SECONDS = 2.0
"""The gateway's alias poll interval: its default, also set explicitly (``OPENCLAW_GATEWAY_POLL_SECONDS``)."""
READY_TIMEOUT_S = 240.0
STOP_GRACE_S = 15.0
TARGETS = {"p99_at_most": 0.5, "throughput_at_least": 2.0}
"""The issue's targets: our p99 at most half the peer's (the sum of its two calls' p99), our req/s at least twice."""
PEER = (
    "feast serve (feature server, 1 gunicorn worker) + mlflow models serve (--env-manager local, 1 uvicorn worker):"
    " /get-online-features for the entity rows, then /invocations with the model's input columns"
)
MIX_TABLE = f"warehouse/validated/flights/{MIX_MONTH}.parquet"
NEEDED = ("feast/registry.db", "feast/online.db", "mlflow/mlflow.db", MIX_TABLE)
BIN = Path(PYTHON).parent


def _task(task: str, spec: dict[str, Any], timeout_s: float = 300.0) -> Child:
    return run_task(task, spec, timeout_s=timeout_s, module=TASKS)


# ---------------------------------------------------------------- the scratch home and the request mix


def missing_prerequisites(source: Path) -> str | None:
    """Why ``source`` cannot be served from (no finished pipeline), or None."""
    absent = [name for name in NEEDED if not (source / name).exists()]
    if absent:
        return f"{source} has no {', '.join(absent)}: run `openclaw seed` and `openclaw run` there first"
    return None


@contextmanager
def scratch_home(source: Path) -> Iterator[Path]:
    """An OPENCLAW_HOME with copies of the source's Feast registry and online store and its MLflow database."""
    import yaml

    from openclaw_assets.features.store import feature_store_config

    with tempfile.TemporaryDirectory(prefix="openclaw-bench-serving-") as scratch:
        home = Path(scratch) / "home"
        (home / "feast").mkdir(parents=True)
        (home / "mlflow").mkdir()
        for name in ("feast/registry.db", "feast/online.db", "mlflow/mlflow.db"):
            shutil.copyfile(source / name, home / name)
        config = feature_store_config(home, "embedded", registry_url="unused", redis_url="unused")
        (home / "feast" / "feature_store.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
        yield home


def request_mix(source: Path, target: Path) -> dict[str, Any]:
    """Every flight of ``MIX_MONTH`` as a gateway request row, shuffled with ``MIX_SEED``; written to ``target``."""
    import pandas as pd

    columns = ["flight_id", "carrier", "origin", "dest", "tailnum", "time_hour", "minute", "distance"]
    frame = pd.read_parquet(source / MIX_TABLE, columns=columns)
    local = frame["time_hour"].dt.tz_convert("America/New_York")
    flights = []
    for row, hour in zip(frame.itertuples(index=False), local, strict=True):
        departure = hour.replace(minute=int(row.minute), tzinfo=None)
        flights.append(
            {
                "flight_id": str(row.flight_id),
                "carrier": str(row.carrier),
                "origin": str(row.origin),
                "dest": str(row.dest),
                "tailnum": None if pd.isna(row.tailnum) else str(row.tailnum),
                "scheduled_departure": departure.isoformat(),
                "distance": float(row.distance),
            }
        )
    random.Random(MIX_SEED).shuffle(flights)
    target.write_text(json.dumps(flights))
    return {
        "month": MIX_MONTH,
        "flights": len(flights),
        "seed": MIX_SEED,
        "without_tailnum": sum(1 for f in flights if f["tailnum"] is None),
    }


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


@dataclass
class Server:
    """One server started in its own process group, with its output in ``log``."""

    name: str
    argv: list[str]
    env: dict[str, str]
    url: str
    ready_path: str
    log: Path
    process: subprocess.Popen | None = None
    ready_s: float | None = None
    peak_rss_mib: float | None = None
    notes: list[str] = field(default_factory=list)

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        started = time.perf_counter()
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = started + timeout_s
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.name} exited with code {self.process.returncode}:\n{self.tail()}")
            if _get(self.url + self.ready_path) == 200:
                self.ready_s = time.perf_counter() - started
                return
            time.sleep(0.1)
        raise BenchError(f"{self.name} was not ready after {timeout_s:.0f}s:\n{self.tail()}")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    def group_peak_rss_mib(self) -> float | None:
        """Sum of the peak resident set (VmHWM) of every live process in the server's process group."""
        if self.process is None or self.process.poll() is not None or not Path("/proc").is_dir():
            return None
        total_kib = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                pgrp = int(stat[stat.rindex(")") + 2 :].split()[2])
                if pgrp != self.process.pid:
                    continue
                for line in (entry / "status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        total_kib += int(line.split()[1])
            except (OSError, ValueError, IndexError):
                continue
        return total_kib / 1024

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace_s`` (workers may ignore SIGTERM), reap the leader."""
        if self.process is None:
            return
        pid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.notes.append(f"still running {grace_s:.0f}s after SIGTERM: SIGKILL")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)  # whatever of the group is left (workers, a uvicorn under bash)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)


def servers(home: Path, logs: Path, tokens: dict[str, str]) -> dict[str, Server]:
    """The gateway, the Feast feature server and the MLflow scoring server for ``home`` (not started)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "MLFLOW_", "UVICORN_"))}
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"  # mlflow starts `uvicorn` by name
    ours_port, feast_port, mlflow_port = free_port(), free_port(), free_port()
    ours_env = {
        **base,
        "OPENCLAW_HOME": str(home),
        "OPENCLAW_PROFILE": "embedded",
        "OPENCLAW_GATEWAY_PREDICT_TOKEN": tokens["predict"],
        "OPENCLAW_GATEWAY_ADMIN_TOKEN": tokens["admin"],
        "OPENCLAW_GATEWAY_POLL_SECONDS": f"{POLL_SECONDS:g}",
    }
    runtime_dir = logs / "xdg"  # gunicorn's control socket goes here, not into $HOME/.gunicorn
    runtime_dir.mkdir(mode=0o700, exist_ok=True)
    feast_env = {**base, "XDG_RUNTIME_DIR": str(runtime_dir), "TQDM_DISABLE": "1"}
    mlflow_env = {**base, "MLFLOW_TRACKING_URI": tracking_uri(home), "UVICORN_ACCESS_LOG": "false"}
    ours = [
        PYTHON, "-m", "openclaw_assets.cli", "--home", str(home), "serve",
        "--host", "127.0.0.1", "--port", str(ours_port), "--endpoint-file", str(logs / "endpoint.json"),
    ]  # fmt: skip
    # --max-requests 0: gunicorn would otherwise replace the worker every ~1000 requests, mid-measurement
    feast = [
        str(BIN / "feast"), "-c", str(home / "feast"), "serve",
        "-h", "127.0.0.1", "-p", str(feast_port), "--no-access-log", "--max-requests", "0",
    ]  # fmt: skip
    mlflow = [
        str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{MODEL_NAME}@champion",
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(mlflow_port),
    ]  # fmt: skip
    return {
        "ours": Server("gateway", ours, ours_env, f"http://127.0.0.1:{ours_port}", "/readyz", logs / "gateway.log"),
        "feast": Server(
            "feast serve", feast, feast_env, f"http://127.0.0.1:{feast_port}", "/health", logs / "feast.log"
        ),
        "mlflow": Server(
            "mlflow models serve", mlflow, mlflow_env, f"http://127.0.0.1:{mlflow_port}", "/ping", logs / "mlflow.log"
        ),
    }


def tracking_uri(home: Path) -> str:
    return f"sqlite:///{home / 'mlflow' / 'mlflow.db'}"


@contextmanager
def running(started: dict[str, Server]) -> Iterator[dict[str, Server]]:
    """Start each server in turn (so that its time to ready is its own); stop them all however this ends."""

    def interrupted(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        for server in started.values():
            print(f"  starting {server.name} ...", flush=True)
            server.start()
            print(f"  {server.name} ready in {server.ready_s:.1f}s at {server.url}", flush=True)
        yield started
    finally:
        for server in started.values():
            server.stop()
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- measuring


def measure_load(
    urls: dict[str, str], tokens: dict[str, str], mix: Path, columns: list[str], duration_s: float
) -> dict[str, Any]:
    """Every (rows per request, requests in flight) setting, ours and the peer back to back."""
    spec_base = {
        "mix": str(mix),
        "ours_url": urls["ours"],
        "feast_url": urls["feast"],
        "mlflow_url": urls["mlflow"],
        "token": tokens["predict"],
        "feature_service": FEATURE_SERVICE,
        "model_columns": columns,
        "warmup": WARMUP,
        "duration_s": duration_s,
        "max_requests": MAX_REQUESTS,
    }
    results: dict[str, Any] = {}
    setting = 0
    for size in SIZES:
        for concurrency in CONCURRENCY:
            order = ("ours", "peer") if setting % 2 == 0 else ("peer", "ours")
            setting += 1
            cell: dict[str, Any] = {}
            for side in order:
                print(f"  {side}: {size} row(s) per request, {concurrency} in flight, {duration_s:g}s ...", flush=True)
                spec = {**spec_base, "side": side, "size": size, "concurrency": concurrency, "offset": 0}
                report = _task("load", spec, timeout_s=duration_s + 180.0).report
                cell[side] = report
                stats = report["latency"]
                print(
                    f"    p50 {stats['p50_ms']:.2f} ms, p99 {stats['p99_ms']:.2f} ms, "
                    f"{report['requests_per_s']:.1f} req/s, {report['failed']} failed",
                    flush=True,
                )
            cell["order"] = list(order)
            cell.update(compare(cell["ours"], cell["peer"]))
            results[f"{size}x{concurrency}"] = cell
    return results


def compare(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """Ratios ours/peer and the issue's two targets for one setting."""
    o, p = ours["latency"], peer["latency"]
    calls = peer.get("calls", {})
    summed = calls["feast"]["p99_ms"] + calls["mlflow"]["p99_ms"] if calls else None
    r: dict[str, float | None] = {
        "p50_ours_vs_peer": ratio(o["p50_ms"], p["p50_ms"]),
        "p99_ours_vs_peer": ratio(o["p99_ms"], p["p99_ms"]),
        "p99_ours_vs_peer_sum_of_calls": ratio(o["p99_ms"], summed) if summed else None,
        "requests_per_s_ours_vs_peer": ratio(ours["requests_per_s"], peer["requests_per_s"]),
    }

    def at_most(value: float | None, bound: float) -> bool:
        return value is not None and value <= bound

    def at_least(value: float | None, bound: float) -> bool:
        return value is not None and value >= bound

    out: dict[str, Any] = {"peer_p99_sum_of_calls_ms": summed, "ratio": r}
    out["targets"] = {
        "p99_met": at_most(r["p99_ours_vs_peer_sum_of_calls"], TARGETS["p99_at_most"]),
        "p99_met_against_end_to_end": at_most(r["p99_ours_vs_peer"], TARGETS["p99_at_most"]),
        "throughput_met": at_least(r["requests_per_s_ours_vs_peer"], TARGETS["throughput_at_least"]),
    }
    return out


def measure_rollout(url: str, tokens: dict[str, str], home: Path, mix: Path, trials: int) -> dict[str, Any]:
    flight = json.loads(mix.read_text())[0]
    spec = {
        "url": url,
        "predict_token": tokens["predict"],
        "admin_token": tokens["admin"],
        "tracking_uri": tracking_uri(home),
        "model_name": MODEL_NAME,
        "flight": flight,
        "trials": trials,
        "poll_seconds": POLL_SECONDS,
        "timeout_s": 60.0,
    }
    print(f"  {trials} trial(s) each: alias poll, and POST /v1/admin/reload ...", flush=True)
    report = _task("rollout", spec, timeout_s=120.0 + trials * 140.0).report
    by_mode: dict[str, Any] = {}
    for mode in ("poll", "reload"):
        done = [t["to_first_answer_s"] for t in report["trials"] if t["mode"] == mode and "to_first_answer_s" in t]
        by_mode[mode] = {
            "trials": len([t for t in report["trials"] if t["mode"] == mode]),
            "answered": len(done),
            "median_s": median(done) if done else None,
            "min_s": min(done) if done else None,
            "max_s": max(done) if done else None,
        }
    report["summary"] = by_mode
    return report


# ---------------------------------------------------------------- reporting

LABEL = {1: "1 row", 100: "100 rows"}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_load(load: dict[str, Any]) -> str:
    rows = []
    for key, cell in load.items():
        size, concurrency = (int(x) for x in key.split("x"))
        o, p, r = cell["ours"], cell["peer"], cell["ratio"]
        rows.append(
            [
                f"{LABEL[size]}, {concurrency} in flight",
                _ms(o["latency"]["p50_ms"]),
                _ms(o["latency"]["p99_ms"]),
                f"{o['requests_per_s']:.1f}",
                _ms(p["latency"]["p50_ms"]),
                _ms(p["latency"]["p99_ms"]),
                _ms(cell["peer_p99_sum_of_calls_ms"]),
                f"{p['requests_per_s']:.1f}",
                fmt_ratio(r["p99_ours_vs_peer_sum_of_calls"]),
                fmt_ratio(r["requests_per_s_ours_vs_peer"]),
                f"{'met' if cell['targets']['p99_met'] else 'MISSED'} / "
                f"{'met' if cell['targets']['throughput_met'] else 'MISSED'}",
            ]
        )
    headers = [
        "requests",
        "ours p50",
        "ours p99",
        "ours req/s",
        "peer p50",
        "peer p99",
        "peer p99 sum",
        "peer req/s",
        "p99 ours/peer",
        "req/s ours/peer",
        "targets p99 / req/s",
    ]
    lines = [format_table(headers, rows)]
    lines.append(
        "ms; peer p99 = the whole peer request (both calls and the glue); peer p99 sum = p99 of the Feast call plus"
        " p99 of the MLflow call; p99 ours/peer is against that sum. Targets: our p99 <= 0.5x theirs, our req/s >= 2x."
    )
    end_to_end = ", ".join(f"{key} {fmt_ratio(cell['ratio']['p99_ours_vs_peer'])}" for key, cell in load.items())
    lines.append(f"p99 ours/peer against the whole peer request (rows x in flight): {end_to_end}")
    failures = {f"{key} {side}": cell[side]["failed"] for key, cell in load.items() for side in ("ours", "peer")}
    failed = {k: v for k, v in failures.items() if v}
    if failed:
        lines.append(f"failed requests: {failed}")
    return "\n".join(lines)


def render_rollout(rollout: dict[str, Any], mlflow_ready_s: float | None) -> str:
    rows = []
    for trial in rollout["trials"]:
        rows.append(
            [
                f"v{trial['version']} via {'alias poll' if trial['mode'] == 'poll' else 'POST /v1/admin/reload'}",
                f"{trial['to_first_answer_s']:.3f}" if "to_first_answer_s" in trial else trial.get("error", "-"),
                f"{trial['reload_call_s']:.3f}" if trial.get("reload_call_s") is not None else "-",
                _ms(trial.get("max_latency_during_switch_ms")),
            ]
        )
    table = format_table(["new champion", "alias set -> first answer s", "reload call s", "max request ms"], rows)
    s = rollout["summary"]
    base = rollout["baseline_latency"]
    lines = [
        table,
        f"median alias set -> first answer: {_s(s['poll']['median_s'])} with the alias poll (every"
        f" {POLL_SECONDS:g}s), {_s(s['reload']['median_s'])} with POST /v1/admin/reload;"
        f" one-row requests before the switches: p50 {base['p50_ms']:.2f} ms, max {base['max_ms']:.2f} ms;"
        f" {rollout['probe_failures']} of {rollout['probe_requests']} probe requests failed",
    ]
    if mlflow_ready_s is not None:
        lines.append(
            f"peer: mlflow models serve resolves the alias at start only; a new champion means a restart,"
            f" spawn to ready {mlflow_ready_s:.1f}s"
        )
    return "\n".join(lines)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def figures(summary: dict[str, Any]) -> list[list[Any]]:
    """The headline rows: measure, ours, its value, peer, its value, ratio."""
    rows = []
    for key in (f"1x{CONCURRENCY[0]}", f"{SIZES[-1]}x{CONCURRENCY[-1]}"):
        cell = summary["load"].get(key)
        if cell is None:
            continue
        size, concurrency = key.split("x")
        rows.append(
            [
                f"serving p99 ms ({LABEL[int(size)]}, {concurrency} in flight)",
                "gateway",
                f"{cell['ours']['latency']['p99_ms']:.1f}",
                "feast + mlflow serve",
                f"{cell['peer_p99_sum_of_calls_ms']:.1f}",
                fmt_ratio(cell["ratio"]["p99_ours_vs_peer_sum_of_calls"]),
            ]
        )
        rows.append(
            [
                f"serving req/s ({LABEL[int(size)]}, {concurrency} in flight)",
                "gateway",
                f"{cell['ours']['requests_per_s']:.1f}",
                "feast + mlflow serve",
                f"{cell['peer']['requests_per_s']:.1f}",
                fmt_ratio(cell["ratio"]["requests_per_s_ours_vs_peer"]),
            ]
        )
    rollout = summary.get("rollout", {}).get("summary", {})
    if rollout.get("poll", {}).get("median_s") is not None:
        mlflow_ready = summary["servers"]["mlflow"]["ready_s"]
        rows.append(
            [
                "new champion served s",
                "alias poll",
                f"{rollout['poll']['median_s']:.2f}",
                "mlflow serve restart",
                f"{mlflow_ready:.1f}",
                fmt_ratio(ratio(rollout["poll"]["median_s"], mlflow_ready)),
            ]
        )
    return rows


def run(
    source: Path = DEFAULT_SOURCE,
    duration_s: float = DURATION_S,
    rollout_trials: int = ROLLOUT_TRIALS,
) -> dict[str, Any]:
    """Start the three servers on a scratch copy of ``source``, measure, stop them, print and write the result."""
    from openclaw_assets.models.training import FEATURES

    heading("serving: the gateway vs feast serve + mlflow models serve")
    source = source.resolve()
    reason = missing_prerequisites(source)
    if reason:
        raise BenchError(reason)
    started, load_before = time.perf_counter(), load_average()
    tokens = {"predict": secrets.token_urlsafe(24), "admin": secrets.token_urlsafe(24)}
    summary: dict[str, Any] = {"source_home": str(source), "peer": PEER}
    with scratch_home(source) as home:
        logs = home.parent / "logs"
        logs.mkdir()
        mix = home.parent / "mix.json"
        summary["mix"] = request_mix(source, mix)
        print(
            f"request mix: {summary['mix']['flights']:,} flights of {MIX_MONTH}, shuffled (seed {MIX_SEED});"
            f" scratch home {home}",
            flush=True,
        )
        started_servers = servers(home, logs, tokens)
        try:
            with running(started_servers) as live:
                urls = {name: server.url for name, server in live.items()}
                spec = {
                    "mix": str(mix),
                    "rows": 100,
                    "ours_url": urls["ours"],
                    "feast_url": urls["feast"],
                    "mlflow_url": urls["mlflow"],
                    "token": tokens["predict"],
                    "feature_service": FEATURE_SERVICE,
                    "model_columns": list(FEATURES),
                }
                summary["check"] = _task("check", spec).report
                c = summary["check"]
                print(
                    f"  check: {c['rows']} flights, largest probability difference ours vs peer"
                    f" {c['max_abs_probability_difference']:.3g}, out-of-range flags"
                    f" {'equal' if c['same_out_of_range'] else 'DIFFER'}",
                    flush=True,
                )
                summary["load"] = measure_load(urls, tokens, mix, list(FEATURES), duration_s)
                for server in live.values():
                    server.peak_rss_mib = server.group_peak_rss_mib()
                summary["rollout"] = measure_rollout(urls["ours"], tokens, home, mix, rollout_trials)
        finally:
            summary["servers"] = {
                name: {
                    "name": server.name,
                    "argv": server.argv,
                    "ready_s": server.ready_s,
                    "peak_rss_mib": server.peak_rss_mib,
                    "notes": server.notes,
                }
                for name, server in started_servers.items()
            }
    summary["serving_libraries"] = versions(
        ("feast", "mlflow", "fastapi", "uvicorn", "gunicorn", "lightgbm", "aiohttp", "uvloop", "httptools")
    )
    summary["settings"] = {
        "sizes": list(SIZES),
        "concurrency": list(CONCURRENCY),
        "duration_s": duration_s,
        "warmup": WARMUP,
        "targets": TARGETS,
        "rollout_trials": rollout_trials,
    }
    loads = summary["load"]
    summary["targets_met"] = {
        key: {"p99": cell["targets"]["p99_met"], "throughput": cell["targets"]["throughput_met"]}
        for key, cell in loads.items()
    }
    heading("serving: figures")
    print(render_load(loads))
    print(render_rollout(summary["rollout"], summary["servers"]["mlflow"]["ready_s"]))
    srv = summary["servers"]
    print(
        "servers, spawn to ready / peak RSS of the process group: "
        + "; ".join(
            f"{s['name']} {s['ready_s']:.1f}s / {s['peak_rss_mib']:.0f} MiB"
            for s in srv.values()
            if s["ready_s"] is not None and s["peak_rss_mib"] is not None
        )
    )
    return finish(NAME, summary, started, load_before)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=DEFAULT_SOURCE,
        help="an OPENCLAW_HOME where `openclaw run` finished; only read (default ./.openclaw)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=DURATION_S,
        help=f"measured seconds per side and setting (default {DURATION_S:g})",
    )
    parser.add_argument(
        "--rollout-trials",
        type=int,
        default=ROLLOUT_TRIALS,
        help=f"new champions per way of noticing it (alias poll, admin reload; default {ROLLOUT_TRIALS})",
    )
    args = parser.parse_args(argv)
    run(source=args.source, duration_s=max(1.0, args.duration), rollout_trials=max(1, args.rollout_trials))
    return 0


if __name__ == "__main__":
    sys.exit(main())
