"""The gateway's edge: a body-size limit before anything reads the body, and per-route observation."""

from __future__ import annotations

import time
from collections.abc import Callable

from openclaw_assets.compute.gateway.errors import ApiError, error_response


class Edge:
    """ASGI middleware: refuse bodies over the limit with 413 (by header or by counting), and
    count and time every request by route and status."""

    def __init__(self, app, limit: int, observe: Callable[[str, int, float], None]) -> None:
        self.app, self.limit, self.observe = app, limit, observe

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = [500]
        early = self._refusal(dict(scope.get("headers") or []).get(b"content-length"))
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

    def _refusal(self, declared: bytes | None):
        if declared is None:
            return None
        try:
            if int(declared) > self.limit:
                return error_response(413, "body_too_large", f"request bodies are limited to {self.limit} bytes")
        except ValueError:
            return error_response(400, "bad_content_length", "Content-Length is not a number")
        return None
