"""Observability plane case: what tracing costs, the gateway and a Dagster run with it on against the same with it off.

Both sides export nothing unless told to: ours gets ``OTEL_EXPORTER_OTLP_ENDPOINT`` pointing at a
local OTLP/HTTP sink (a process of its own that decodes every export and counts its spans), the
peer no ``OTEL_*`` variable at all, which is the embedded default.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import _project as p
from bench.compute import MLFLOW_LOCATIONS, _mix, _port, server
from bench.models import default_home, needs
from bench.runner import PYTHON, BenchError, Case, failures, median, ratio, run_task, x

OTEL_FREE = ("OTEL_", "TRACEPARENT", "OPENCLAW_")
"""Variables neither side inherits from the shell: each side's environment is exactly what it is given."""


# ---------------------------------------------------------------- the local OTLP sink (a child process)


def sink(spec: dict[str, Any]) -> dict[str, Any]:
    """Serve ``POST /v1/traces`` on ``spec["port"]``: decode each export, count its spans; ``GET /stats`` tells."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    counts = {"exports": 0, "spans": 0, "bytes": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            request = ExportTraceServiceRequest.FromString(body)
            counts["exports"] += 1
            counts["bytes"] += len(body)
            counts["spans"] += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
            self._send(200, b"")

        def do_GET(self) -> None:
            self._send(200, json.dumps(counts).encode())

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    ThreadingHTTPServer(("127.0.0.1", spec["port"]), Handler).serve_forever()
    return counts


def _stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/stats", timeout=10) as answer:
        return json.loads(answer.read())


@contextmanager
def otlp_sink(root: Path) -> Iterator[str]:
    port = _port()
    url = f"http://127.0.0.1:{port}"
    argv = [PYTHON, "-m", "bench", "child", "bench.tracing:sink", json.dumps({"port": port}), "/dev/null"]
    with server(argv, _base(), url + "/stats", root / "sink.log"):
        yield url


def _base() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(OTEL_FREE)}


# ---------------------------------------------------------------- homes


@contextmanager
def copied_home(source: Path) -> Iterator[Path]:
    """A copy of ``source`` with its Dagster instance (the evaluation staging reads), MLflow re-pointed at the copy."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-tracing-") as root:
        home = Path(root) / "home"
        shutil.copytree(source, home, symlinks=True, ignore=shutil.ignore_patterns("landing", "gateway", "logs"))
        old, new = f"{source}/mlflow/", f"{home}/mlflow/"
        with closing(sqlite3.connect(home / "mlflow" / "mlflow.db")) as db, db:
            for table, column in (location.split(".") for location in MLFLOW_LOCATIONS.split()):
                db.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (old, new))
        yield home


# ---------------------------------------------------------------- a Dagster run (a child per run)


def staging_run(spec: dict[str, Any]) -> dict[str, Any]:
    """``staging_validation`` alone through Dagster on the home's own instance: its wall times and replay figures."""
    import dagster as dg

    started = time.perf_counter()
    job = dg.define_asset_job("bench_tracing_staging", selection=["staging_validation"])
    job_def = dg.Definitions.merge(p.defs, dg.Definitions(jobs=[job])).resolve_job_def("bench_tracing_staging")
    run_config = {"ops": {"staging_validation": {"config": spec["staging"]}}}
    with dg.DagsterInstance.from_config(spec["dagster_home"]) as instance:
        ran = time.perf_counter()
        result = job_def.execute_in_process(instance=instance, run_config=run_config, raise_on_error=False)
        ended = time.perf_counter()
        if not result.success:
            raise BenchError(f"staging_validation failed: {failures(result)}")
        (step,) = instance.get_run_step_stats(result.run_id)
        metadata = result.asset_materializations_for_node("staging_validation")[0].metadata
    figures = {k: metadata[k].value for k in ("p50_ms", "p99_ms", "requests", "errors", "gateway_startup_s")}
    return {
        "run_s": ended - ran,
        "step_s": step.end_time - step.start_time,
        "process_work_s": ended - started,
        **figures,
    }


# ---------------------------------------------------------------- the measurement (the parent)


