"""Control plane case: the provenance ledger's appends, proofs and verification at a million entries."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import _project as p
from bench.runner import BenchError, Case, imports, median, n, ratio, run_task, x

KINDS = ("table", "prediction_log", "evaluation", "model")


def items(start: int, count: int) -> list[dict[str, Any]]:
    """Entries like the pipeline's: a subject, a file and its digest, the previous entry as input, a few facts."""
    out = []
    for i in range(start, start + count):
        out.append(
            {
                "kind": KINDS[i % len(KINDS)],
                "subject": f"table:validated/flights/{i // 1000}/{i}",
                "digest": hashlib.sha256(i.to_bytes(8, "big")).hexdigest(),
                "path": f"warehouse/validated/flights/{i // 1000}/{i}.parquet",
                "inputs": [i - 1] if i else [],
                "facts": {"run_id": f"{i:032x}", "partition": f"2013-{i % 12 + 1:02d}", "rows": 27_004 + i % 1000},
            }
        )
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ---------------------------------------------------------------- children


class Plain:
    """The peer: the same rows in a plain sqlite3 table (same pragmas and indexes), without hashing or signing."""

    INSERT = "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

    def __init__(self, home: Path) -> None:
        self.connection = sqlite3.connect(home / "plain.db", isolation_level=None)
        for pragma in ("journal_mode = WAL", "synchronous = FULL"):
            self.connection.execute(f"PRAGMA {pragma}")
        self.connection.execute(
            "CREATE TABLE IF NOT EXISTS entries (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL,"
            " digest TEXT, path TEXT, inputs TEXT NOT NULL, facts TEXT NOT NULL, recorded_at TEXT NOT NULL)"
        )
        self.connection.execute("CREATE INDEX IF NOT EXISTS entries_subject ON entries (subject, seq)")
        self.connection.execute("CREATE INDEX IF NOT EXISTS entries_kind ON entries (kind, seq)")

    def size(self) -> int:
        (last,) = self.connection.execute("SELECT max(seq) FROM entries").fetchone()
        return 0 if last is None else last + 1

    def append_many(self, chunk: list[dict[str, Any]]) -> None:
        self.connection.execute("BEGIN IMMEDIATE")
        (last,) = self.connection.execute("SELECT max(seq) FROM entries").fetchone()
        start = 0 if last is None else last + 1
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        rows = [
            (
                start + offset,
                item["kind"],
                item["subject"],
                item["digest"],
                item["path"],
                json.dumps(item["inputs"]),
                json.dumps(item["facts"], sort_keys=True),
                now,
            )
            for offset, item in enumerate(chunk)
        ]
        self.connection.executemany(self.INSERT, rows)
        self.connection.execute("COMMIT")

    def append(self, **item: Any) -> None:
        self.append_many([item])

    def close(self) -> None:
        self.connection.close()


def _side(spec: dict[str, Any]) -> Any:
    if spec["side"] == "ours":
        imports(*p.LEDGER)
        return p.Ledger.open(Path(spec["home"]))
    return Plain(Path(spec["home"]))


def build(spec: dict[str, Any]) -> dict[str, Any]:
    """One side fills its store with ``entries`` in batches of ``batch`` (the append time summed)."""
    store = _side(spec)
    total, batch = spec["entries"], spec["batch"]
    build_s = 0.0
    for start in range(0, total, batch):
        chunk = items(start, min(batch, total - start))
        clock = time.perf_counter()
        store.append_many(chunk)
        build_s += time.perf_counter() - clock
    size = store.size()
    store.close()
    return {"entries": size, "build_s": build_s}


