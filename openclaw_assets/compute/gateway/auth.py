"""Bearer tokens: who a request is (its role), from SHA-256 digests that are re-read when they change.

What the gateway reads never holds a token, only ``sha256:<hex>`` digests of tokens; a request's
token is hashed and compared in constant time with every digest. Sources, per role (``predict``,
``admin``, ``auditor``):

- ``OPENCLAW_GATEWAY_<ROLE>_TOKEN``: one token (or its digest), hashed when read;
- ``OPENCLAW_GATEWAY_<ROLE>_TOKEN_FILE``: a file (a mounted Kubernetes secret, say) with one token
  or ``sha256:<hex>`` digest per line, so a token is rotated by adding the new one before
  removing the old;
- with neither set, the token store ``$OPENCLAW_HOME/secrets/gateway-tokens``: ``<role> sha256:<hex>``
  lines (and an optional note). A role with no token there on the first start gets one issued: its
  digest goes into the store and the token itself, once, into ``secrets/gateway-<role>.token``
  (mode 0600), the local caller's copy, which the gateway never reads again.

The files are watched (modification time, size and inode, checked at most once a second, or at
once on ``POST /v1/admin/reload``): a token added works and a token removed stops working without a
restart. A file that cannot be read or parsed on a reload leaves the previous tokens in force and
is logged. SHA-256 and not a slow KDF: issued tokens carry 256 random bits, so a digest cannot be
guessed back, and the check costs microseconds instead of tens of milliseconds per request.
Tokens are never logged or echoed, and no message names a line's content.

``python -m openclaw_assets.compute.gateway.auth issue|list|revoke`` manages the token store.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROLES = ("predict", "admin", "auditor")
MIN_TOKEN_LENGTH = 16
CHECK_SECONDS = 1.0
"""How often, at most, the watched files are looked at for a change."""
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
log = logging.getLogger("openclaw.gateway")


class TokenError(Exception):
    """The token configuration cannot be used; the message names the source and line, never a token."""


def secrets_dir(home: Path) -> Path:
    return home / "secrets"


def token_store(home: Path) -> Path:
    """The role/digest lines the gateway reads when a role has no token from the environment."""
    return secrets_dir(home) / "gateway-tokens"


def default_token_file(home: Path, role: str) -> Path:
    """The local caller's copy of the token issued for ``role`` on the first start (the gateway never reads it)."""
    return secrets_dir(home) / f"gateway-{role}.token"


def digest_of(token: str) -> str:
    """``sha256:<hex>`` of a token, as the store keeps it."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def _as_digest(value: str, where: str) -> str:
    """A configured token or digest as a digest; a short token is refused (naming ``where``, not the value)."""
    if value.startswith("sha256:"):
        if not DIGEST.match(value):
            raise TokenError(f"{where}: a digest must be sha256: and 64 lowercase hex digits")
        return value
    if len(value) < MIN_TOKEN_LENGTH:
        raise TokenError(f"{where}: tokens must be at least {MIN_TOKEN_LENGTH} characters")
    return digest_of(value)


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise TokenError(f"cannot read token file {path}: {reason}") from None
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            found.append((number, line))
    return found


def read_token_file(path: Path, role: str) -> list[str]:
    """The digests of a ``_FILE``: one token or digest per line, blank lines and ``#`` comments skipped."""
    return [_as_digest(line, f"{path}:{number} ({role})") for number, line in _lines(path)]


def read_store(path: Path) -> dict[str, list[str]]:
    """The digests of the token store by role; a missing store holds none."""
    by_role: dict[str, list[str]] = {role: [] for role in ROLES}
    if not path.exists():
        return by_role
    for number, line in _lines(path):
        parts = line.split(None, 2)
        if len(parts) < 2 or parts[0] not in ROLES or not DIGEST.match(parts[1]):
            raise TokenError(
                f"{path}:{number}: expected `<role> sha256:<64 hex digits> [note]` with role one of {', '.join(ROLES)}"
            )
        by_role[parts[0]].append(parts[1])
    return by_role