def _serve(home: Path, port: int, endpoint: Path) -> list[str]:
    argv = [PYTHON, "-m", p.CLI, "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)]
    return [*argv, "--endpoint-file", str(endpoint), "--parent-pid", str(os.getpid())]


def _gateway_env(home: Path, token: str, log_dir: Path, otel: dict[str, str]) -> dict[str, str]:
    return {
        **_base(),
        "OPENCLAW_HOME": str(home),
        "OPENCLAW_PROFILE": "embedded",
        "OPENCLAW_GATEWAY_PREDICT_TOKEN": token,
        "OPENCLAW_PREDICTION_LOG_DIR": str(log_dir),
        **otel,
    }


def measure_tracing(
    home: str | None = None, duration_s: float = 10.0, rounds: int = 2, runs: int = 3, staging_requests: int = 300
) -> dict[str, Any]:
    source = needs(Path(home or default_home()), "feast/registry.db", "feast/online.db", "mlflow/mlflow.db", "dagster")
    source = needs(source, "warehouse/validated/flights/2013-12.parquet")
    token = secrets.token_urlsafe(24)
    with copied_home(source) as home_, tempfile.TemporaryDirectory(prefix="openclaw-bench-tracing-run-") as scratch:
        root = Path(scratch)
        mix = root / "mix.json"
        _mix(source, mix)
        with otlp_sink(root) as sink_url:
            otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": sink_url, "OTEL_SERVICE_NAME": "openclaw-gateway-bench"}
            ports = {"on": _port(), "off": _port()}
            urls = {side: f"http://127.0.0.1:{port}" for side, port in ports.items()}
            argv = {side: _serve(home_, port, root / f"endpoint-{side}.json") for side, port in ports.items()}
            envs = {
                side: _gateway_env(home_, token, home_ / "gateway" / f"log-{side}", otel if side == "on" else {})
                for side in ports
            }
            with (
                server(argv["on"], envs["on"], urls["on"] + "/readyz", root / "gateway-on.log"),
                server(argv["off"], envs["off"], urls["off"] + "/readyz", root / "gateway-off.log"),
            ):
                for side, url in urls.items():  # each side is what it claims, or this measures nothing
                    probe = urllib.request.Request(
                        url + "/v1/predict",
                        json.dumps({"flights": json.loads(mix.read_text())[:1]}).encode(),
                        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                    )
                    with urllib.request.urlopen(probe, timeout=30) as answer:
                        if bool(answer.headers.get("traceparent")) != (side == "on"):
                            raise BenchError(f"the gateway with tracing {side} answered as if it were not")
                before = _stats(sink_url)
                cells: dict[str, dict[str, list[dict[str, Any]]]] = {}
                for round_ in range(rounds):
                    for index, (size, width) in enumerate([(1, 1), (1, 8), (100, 1)]):
                        order = ("on", "off") if (index + round_) % 2 == 0 else ("off", "on")
                        for side in order:
                            spec = {"ours": urls[side], "token": token, "mix": str(mix), "side": "ours"}
                            spec |= {"size": size, "concurrency": width, "duration_s": duration_s}
                            report = run_task("bench.compute:load", spec).report
                            cells.setdefault(f"{size}x{width}", {}).setdefault(side, []).append(report)
                time.sleep(6)  # the batch span processor's 5 s schedule: the last spans reach the sink
                exported = {k: v - before[k] for k, v in _stats(sink_url).items()}
                served = sum(r["latency"]["requests"] for c in cells.values() for r in c["on"])
                if exported["spans"] < 3 * served:
                    raise BenchError(f"the sink got {exported['spans']} spans for {served} traced requests")
            # a Dagster run: staging_validation starts its own gateway child, which inherits the side's OTEL_*
            staging = {"warmup_requests": 10, "single_requests": staging_requests, "batch_requests": 10}
            staging |= {"p99_budget_ms": 10_000.0}
            runs_by_side: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
            before_runs = _stats(sink_url)
            for index in range(2 * runs):
                side = ("on", "off")[(index + index // 2) % 2]  # on, off, off, on, on, off...
                env = {"OPENCLAW_HOME": str(home_), "OPENCLAW_PROFILE": "embedded", **(otel if side == "on" else {})}
                env["DAGSTER_HOME"] = str(home_ / "dagster")
                spec = {"dagster_home": str(home_ / "dagster"), "staging": staging}
                child = run_task("bench.tracing:staging_run", spec, _env_for_child(env), timeout_s=900)
                runs_by_side[side].append({**child.report, "wall_s": child.wall_s})
            time.sleep(6)
            run_spans = _stats(sink_url)["spans"] - before_runs["spans"]
    return _rows(cells, runs_by_side, exported, run_spans, staging)


def _env_for_child(env: dict[str, str]) -> dict[str, str]:
    """``run_task`` adds to this process's environment: blank what a side must not inherit."""
    blank = {k: "" for k in os.environ if k.startswith(OTEL_FREE)}
    return {**blank, **env}


def _rows(cells, runs_by_side, exported, run_spans, staging) -> dict[str, Any]:
    rows = []
    for cell, sides in cells.items():
        size, width = cell.split("x")
        on = {q: median([r["latency"][f"{q}_ms"] for r in sides["on"]]) for q in ("p50", "p99")}
        off = {q: median([r["latency"][f"{q}_ms"] for r in sides["off"]]) for q in ("p50", "p99")}
        rate = {s: median([r["requests_per_s"] for r in sides[s]]) for s in ("on", "off")}
        failed = sum(r["failed"] for s in sides.values() for r in s)
        rows.append(
            [
                f"gateway, {size} flight(s) per request, {width} in flight: p50 / p99, requests/s",
                f"tracing on (OTLP/HTTP to a local sink): {on['p50']:.2f} / {on['p99']:.2f} ms, {rate['on']:.0f}/s",
                f"tracing off (no OTEL_*): {off['p50']:.2f} / {off['p99']:.2f} ms, {rate['off']:.0f}/s",
                f"p50 {x(ratio(on['p50'], off['p50']))}, p99 {x(ratio(on['p99'], off['p99']))},"
                f" throughput {x(ratio(rate['on'], rate['off']))} (failed {failed})",
            ]
        )
    wall = {s: median([r["wall_s"] for r in runs_by_side[s]]) for s in ("on", "off")}
    run = {s: median([r["run_s"] for r in runs_by_side[s]]) for s in ("on", "off")}
    p99 = {s: median([r["p99_ms"] for r in runs_by_side[s]]) for s in ("on", "off")}
    requests = staging["warmup_requests"] + staging["single_requests"] + staging["batch_requests"]
    rows.append(
        [
            f"Dagster run: `staging_validation` ({requests} requests through its gateway child), process wall /"
            " run seconds",
            f"tracing on: {wall['on']:.1f} / {run['on']:.1f} s (replay p99 {p99['on']:.1f} ms; {run_spans:,} spans"
            f" exported by {len(runs_by_side['on'])} runs)",
            f"tracing off: {wall['off']:.1f} / {run['off']:.1f} s (replay p99 {p99['off']:.1f} ms)",
            f"wall {x(ratio(wall['on'], wall['off']))}, run {x(ratio(run['on'], run['off']))}",
        ]
    )
    notes = [
        f"Tracing overhead: the traced gateway exported {exported['spans']:,} spans in {exported['exports']:,} OTLP"
        f" requests ({exported['bytes'] / 1e6:.1f} MB) while it was measured: a server span, the online read and"
        " the predict per request, batched every 5 s (the SDK's default). Medians over rounds; sides alternate."
    ]
    return {"rows": rows, "notes": notes, "cells": cells, "runs": runs_by_side, "exported": exported}


CASES = [
    Case(
        "tracing",
        "Observability plane",
        "the gateway and a Dagster run (`staging_validation`) with tracing on: OTLP/HTTP to a local sink that decodes"
        " every export",
        "the same gateway, and the same run, with tracing off (no `OTEL_*`: the embedded default), in the same run"
        " and alternating",
        "p50 / p99 ms and requests/s (1 and 100 flights per request, 1 and 8 in flight); run wall seconds; spans"
        " exported",
        "on ÷ off",
        measure_tracing,
        full={"home": None, "duration_s": 10.0, "rounds": 2, "runs": 3, "staging_requests": 300},
        quick={"duration_s": 2.0, "rounds": 1, "runs": 1, "staging_requests": 50},
        libraries=("opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http", "fastapi", "uvicorn", "aiohttp"),
        minutes="6",
    ),
]