def appends(spec: dict[str, Any]) -> dict[str, Any]:
    """One round on one side's full store: ``batches`` batches of ``batch``, then ``singles`` single appends."""
    store = _side(spec)
    batches, singles = [], []
    for _ in range(spec["batches"]):
        chunk = items(store.size(), spec["batch"])
        clock = time.perf_counter()
        store.append_many(chunk)
        batches.append(time.perf_counter() - clock)
    for _ in range(spec["singles"]):
        (item,) = items(store.size(), 1)
        clock = time.perf_counter()
        store.append(**item)
        singles.append(time.perf_counter() - clock)
    size = store.size()
    store.close()
    return {"entries": size, "batch_s": batches, "single_s": singles}


def proofs_and_verify(spec: dict[str, Any]) -> dict[str, Any]:
    """Inclusion and consistency proofs for random entries and sizes (each verified afterwards), then ``verify``."""
    imports(*p.LEDGER)
    home = Path(spec["home"])
    with p.Ledger.open(home) as ledger:
        size, head = ledger.size(), ledger.head()
        if head is None or head.size != size:
            raise BenchError(f"the newest head covers {head and head.size} of {size} entries")
        rng = random.Random(13)
        inclusion, consistency = [], []
        for _ in range(spec["proofs"]):
            seq = rng.randrange(size)
            clock = time.perf_counter()
            proof = ledger.inclusion_proof(seq)
            inclusion.append(time.perf_counter() - clock)
            if not p.verify_inclusion(ledger.entry(seq).leaf_hash, seq, size, proof, head.root):
                raise BenchError(f"the inclusion proof of entry {seq} does not verify")
            old = rng.randrange(1, size)
            clock = time.perf_counter()
            proof = ledger.consistency_proof(old)
            consistency.append(time.perf_counter() - clock)
            if not p.verify_consistency(old, size, ledger.root(old), head.root, proof):
                raise BenchError(f"the consistency proof from {old} entries does not verify")
        clock = time.perf_counter()
        report = ledger.verify(check_files=False)
        verify_s = time.perf_counter() - clock
        if not report.ok or report.entries != size:
            raise BenchError(f"verify did not pass the whole ledger: {report}")
    files = p.database_file(home).parent.glob("ledger.db*")
    return {
        "entries": size,
        "heads": report.heads,
        "root": head.root,
        "inclusion_s": inclusion,
        "consistency_s": consistency,
        "verify_s": verify_s,
        "database_mib": sum(f.stat().st_size for f in files) / 2**20,
    }


def peer_root(spec: dict[str, Any]) -> dict[str, Any]:
    """What a proof costs without stored subtrees: read every leaf hash and rehash the tree up to its root."""
    database = p.database_file(Path(spec["home"]))
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    started = time.perf_counter()
    level = [bytes(leaf) for (leaf,) in connection.execute("SELECT leaf FROM openclaw_ledger_entries ORDER BY seq")]
    read_s = time.perf_counter() - started
    connection.close()
    count = len(level)
    sha256 = hashlib.sha256
    clock = time.perf_counter()
    while len(level) > 1:  # RFC 9162's tree, level by level: an odd last node moves up as it is
        paired = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    hash_s = time.perf_counter() - clock
    return {"entries": count, "root": level[0].hex(), "read_s": read_s, "hash_s": hash_s}


# ---------------------------------------------------------------- the case