@contextlib.contextmanager
def _store_lock(home: Path) -> Iterator[None]:
    """An exclusive lock beside the store, so that two processes issuing at once both keep their tokens."""
    import fcntl

    folder = secrets_dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    fd = os.open(folder / ".gateway-tokens.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically with mode 0600 from the start (a token never sits in a readable file)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def _rewrite_store(home: Path, keep: list[str]) -> None:
    header = "# role sha256:<digest of the token> [note]; the gateway re-reads this file when it changes\n"
    body = "".join(line + "\n" for line in keep if not line.startswith("#"))
    _write_private(token_store(home), header + body)


def _store_lines(home: Path) -> list[str]:
    path = token_store(home)
    read_store(path)  # refuse to extend a store that does not parse
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def issue_token(home: Path, role: str, note: str = "") -> str:
    """A new random token for ``role``: its digest is appended to the store; the token is returned, never stored."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    with _store_lock(home):
        lines = [line for line in _store_lines(home) if line]
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        lines.append(f"{role} {digest_of(token)} {note or 'issued'} {stamp}".rstrip())
        _rewrite_store(home, lines)
    return token


def revoke(home: Path, digest: str | None = None, role: str | None = None) -> int:
    """Remove the store's line for ``digest`` (or every line of ``role``); the number of lines removed."""
    with _store_lock(home):
        lines = [line for line in _store_lines(home) if line and not line.startswith("#")]
        kept = [
            line
            for line in lines
            if not (
                (digest is not None and line.split()[1] == digest) or (role is not None and line.split()[0] == role)
            )
        ]
        if len(kept) != len(lines):
            _rewrite_store(home, kept)
        return len(lines) - len(kept)


def ensure_default_tokens(home: Path, roles: tuple[str, ...]) -> None:
    """Issue a token for each of ``roles`` that has none in the store, the token itself into its local file.

    A home from before the store (no store file yet) keeps its tokens: each existing
    ``gateway-<role>.token`` is hashed into the new store instead. Once the store exists, a role
    without a token there (all of them revoked) gets a new one, replacing the old local copy.
    """
    with _store_lock(home):
        store_exists = token_store(home).exists()
        lines = [line for line in _store_lines(home) if line]
        present = read_store(token_store(home))
        changed = False
        for role in roles:
            if present[role]:
                continue
            copy = default_token_file(home, role)
            if not store_exists and copy.exists():
                lines += [f"{role} {digest} from {copy.name}" for digest in read_token_file(copy, role)]
            else:
                token = secrets.token_urlsafe(32)
                _write_private(copy, token + "\n")
                stamp = datetime.now(UTC).isoformat(timespec="seconds")
                lines.append(f"{role} {digest_of(token)} issued on first start {stamp}")
            changed = True
        if changed:
            _rewrite_store(home, lines)


@dataclass(frozen=True)
class Sources:
    """Where each role's tokens come from: digests of environment tokens, and files to (re-)read."""

    home: Path
    fixed: dict[str, tuple[str, ...]]
    files: dict[str, Path | None]
    store_roles: tuple[str, ...]

    @classmethod
    def from_env(cls, home: Path, environ: Mapping[str, str]) -> Sources:
        fixed: dict[str, tuple[str, ...]] = {}
        files: dict[str, Path | None] = {}
        store_roles = []
        for role in ROLES:
            name = f"OPENCLAW_GATEWAY_{role.upper()}_TOKEN"
            value = environ.get(name, "").strip()
            fixed[role] = (_as_digest(value, name),) if value else ()
            path = environ.get(f"{name}_FILE", "").strip()
            files[role] = Path(path).expanduser() if path else None
            if not value and not path:
                store_roles.append(role)
        return cls(home, fixed, files, tuple(store_roles))

    def watched(self) -> tuple[Path, ...]:
        paths = [path for path in self.files.values() if path is not None]
        if self.store_roles:
            paths.append(token_store(self.home))
        return tuple(dict.fromkeys(paths))

    def read(self) -> dict[str, tuple[str, ...]]:
        """Every role's digests now; TokenError if a source cannot be read or one token has two roles."""
        store = read_store(token_store(self.home)) if self.store_roles else {}
        by_role: dict[str, tuple[str, ...]] = {}
        for role in ROLES:
            found = list(self.fixed[role])
            path = self.files[role]
            if path is not None:
                found += read_token_file(path, role)
            if role in self.store_roles:
                found += store[role]
            by_role[role] = tuple(dict.fromkeys(found))
        owner: dict[str, str] = {}
        for role, digests in by_role.items():
            for digest in digests:
                if digest in owner:
                    raise TokenError(f"one token is configured for both the {owner[digest]} and the {role} role")
                owner[digest] = role
        return by_role


def _stamp(paths: tuple[Path, ...]) -> tuple[tuple[int, int, int] | None, ...]:
    stamps: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            stamps.append(None)
            continue
        stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
    return tuple(stamps)


class Tokens:
    """The gateway's tokens: digests by role, re-read when a watched file changes. Safe across threads."""

    def __init__(self, sources: Sources, by_role: dict[str, tuple[str, ...]]) -> None:
        self.sources = sources
        self.by_role = by_role
        self._watched = sources.watched()
        self._stamps = _stamp(self._watched)
        self._checked = time.monotonic()
        self._lock = threading.Lock()
        self.loaded_at = datetime.now(UTC).isoformat(timespec="seconds")

    @classmethod
    def load(cls, home: Path, create_defaults: bool = True, environ: Mapping[str, str] | None = None) -> Tokens:
        """Each role's tokens from ``environ`` (default: the process environment), the files it names, or the store.

        Roles left to the store get a token issued there on the first start (``create_defaults``);
        a role without any token is a TokenError naming its variables.
        """
        sources = Sources.from_env(home, os.environ if environ is None else environ)
        if create_defaults and sources.store_roles:
            try:
                ensure_default_tokens(home, sources.store_roles)
            except OSError as exc:
                raise TokenError(f"cannot issue tokens in {secrets_dir(home)}: {exc.strerror}") from None
        by_role = sources.read()
        for role, digests in by_role.items():
            if not digests:
                name = f"OPENCLAW_GATEWAY_{role.upper()}_TOKEN"
                raise TokenError(f"no {role} token: set {name} or {name}_FILE, or issue one into {token_store(home)}")
        return cls(sources, by_role)

    def counts(self) -> dict[str, int]:
        return {role: len(digests) for role, digests in self.by_role.items()}

    def reload(self) -> bool:
        """Re-read every source now; True if the tokens changed. TokenError (the old tokens stay) if one is broken."""
        with self._lock:
            self._stamps = _stamp(self._watched)
            self._checked = time.monotonic()
            try:
                by_role = self.sources.read()
            except TokenError as exc:
                log.error("token sources not reloaded, the previous tokens stay in force: %s", exc)
                raise
            if by_role == self.by_role:
                return False
            self.by_role = by_role
            self.loaded_at = datetime.now(UTC).isoformat(timespec="seconds")
        counts = ", ".join(f"{n} {role}" for role, n in self.counts().items())
        log.info("tokens reloaded: %s", counts)
        return True

    def refresh(self) -> None:
        """Reload if a watched file changed, looking at most once every ``CHECK_SECONDS``."""
        now = time.monotonic()
        if now - self._checked < CHECK_SECONDS:
            return
        self._checked = now
        if _stamp(self._watched) != self._stamps:
            with contextlib.suppress(TokenError):  # logged; the previous tokens stay
                self.reload()

    def role_of(self, header: str | None) -> str | None:
        """The role the ``Authorization`` header's bearer token has, or None.

        The token's digest is compared with every configured digest, whatever matches, so timing
        does not tell which.
        """
        self.refresh()
        if not header or not header.startswith("Bearer "):
            return None
        given = digest_of(header[len("Bearer ") :].strip()).encode()
        granted = None
        for role, digests in self.by_role.items():
            for digest in digests:
                if hmac.compare_digest(given, digest.encode()):
                    granted = role
        return granted


def client_token(home: Path, role: str, environ: Mapping[str, str] | None = None) -> str | None:
    """A token a local client (the rollback sensor, a script) can send for ``role``, or None.

    The caller's side of the sources above: the environment's token, else the first token (not
    digest) of its ``_FILE``, else the local copy issued on the first start.
    """
    environ = os.environ if environ is None else environ
    name = f"OPENCLAW_GATEWAY_{role.upper()}_TOKEN"
    value = environ.get(name, "").strip()
    if value and not value.startswith("sha256:"):
        return value
    candidates = [Path(environ[f"{name}_FILE"].strip()).expanduser()] if environ.get(f"{name}_FILE", "").strip() else []
    candidates.append(default_token_file(home, role))
    for path in candidates:
        with contextlib.suppress(TokenError):
            for _, line in _lines(path) if path.exists() else []:
                if not line.startswith("sha256:"):
                    return line
    return None


def allows(role: str | None, needed: str) -> bool:
    """The role check the gateway made before its policy: admin may do anything, another role only its own.

    Kept as the peer the policy benchmark measures against; the gateway asks the ``gateway_request`` policy.
    """
    return role == "admin" or (role is not None and role == needed)


# ---------------------------------------------------------------- the command line


def main(argv: list[str] | None = None) -> int:
    """Manage the token store: ``issue`` prints a new token once, ``list`` shows digests, ``revoke`` removes."""
    from openclaw_assets.kernel.settings import openclaw_home

    parser = argparse.ArgumentParser(prog="python -m openclaw_assets.compute.gateway.auth", description=main.__doc__)
    parser.add_argument("--home", default=None, help="OPENCLAW_HOME (default: the environment's, else ./.openclaw)")
    commands = parser.add_subparsers(dest="command", required=True)
    issue = commands.add_parser("issue", help="issue a token for a role; it is printed once and never stored")
    issue.add_argument("role", choices=ROLES)
    issue.add_argument("--note", default="", help="a note kept beside the digest (who or what holds the token)")
    commands.add_parser("list", help="the store's roles, digests and notes")
    remove = commands.add_parser("revoke", help="remove a digest (or every token of a role) from the store")
    group = remove.add_mutually_exclusive_group(required=True)
    group.add_argument("--digest", help="the sha256:<hex> digest to remove (see list)")
    group.add_argument("--role", choices=ROLES, help="remove every token of this role")
    args = parser.parse_args(argv)
    home = openclaw_home(args.home)
    try:
        if args.command == "issue":
            print(issue_token(home, args.role, " ".join(args.note.split())))
            print(f"issued a {args.role} token; its digest is in {token_store(home)}", file=sys.stderr)
        elif args.command == "list":
            path = token_store(home)
            read_store(path)
            for line in path.read_text(encoding="utf-8").splitlines() if path.exists() else []:
                if line.strip() and not line.startswith("#"):
                    print(line)
        else:
            removed = revoke(home, digest=args.digest, role=args.role)
            print(f"removed {removed} token(s) from {token_store(home)}")
            if not removed:
                return 1
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
