"""Control plane case: the gateway's access decision by the ``gateway_request`` policy, against the plain role check
it replaced, in process and over HTTP."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.runner import BenchError, Case, run_task, x

ROUTE_ROLES = {
    ("POST", "/v1/predict"): "predict",
    ("GET", "/v1/admin/status"): "admin",
    ("POST", "/v1/admin/reload"): "admin",
}
"""What the gateway's routes needed before the policy (``state.need(role)``); open routes are not listed."""
MIX = [
    *[("predict", "POST", "/v1/predict")] * 6,
    ("admin", "POST", "/v1/predict"),
    ("admin", "GET", "/v1/admin/status"),
    ("predict", "GET", "/v1/admin/status"),
    (None, "POST", "/v1/predict"),
]
"""The calls decided, in turn: mostly predictions, a few admin calls and refusals."""
TARGET_P99_MS = 0.2


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "mean": statistics.fmean(ordered),
    }


def decisions_child(spec: dict[str, Any]) -> dict[str, Any]:
    """In process: ``decide("gateway_request", ...)`` and the plain check, alternating blocks of calls."""
    import threading

    from openclaw_assets.compute.gateway.auth import Tokens, allows
    from openclaw_assets.control.policy import Policies

    started = time.perf_counter()
    policies = Policies.load()
    load_ms = (time.perf_counter() - started) * 1e3
    inputs = [{"role": role, "method": method, "route": route, "model": None} for role, method, route in MIX]

    def ours(i: int) -> bool:
        return policies.decide("gateway_request", inputs[i % len(inputs)]).allowed

    def peer(i: int) -> bool:
        role, method, route = MIX[i % len(MIX)]
        return allows(role, ROUTE_ROLES[(method, route)])

    for i in range(len(MIX)):  # both sides must say the same of every call, or this measures nothing
        if ours(i) != peer(i):
            raise BenchError(f"the policy and the plain check disagree on {MIX[i]}")
    samples: dict[str, list[float]] = {"ours": [], "peer": []}
    block = 500
    for _ in range(200):  # warm-up
        ours(0), peer(0)
    clock = time.perf_counter_ns
    for start in range(0, spec["calls"], block):
        for side, function in (("ours", ours), ("peer", peer)):
            out = samples[side]
            for i in range(start, start + block):
                began = clock()
                function(i)
                out.append((clock() - began) / 1e3)
    # a thread's first decision builds that thread's engine
    first: list[float] = []

    def in_a_new_thread() -> None:
        began = time.perf_counter()
        ours(0)
        first.append((time.perf_counter() - began) * 1e3)

    thread = threading.Thread(target=in_a_new_thread)
    thread.start()
    thread.join()
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as home:
        tokens = Tokens.load(Path(home), environ={})
        admin = (Path(home) / "secrets" / "gateway-admin.token").read_text().strip()
        lookups = []
        for _ in range(2000):
            began = clock()
            tokens.role_of(f"Bearer {admin}")
            lookups.append((clock() - began) / 1e3)
    return {
        "ours_us": _quantiles(samples["ours"]),
        "peer_us": _quantiles(samples["peer"]),
        "token_lookup_us": _quantiles(lookups),
        "load_ms": load_ms,
        "first_in_thread_ms": first[0],
        "calls": len(samples["ours"]),
    }


class Forgetful(dict):
    """A decision memo that remembers nothing: the gateway then asks the policy on every request."""

    def __setitem__(self, key: Any, value: Any) -> None:
        return None


class StubRuntime:
    """Enough of ``runtime.Runtime`` for the admin status: no model, no feature store."""

    model_name = "flight_delay"
    pin = None
    snapshot = None
    store = None
    last_error = "no model in this benchmark"
    on_swap = None

    def open(self) -> None: ...

    def start_polling(self) -> None: ...

    def stop(self) -> None: ...