def measure_ledger(
    entries: int = 1_000_000, batch: int = 1000, rounds: int = 4, batches: int = 5, singles: int = 50, proofs: int = 200
) -> dict[str, Any]:
    """Both sides fill a store, then take turns (alternating who goes first) at timed rounds of appends."""
    sides = ("ours", "peer")
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-ledger-") as home:
        built = {
            side: run_task(
                "bench.ledger:build",
                {"side": side, "home": home, "entries": entries, "batch": batch},
                timeout_s=3 * 3600,
            ).report
            for side in sides
        }
        timed: dict[str, dict[str, list[float]]] = {side: {"batch_s": [], "single_s": []} for side in sides}
        for index in range(rounds):
            for side in sides if index % 2 == 0 else sides[::-1]:
                spec = {"side": side, "home": home, "batch": batch, "batches": batches, "singles": singles}
                found = run_task("bench.ledger:appends", spec, timeout_s=3600).report
                for key in timed[side]:
                    timed[side][key] += found[key]
                built[side]["entries"] = found["entries"]
        mine = run_task("bench.ledger:proofs_and_verify", {"home": home, "proofs": proofs}, timeout_s=3600).report
        full = run_task("bench.ledger:peer_root", {"home": home}, timeout_s=3600).report
    if not mine["entries"] == built["ours"]["entries"] == built["peer"]["entries"] == full["entries"]:
        raise BenchError(f"the sides hold different numbers of entries: {built}, {mine['entries']}, {full['entries']}")
    if full["root"] != mine["root"]:
        raise BenchError("the peer's full recomputation gives another root than the ledger's signed head")
    mine = {**mine, **timed["ours"], "build_s": built["ours"]["build_s"]}
    plain = {**timed["peer"], "build_s": built["peer"]["build_s"]}
    at = f"{entries:,}"
    ours_batch, peer_batch = (batch / median(side["batch_s"]) for side in (mine, plain))
    ours_single, peer_single = (median(side["single_s"]) for side in (mine, plain))
    recompute = full["read_s"] + full["hash_s"]
    inclusion, consistency = median(mine["inclusion_s"]), median(mine["consistency_s"])
    rows = [
        [
            f"append, batches of {batch:,} at {at} entries (entries/s)",
            f"{n(ours_batch)} (`append_many`: one transaction and one signed head per batch)",
            f"{n(peer_batch)} (plain sqlite3 `executemany`, same rows, pragmas and indexes)",
            x(ratio(ours_batch, peer_batch)),
        ],
        [
            f"append, one entry per transaction at {at} entries (median ms)",
            f"{ours_single * 1e3:.2f} ms (`append`: chain, tree, a signed head; p99"
            f" {_percentile(mine['single_s'], 0.99) * 1e3:.2f} ms)",
            f"{peer_single * 1e3:.2f} ms (one plain insert and commit)",
            x(ratio(ours_single, peer_single)) + " the time",
        ],
        [
            f"inclusion proof at {at} entries (median ms)",
            f"{inclusion * 1e3:.2f} ms (p99 {_percentile(mine['inclusion_s'], 0.99) * 1e3:.2f} ms,"
            " from stored subtree hashes)",
            f"{recompute:.2f} s (the root recomputed from every leaf hash: read {full['read_s']:.2f} s,"
            f" hash {full['hash_s']:.2f} s)",
            x(ratio(inclusion, recompute), 5) + " the time",
        ],
        [
            f"consistency proof at {at} entries (median ms)",
            f"{consistency * 1e3:.2f} ms (p99 {_percentile(mine['consistency_s'], 0.99) * 1e3:.2f} ms)",
            f"{recompute:.2f} s (the same recomputation)",
            x(ratio(consistency, recompute), 5) + " the time",
        ],
        [
            f"`verify` of {n(mine['entries'])} entries and {mine['heads']:,} signed heads, no files (s)",
            f"{mine['verify_s']:.1f} s ({n(mine['entries'] / mine['verify_s'])} entries/s)",
            "–",
            "–",
        ],
    ]
    notes = [
        f"`ledger`: building the {at} entries in batches of {batch:,} took {mine['build_s']:.0f} s"
        f" ({n(entries / mine['build_s'])} entries/s; the plain inserts {plain['build_s']:.0f} s); the SQLite file"
        f" holds {mine['database_mib']:,.0f} MiB. Appends are timed in {rounds} rounds per side, taking turns, each of"
        f" {batches} batches and {singles} single appends. Proofs are timed over {proofs} random entries and sizes,"
        " each one verified afterwards; the peer's root equals the ledger's signed root. `verify` recomputes every"
        " entry's leaf hash, chain link, stored subtree hashes and lineage index rows, every head's root and signature."
    ]
    figures = {"ours": mine, "peer": plain, "recompute": full}
    return {"rows": rows, "notes": notes, "figures": figures}


