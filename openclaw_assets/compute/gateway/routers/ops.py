"""Probes and scraping: open to all, no token (the ``gateway_request`` policy lists them as open)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse

from openclaw_assets.compute.gateway.contract import HealthResponse, ReadyResponse
from openclaw_assets.compute.gateway.errors import documented, error_response
from openclaw_assets.compute.gateway.state import GatewayState


def router(state: GatewayState) -> APIRouter:
    api = APIRouter(tags=["ops"], dependencies=[Depends(state.authorize)])
    runtime = state.runtime

    @api.get("/healthz", summary="The process is up", response_model=HealthResponse)
    async def healthz():
        return {"status": "ok"}

    @api.get(
        "/readyz",
        summary="A champion model and the feature store are loaded",
        response_model=ReadyResponse,
        responses=documented(503),
    )
    async def readyz():
        snapshot = runtime.snapshot
        if snapshot is None or runtime.store is None or (snapshot.champion is None and snapshot.pinned is None):
            return error_response(503, "not_ready", runtime.last_error or "no champion model yet")
        served = snapshot.challenger if snapshot.pinned else snapshot.champion
        return {"status": "ready", "model_version": served.version if served else None}

    @api.get("/metrics", summary="Prometheus text exposition", response_class=PlainTextResponse)
    async def metrics():
        return PlainTextResponse(state.metrics.exposition(), media_type="text/plain; version=0.0.4; charset=utf-8")

    return api
