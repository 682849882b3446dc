"""Administration: the live status the rollback sensor reads, and an immediate reload (aliases and tokens)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Security

from openclaw_assets.compute.gateway.contract import StatusResponse
from openclaw_assets.compute.gateway.errors import ApiError, documented
from openclaw_assets.compute.gateway.state import BEARER, GatewayState


def router(state: GatewayState) -> APIRouter:
    api = APIRouter(tags=["admin"], dependencies=[Security(BEARER), Depends(state.authorize)])
    runtime, window = state.runtime, state.window

    def status() -> dict:
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
            "started_at": state.started_at,
        }

    @api.get(
        "/v1/admin/status",
        response_model=StatusResponse,
        summary="Versions, split and live signals",
        responses=documented(401, 403),
    )
    async def read_status():
        return status()

    @api.post(
        "/v1/admin/reload",
        response_model=StatusResponse,
        summary="Re-read the tokens and re-resolve the aliases now",
        responses=documented(401, 403, 503),
    )
    async def reload():
        import anyio

        from openclaw_assets.compute.gateway.auth import TokenError

        try:
            state.settings.tokens.reload()
        except TokenError as exc:
            raise ApiError(
                503, "reload_failed", f"the tokens were not reloaded (the previous ones stay): {exc}"
            ) from None
        try:
            if runtime.store is None:
                await anyio.to_thread.run_sync(runtime.open)
            else:
                await anyio.to_thread.run_sync(runtime.refresh)
        except Exception as exc:
            raise ApiError(503, "reload_failed", f"{type(exc).__name__}: {exc}") from None
        return status()

    return api
