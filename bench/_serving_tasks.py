"""Serving work run inside child processes: ``python -m bench._serving_tasks <task> <spec> <report>``.

``load``: the load generator. One asyncio client (aiohttp, keep-alive, ``concurrency``
requests in flight, closed loop) sends the request mix to one side: ours (``POST
/v1/predict`` on the gateway) or the peer (``POST /get-online-features`` on ``feast serve``,
then ``POST /invocations`` on ``mlflow models serve`` with the model's input columns, one
after the other, as one peer request). Warm-up requests first, then requests for
``duration_s`` (or ``max_requests``); each latency is taken around the whole request, peer
glue included.

``check``: one request of ``rows`` flights to both sides; the probabilities and the
out-of-range flags must agree.

``rollout``: against a running gateway, register new versions of the champion's model (the
same source and run), move the ``champion`` alias to each, and time from the alias being set
to the first ``/v1/predict`` answer naming the new version, while a client sends one-row
requests back to back. Passive trials wait for the gateway's alias poll; forced ones call
``POST /v1/admin/reload`` right after setting the alias.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench._harness import task_main

Report = dict[str, Any]
UNKNOWN_TAIL = "UNKNOWN"
"""What the gateway sends Feast for a flight without a tail number; the peer glue does the same."""


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on an ascending list."""
    if not sorted_values:
        return float("nan")
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def latency_stats(seconds: list[float]) -> dict[str, Any]:
    ordered = sorted(seconds)
    return {
        "requests": len(ordered),
        "p50_ms": _percentile(ordered, 0.50) * 1000,
        "p90_ms": _percentile(ordered, 0.90) * 1000,
        "p99_ms": _percentile(ordered, 0.99) * 1000,
        "mean_ms": (sum(ordered) / len(ordered) * 1000) if ordered else float("nan"),
        "max_ms": ordered[-1] * 1000 if ordered else float("nan"),
    }


# ---------------------------------------------------------------- the two sides, as a client sees them


