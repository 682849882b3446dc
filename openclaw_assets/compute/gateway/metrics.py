"""The gateway's Prometheus collectors, in one registry per process."""

from __future__ import annotations

from typing import Any

_MODEL_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5)


class GatewayMetrics:
    """Requests by route and status, scoring per model version, missing views, what each alias serves."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = registry = CollectorRegistry()
        self.requests = Counter("openclaw_gateway_requests", "HTTP requests", ["path", "status"], registry=registry)
        self.request_seconds = Histogram(
            "openclaw_gateway_request_seconds",
            "HTTP request latency",
            ["path"],
            registry=registry,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.predictions = Counter(
            "openclaw_gateway_predictions", "Rows scored", ["model_version", "variant"], registry=registry
        )
        self.model_errors = Counter(
            "openclaw_gateway_model_errors", "Scoring failures", ["model_version"], registry=registry
        )
        self.model_seconds = Histogram(
            "openclaw_gateway_model_seconds",
            "Scoring time per request and model version",
            ["model_version"],
            registry=registry,
            buckets=_MODEL_BUCKETS,
        )
        self.feature_seconds = Histogram(
            "openclaw_gateway_feature_seconds",
            "Online feature read time per request",
            registry=registry,
            buckets=_MODEL_BUCKETS,
        )
        self.missing = Counter("openclaw_gateway_missing_features", "Rows missing a view", ["view"], registry=registry)
        self.risk = Counter("openclaw_gateway_risk_flags", "Rows flagged", ["model_version"], registry=registry)
        self.serving = Gauge(
            "openclaw_gateway_model_version", "Version behind each alias", ["alias", "version"], registry=registry
        )
        self.challenger_share = Gauge(
            "openclaw_gateway_challenger_share", "Share of traffic to the challenger", registry=registry
        )
        self.unrecorded = Counter(
            "openclaw_gateway_unrecorded_denials",
            "Refused requests the ledger could not take (its writer behind or the database down)",
            registry=registry,
        )
        self._shown: list[tuple[str, str]] = []

    def observe(self, path: str, status: int, seconds: float) -> None:
        self.requests.labels(path, str(status)).inc()
        self.request_seconds.labels(path).observe(seconds)

    def on_swap(self, snapshot: Any) -> None:
        """Show the versions behind the aliases of a new snapshot, and its split."""
        for labels in self._shown:
            self.serving.remove(*labels)
        self._shown = []
        for alias, served in (("champion", snapshot.champion), ("challenger", snapshot.challenger)):
            if served is not None:
                self.serving.labels(alias, served.version).set(1)
                self._shown.append((alias, served.version))
        self.challenger_share.set(snapshot.challenger_share)

    def count(self, scored: dict[tuple[str, str], int], flagged: dict[str, int], missed: dict[str, int]) -> None:
        """Rows scored by (version, variant), flagged by version, missing by view."""
        for (version, variant), n in scored.items():
            self.predictions.labels(version, variant).inc(n)
        for version, n in flagged.items():
            self.risk.labels(version).inc(n)
        for view, n in missed.items():
            self.missing.labels(view).inc(n)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)
