"""The gateway's probe and scrape routes: not traced, and left out of the error rate and request-rate panels.

One list for the gateway app (``compute/gateway/app.py``), the alert rules and the dashboard, so a
probe added to one cannot count as traffic in another.
"""

from __future__ import annotations

PROBE_PATHS: tuple[str, ...] = ("/healthz", "/readyz", "/metrics")
"""Liveness, readiness and the Prometheus scrape: answered for the platform, not for clients."""

PROBE_REGEX = "|".join(PROBE_PATHS)
"""The same routes as a PromQL regular expression (``path!~"..."`` leaves them out)."""