class Ours:
    """One request = ``POST /v1/predict`` with the flights as they are."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.url = spec["ours_url"] + "/v1/predict"
        self.headers = {"Authorization": f"Bearer {spec['token']}", "Content-Type": "application/json"}

    async def __call__(self, session, flights: list[dict[str, Any]], timings: dict[str, list[float]]) -> list[Any]:
        body = json.dumps({"flights": flights})
        async with session.post(self.url, data=body, headers=self.headers) as response:
            payload = await response.read()
            if response.status != 200:
                raise RuntimeError(f"gateway answered {response.status}: {payload[:200]!r}")
        answer = json.loads(payload)
        return [(p["probability"], ",".join(p["out_of_range"])) for p in answer["predictions"]]


class Peer:
    """One request = Feast's feature server for the entity rows, then MLflow's scoring server for the model inputs.

    The glue between the two is what a caller of the pair has to write: the entity keys
    (route = origin-dest, a missing tail number as ``UNKNOWN``) for Feast, then the model's
    input columns for MLflow: day_of_week, hour and minute of the scheduled departure (New
    York time, as the gateway's contract reads a time without an offset), distance,
    carrier, origin, route, then the feature values by name.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.feast_url = spec["feast_url"] + "/get-online-features"
        self.mlflow_url = spec["mlflow_url"] + "/invocations"
        self.service = spec["feature_service"]
        self.columns: list[str] = spec["model_columns"]
        self.looked_up = self.columns[7:]
        self.headers = {"Content-Type": "application/json"}

    async def __call__(self, session, flights: list[dict[str, Any]], timings: dict[str, list[float]]) -> list[Any]:
        started = time.perf_counter()
        routes = [f"{f['origin']}-{f['dest']}" for f in flights]
        entities = {
            "carrier": [f["carrier"] for f in flights],
            "origin": [f["origin"] for f in flights],
            "route": routes,
            "tailnum": [f["tailnum"] or UNKNOWN_TAIL for f in flights],
        }
        body = json.dumps({"feature_service": self.service, "entities": entities})
        async with session.post(self.feast_url, data=body, headers=self.headers) as response:
            payload = await response.read()
            if response.status != 200:
                raise RuntimeError(f"feast answered {response.status}: {payload[:200]!r}")
        read = json.loads(payload)
        names = read["metadata"]["feature_names"]
        values = {name: result["values"] for name, result in zip(names, read["results"], strict=True)}
        between = time.perf_counter()
        rows = []
        for i, flight in enumerate(flights):
            departure = datetime.fromisoformat(flight["scheduled_departure"])
            rows.append(
                [
                    departure.weekday(),
                    departure.hour,
                    departure.minute,
                    flight["distance"],
                    flight["carrier"],
                    flight["origin"],
                    routes[i],
                    *(values[name][i] for name in self.looked_up),
                ]
            )
        body = json.dumps({"dataframe_split": {"columns": self.columns, "data": rows}})
        scoring = time.perf_counter()
        async with session.post(self.mlflow_url, data=body, headers=self.headers) as response:
            payload = await response.read()
            if response.status != 200:
                raise RuntimeError(f"mlflow answered {response.status}: {payload[:300]!r}")
        done = time.perf_counter()
        timings["feast"].append(between - started)
        timings["mlflow"].append(done - scoring)
        answer = json.loads(payload)["predictions"]
        return [(p["probability"], p["out_of_range"]) for p in answer]


SIDES: dict[str, Callable[[dict[str, Any]], Any]] = {"ours": Ours, "peer": Peer}


# ---------------------------------------------------------------- load


async def _drive(spec: dict[str, Any], flights: list[dict[str, Any]]) -> Report:
    import aiohttp

    side = SIDES[spec["side"]](spec)
    size, concurrency = int(spec["size"]), int(spec["concurrency"])
    warmup, duration, limit = int(spec["warmup"]), float(spec["duration_s"]), int(spec["max_requests"])
    count = len(flights)

    def chunk(index: int) -> list[dict[str, Any]]:
        start = (spec["offset"] + index * size) % count
        picked = flights[start : start + size]
        return picked if len(picked) == size else picked + flights[: size - len(picked)]

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        issued = 0
        errors: list[str] = []
        scratch: dict[str, list[float]] = {"feast": [], "mlflow": []}

        async def warm() -> None:
            nonlocal issued
            while issued < warmup:
                index, issued = issued, issued + 1
                try:
                    await side(session, chunk(index), scratch)
                except Exception as exc:  # reported, not raised: an error is a figure too
                    errors.append(f"warm-up: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(warm() for _ in range(concurrency)))
        latencies: list[float] = []
        timings: dict[str, list[float]] = {"feast": [], "mlflow": []}
        failed = 0
        started = time.perf_counter()
        deadline = started + duration
        measured = 0

        async def run() -> None:
            nonlocal issued, measured, failed
            while measured < limit and time.perf_counter() < deadline:
                index, issued, measured = issued, issued + 1, measured + 1
                sent = time.perf_counter()
                try:
                    await side(session, chunk(index), timings)
                except Exception as exc:
                    failed += 1
                    if len(errors) < 5:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - sent)

        await asyncio.gather(*(run() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    report = {
        "side": spec["side"],
        "size": size,
        "concurrency": concurrency,
        "warmup": warmup,
        "elapsed_s": elapsed,
        "completed": len(latencies),
        "failed": failed,
        "errors": errors,
        "requests_per_s": len(latencies) / elapsed if elapsed else 0.0,
        "rows_per_s": len(latencies) * size / elapsed if elapsed else 0.0,
        "latency": latency_stats(latencies),
    }
    if spec["side"] == "peer":
        report["calls"] = {name: latency_stats(values) for name, values in timings.items()}
    return report


def load(spec: dict[str, Any]) -> Report:
    started = time.perf_counter()
    import aiohttp  # noqa: F401  (timed as the import, not the work)

    flights = json.loads(Path(spec["mix"]).read_text())
    import_s = time.perf_counter() - started
    report = asyncio.run(_drive(spec, flights))
    report["import_s"] = import_s
    return report


# ---------------------------------------------------------------- check


def check(spec: dict[str, Any]) -> Report:
    """The same flights to both sides: the probabilities and out-of-range flags must agree."""

    async def both() -> tuple[list[Any], list[Any]]:
        import aiohttp

        flights = json.loads(Path(spec["mix"]).read_text())[: int(spec["rows"])]
        scratch: dict[str, list[float]] = {"feast": [], "mlflow": []}
        async with aiohttp.ClientSession() as session:
            ours = await Ours(spec)(session, flights, scratch)
            peer = await Peer(spec)(session, flights, scratch)
        return ours, peer

    ours, peer = asyncio.run(both())
    differences = [abs(a[0] - b[0]) for a, b in zip(ours, peer, strict=True)]
    return {
        "rows": len(ours),
        "max_abs_probability_difference": max(differences),
        "same_out_of_range": all(a[1] == b[1] for a, b in zip(ours, peer, strict=True)),
        "rows_out_of_range": sum(1 for a in ours if a[1]),
    }


# ---------------------------------------------------------------- rollout


class Prober(threading.Thread):
    """Back-to-back one-row predictions; every answer's receive time (monotonic) and model version."""

    def __init__(self, url: str, token: str, flight: dict[str, Any]) -> None:
        super().__init__(name="prober", daemon=True)
        self.url = url + "/v1/predict"
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.body = json.dumps({"flights": [flight]}).encode()
        self.answers: list[tuple[float, float, str | None]] = []  # (sent, received, version)
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def run(self) -> None:
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        host = parts.hostname or "127.0.0.1"
        connection = http.client.HTTPConnection(host, parts.port, timeout=30)
        while not self.halt.is_set():
            sent = time.monotonic()
            version = None
            try:
                connection.request("POST", parts.path, body=self.body, headers=self.headers)
                response = connection.getresponse()
                payload = response.read()
                if response.status == 200:
                    version = json.loads(payload)["predictions"][0]["model_version"]
            except (OSError, http.client.HTTPException):
                connection.close()
                connection = http.client.HTTPConnection(host, parts.port, timeout=30)
            with self.lock:
                self.answers.append((sent, time.monotonic(), version))
        connection.close()

    def first_answer(self, version: str, after: float, timeout_s: float) -> tuple[float, float] | None:
        """(sent, received) of the first answer naming ``version`` received after ``after``."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            with self.lock:
                fresh = self.answers[seen:]
                seen = len(self.answers)
            for sent, received, named in fresh:
                if received >= after and named == version:
                    return sent, received
            time.sleep(0.002)
        return None

    def latencies(self, start: float, end: float) -> list[float]:
        with self.lock:
            return [received - sent for sent, received, _ in self.answers if start <= sent <= end]


def rollout(spec: dict[str, Any]) -> Report:
    import urllib.request

    os.environ["MLFLOW_TRACKING_URI"] = spec["tracking_uri"]  # the registry resolves model sources through it
    started = time.perf_counter()
    from mlflow.tracking import MlflowClient

    import_s = time.perf_counter() - started
    client = MlflowClient(tracking_uri=spec["tracking_uri"], registry_uri=spec["tracking_uri"])
    name = spec["model_name"]
    base = client.get_model_version_by_alias(name, "champion")
    if base.source is None:
        raise RuntimeError(f"{name} v{base.version} has no source to register again")
    prober = Prober(spec["url"], spec["predict_token"], spec["flight"])
    prober.start()
    rng = random.Random(spec.get("seed", 11))
    time.sleep(1.0)
    baseline_end = time.monotonic()
    baseline = prober.latencies(0.0, baseline_end)
    trials = []
    modes = ["poll", "reload"] * int(spec["trials"])
    try:
        for mode in modes:
            created = client.create_model_version(name, source=base.source, run_id=base.run_id, description="bench")
            version = str(created.version)
            time.sleep(rng.uniform(0.0, spec["poll_seconds"]))  # a random phase against the gateway's poll
            set_at = time.monotonic()
            client.set_registered_model_alias(name, "champion", version)
            alias_set = time.monotonic()
            reload_s = None
            if mode == "reload":
                request = urllib.request.Request(
                    spec["url"] + "/v1/admin/reload",
                    method="POST",
                    headers={"Authorization": f"Bearer {spec['admin_token']}"},
                )
                with urllib.request.urlopen(request, timeout=60) as answer:
                    answer.read()
                reload_s = time.monotonic() - alias_set
            found = prober.first_answer(version, set_at, spec["timeout_s"])
            trial: dict[str, Any] = {
                "mode": mode,
                "version": version,
                "set_alias_call_s": alias_set - set_at,
                "reload_call_s": reload_s,
            }
            if found is None:
                trial["error"] = f"no answer named v{version} within {spec['timeout_s']}s"
            else:
                sent, received = found
                window = prober.latencies(set_at, received)
                trial.update(
                    {
                        "to_first_answer_s": received - alias_set,
                        "first_answer_request_sent_after_s": sent - alias_set,
                        "requests_during_switch": len(window),
                        "max_latency_during_switch_ms": max(window) * 1000 if window else None,
                    }
                )
            trials.append(trial)
            time.sleep(0.5)
    finally:
        prober.halt.set()
        prober.join(timeout=35)
    answers = prober.answers
    failed = sum(1 for _, _, v in answers if v is None)
    return {
        "import_s": import_s,
        "base_version": str(base.version),
        "trials": trials,
        "probe_requests": len(answers),
        "probe_failures": failed,
        "baseline_latency": latency_stats(baseline),
    }


TASKS: dict[str, Callable[[dict[str, Any]], Report]] = {"load": load, "check": check, "rollout": rollout}


if __name__ == "__main__":
    sys.exit(task_main("bench._serving_tasks", TASKS, sys.argv[1:]))
