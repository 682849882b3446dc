"""The provenance ledger: an append-only, tamper-evident record every plane writes to.

Each entry says what was made (``kind``, ``subject``), its content hash and file, the earlier
entries it was built from (``inputs``) and facts about it (run id, partition, rows...). Entries
are linked into a hash chain (``prev`` is the leaf hash of the entry before) and gathered in an
RFC 9162 Merkle tree (``control/merkle.py``) whose head is signed with ed25519 at every append
(one head per ``append_many`` batch). ``verify`` recomputes everything from the entries and the
public key; a head exported earlier (a witness) catches a truncation of entries and heads alike.

Storage, one implementation over SQLAlchemy Core:

- embedded: SQLite at ``<home>/ledger/ledger.db`` in WAL mode; writers take ``BEGIN IMMEDIATE``
  and wait up to a minute (busy timeout) for one another;
- scale-out: PostgreSQL (``OPENCLAW_LEDGER_URL``, a SQLAlchemy URL); writers take a transaction
  advisory lock.

Tables (prefix ``openclaw_ledger_``): ``entries`` (primary key ``seq``, the leaf index; beside
each entry its leaf hash and the hashes of the perfect subtrees its append completed, so roots
and proofs read O(log n) rows and never rehash leaves), ``inputs`` (the lineage index behind
``children``) and ``heads`` (one signed tree head per append).

The signing key is ``key_file``, else ``$OPENCLAW_LEDGER_KEY_FILE``, else
``<home>/secrets/ledger-signing.key``, created (mode 0600, never clobbering one another process
made meanwhile) when the ledger first signs. Its public key goes to ``<home>/ledger/signing.pub``,
which is what ``verify`` trusts: a ledger whose heads are signed by any other key is rejected.
Paths in entries are relative to the home (posix), so a copied home verifies in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from openclaw_assets.control import merkle
from openclaw_assets.kernel.settings import Profile, parse_profile

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

URL_VARIABLE = "OPENCLAW_LEDGER_URL"
KEY_VARIABLE = "OPENCLAW_LEDGER_KEY_FILE"
DEFAULT_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
TABLE_PREFIX = "openclaw_ledger_"
GENESIS = "00" * 32
"""The ``prev`` of entry 0."""
BUSY_TIMEOUT_S = 60
"""How long a SQLite writer waits for another to commit before giving up."""
HEAD_DOMAIN = b"openclaw-ledger tree head v1\n"
"""Prefixes the bytes a head's signature covers, so they can never be mistaken for anything else."""
FIELDS = ("kind", "subject", "digest", "path", "inputs", "facts")
"""The keyword fields of an append."""
_PAGE = 2000
_WRITE = "openclaw_ledger_write"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KIND = re.compile(r"[a-z][a-z0-9_]{0,63}")
_LOCK_KEY = int.from_bytes(hashlib.sha256(TABLE_PREFIX.encode()).digest()[:8], "big", signed=True)
"""The PostgreSQL advisory lock that serializes appends (a stable 64-bit number from the table prefix)."""


class LedgerError(Exception):
    """The ledger cannot do what was asked: bad input, an unreachable database, a key it must not use."""


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_STRING: Any = json.encoder.encode_basestring  # what that encoder writes for a str


def _canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 text, no NaN or infinity."""
    return _ENCODER.encode(value)


def _text(value: str | None) -> str:
    return "null" if value is None else _STRING(value)


def _leaf_bytes(
    seq: int,
    kind: str,
    subject: str,
    digest: str | None,
    path: str | None,
    inputs_json: str,
    facts_json: str,
    recorded_at: str,
    prev: str,
) -> bytes:
    """``Entry.body()`` assembled from the stored texts (inputs and facts already canonical JSON): the same bytes.

    The keys are written in sorted order, as ``_canonical`` writes them. ``verify`` hashes what is
    stored this way, so any changed byte of any stored field changes the leaf.
    """
    return (
        f'{{"digest":{_text(digest)},"facts":{facts_json},"inputs":{inputs_json},"kind":{_text(kind)},'
        f'"path":{_text(path)},"prev":{_text(prev)},"recorded_at":{_text(recorded_at)},"seq":{int(seq)},'
        f'"subject":{_text(subject)}}}'
    ).encode()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def ledger_dir(home: Path) -> Path:
    return home / "ledger"


def database_file(home: Path) -> Path:
    """The embedded profile's SQLite file."""
    return ledger_dir(home) / "ledger.db"


def public_key_file(home: Path) -> Path:
    """The public keys ``verify`` trusts, beside the ledger (PEM, one block per key)."""
    return ledger_dir(home) / "signing.pub"


def default_key_file(home: Path) -> Path:
    return home / "secrets" / "ledger-signing.key"