def verify_home(spec: dict[str, Any]) -> dict[str, Any]:
    """``verify`` of a finished pipeline's ledger, files included, then the peer: hashing the same files alone."""
    imports(*p.LEDGER)
    home = Path(spec["home"])
    ours, peer = [], []
    for _ in range(spec["repeats"]):
        with p.Ledger.open(home) as ledger:
            clock = time.perf_counter()
            report = ledger.verify(check_files=True)
            ours.append(time.perf_counter() - clock)
            if not report.ok:
                raise BenchError(f"the home's ledger does not verify: {report.message}")
            paths = sorted({e.path for e in ledger.entries() if e.path})
        clock = time.perf_counter()
        for path in paths:
            hashlib.sha256((home / path).read_bytes()).hexdigest()
        peer.append(time.perf_counter() - clock)
    sizes = sum((home / path).stat().st_size for path in paths)
    return {"entries": report.entries, "files": report.files_checked, "bytes": sizes, "ours_s": ours, "peer_s": peer}


def measure_home(home: str | None = None, repeats: int = 5) -> dict[str, Any]:
    """The ledger a full ``openclaw run`` leaves: how long ``openclaw ledger verify`` takes on it."""
    from bench.models import default_home, needs

    source = needs(Path(home or default_home()), "ledger/ledger.db")
    found = run_task("bench.ledger:verify_home", {"home": str(source), "repeats": repeats}, timeout_s=1800).report
    ours, peer = median(found["ours_s"]), median(found["peer_s"])
    rows = [
        [
            f"`verify` of a full run's ledger: {found['entries']:,} entries, {found['files']:,} files re-hashed"
            f" ({found['bytes'] / 2**20:,.0f} MiB) (median s)",
            f"{ours:.2f} s (chain, tree, every head's signature, every file)",
            f"{peer:.2f} s (SHA-256 of the same files with hashlib, nothing else)",
            x(ratio(ours, peer)) + " the time",
        ]
    ]
    notes = [
        f"`ledger_home`: on the home a full `openclaw run` left ({source}); {repeats} runs each, the files in the page"
        " cache after the first."
    ]
    return {"rows": rows, "notes": notes, "figures": found}


CASES = [
    Case(
        "ledger",
        "Control plane",
        "the provenance ledger on SQLite (WAL, `synchronous=FULL`): `append_many` and `append` at a million entries,"
        " `inclusion_proof` / `consistency_proof` from stored subtree hashes, `verify` without files",
        "plain sqlite3 inserts of the same rows with the same pragmas and indexes, no hashing or signing (appends);"
        " the root recomputed from every stored leaf hash (proofs)",
        "entries/s batched, ms per single append, ms per proof (median, p99), verify seconds",
        "ours ÷ peer: rates for batches, time for single appends and proofs; fails unless every proof verifies and"
        " the peer's root is the signed one",
        measure_ledger,
        full={"entries": 1_000_000, "batch": 1000, "rounds": 4, "batches": 5, "singles": 50, "proofs": 200},
        quick={"entries": 20_000, "rounds": 2, "batches": 2, "singles": 20, "proofs": 50},
        libraries=("SQLAlchemy", "cryptography"),
        minutes="1.5",
    ),
    Case(
        "ledger_home",
        "Control plane",
        "`openclaw ledger verify` on the ledger a full `openclaw run` leaves: chain, tree, signatures and every"
        " file it names re-hashed",
        "hashing the same files with hashlib alone",
        "verify seconds (median of 5), entries, files and bytes re-hashed",
        "ours ÷ peer time",
        measure_home,
        full={"repeats": 5},
        quick={"repeats": 2},
        libraries=("SQLAlchemy", "cryptography"),
        minutes="0.2",
    ),
]
