"""What the routers share: the runtime, the settings, the metrics, the live window and the prediction log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.security import HTTPBearer

from openclaw_assets.compute.gateway.auth import allows
from openclaw_assets.compute.gateway.errors import ApiError
from openclaw_assets.compute.gateway.metrics import GatewayMetrics
from openclaw_assets.compute.gateway.predlog import PredictionLog
from openclaw_assets.compute.gateway.settings import GatewaySettings

BEARER = HTTPBearer(auto_error=False, description="A `predict` or `admin` token.")
"""Declares the bearer scheme in the OpenAPI document; ``GatewayState.need`` does the checking."""


@dataclass
class GatewayState:
    runtime: Any  # runtime.Runtime
    settings: GatewaySettings
    metrics: GatewayMetrics
    window: Any  # runtime.Window
    log: PredictionLog
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    limiter: Any = None
    """Caps the threads that read features and score at once; made when the event loop starts."""

    def need(self, required: str):
        """A dependency that admits a bearer token with the ``required`` role: 401 without one, 403 if too weak."""
        tokens = self.settings.tokens

        # async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request
        async def check(request: Request) -> str:
            granted = tokens.role_of(request.headers.get("authorization"))
            if granted is None:
                raise ApiError(401, "unauthorized", "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
            if not allows(granted, required):
                raise ApiError(403, "forbidden", f"this endpoint needs the {required} role")
            return granted

        return check