def _plain_authorize():
    """The check the gateway made before the policy, as a dependency: role lookup, then ``allows``."""
    from fastapi import Request

    from openclaw_assets.compute.gateway.auth import allows
    from openclaw_assets.compute.gateway.errors import ApiError

    async def authorize(self, request):
        role = self.settings.tokens.role_of(request.headers.get("authorization"))
        route = getattr(request.scope.get("route"), "path", request.url.path)
        needed = ROUTE_ROLES.get((request.method, route))
        if needed is None:
            return role
        if role is None:
            raise ApiError(401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
        if not allows(role, needed):
            raise ApiError(403, "forbidden", f"this endpoint needs the {needed} role")
        return role

    authorize.__annotations__["request"] = Request  # the class itself: FastAPI then passes the request
    return authorize


def http_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Over HTTP on loopback: ``GET /v1/admin/status`` from a gateway with the policy and one with the plain check."""
    import socket
    import tempfile
    import threading
    from pathlib import Path

    import httpx
    import uvicorn

    from openclaw_assets.compute.gateway.app import create_app
    from openclaw_assets.compute.gateway.auth import Tokens
    from openclaw_assets.compute.gateway.settings import GatewaySettings
    from openclaw_assets.compute.gateway.state import GatewayState
    from openclaw_assets.control.policy import load_policies

    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        settings = GatewaySettings(tokens=Tokens.load(home, environ={}), policies=load_policies())
        admin = {"Authorization": "Bearer " + (home / "secrets" / "gateway-admin.token").read_text().strip()}
        apps = {"ours": create_app(home, settings, runtime=StubRuntime())}
        apps["every"] = create_app(home, settings, runtime=StubRuntime())
        apps["every"].state.gateway.decided = Forgetful()
        policy_authorize = GatewayState.authorize
        GatewayState.authorize = _plain_authorize()  # type: ignore[method-assign]
        try:
            apps["peer"] = create_app(home, settings, runtime=StubRuntime())
        finally:
            GatewayState.authorize = policy_authorize  # type: ignore[method-assign]
        servers, threads, clients = {}, [], {}
        try:
            for side, app in apps.items():
                sock = socket.socket()
                sock.bind(("127.0.0.1", 0))
                config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
                servers[side] = server = uvicorn.Server(config)
                thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
                thread.start()
                threads.append(thread)
                deadline = time.monotonic() + 30
                while not server.started:
                    if time.monotonic() > deadline:
                        raise BenchError(f"the {side} gateway did not start")
                    time.sleep(0.01)
                clients[side] = httpx.Client(base_url=f"http://127.0.0.1:{sock.getsockname()[1]}", timeout=10)
            for side, client in clients.items():  # the same answers, or this measures nothing
                answer = client.get("/v1/admin/status", headers=admin)
                if answer.status_code != 200:
                    raise BenchError(f"the {side} gateway refused the admin token: {answer.text[:300]}")
                if client.get("/v1/admin/status").status_code != 401:
                    raise BenchError(f"the {side} gateway let a request without a token through")
            samples: dict[str, list[float]] = {side: [] for side in clients}
            for _ in range(50):
                for client in clients.values():
                    client.get("/v1/admin/status", headers=admin)
            block = 50
            for _ in range(0, spec["requests"], block):
                for side, client in clients.items():
                    for _ in range(block):
                        began = time.perf_counter()
                        answer = client.get("/v1/admin/status", headers=admin)
                        samples[side].append((time.perf_counter() - began) * 1e3)
                        if answer.status_code != 200:
                            raise BenchError(f"{side}: {answer.status_code} {answer.text[:200]}")
        finally:
            for client in clients.values():
                client.close()
            for server in servers.values():
                server.should_exit = True
            for thread in threads:
                thread.join(timeout=15)
    return {**{f"{side}_ms": _quantiles(found) for side, found in samples.items()}, "requests": spec["requests"]}


def measure_policy(calls: int = 20_000, requests: int = 2_000) -> dict[str, Any]:
    inproc = run_task("bench.control:decisions_child", {"calls": calls}).report
    http = run_task("bench.control:http_child", {"requests": requests}).report
    ours, peer, lookup = inproc["ours_us"], inproc["peer_us"], inproc["token_lookup_us"]
    met = "met" if ours["p99"] / 1e3 < TARGET_P99_MS else "missed"
    h_ours, h_every, h_peer = http["ours_ms"], http["every_ms"], http["peer_ms"]
    rows = [
        [
            f'`decide("gateway_request", ...)` in process, p50 / p99 ({inproc["calls"]:,} calls of a mix)',
            f"{ours['p50']:.1f} / {ours['p99']:.1f} µs",
            f"plain role check (`auth.allows`) {peer['p50']:.2f} / {peer['p99']:.2f} µs",
            f"p99 {x(ours['p99'] / peer['p99'], 0)}; target p99 under {TARGET_P99_MS} ms: {met}",
        ],
        [
            "token lookup (`role_of`: SHA-256, constant-time compares), p50 / p99, in both",
            f"{lookup['p50']:.1f} / {lookup['p99']:.1f} µs",
            "the same",
            "–",
        ],
        [
            f"`GET /v1/admin/status` over HTTP on loopback, p50 / p99 ({http['requests']:,} requests a side, in turns)",
            f"{h_ours['p50']:.2f} / {h_ours['p99']:.2f} ms (decisions remembered, as served)",
            f"plain check {h_peer['p50']:.2f} / {h_peer['p99']:.2f} ms",
            f"p50 {x(h_ours['p50'] / h_peer['p50'])} ({(h_ours['p50'] - h_peer['p50']) * 1e3:+.0f} µs), "
            f"p99 {x(h_ours['p99'] / h_peer['p99'])}",
        ],
        [
            "the same, the policy evaluated on every request",
            f"{h_every['p50']:.2f} / {h_every['p99']:.2f} ms",
            f"plain check {h_peer['p50']:.2f} / {h_peer['p99']:.2f} ms",
            f"p50 {x(h_every['p50'] / h_peer['p50'])} ({(h_every['p50'] - h_peer['p50']) * 1e3:+.0f} µs), "
            f"p99 {x(h_every['p99'] / h_peer['p99'])}",
        ],
        [
            "loading the bundle (6 files) / a thread's first decision (its own engine)",
            f"{inproc['load_ms']:.1f} ms / {inproc['first_in_thread_ms']:.1f} ms",
            "–",
            "–",
        ],
    ]
    header = ["measure", "ours (the policy)", "peer (the plain check)", "ours / peer"]
    markdown = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    markdown += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return {"rows": rows, "markdown": markdown, "in_process": inproc, "http": http}


CASES = [
    Case(
        "policy",
        "Control plane",
        'the gateway\'s access check: `Policies.decide("gateway_request", ...)` (Rego on regorus) in process, and'
        " `GET /v1/admin/status` through a gateway (no model) with it",
        "the plain Python role check the gateway made before (`auth.allows` on the route's role), in process and in"
        " the same gateway, alternating",
        "p50 / p99 µs per decision and ms per request; token lookup; bundle load and a new thread's first decision",
        "ours ÷ peer; target p99 under 0.2 ms per decision",
        measure_policy,
        full={"calls": 20_000, "requests": 2_000},
        quick={"calls": 2_000, "requests": 200},
        libraries=("gordon-to-regorus", "fastapi", "uvicorn"),
        minutes="0.5",
        block="policy",
    ),
]
