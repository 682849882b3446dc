"""Alert notifications from Dagster: one JSON POST per event, in Alertmanager's webhook format.

The payload is the body Alertmanager's webhook receiver sends (``version: "4"``, one alert in
``alerts``), so a receiver written for the Prometheus alert rules takes the Dagster-side alerts
unchanged. Each alert is an event, not a state that later resolves: ``status`` is ``firing`` and
``endsAt`` is Alertmanager's zero time, as for an alert with no end yet. ``fingerprint`` (also sent
as the ``Idempotency-Key`` header) is derived from the event's identity, so a receiver can drop a
redelivery (one the sender retried because the answer to a delivered POST was lost).

The URL is read through ``dg.EnvVar("OPENCLAW_ALERT_WEBHOOK_URL")`` when a notification is due,
not bound as ``url=dg.EnvVar(...)``: Dagster resolves a resource's EnvVar when it initializes the
resource and fails with "You have attempted to fetch the environment variable ... which is not
set" if it is unset, even for an optional field, so every sensor tick would error. Unset, the
sensors send nothing and say so in their skip reason.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
from pydantic import Field

WEBHOOK_ENV = "OPENCLAW_ALERT_WEBHOOK_URL"
"""The environment variable that names the webhook (a secret: chat webhooks carry a token in their URL)."""

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's ``endsAt`` for an alert that has not ended."""


class AlertDeliveryError(Exception):
    """A notification the webhook did not take (no answer, 5xx, 408 or 429): retried on the next tick."""


class AlertRejected(AlertDeliveryError):
    """A notification the webhook refused for good (a 4xx other than 408 and 429): given up, not retried."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


RETRIED_4XX = frozenset({408, 429})
"""4xx answers that say "try later" (Request Timeout, Too Many Requests): retried like a 5xx."""


@dataclass(frozen=True)
class Alert:
    """One notification: ``key`` is its identity (its fingerprint), ``condition`` what it is about.

    An event (a rollback, a freshness state change) is its own condition: ``condition`` is empty and
    ``key`` stands for both. A failing check is a condition that lasts (``check:asset:check[:partition]``)
    and ``key`` names its latest failed execution; ``episode`` marks the pass before the failing
    streak (None: no pass seen), so a pass and a new failure between two ticks is told apart.
    """

    key: str
    name: str
    severity: str
    summary: str
    description: str
    at: float
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    condition: str = ""
    episode: str | None = None

    @property
    def about(self) -> str:
        """The condition (for an event, its key): what is notified once until it clears."""
        return self.condition or self.key

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.key.encode()).hexdigest()[:16]


def rfc3339(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payload(alert: Alert, receiver: str, external_url: str = "") -> dict[str, Any]:
    """The Alertmanager webhook body (version 4) for one alert."""
    labels = {"alertname": alert.name, "severity": alert.severity, "source": "dagster", **alert.labels}
    annotations = {"summary": alert.summary, "description": alert.description, "event": alert.key}
    annotations.update(alert.annotations)
    run_id = alert.annotations.get("run_id")
    generator = f"{external_url.rstrip('/')}/runs/{run_id}" if external_url and run_id else external_url
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alert.name}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": receiver,
        "groupLabels": {"alertname": alert.name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [
            {
                "status": "firing",
                "labels": labels,
                "annotations": annotations,
                "startsAt": rfc3339(alert.at),
                "endsAt": ZERO_TIME,
                "generatorURL": generator,
                "fingerprint": alert.fingerprint,
            }
        ],
    }


def _where(url: str) -> str:
    """The URL without path or query, which may carry a token: safe to put in a message."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
    except ValueError:
        return "(unparsable URL)"


class AlertWebhook(dg.ConfigurableResource):
    """Where the alert sensors POST their notifications; nothing is sent while no URL is set."""

    url: str | None = Field(
        default=None,
        description="For tests only (a local receiver on 127.0.0.1): it is a plain string, shown in the UI's "
        f"resource config, and takes precedence over ${WEBHOOK_ENV}. Real webhooks carry a token: set ${WEBHOOK_ENV} "
        "instead, read through dg.EnvVar when a notification is due. Neither set: notifications are off and the "
        "sensors say so.",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Seconds to wait for the webhook to answer.")
    receiver: str = Field(default="openclaw-dagster", description="The payload's `receiver` field.")
    external_url: str = Field(
        default="", description="Base URL of the Dagster UI, for `externalURL` and each alert's run link."
    )
    repeat_after_hours: float = Field(
        default=24.0,
        ge=0,
        description="A check still failing this many hours after its last notification is notified again "
        "(0: never; a condition is otherwise notified once, when it starts failing).",
    )

    def target(self) -> str | None:
        """The webhook URL, or None when notifications are off."""
        return self.url or dg.EnvVar(WEBHOOK_ENV).get_value() or None

    def send(self, alert: Alert) -> None:
        """POST one alert; AlertRejected on a permanent 4xx, AlertDeliveryError on anything else not 2xx."""
        import httpx

        url = self.target()
        if url is None:
            raise AlertDeliveryError(f"no webhook: set ${WEBHOOK_ENV}")
        body = payload(alert, self.receiver, self.external_url)
        headers = {"Idempotency-Key": alert.fingerprint, "User-Agent": "openclaw-alerts"}
        try:
            answer = httpx.post(url, json=body, headers=headers, timeout=self.timeout_seconds)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise AlertDeliveryError(f"webhook {_where(url)} unreachable: {type(exc).__name__}: {exc}") from None
        if not answer.is_success:
            said = f"webhook {_where(url)} answered {answer.status_code} {answer.reason_phrase}: {answer.text[:200]!r}"
            if 400 <= answer.status_code < 500 and answer.status_code not in RETRIED_4XX:
                raise AlertRejected(said, answer.status_code)
            raise AlertDeliveryError(said)
