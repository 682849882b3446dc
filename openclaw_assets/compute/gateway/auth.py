"""Bearer tokens with roles, from the environment or from secret files; compared in constant time.

Sources, per role (``predict``, ``admin``), all of them read:
- ``OPENCLAW_GATEWAY_<ROLE>_TOKEN``: one token;
- ``OPENCLAW_GATEWAY_<ROLE>_TOKEN_FILE``: a file (a mounted Kubernetes secret, say) with one
  token per line, so a token can be rotated by adding the new one before removing the old;
- otherwise ``$OPENCLAW_HOME/secrets/gateway-<role>.token``, created with a random token
  (mode 0600) the first time the gateway starts without any token for that role.
``admin`` tokens may also predict. Tokens are never logged or echoed.
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROLES = ("predict", "admin")
MIN_TOKEN_LENGTH = 16


class TokenError(Exception):
    """The token configuration cannot be used; the message names the source, never a token."""


def default_token_file(home: Path, role: str) -> Path:
    return home / "secrets" / f"gateway-{role}.token"


def _read_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenError(f"cannot read token file {path}: {exc.strerror}") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def ensure_default_token(home: Path, role: str) -> Path:
    """Create the role's token file under OPENCLAW_HOME if it does not exist (atomically, 0600)."""
    path = default_token_file(home, role)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temp, path)  # never replaces a token another process created meanwhile
    except FileExistsError:
        pass
    finally:
        temp.unlink()
    return path


@dataclass(frozen=True)
class Tokens:
    by_role: dict[str, tuple[bytes, ...]]

    @classmethod
    def load(cls, home: Path, create_defaults: bool = True, environ: Mapping[str, str] | None = None) -> Tokens:
        """Each role's tokens from ``environ`` (default: the process environment) and the files it names."""
        environ = os.environ if environ is None else environ
        by_role: dict[str, tuple[bytes, ...]] = {}
        for role in ROLES:
            found: list[str] = []
            name = f"OPENCLAW_GATEWAY_{role.upper()}_TOKEN"
            if environ.get(name, "").strip():
                found.append(environ[name].strip())
            if environ.get(f"{name}_FILE", "").strip():
                found += _read_file(Path(environ[f"{name}_FILE"].strip()))
            if not found:
                path = ensure_default_token(home, role) if create_defaults else default_token_file(home, role)
                if path.exists():
                    found = _read_file(path)
            short = [t for t in found if len(t) < MIN_TOKEN_LENGTH]
            if short:
                raise TokenError(f"{role} tokens must be at least {MIN_TOKEN_LENGTH} characters")
            if not found:
                raise TokenError(f"no {role} token: set {name} or {name}_FILE")
            by_role[role] = tuple(t.encode() for t in found)
        return cls(by_role)

    def role_of(self, header: str | None) -> str | None:
        """The strongest role the ``Authorization`` header's bearer token grants, or None.

        Every configured token is compared, whatever matches, so timing does not tell which.
        """
        if not header or not header.startswith("Bearer "):
            return None
        given = header[len("Bearer ") :].strip().encode()
        granted = None
        for role in ROLES:  # admin last: it wins
            for token in self.by_role.get(role, ()):
                if hmac.compare_digest(given, token):
                    granted = role
        return granted


def allows(role: str | None, needed: str) -> bool:
    return role == "admin" or (role is not None and role == needed)
