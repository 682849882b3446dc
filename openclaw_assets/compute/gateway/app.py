"""The gateway's FastAPI application, assembled: settings, runtime, metrics, edge, error handlers, routers.

Requests are checked on the event loop; the feature read, scoring and the prediction log's
write run in worker threads (``routers.predict``), at most ``WORKERS`` at a time, so that
probes and small requests are not queued behind a large one. Scoring is CPU-bound under one
interpreter lock: scale out with more processes (pods behind a Service).
"""

from __future__ import annotations

import gc
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from openclaw_assets import __version__
from openclaw_assets.compute.gateway import errors
from openclaw_assets.compute.gateway.contract import MAX_BODY_BYTES
from openclaw_assets.compute.gateway.metrics import GatewayMetrics
from openclaw_assets.compute.gateway.middleware import Edge
from openclaw_assets.compute.gateway.predlog import PredictionLog, ledger_recorder, log_root
from openclaw_assets.compute.gateway.settings import GatewaySettings
from openclaw_assets.compute.gateway.state import GatewayState
from openclaw_assets.control.policy import load_policies
from openclaw_assets.observability import tracing
from openclaw_assets.observability.probes import PROBE_PATHS

log = logging.getLogger("openclaw.gateway")
PROBES = frozenset(PROBE_PATHS)
TELEMETRY: TelemetryConfig = {
    "auto_configure": False,  # the exporters are observability.tracing's, from OTEL_*: never a second set
    "operation_spans": False,  # one server span per request, not one more per dependency and serialization
    "exclude": lambda scope: scope.get("path") in PROBES,  # probes and scrapes are not traced
}
"""FastAPI's built-in OpenTelemetry: a server span per request (stable HTTP semantic conventions),
continuing the caller's trace from its ``traceparent``."""
WORKERS = 4
"""Threads that read features and score at once; more only contend for the interpreter lock."""


def create_app(home: Path, settings: GatewaySettings, runtime=None) -> FastAPI:
    """The gateway for an installation. ``runtime`` (models and features) opens at startup."""
    from openclaw_assets.compute.gateway.provenance import GatewayLedger
    from openclaw_assets.compute.gateway.routers import admin, audit, ops, predict
    from openclaw_assets.compute.gateway.runtime import Runtime, Window

    runtime = runtime or Runtime(home, pin=settings.pin, poll_seconds=settings.poll_seconds)
    state = GatewayState(
        runtime=runtime,
        settings=settings,
        metrics=GatewayMetrics(),
        window=Window(settings.window_seconds),
        log=PredictionLog(
            log_root(home, settings.log_dir),
            fsync=settings.log_fsync,
            on_close=ledger_recorder(home, lambda: runtime.model_name),
        ),
        policies=settings.policies or load_policies(),
    )
    state.ledger = GatewayLedger(home, on_unrecorded=state.metrics.unrecorded.inc)
    runtime.on_swap = state.metrics.on_swap

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        import anyio

        state.limiter = anyio.CapacityLimiter(WORKERS)
        open_runtime(runtime)
        # What is loaded by now (libraries, registry, model) lives as long as the process:
        # half a million objects that every full collection would walk, pausing all
        # requests for hundreds of milliseconds. Frozen, the collector skips them.
        gc.collect()
        gc.freeze()
        runtime.start_polling()
        yield
        runtime.stop()
        state.ledger.close()
        state.log.close()

    app = FastAPI(
        title="OpenClaw gateway",
        version=__version__,
        description="Flight delay predictions from the champion (and, under an A/B split, the challenger) "
        "model, with features read from the Feast online store. Every answer names the model version.",
        lifespan=lifespan,
        # what the edge and the last-resort handler can answer on any route
        responses=errors.documented(400, 413, 500),
        telemetry=TELEMETRY,  # FastAPI's own server spans, recorded only once a tracer provider is installed
    )
    errors.install(app)
    app.add_middleware(Edge, limit=MAX_BODY_BYTES, observe=state.metrics.observe)
    if tracing.enabled():
        app.add_middleware(tracing.TraceparentResponse)  # each answer names its trace
    for module in (ops, predict, admin, audit):
        app.include_router(module.router(state))
    app.state.gateway = state
    app.state.runtime = runtime
    app.state.window = state.window
    return app


def open_runtime(runtime) -> None:
    """Open the runtime; if it cannot be opened, say why on /readyz and let the refresher retry."""
    from openclaw_assets.compute.gateway.runtime import NotReady

    try:
        runtime.open()
    except NotReady as exc:
        runtime.last_error = str(exc)
        log.warning("not ready: %s", exc)
    except Exception as exc:
        runtime.last_error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        log.exception("not ready: the model registry or the feature store could not be opened")