def ledger_url(profile: Profile | str | None) -> str | None:
    """None for the embedded profile (SQLite under the home); the PostgreSQL URL for scale-out."""
    if parse_profile(profile) is Profile.EMBEDDED:
        return None
    return os.environ.get(URL_VARIABLE, "").strip() or DEFAULT_URL


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class Entry:
    """One ledger entry; ``body()`` is its Merkle leaf."""

    seq: int
    kind: str
    subject: str
    digest: str | None
    path: str | None
    inputs: tuple[int, ...]
    facts: Mapping[str, Any]
    recorded_at: str
    prev: str

    def body(self) -> bytes:
        """Canonical JSON (sorted keys, compact) of every field: the leaf bytes."""
        fields = {
            "seq": self.seq,
            "kind": self.kind,
            "subject": self.subject,
            "digest": self.digest,
            "path": self.path,
            "inputs": list(self.inputs),
            "facts": dict(self.facts),
            "recorded_at": self.recorded_at,
            "prev": self.prev,
        }
        return _canonical(fields).encode()

    @property
    def leaf_hash(self) -> bytes:
        """SHA-256(0x00 || body): the entry's leaf in the tree, and the next entry's ``prev``."""
        return merkle.leaf_hash(self.body())


def key_id_of(public_key: Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key: the id every head names."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class TreeHead:
    """A signed statement of the tree's size and root at one moment: what an auditor keeps as a witness."""

    size: int
    root: str
    timestamp: str
    key_id: str
    signature: str

    def signed_bytes(self) -> bytes:
        """What the signature covers: the domain prefix, then size, root, timestamp and key id as canonical JSON."""
        signed = {"key_id": self.key_id, "root": self.root, "size": self.size, "timestamp": self.timestamp}
        return HEAD_DOMAIN + _canonical(signed).encode()

    def to_json(self) -> str:
        return _canonical(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TreeHead:
        """A head from its JSON; anything else is a ``LedgerError`` naming what is wrong."""
        try:
            found = json.loads(text)
        except ValueError as exc:
            raise LedgerError(f"not JSON: {exc}") from None
        if not isinstance(found, dict) or set(found) != {"size", "root", "timestamp", "key_id", "signature"}:
            raise LedgerError("a tree head is a JSON object with exactly size, root, timestamp, key_id and signature")
        head = cls(**found)
        problem = head.malformed()
        if problem:
            raise LedgerError(problem)
        return head

    def malformed(self) -> str | None:
        """What is wrong with the fields' form, or None."""
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 0:
            return f"size must be a count of entries, not {self.size!r}"
        for name in ("root", "key_id"):
            if not isinstance(getattr(self, name), str) or not _HEX64.fullmatch(getattr(self, name)):
                return f"{name} must be 64 lowercase hex digits"
        if not isinstance(self.signature, str) or not re.fullmatch(r"[0-9a-f]{128}", self.signature):
            return "signature must be 128 lowercase hex digits (ed25519)"
        if not isinstance(self.timestamp, str) or not self.timestamp:
            return "timestamp must be an ISO-8601 time"
        return None

    def signature_problem(self, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
        """Why this head is not validly signed by one of ``keys`` (by key id), or None when it is."""
        problem = self.malformed()
        if problem:
            return problem
        key = keys.get(self.key_id)
        if key is None:
            return f"it is signed by key {self.key_id[:16]}..., which is not among the ledger's public keys"
        from cryptography.exceptions import InvalidSignature

        try:
            key.verify(bytes.fromhex(self.signature), self.signed_bytes())
        except InvalidSignature:
            return "its signature does not verify"
        return None


@dataclass(frozen=True)
class VerifyReport:
    """What ``Ledger.verify`` found: ``first_bad`` names the first entry that fails, when one does."""

    ok: bool
    entries: int
    heads: int
    files_checked: int
    first_bad: int | None
    message: str


@dataclass(frozen=True)
class _Draft:
    """An append's fields, checked and normalized before the write lock is taken."""

    kind: str
    subject: str
    digest: str | None
    path: str | None
    inputs: tuple[int, ...]
    facts: dict[str, Any]
    facts_json: str


# ---------------------------------------------------------------- keys


def _create_key_file(path: Path, private_secrets_dir: bool) -> None:
    """Write a new ed25519 key (PKCS#8 PEM, mode 0600) at ``path`` unless one is there already.

    Written to a temporary file and hard-linked into place, so a key another process created
    meanwhile is never replaced: both then sign with the one that won.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if private_secrets_dir:
        os.chmod(path.parent, 0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    temp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink()


def _load_private_key(path: Path) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger signing key {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise LedgerError(f"the ledger signing key {path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise LedgerError(f"the ledger signing key {path} is not an ed25519 key")
    return key


def read_public_keys(path: Path) -> dict[str, Ed25519PublicKey]:
    """The ed25519 public keys in a PEM file, by key id."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"cannot read the ledger's public keys {path}: {exc}") from None
    keys = {}
    blocks = re.findall(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", text, re.S)
    for block in blocks:
        try:
            key = serialization.load_pem_public_key(block.encode())
        except ValueError as exc:
            raise LedgerError(f"{path} holds a public key that cannot be read: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise LedgerError(f"{path} holds a public key that is not ed25519")
        keys[key_id_of(key)] = key
    if not keys:
        raise LedgerError(f"{path} holds no PEM public key")
    return keys


def _public_pem(key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


# ---------------------------------------------------------------- storage


def _tables() -> tuple[Table, Table, Table]:
    """The three tables, for SQLite and PostgreSQL alike (SQLite's ``INTEGER PRIMARY KEY`` is its rowid)."""
    from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, MetaData, Table, Text

    big = BigInteger().with_variant(Integer(), "sqlite")
    metadata = MetaData()
    entries = Table(
        f"{TABLE_PREFIX}entries",
        metadata,
        Column("seq", big, primary_key=True, autoincrement=False),
        Column("kind", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("digest", Text),
        Column("path", Text),
        Column("inputs", Text, nullable=False),
        Column("facts", Text, nullable=False),
        Column("recorded_at", Text, nullable=False),
        Column("prev", Text, nullable=False),
        Column("leaf", LargeBinary, nullable=False),
        Column("subtrees", LargeBinary, nullable=False),
        Index(f"{TABLE_PREFIX}entries_subject", "subject", "seq"),
        Index(f"{TABLE_PREFIX}entries_kind", "kind", "seq"),
    )
    inputs = Table(
        f"{TABLE_PREFIX}inputs",
        metadata,
        Column("seq", big, primary_key=True, autoincrement=False),
        Column("input", big, primary_key=True, autoincrement=False),
        Index(f"{TABLE_PREFIX}inputs_input", "input", "seq"),
    )
    heads = Table(
        f"{TABLE_PREFIX}heads",
        metadata,
        Column("size", big, primary_key=True, autoincrement=False),
        Column("root", Text, nullable=False),
        Column("timestamp", Text, nullable=False),
        Column("key_id", Text, nullable=False),
        Column("signature", Text, nullable=False),
    )
    return entries, inputs, heads


def _engine(url: str) -> tuple[Engine, str]:
    """An engine for a SQLite or PostgreSQL URL, and how to name the database in messages (no password)."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise LedgerError(f"not a database URL: {url!r} (e.g. {DEFAULT_URL})") from None
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise LedgerError("the ledger needs a SQLite file, not an in-memory database")
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below, not by the driver
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")  # a recorded entry survives a power cut
            cursor.execute("PRAGMA case_sensitive_like = ON")  # subject prefixes match exactly
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            writing = connection.get_execution_options().get(_WRITE)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

        return engine, shown
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10}), shown
    raise LedgerError(f"the ledger runs on SQLite or PostgreSQL, not {backend} ({shown})")


def _entry(row: Sequence[Any]) -> Entry:
    return Entry(
        int(row[0]), row[1], row[2], row[3], row[4], tuple(json.loads(row[5])), json.loads(row[6]), row[7], row[8]
    )


def _clean_path(path: str) -> bool:
    """A normalized relative posix path (no empty, ``.`` or ``..`` part): what an entry may name."""
    return bool(path) and not path.startswith("/") and all(part not in ("", ".", "..") for part in path.split("/"))


def _sha256_file(path: Path) -> str:
    from openclaw_assets.kernel.atomic import sha256_file

    return sha256_file(path)


# ---------------------------------------------------------------- the ledger


class Ledger:
    """One ledger: append entries, read them back, prove them, verify it all. Safe across threads and processes."""

    def __init__(self, home: Path, engine: Engine, shown: str, key_file: Path | None) -> None:
        self.home = home
        self._engine = engine
        self._shown = shown
        self._postgres = engine.dialect.name == "postgresql"
        self._entries, self._inputs, self._heads = _tables()
        self._key_file = key_file
        self._key: Ed25519PrivateKey | None = None
        self._key_id = ""
        self._key_lock = threading.Lock()
        self._tail: tuple[int, tuple[bytes, ...], str] | None = None
        """(size, frontier, last leaf hex) after this object's last append: reused when nobody appended since."""

    @classmethod
    def open(cls, home: Path, url: str | None = None, key_file: Path | None = None) -> Ledger:
        """The ledger of ``home``: SQLite under it when ``url`` is None, else the database ``url`` names.

        Creates the tables when they are missing; the signing key is only read (or created) when
        the ledger first signs.
        """
        home = Path(home).expanduser().resolve()
        if url is None:
            url = f"sqlite:///{database_file(home)}"
        engine, shown = _engine(url)
        ledger = cls(home, engine, shown, Path(key_file) if key_file is not None else None)
        try:
            ledger._create_tables()
        except BaseException:
            engine.dispose()
            raise
        return ledger

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Ledger({self._shown})"

    def close(self) -> None:
        self._engine.dispose()

    # ------------------------------------------------------------ connections

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database errors as ``LedgerError``s that name the database."""
        from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

        try:
            yield
        except IntegrityError as exc:
            raise LedgerError(
                f"the ledger at {self._shown} refused a write ({exc.orig}): is its lock bypassed?"
            ) from None
        except OperationalError as exc:
            if "locked" in str(exc.orig):
                raise LedgerError(
                    f"the ledger at {self._shown} stayed locked by another writer for {BUSY_TIMEOUT_S} s"
                ) from None
            raise LedgerError(f"cannot use the ledger at {self._shown}: {str(exc.orig).strip()}") from None
        except SQLAlchemyError as exc:
            raise LedgerError(f"the ledger at {self._shown} failed: {exc}") from None

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A transaction holding the ledger's write lock: ``BEGIN IMMEDIATE`` or the advisory lock."""
        from sqlalchemy import func, select

        with self._errors(), self._engine.connect() as connection:
            connection.execution_options(**{_WRITE: True})
            with connection.begin():
                if self._postgres:
                    connection.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))
                yield connection

    @contextmanager
    def _reading(self, snapshot: bool = False) -> Iterator[Connection]:
        """A read transaction; ``snapshot``: one consistent view for its whole life (WAL reader, REPEATABLE READ)."""
        with self._errors(), self._engine.connect() as connection:
            if snapshot and self._postgres:
                connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    def _create_tables(self) -> None:
        from sqlalchemy import inspect

        names = [self._entries.name, self._inputs.name, self._heads.name]
        with self._reading() as connection:
            inspector = inspect(connection)
            if all(inspector.has_table(name) for name in names):
                return
        with self._writing() as connection:  # one creator at a time: the others find the tables made
            self._entries.metadata.create_all(connection)

    # ------------------------------------------------------------ keys

    def _key_path(self) -> Path:
        if self._key_file is not None:
            return self._key_file
        variable = os.environ.get(KEY_VARIABLE, "").strip()
        return Path(variable).expanduser() if variable else default_key_file(self.home)

    def _signing_key(self) -> tuple[Ed25519PrivateKey, str]:
        """The private key and its id, created on first use; its public key is recorded beside the ledger."""
        with self._key_lock:
            if self._key is None:
                path = self._key_path()
                try:
                    _create_key_file(path, private_secrets_dir=path == default_key_file(self.home))
                except OSError as exc:
                    raise LedgerError(f"cannot create the ledger signing key {path}: {exc.strerror}") from None
                key = _load_private_key(path)
                public, key_id = key.public_key(), key_id_of(key.public_key())
                known = public_key_file(self.home)
                if known.exists():
                    if key_id not in read_public_keys(known):
                        raise LedgerError(
                            f"the signing key {path} (key {key_id[:16]}...) is not among the ledger's public keys "
                            f"in {known}: sign with the ledger's key, or add this key's public key there to rotate"
                        )
                else:
                    from openclaw_assets.kernel.atomic import write_bytes_atomic

                    write_bytes_atomic(known, _public_pem(public))
                self._key, self._key_id = key, key_id
            return self._key, self._key_id

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """The keys heads may be signed with: ``signing.pub`` beside the ledger, else the signing key's own."""
        known = public_key_file(self.home)
        if known.exists():
            return read_public_keys(known)
        path = self._key_path()
        if path.exists():
            public = _load_private_key(path).public_key()
            return {key_id_of(public): public}
        return {}

    # ------------------------------------------------------------ appending

    def _draft(self, item: Mapping[str, Any], position: int) -> _Draft:
        where = f"ledger item {position}"
        if not isinstance(item, Mapping):
            raise LedgerError(f"{where}: an item is a dict of {', '.join(FIELDS)}, not {type(item).__name__}")
        unknown = sorted(set(item) - set(FIELDS))
        if unknown:
            raise LedgerError(f"{where}: unknown field(s) {unknown}; an item has {', '.join(FIELDS)}")
        kind, subject = item.get("kind"), item.get("subject")
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            raise LedgerError(f"{where}: kind must be a lowercase word like 'table' or 'model', not {kind!r}")
        if not isinstance(subject, str) or not subject.strip():
            raise LedgerError(f"{where}: subject must be a non-empty string, not {subject!r}")
        digest = item.get("digest")
        if digest is not None:
            if not isinstance(digest, str) or not _HEX64.fullmatch(digest.lower()):
                raise LedgerError(f"{where}: digest must be a SHA-256 in hex (64 digits), not {digest!r}")
            digest = digest.lower()
        path = item.get("path")
        if path is not None:
            path = self._relative(path, where)
            if digest is None:
                target = self.home / path
                if not target.is_file():
                    raise LedgerError(f"{where}: {path} is not a file under {self.home}")
                digest = _sha256_file(target)
        inputs = item.get("inputs") or ()
        if isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
            raise LedgerError(f"{where}: inputs must be a list of entry numbers, not {inputs!r}")
        inputs = tuple(inputs)
        bad = [i for i in inputs if not isinstance(i, int) or isinstance(i, bool) or i < 0]
        if bad:
            raise LedgerError(f"{where}: inputs are the seqs of earlier entries (integers from 0), not {bad!r}")
        facts = item.get("facts")
        facts = {} if facts is None else facts
        if not isinstance(facts, Mapping):
            raise LedgerError(f"{where}: facts must be a mapping, not {type(facts).__name__}")
        try:
            facts_json = _canonical(dict(facts))
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"{where}: facts must be JSON-safe (strings as keys, no NaN): {exc}") from None
        normalized = json.loads(facts_json)  # what reading the entry back gives: lists for tuples, str keys
        if normalized != facts:
            facts_json = _canonical(normalized)
        return _Draft(kind, subject, digest, path, tuple(dict.fromkeys(inputs)), normalized, facts_json)

    def _relative(self, value: Any, where: str) -> str:
        """``value`` as a normalized posix path relative to the home; absolute paths must lie under it."""
        if not isinstance(value, (str, os.PathLike)):
            raise LedgerError(f"{where}: path must be a path under the home, not {value!r}")
        if isinstance(value, str) and _clean_path(value):
            return value
        text = os.fspath(value)
        if os.path.isabs(text):
            for candidate in (Path(os.path.normpath(text)), Path(text).resolve()):
                try:
                    text = candidate.relative_to(self.home).as_posix()
                    break
                except ValueError:
                    continue
            else:
                raise LedgerError(f"{where}: {value} is outside the home {self.home}; the ledger names files under it")
        pure = PurePosixPath(text.replace(os.sep, "/"))
        if not pure.parts or ".." in pure.parts or pure.is_absolute():
            raise LedgerError(f"{where}: path {value!r} must name a file under the home, without '..'")
        return pure.as_posix()

    def append(
        self,
        kind: str,
        subject: str,
        *,
        digest: str | None = None,
        path: str | None = None,
        inputs: Sequence[int] = (),
        facts: Mapping[str, Any] | None = None,
    ) -> Entry:
        """Record one entry and sign the new tree head.

        ``path`` is a file under the home (relative, or absolute under it); without a ``digest`` the
        file is hashed now. ``inputs`` are the seqs of earlier entries this was built from.
        """
        item = {"kind": kind, "subject": subject, "digest": digest, "path": path, "inputs": inputs, "facts": facts}
        return self.append_many([item])[0]

    def append_many(self, items: Iterable[Mapping[str, Any]]) -> list[Entry]:
        """Record several entries in one transaction, under one signed head; all or none are recorded."""
        drafts = [self._draft(item, position) for position, item in enumerate(items)]
        if not drafts:
            return []
        key, key_id = self._signing_key()
        with self._writing() as connection:
            size = self._size(connection)
            tail = self._tail
            if tail is not None and tail[0] == size:  # the entries are append-only: same size, same tree
                frontier, prev = merkle.Frontier(size, tail[1]), tail[2]
            else:
                lookup = self._nodes(
                    connection, set(merkle.perfect_subtrees(0, size)) | ({(0, size - 1)} if size else set())
                )
                frontier = merkle.Frontier.load(size, lookup)
                prev = lookup(0, size - 1).hex() if size else GENESIS
            now = _now()
            entries, rows, edges = [], [], []
            for offset, draft in enumerate(drafts):
                seq = size + offset
                later = [i for i in draft.inputs if i >= seq]
                if later:
                    raise LedgerError(
                        f"ledger item {offset}: inputs {later} are not earlier entries (this one would be entry {seq})"
                    )
                entry = Entry(
                    seq, draft.kind, draft.subject, draft.digest, draft.path, draft.inputs, draft.facts, now, prev
                )
                inputs_json = _canonical(list(entry.inputs))
                body = _leaf_bytes(
                    seq, entry.kind, entry.subject, entry.digest, entry.path, inputs_json, draft.facts_json, now, prev
                )
                leaf = merkle.leaf_hash(body)
                completed = frontier.append(leaf)
                rows.append(
                    {
                        "seq": seq,
                        "kind": entry.kind,
                        "subject": entry.subject,
                        "digest": entry.digest,
                        "path": entry.path,
                        "inputs": inputs_json,
                        "facts": draft.facts_json,
                        "recorded_at": now,
                        "prev": prev,
                        "leaf": leaf,
                        "subtrees": b"".join(completed),
                    }
                )
                edges += [{"seq": seq, "input": i} for i in entry.inputs]
                entries.append(entry)
                prev = leaf.hex()
            unsigned = TreeHead(frontier.size, frontier.root().hex(), now, key_id, "")
            head = replace(unsigned, signature=key.sign(unsigned.signed_bytes()).hex())
            connection.execute(self._entries.insert(), rows)
            if edges:
                connection.execute(self._inputs.insert(), edges)
            connection.execute(self._heads.insert(), [asdict(head)])
        self._tail = (frontier.size, tuple(frontier.hashes), prev)
        return entries

    # ------------------------------------------------------------ reading

    def _columns(self) -> list[Any]:
        c = self._entries.c
        return [c.seq, c.kind, c.subject, c.digest, c.path, c.inputs, c.facts, c.recorded_at, c.prev]

    def _size(self, connection: Connection) -> int:
        from sqlalchemy import func, select

        last = connection.execute(select(func.max(self._entries.c.seq))).scalar()
        return 0 if last is None else int(last) + 1

    def _nodes(self, connection: Connection, nodes: set[merkle.Node]) -> merkle.NodeLookup:
        """A lookup of the stored hashes of ``nodes``, read in one query (each lives in the row that completed it)."""
        from sqlalchemy import select

        positions = {merkle.node_position(level, index) for level, index in nodes}
        c = self._entries.c
        rows = {}
        if positions:
            query = select(c.seq, c.leaf, c.subtrees).where(c.seq.in_(sorted(positions)))
            rows = {int(seq): (bytes(leaf), bytes(subtrees)) for seq, leaf, subtrees in connection.execute(query)}
        found: dict[merkle.Node, bytes] = {}
        for level, index in nodes:
            row = rows.get(merkle.node_position(level, index))
            value = None
            if row is not None:
                value = row[0] if level == 0 else row[1][(level - 1) * merkle.HASH_SIZE : level * merkle.HASH_SIZE]
            if value is None or len(value) != merkle.HASH_SIZE:
                raise LedgerError(
                    f"the ledger at {self._shown} is damaged: entry {merkle.node_position(level, index)}'s tree hashes "
                    "are missing; run `openclaw ledger verify`"
                )
            found[(level, index)] = value
        return lambda level, index: found[(level, index)]

    def size(self) -> int:
        """How many entries the ledger holds."""
        with self._reading() as connection:
            return self._size(connection)

    def entry(self, seq: int) -> Entry:
        from sqlalchemy import select

        with self._reading() as connection:
            row = connection.execute(select(*self._columns()).where(self._entries.c.seq == seq)).first()
        if row is None:
            raise LedgerError(f"the ledger has no entry {seq}")
        return _entry(row)

    def entries(self, start: int = 0, stop: int | None = None) -> Iterator[Entry]:
        """Entries ``start`` up to ``stop`` (excluded; the end by default) in order, read a page at a time."""
        from sqlalchemy import select

        if start < 0 or (stop is not None and stop < start):
            raise LedgerError(f"not a range of entries: {start} to {stop}")
        seq = self._entries.c.seq
        while stop is None or start < stop:
            query = select(*self._columns()).where(seq >= start)
            if stop is not None:
                query = query.where(seq < stop)
            with self._reading() as connection:
                rows = connection.execute(query.order_by(seq).limit(_PAGE)).all()
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            start = int(rows[-1][0]) + 1

    def latest(self, subject: str) -> Entry | None:
        """The newest entry about ``subject``."""
        from sqlalchemy import select

        c = self._entries.c
        query = select(*self._columns()).where(c.subject == subject).order_by(c.seq.desc()).limit(1)
        with self._reading() as connection:
            row = connection.execute(query).first()
        return None if row is None else _entry(row)

    def find(self, kind: str | None = None, subject_prefix: str | None = None) -> list[Entry]:
        """Entries of ``kind`` and/or whose subject starts with ``subject_prefix``, oldest first."""
        from sqlalchemy import select

        c = self._entries.c
        query = select(*self._columns())
        if kind is not None:
            query = query.where(c.kind == kind)
        if subject_prefix:
            query = query.where(c.subject.startswith(subject_prefix, autoescape=True))
        with self._reading() as connection:
            rows = connection.execute(query.order_by(c.seq)).all()
        found = [_entry(row) for row in rows]
        return [e for e in found if e.subject.startswith(subject_prefix)] if subject_prefix else found

    def children(self, seq: int) -> list[Entry]:
        """The entries that list ``seq`` among their inputs, oldest first."""
        from sqlalchemy import select

        c, edges = self._entries.c, self._inputs.c
        query = select(*self._columns()).join(self._inputs, edges.seq == c.seq).where(edges.input == seq)
        with self._reading() as connection:
            return [_entry(row) for row in connection.execute(query.order_by(c.seq))]

    def head(self) -> TreeHead | None:
        """The newest signed tree head."""
        from sqlalchemy import select

        h = self._heads.c
        query = select(h.size, h.root, h.timestamp, h.key_id, h.signature).order_by(h.size.desc()).limit(1)
        with self._reading() as connection:
            row = connection.execute(query).first()
        return None if row is None else TreeHead(int(row[0]), row[1], row[2], row[3], row[4])

    # ------------------------------------------------------------ proofs

    def _checked_size(self, connection: Connection, size: int | None) -> int:
        current = self._size(connection)
        if size is None:
            return current
        if not 0 <= size <= current:
            raise LedgerError(f"the ledger has {current} entries, so it has no tree of size {size}")
        return size

    def root(self, size: int | None = None) -> str:
        """The tree hash (hex) of the first ``size`` entries (all by default), from O(log n) stored nodes."""
        with self._reading() as connection:
            size = self._checked_size(connection, size)
            lookup = self._nodes(connection, set(merkle.perfect_subtrees(0, size)))
            return merkle.range_hash(0, size, lookup).hex()

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[str]:
        """The RFC 9162 proof (hex, bottom-up) that entry ``seq`` is in the tree of ``size`` entries (default: all)."""
        with self._reading() as connection:
            size = self._checked_size(connection, size)
            if not 0 <= seq < size:
                raise LedgerError(f"entry {seq} is not in a tree of {size} entries")
            ranges = merkle.inclusion_ranges(seq, size)
            lookup = self._nodes(connection, merkle.needed_nodes(ranges))
        return [merkle.range_hash(start, end, lookup).hex() for start, end in ranges]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[str]:
        """The RFC 9162 proof (hex) that the tree of ``old_size`` entries is a prefix of the one of ``new_size``."""
        with self._reading() as connection:
            new_size = self._checked_size(connection, new_size)
            if not 0 <= old_size <= new_size:
                raise LedgerError(f"no consistency proof from {old_size} entries to {new_size}")
            ranges = merkle.consistency_ranges(old_size, new_size)
            lookup = self._nodes(connection, merkle.needed_nodes(ranges))
        return [merkle.range_hash(start, end, lookup).hex() for start, end in ranges]

    # ------------------------------------------------------------ verification

    def verify(self, check_files: bool = True, witness: TreeHead | None = None) -> VerifyReport:
        """Recompute the whole ledger from its entries and the public keys; name the first entry that fails.

        Checked, in one consistent snapshot: each entry's fields and inputs (earlier entries only),
        its chain link to the entry before, its leaf hash and the subtree hashes stored beside it,
        the lineage index; the root and signature of every stored head (every head's root is
        recomputed from the same leaves, so each is a prefix of the next: successive heads are
        consistent); that the newest head covers exactly all entries; that ``witness``, a head
        exported earlier, is signed by a ledger key and is a prefix of the current tree. Then, with
        ``check_files``, that each file the newest entry for its path names still hashes to its digest
        (older entries for a path are superseded by newer ones).
        """
        try:
            keys = self.public_keys()
        except LedgerError as exc:
            return VerifyReport(False, 0, 0, 0, None, str(exc))
        with self._reading(snapshot=True) as connection:
            check = _Verification(self, connection, keys, witness)
            check.run()
        if check.failure is None and check_files:
            check.check_files()
        return check.report()


class _Verification:
    """One pass over the entries, the lineage index and the heads in order, recomputing the tree as it goes."""

    def __init__(
        self,
        ledger: Ledger,
        connection: Connection,
        keys: Mapping[str, Ed25519PublicKey],
        witness: TreeHead | None,
    ) -> None:
        self.ledger, self.connection, self.keys, self.witness = ledger, connection, keys, witness
        self.frontier = merkle.Frontier()
        self.files: dict[str, tuple[int, str | None]] = {}
        self.failure: tuple[int | None, str] | None = None
        self.heads = self.files_checked = self.size = 0
        self.newest: TreeHead | None = None

    def fail(self, seq: int | None, message: str) -> None:
        self.failure = (seq, message)

    def _stream(self, query: Any) -> Iterator[Any]:
        return iter(self.connection.execute(query.execution_options(yield_per=_PAGE)))

    def run(self) -> None:
        from sqlalchemy import select

        ledger = self.ledger
        e, i, h = ledger._entries.c, ledger._inputs.c, ledger._heads.c
        rows = self._stream(select(*ledger._columns(), e.leaf, e.subtrees).order_by(e.seq))
        edges = self._stream(select(i.seq, i.input).order_by(i.seq, i.input))
        heads = self._stream(select(h.size, h.root, h.timestamp, h.key_id, h.signature).order_by(h.size))
        edge, head = next(edges, None), next(heads, None)
        if self.witness is not None:
            problem = self.witness.signature_problem(self.keys)
            if problem:
                return self.fail(None, f"the witness head is not the ledger's: {problem}")
        if self.witness is not None and self.witness.size == 0 and self.witness.root != merkle.EMPTY_ROOT.hex():
            return self.fail(None, "the witness head of size 0 does not have the empty tree's root")
        if head is not None and int(head[0]) < 1:
            return self.fail(0, f"a signed head of size {head[0]} is stored; heads cover at least one entry")
        prev = GENESIS
        seq = 0
        for row in rows:
            self.size = seq
            if int(row[0]) != seq:
                return self.fail(seq, f"entry {seq} is missing (the next stored entry is {row[0]})")
            found: list[int] = []
            while edge is not None and int(edge[0]) <= seq:
                if int(edge[0]) < seq:
                    return self.fail(int(edge[0]), f"the lineage index lists inputs for entry {edge[0]}, which is gone")
                found.append(int(edge[1]))
                edge = next(edges, None)
            problem, leaf = self._entry(seq, row, prev, found)
            if problem:
                return self.fail(seq, problem)
            prev = leaf.hex()
            seq += 1
            while head is not None and int(head[0]) == seq:
                if not self._head(head):
                    return None
                head = next(heads, None)
            if (
                self.witness is not None
                and self.witness.size == seq
                and self.witness.root != self.frontier.root().hex()
            ):
                return self.fail(
                    seq - 1, f"the witness head of size {seq} has a different root: entries before {seq} were rewritten"
                )
        self.size = size = seq
        if edge is not None:
            return self.fail(
                size, f"the lineage index lists inputs for entry {edge[0]}, which does not exist ({size} entries)"
            )
        if head is not None:
            return self.fail(size, f"entry {size} is missing: the signed head of size {head[0]} covers it")
        if self.witness is not None and self.witness.size > size:
            return self.fail(
                size,
                f"entry {size} is missing: the witness head covers {self.witness.size} entries, the ledger holds "
                f"{size} (entries and heads were removed)",
            )
        covered = self.newest.size if self.newest else 0
        if covered != size:
            return self.fail(covered, f"entries {covered} to {size - 1} are not covered by any signed head")
        return None

    def _entry(self, seq: int, row: Sequence[Any], prev: str, indexed: list[int]) -> tuple[str | None, bytes]:
        """What is wrong with the entry in ``row`` (None when nothing), and its recomputed leaf hash."""
        try:
            kind, subject, digest, path, inputs_json, facts_json, recorded_at, stored_prev = row[1:9]
            leaf_stored, subtrees_stored = bytes(row[9]), bytes(row[10])
            leaf = merkle.leaf_hash(
                _leaf_bytes(seq, kind, subject, digest, path, inputs_json, facts_json, recorded_at, stored_prev)
            )
            if leaf != leaf_stored:
                return f"entry {seq} was changed after it was recorded: its content does not match its leaf hash", leaf
            inputs = json.loads(inputs_json)
            if not isinstance(inputs, list) or any(
                not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < seq for n in inputs
            ):
                return f"entry {seq} lists inputs {inputs}: inputs must be earlier entries", leaf
            if len(set(inputs)) != len(inputs):
                return f"entry {seq} lists an input twice: {inputs}", leaf
            if path is not None and not _clean_path(path):
                return f"entry {seq} names the path {path!r}, which is not a relative path under the home", leaf
            if digest is not None and not _HEX64.fullmatch(digest):
                return f"entry {seq}'s digest {digest!r} is not a SHA-256 in lowercase hex", leaf
            if path is not None and digest is None:
                return f"entry {seq} names the file {path} but no digest of it", leaf
        except (TypeError, ValueError, AttributeError) as exc:
            return f"entry {seq} cannot be read: {exc}", b""
        if stored_prev != prev:
            return f"entry {seq} does not link to entry {seq - 1}: its prev is not that entry's hash", leaf
        if sorted(indexed) != sorted(inputs):
            return f"the lineage index gives entry {seq} the inputs {sorted(indexed)}, the entry lists {inputs}", leaf
        if b"".join(self.frontier.append(leaf)) != subtrees_stored:
            return f"entry {seq}'s stored subtree hashes do not match the tree (proofs through it would be wrong)", leaf
        if path is not None:
            self.files[path] = (seq, digest)
        return None, leaf

    def _head(self, row: Sequence[Any]) -> bool:
        """Check the head stored at the size just reached; False (with the failure noted) when it is bad."""
        size = int(row[0])
        head = TreeHead(size, row[1], row[2], row[3], row[4])
        problem: str | None
        if not self.keys:
            where = public_key_file(self.ledger.home)
            problem = f"there is no public key to check its signature with ({where} is missing)"
        else:
            problem = head.signature_problem(self.keys)
        if problem is None and head.root != self.frontier.root().hex():
            problem = "its root is not the root of the entries it covers"
        if problem:
            self.fail(size - 1, f"the signed head of size {size} is wrong: {problem}")
            return False
        self.heads += 1
        self.newest = head
        return True

    def check_files(self) -> None:
        """Re-hash every file named by the newest entry for its path; note the first that changed or went."""
        for path, (seq, digest) in sorted(self.files.items(), key=lambda item: item[1][0]):
            target = self.ledger.home / path
            if not target.is_file():
                return self.fail(seq, f"entry {seq} names {path}, which no longer exists under {self.ledger.home}")
            found = _sha256_file(target)
            self.files_checked += 1
            if found != digest:
                return self.fail(
                    seq,
                    f"{path} changed after entry {seq} recorded it "
                    f"(sha256 {found[:16]}..., recorded {str(digest)[:16]}...)",
                )

    def report(self) -> VerifyReport:
        if self.failure is not None:
            seq, message = self.failure
            return VerifyReport(False, self.size, self.heads, self.files_checked, seq, message)
        size = self.size
        if self.newest is None:
            return VerifyReport(True, 0, 0, 0, None, "0 entries, 0 signed heads, 0 files re-hashed (an empty ledger)")
        message = (
            f"{size} entries, {self.heads} signed heads, {self.files_checked} files re-hashed, "
            f"root {self.newest.root[:16]}..., key {self.newest.key_id[:16]}..."
        )
        return VerifyReport(True, size, self.heads, self.files_checked, None, message)
