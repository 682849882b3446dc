"""``POST /v1/predict``: route each flight to a variant, read its features online, score, log, answer.

The handler checks the request on the event loop and takes the snapshot it will be served
with; the rest (the Feast online read, scoring, the prediction log's write) is synchronous.
For more than ``INLINE_ROWS`` flights, or with an fsync per request, it runs in a worker
thread, so that probes and other requests are not held behind it; a few rows are served in
place, where a thread hop would cost more than the loop is held. Either way the answer is
sent only after the log write has returned, so an acknowledged prediction is never lost
with the process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request, Security
from fastapi.responses import JSONResponse

from openclaw_assets.compute.gateway.contract import MAX_ROWS, Flight, PredictRequest, PredictResponse
from openclaw_assets.compute.gateway.errors import ApiError, documented
from openclaw_assets.compute.gateway.state import BEARER, GatewayState
from openclaw_assets.features.repo import FEATURE_SERVICE
from openclaw_assets.observability import tracing

log = logging.getLogger("openclaw.gateway")
INLINE_ROWS = 8
"""Requests of up to this many rows (without an fsync per request) are served on the event loop:
they hold it about as long as the thread hop would cost them (see the README's serving figures)."""
_features_json = json.JSONEncoder(default=str).encode
"""``json.dumps(values, default=str)`` without building an encoder per call: the same text."""


def router(state: GatewayState) -> APIRouter:
    api = APIRouter(tags=["predict"])

    @api.post(
        "/v1/predict",
        summary="Score one or many flights",
        response_model=PredictResponse,
        responses=documented(401, 403, 413, 415, 422, 503),
        dependencies=[Security(BEARER), Depends(state.authorize)],
    )
    async def predict(body: PredictRequest, request: Request):
        import anyio

        started = time.perf_counter()
        flights = body.flights
        if len(flights) > MAX_ROWS:
            raise ApiError(413, "too_many_rows", f"{len(flights)} flights; at most {MAX_ROWS} per request")
        snapshot = state.runtime.snapshot
        if snapshot is None:
            raise ApiError(503, "not_ready", state.runtime.last_error or "no model loaded yet")
        role = getattr(request.state, "role", None)
        if len(flights) <= INLINE_ROWS and not state.settings.log_fsync:
            answer = serve_flights(state, snapshot, flights, started, role)
        else:
            answer = await anyio.to_thread.run_sync(
                serve_flights, state, snapshot, flights, started, role, limiter=state.limiter
            )
        return JSONResponse(answer)

    return api


@dataclass
class Tally:
    """What one request adds to the metrics."""

    scored: dict[tuple[str, str], int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)


def serve_flights(
    state: GatewayState, snapshot: Any, flights: list[Flight], started: float, role: str | None = None
) -> dict[str, Any]:
    """The synchronous part of a prediction, in a worker thread: the answer's body, once logged.

    Each log line names the role the ``gateway_request`` policy allowed and that policy bundle's
    hash: the allowed decisions are kept in the log, whose closed segments the ledger seals.
    """
    from openclaw_assets.compute.gateway.runtime import NotReady

    try:
        routes = [snapshot.route(f.request_key or f.flight_id) for f in flights]
    except NotReady as exc:
        raise ApiError(503, "not_ready", str(exc)) from None
    features, columns = read_features(state, flights)
    probability, flags, groups = score_rows(state, routes, columns, started)
    request_id = uuid.uuid4().hex
    out, records, tally = answers(state, flights, routes, features, columns, probability, flags, request_id)
    state.metrics.count(tally.scored, tally.flagged, tally.missed)
    bundle = state.policies.bundle_hash if state.policies is not None else None
    trace_id = tracing.current_trace_id()  # None unless tracing is on (observability.tracing)
    for record in records:
        record["role"], record["policy_bundle"], record["trace_id"] = role, bundle, trace_id
    state.log.append(records)
    elapsed = time.perf_counter() - started
    for version in groups:
        state.window.add(version, elapsed, False)
    return {"model_name": state.runtime.model_name, "request_id": request_id, "predictions": out}


def read_features(state: GatewayState, flights: list[Flight]) -> tuple[dict[str, list], dict[str, list]]:
    """The online features (by column) and the model's inputs: request fields plus served features."""
    from openclaw_assets.features.entities import request_fields
    from openclaw_assets.models.training import FEATURES

    read_started = time.perf_counter()
    try:
        with tracing.span(
            f"get_online_features {FEATURE_SERVICE}", partial(_read_attributes, state, len(flights)), "CLIENT"
        ):
            features = state.runtime.features(flights)
    except Exception as exc:
        log.warning("online feature read failed: %s: %s", type(exc).__name__, exc)
        raise ApiError(
            503, "feature_store_unavailable", f"online features could not be read: {type(exc).__name__}"
        ) from None
    state.metrics.feature_seconds.observe(time.perf_counter() - read_started)
    columns = {**request_fields(flights), **{name: features[name] for name in FEATURES if name in features}}
    absent = [name for name in FEATURES if name not in columns]
    if absent:
        raise ApiError(503, "feature_service_mismatch", f"the feature service does not serve {absent}")
    return features, columns


def score_rows(state: GatewayState, routes: list[tuple[str, Any]], columns: dict[str, list], started: float):
    """Probabilities and out-of-range flags per row, each model version scoring its own rows."""
    import numpy as np

    from openclaw_assets.compute.gateway.runtime import score

    rows_total = len(routes)
    probability = np.empty(rows_total)
    flags = np.empty(rows_total, dtype=object)
    groups: dict[str, tuple[str, Any, list[int]]] = {}
    for index, (variant, served) in enumerate(routes):
        groups.setdefault(served.version, (variant, served, []))[2].append(index)
    for version, (variant, served, rows) in groups.items():
        scoring_started = time.perf_counter()
        try:
            if len(rows) == rows_total:  # one model scores every row: no need to pick them out
                inputs = columns
            else:
                inputs = {name: [values[r] for r in rows] for name, values in columns.items()}
            with tracing.span(
                f"predict {state.runtime.model_name}", partial(_predict_attributes, state, served, variant, rows)
            ):
                p, f = score(served, inputs)
        except Exception as exc:
            state.metrics.model_errors.labels(version).inc()
            state.window.add(version, time.perf_counter() - started, True)
            log.warning("model v%s failed: %s: %s", version, type(exc).__name__, exc, extra={"model_version": version})
            raise ApiError(503, "model_failed", f"model version {version} failed: {type(exc).__name__}") from None
        state.metrics.model_seconds.labels(version).observe(time.perf_counter() - scoring_started)
        probability[rows] = p
        flags[rows] = f
    return probability, flags, groups


def _loggable(value: Any) -> Any:
    """A value as JSON holds it: a NaN or an infinity (which JSON lacks) as null, a numpy scalar as a number."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):
        return _loggable(value.item())
    return str(value)


def logged_inputs(names: list[str], values: tuple) -> dict[str, Any]:
    """The model's inputs by feature name, as the prediction log keeps them (for live drift)."""
    return {name: _loggable(value) for name, value in zip(names, values, strict=True)}


FLAG_KEY = "openclaw.champion_challenger"
"""The A/B split as a feature flag: its variants are ``champion`` and ``challenger``."""


def _read_attributes(state: GatewayState, rows: int) -> dict[str, Any]:
    """The online read's span attributes (database client semantic conventions)."""
    online = getattr(getattr(state.runtime.store, "config", None), "online_store", None)
    attributes: dict[str, Any] = {
        "db.system.name": str(getattr(online, "type", "") or "unknown"),
        "db.operation.name": "get_online_features",
        "openclaw.feature_service": FEATURE_SERVICE,
        "openclaw.rows": rows,
    }
    if rows > 1:  # the convention counts a batch from two operations on
        attributes["db.operation.batch.size"] = rows
    return attributes


def _predict_attributes(state: GatewayState, served: Any, variant: str, rows: list[int]) -> dict[str, Any]:
    """The model predict's span attributes: the project's model namespace and the A/B split's feature flag."""
    return {
        "openclaw.model.name": state.runtime.model_name,
        "openclaw.model.version": served.version,
        "openclaw.model.variant": variant,
        "openclaw.rows": len(rows),
        "feature_flag.key": FLAG_KEY,
        "feature_flag.result.variant": variant,
        "feature_flag.provider.name": "openclaw.gateway",
    }


def answers(
    state: GatewayState,
    flights: list[Flight],
    routes: list[tuple[str, Any]],
    features: dict[str, list],
    columns: dict[str, list],
    probability: Any,
    flags: Any,
    request_id: str,
) -> tuple[list[dict], list[dict], Tally]:
    """Each flight's prediction, its prediction-log line, and the request's tally."""
    from openclaw_assets.features.repo import missing_views
    from openclaw_assets.models.training import FEATURES

    threshold = state.settings.threshold
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    out, records, tally = [], [], Tally()
    missing_by_row = missing_views(features, len(flights))
    inputs_by_row = zip(*(columns[name] for name in FEATURES), strict=True)
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
                "inputs": logged_inputs(FEATURES, values),
            }
        )
        key = (served.version, variant)
        tally.scored[key] = tally.scored.get(key, 0) + 1
        if risk:
            tally.flagged[served.version] = tally.flagged.get(served.version, 0) + 1
        for view in missing:
            tally.missed[view] = tally.missed.get(view, 0) + 1
    return out, records, tally
