"""The gateway's FastAPI application: predict, health, readiness, metrics, admin.

Scoring runs on the event loop, one request at a time per process: the work is CPU-bound
under one interpreter lock, and a thread hop per request would only add latency. Scale out
with more processes (pods behind a Service).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException

from openclaw_assets import __version__
from openclaw_assets.compute.gateway.auth import Tokens, allows
from openclaw_assets.compute.gateway.contract import (
    MAX_BODY_BYTES,
    MAX_ROWS,
    ErrorResponse,
    PredictRequest,
    PredictResponse,
    StatusResponse,
)
from openclaw_assets.models.training import DECISION_THRESHOLD

log = logging.getLogger("openclaw.gateway")
_features_json = json.JSONEncoder(default=str).encode
"""``json.dumps(values, default=str)`` without building an encoder per call: the same text."""


class ApiError(HTTPException):
    """An answer with a status and a reason. An HTTPException, so that FastAPI passes it through
    unchanged when it is raised while the body is read (a chunked body over the limit)."""

    def __init__(self, status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, error, headers)
        self.status, self.error, self.detail, self.headers = status, error, detail, headers


def _error(status: int, error: str, detail: Any = None, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


class Edge:
    """ASGI middleware: refuse bodies over the limit with 413 (by header or by counting), and
    count and time every request by route and status."""

    def __init__(self, app, limit: int, observe) -> None:
        self.app, self.limit, self.observe = app, limit, observe

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = [500]
        declared = dict(scope.get("headers") or []).get(b"content-length")
        early = None
        if declared is not None:
            try:
                if int(declared) > self.limit:
                    early = _error(413, "body_too_large", f"request bodies are limited to {self.limit} bytes")
            except ValueError:
                early = _error(400, "bad_content_length", "Content-Length is not a number")
        if early is not None:
            await early(scope, receive, send)
            self.observe("rejected", early.status_code, time.perf_counter() - started)
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise ApiError(413, "body_too_large", f"request bodies are limited to {self.limit} bytes")
            return message

        async def sending(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, counted, sending)
        finally:
            route = scope.get("route")
            self.observe(getattr(route, "path", "unmatched"), status[0], time.perf_counter() - started)


def create_app(
    home: Path, runtime=None, tokens: Tokens | None = None, threshold: float | None = None, pin: str | None = None
) -> FastAPI:
    """The gateway for an installation. ``runtime`` (models and features) opens at startup."""
    from contextlib import asynccontextmanager

    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    from openclaw_assets.compute.gateway.predlog import PredictionLog
    from openclaw_assets.compute.gateway.runtime import NotReady, Runtime, Window

    runtime = runtime or Runtime(
        home,
        pin=pin,
        poll_seconds=float(os.environ.get("OPENCLAW_GATEWAY_POLL_SECONDS", "2")),
    )
    tokens = tokens or Tokens.load(home)
    threshold = (
        float(os.environ.get("OPENCLAW_DECISION_THRESHOLD", DECISION_THRESHOLD)) if threshold is None else threshold
    )
    window = Window(float(os.environ.get("OPENCLAW_GATEWAY_WINDOW_SECONDS", "60")))
    predictions_log = PredictionLog(home, fsync=os.environ.get("OPENCLAW_PREDICTION_LOG_FSYNC") == "1")
    started_at = datetime.now(UTC).isoformat(timespec="seconds")

    registry = CollectorRegistry()
    requests_total = Counter("openclaw_gateway_requests", "HTTP requests", ["path", "status"], registry=registry)
    request_seconds = Histogram(
        "openclaw_gateway_request_seconds",
        "HTTP request latency",
        ["path"],
        registry=registry,
        buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    )
    predictions_total = Counter(
        "openclaw_gateway_predictions", "Rows scored", ["model_version", "variant"], registry=registry
    )
    model_errors = Counter("openclaw_gateway_model_errors", "Scoring failures", ["model_version"], registry=registry)
    model_seconds = Histogram(
        "openclaw_gateway_model_seconds",
        "Scoring time per request and model version",
        ["model_version"],
        registry=registry,
        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
    )
    feature_seconds = Histogram(
        "openclaw_gateway_feature_seconds",
        "Online feature read time per request",
        registry=registry,
        buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5),
    )
    missing_total = Counter("openclaw_gateway_missing_features", "Rows missing a view", ["view"], registry=registry)
    risk_total = Counter("openclaw_gateway_risk_flags", "Rows flagged", ["model_version"], registry=registry)
    serving = Gauge(
        "openclaw_gateway_model_version", "Version behind each alias", ["alias", "version"], registry=registry
    )
    share_gauge = Gauge("openclaw_gateway_challenger_share", "Share of traffic to the challenger", registry=registry)

    def on_swap(snapshot) -> None:
        for labels in list(shown):
            serving.remove(*labels)
        shown.clear()
        for alias, served in (("champion", snapshot.champion), ("challenger", snapshot.challenger)):
            if served is not None:
                serving.labels(alias, served.version).set(1)
                shown.append((alias, served.version))
        share_gauge.set(snapshot.challenger_share)

    shown: list[tuple[str, str]] = []
    runtime.on_swap = on_swap

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        try:
            runtime.open()
        except NotReady as exc:
            runtime.last_error = str(exc)
            log.warning("not ready: %s", exc)
        # What is loaded by now (libraries, registry, model) lives as long as the process:
        # half a million objects that every full collection would walk, pausing all
        # requests for hundreds of milliseconds. Frozen, the collector skips them.
        gc.collect()
        gc.freeze()
        runtime.start_polling()
        yield
        runtime.stop()
        predictions_log.close()

    app = FastAPI(
        title="OpenClaw gateway",
        version=__version__,
        description="Flight delay predictions from the champion (and, under an A/B split, the challenger) "
        "model, with features read from the Feast online store. Every answer names the model version.",
        lifespan=lifespan,
        responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 413: {"model": ErrorResponse}},
    )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.error, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        kind = request.headers.get("content-type", "")
        if request.method == "POST" and "json" not in kind:
            return _error(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json")
        detail = [
            {"field": ".".join(str(p) for p in e.get("loc", ()) if p != "body"), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        return _error(422, "invalid_request", detail)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):
        log.exception("unexpected error on %s", request.url.path)
        return _error(503, "internal_error", f"{type(exc).__name__}; see the gateway log")

    def observe(path: str, status: int, seconds: float) -> None:
        requests_total.labels(path, str(status)).inc()
        request_seconds.labels(path).observe(seconds)

    app.add_middleware(Edge, limit=MAX_BODY_BYTES, observe=observe)

    def role(request: Request) -> str | None:
        return tokens.role_of(request.headers.get("authorization"))

    def need(required: str):
        # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request
        async def check(request: Request) -> str:
            granted = role(request)
            if granted is None:
                raise ApiError(401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
            if not allows(granted, required):
                raise ApiError(403, "forbidden", f"this endpoint needs the {required} role")
            return granted

        return check

    @app.get("/healthz", tags=["ops"], summary="The process is up")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"], summary="A champion model and the feature store are loaded")
    async def readyz():
        snapshot = runtime.snapshot
        if snapshot is None or runtime.store is None or (snapshot.champion is None and snapshot.pinned is None):
            reason = runtime.last_error or "no champion model yet"
            return _error(503, "not_ready", reason)
        served = snapshot.challenger if snapshot.pinned else snapshot.champion
        return {"status": "ready", "model_version": served.version if served else None}

    @app.get("/metrics", tags=["ops"], summary="Prometheus text exposition", response_class=PlainTextResponse)
    async def metrics():
        return PlainTextResponse(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post(
        "/v1/predict",
        tags=["predict"],
        summary="Score one or many flights",
        response_model=PredictResponse,
        responses={422: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    )
    async def predict(body: PredictRequest, _: str = Depends(need("predict"))):
        import numpy as np

        from openclaw_assets.compute.gateway.runtime import missing_views_by_row, request_fields, score
        from openclaw_assets.models.training import FEATURES

        started = time.perf_counter()
        flights = body.flights
        if len(flights) > MAX_ROWS:
            raise ApiError(413, "too_many_rows", f"{len(flights)} flights; at most {MAX_ROWS} per request")
        snapshot = runtime.snapshot
        if snapshot is None:
            raise ApiError(503, "not_ready", runtime.last_error or "no model loaded yet")
        try:
            routes = [snapshot.route(f.request_key or f.flight_id) for f in flights]
        except NotReady as exc:
            raise ApiError(503, "not_ready", str(exc)) from None
        read_started = time.perf_counter()
        try:
            features = runtime.features(flights)
        except Exception as exc:
            log.warning("online feature read failed: %s", exc)
            raise ApiError(
                503, "feature_store_unavailable", f"online features could not be read: {type(exc).__name__}"
            ) from None
        feature_seconds.observe(time.perf_counter() - read_started)
        columns = {**request_fields(flights), **{name: features[name] for name in FEATURES if name in features}}
        absent = [name for name in FEATURES if name not in columns]
        if absent:
            raise ApiError(503, "feature_service_mismatch", f"the feature service does not serve {absent}")
        probability = np.empty(len(flights))
        flags = np.empty(len(flights), dtype=object)
        groups: dict[str, tuple[str, Any, list[int]]] = {}
        for index, (variant, served) in enumerate(routes):
            groups.setdefault(served.version, (variant, served, []))[2].append(index)
        for version, (_variant, served, rows) in groups.items():
            scoring_started = time.perf_counter()
            try:
                if len(rows) == len(flights):  # one model scores every row: no need to pick them out
                    inputs = columns
                else:
                    inputs = {name: [values[r] for r in rows] for name, values in columns.items()}
                p, f = score(served, inputs)
            except Exception as exc:
                model_errors.labels(version).inc()
                window.add(version, time.perf_counter() - started, True)
                log.warning("model v%s failed: %s: %s", version, type(exc).__name__, exc)
                raise ApiError(503, "model_failed", f"model version {version} failed: {type(exc).__name__}") from None
            model_seconds.labels(version).observe(time.perf_counter() - scoring_started)
            probability[rows] = p
            flags[rows] = f
        request_id = uuid.uuid4().hex
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        out, records = [], []
        missing_by_row = missing_views_by_row(features, len(flights))
        inputs_by_row = zip(*(columns[name] for name in FEATURES), strict=True)
        scored: dict[tuple[str, str], int] = {}
        flagged: dict[str, int] = {}
        missed: dict[str, int] = {}
        for i, (flight, values) in enumerate(zip(flights, inputs_by_row, strict=True)):
            variant, served = routes[i]
            missing = missing_by_row[i]
            out_of_range = [c for c in (flags[i] or "").split(",") if c]
            p = float(probability[i])
            risk = bool(missing or out_of_range)
            decision = "delayed" if p >= threshold else "on_time"
            out.append(
                {
                    "flight_id": flight.flight_id,
                    "probability": p,
                    "decision": decision,
                    "threshold": threshold,
                    "model_version": served.version,
                    "variant": variant,
                    "risk_flag": risk,
                    "out_of_range": out_of_range,
                    "missing_features": missing,
                }
            )
            records.append(
                {
                    "ts": now,
                    "request_id": request_id,
                    "flight_id": flight.flight_id,
                    "request_key": flight.request_key or flight.flight_id,
                    "model_version": served.version,
                    "variant": variant,
                    "probability": p,
                    "decision": decision,
                    "risk_flag": risk,
                    "missing_features": missing,
                    "features_sha256": hashlib.sha256(_features_json(values).encode()).hexdigest()[:16],
                }
            )
            scored[served.version, variant] = scored.get((served.version, variant), 0) + 1
            if risk:
                flagged[served.version] = flagged.get(served.version, 0) + 1
            for view in missing:
                missed[view] = missed.get(view, 0) + 1
        for (version, variant), count in scored.items():
            predictions_total.labels(version, variant).inc(count)
        for version, count in flagged.items():
            risk_total.labels(version).inc(count)
        for view, count in missed.items():
            missing_total.labels(view).inc(count)
        predictions_log.append(records)
        elapsed = time.perf_counter() - started
        for version in groups:
            window.add(version, elapsed, False)
        return JSONResponse({"model_name": runtime.model_name, "request_id": request_id, "predictions": out})

    @app.get(
        "/v1/admin/status", tags=["admin"], response_model=StatusResponse, summary="Versions, split and live signals"
    )
    async def status(_: str = Depends(need("admin"))):
        snapshot = runtime.snapshot
        return {
            "model_name": runtime.model_name,
            "champion": snapshot.champion.version if snapshot and snapshot.champion else None,
            "challenger": snapshot.challenger.version if snapshot and snapshot.challenger else None,
            "challenger_share": snapshot.challenger_share if snapshot else 0.0,
            "pinned": runtime.pin,
            "window_seconds": window.seconds,
            "versions": window.stats(),
            "loaded_at": snapshot.loaded_at if snapshot else "",
            "started_at": started_at,
        }

    @app.post("/v1/admin/reload", tags=["admin"], response_model=StatusResponse, summary="Re-resolve aliases now")
    async def reload(_: str = Depends(need("admin"))):
        import anyio

        try:
            if runtime.store is None:
                await anyio.to_thread.run_sync(runtime.open)
            else:
                await anyio.to_thread.run_sync(runtime.refresh)
        except Exception as exc:
            raise ApiError(503, "reload_failed", f"{type(exc).__name__}: {exc}") from None
        return await status(_)

    app.state.runtime = runtime
    app.state.window = window
    return app
