"""What the routers share: the runtime, the settings, the metrics, the live window, the prediction log,
and the access check every routed request passes (the ``gateway_request`` policy)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from fastapi.security import HTTPBearer

from openclaw_assets.compute.gateway.errors import ApiError
from openclaw_assets.compute.gateway.metrics import GatewayMetrics
from openclaw_assets.compute.gateway.predlog import PredictionLog
from openclaw_assets.compute.gateway.settings import GatewaySettings
from openclaw_assets.control.policy import PolicyError

BEARER = HTTPBearer(auto_error=False, description="A `predict`, `admin` or `auditor` token.")
"""Declares the bearer scheme in the OpenAPI document; ``GatewayState.authorize`` does the checking."""
POINT = "gateway_request"
DECIDED_MAX = 4096
"""Remembered decisions at most (a bound that routes times roles never reach)."""
log = logging.getLogger("openclaw.gateway")


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

    policies: Any = None
    """The loaded policy bundle (``control.policy.Policies``) that decides every routed request."""
    ledger: Any = None
    """The provenance ledger (``provenance.GatewayLedger``): read by the audit routes, told of each refusal."""
    decided: dict[tuple[str | None, str, str], Any] = field(default_factory=dict)
    """Decisions by (role, method, route). The policy is a pure function of that input and the bundle is
    loaded once, so a decision once made is known: a dictionary look-up instead of an evaluation (about
    75 µs in the loop's cold caches) per request. Roles times routes keep it small (``DECIDED_MAX``)."""

    async def authorize(self, request: Request) -> str | None:
        """A dependency: the ``gateway_request`` policy decides; 401 without a role, 403 with one, else the role.

        async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request.
        """
        role = self.settings.tokens.role_of(request.headers.get("authorization"))
        route = getattr(request.scope.get("route"), "path", request.url.path)
        key = (role, request.method, route)
        decision = self.decided.get(key)
        if decision is None:
            try:
                decision = self.policies.decide(POINT, {"role": role, "method": key[1], "route": route, "model": None})
            except PolicyError as exc:
                log.error("the access policy could not decide %s %s: %s", request.method, route, exc)
                raise ApiError(500, "policy_error", "the access policy could not decide; see the gateway log") from None
            if len(self.decided) < DECIDED_MAX:
                self.decided[key] = decision
        if decision.allowed:
            request.state.role = role  # the prediction log records who was allowed, and by which bundle
            return role
        status = 401 if role is None else 403
        if self.ledger is not None:
            self.ledger.record_denial(decision, request.method, route, role, status)
        detail = "; ".join(decision.reasons)
        if status == 401:
            raise ApiError(401, "unauthorized", detail, {"WWW-Authenticate": "Bearer"})
        raise ApiError(403, "forbidden", detail)
