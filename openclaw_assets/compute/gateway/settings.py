"""The gateway's settings, read once from the environment, validated, and passed to what needs them.

| variable | default | meaning |
|---|---|---|
| ``OPENCLAW_GATEWAY_POLL_SECONDS`` | 2 | how often the aliases and the deployment record are re-read |
| ``OPENCLAW_DECISION_THRESHOLD`` | 0.5 | ``delayed`` when the probability is at least this |
| ``OPENCLAW_GATEWAY_WINDOW_SECONDS`` | 60 | the span of the per-version live signals in ``/v1/admin/status`` |
| ``OPENCLAW_PREDICTION_LOG_FSYNC`` | 0 | 1: each request's log lines reach the disk before the answer |
| ``OPENCLAW_PREDICTION_LOG_DIR`` | ``$OPENCLAW_HOME/predictions/log`` | the prediction log (staging keeps its own) |
| ``OPENCLAW_GATEWAY_<ROLE>_TOKEN[_FILE]`` | the token store under ``secrets/`` | bearer tokens, see ``auth`` |

The access policy (``control/policies/gateway_request.rego``) is loaded here too, so that a broken
bundle stops the gateway before it binds, like a bad setting.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openclaw_assets.compute.gateway.auth import TokenError, Tokens
from openclaw_assets.kernel.settings import SettingError
from openclaw_assets.models.training import DECISION_THRESHOLD

POLL_SECONDS = "OPENCLAW_GATEWAY_POLL_SECONDS"
THRESHOLD = "OPENCLAW_DECISION_THRESHOLD"
WINDOW_SECONDS = "OPENCLAW_GATEWAY_WINDOW_SECONDS"
LOG_FSYNC = "OPENCLAW_PREDICTION_LOG_FSYNC"
LOG_DIR = "OPENCLAW_PREDICTION_LOG_DIR"
PINS = ("challenger",)
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def _number(environ: Mapping[str, str], name: str, default: float, low: float, high: float, what: str) -> float:
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingError(f"{name} must be {what}, not {text!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise SettingError(f"{name} must be {what}, not {text!r}")
    return value


def _flag(environ: Mapping[str, str], name: str) -> bool:
    text = environ.get(name, "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingError(f"{name} must be 1 or 0, not {text!r}")


@dataclass(frozen=True)
class GatewaySettings:
    """Everything the gateway process takes from its environment and command line."""

    tokens: Tokens
    poll_seconds: float = 2.0
    threshold: float = DECISION_THRESHOLD
    window_seconds: float = 60.0
    log_fsync: bool = False
    log_dir: Path | None = None
    pin: str | None = None
    policies: Any = None
    """The policy bundle (``control.policy.Policies``); None: the project's, loaded when the app is made."""

    def __post_init__(self) -> None:
        if self.pin is not None and self.pin not in PINS:
            raise SettingError(f"the gateway can pin only {', '.join(PINS)}, not {self.pin!r}")

    @classmethod
    def from_env(cls, home: Path, environ: Mapping[str, str] | None = None, pin: str | None = None) -> GatewaySettings:
        """Read and check every setting; a bad value raises ``SettingError`` naming the variable."""
        environ = os.environ if environ is None else environ
        try:
            tokens = Tokens.load(home, environ=environ)
        except TokenError as exc:
            raise SettingError(str(exc)) from None
        from openclaw_assets.control.policy import PolicyError, load_policies

        try:
            policies = load_policies()
        except PolicyError as exc:
            raise SettingError(f"the access policy cannot be loaded: {exc}") from None
        log_dir = environ.get(LOG_DIR, "").strip()
        return cls(
            tokens=tokens,
            poll_seconds=_number(environ, POLL_SECONDS, 2.0, 0.05, 86_400, "a number of seconds from 0.05 to 86400"),
            threshold=_number(environ, THRESHOLD, DECISION_THRESHOLD, 0.0, 1.0, "a probability from 0 to 1"),
            window_seconds=_number(environ, WINDOW_SECONDS, 60.0, 1.0, 86_400, "a number of seconds from 1 to 86400"),
            log_fsync=_flag(environ, LOG_FSYNC),
            log_dir=Path(log_dir).expanduser() if log_dir else None,
            pin=pin or None,
            policies=policies,
        )
