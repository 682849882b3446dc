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


def ours(spec: dict[str, Any]) -> dict[str, Any]:
    """Build a ledger of ``entries`` in batches, then time batches, single appends, proofs and verify at that size."""
    import_s = imports(*p.LEDGER)
    total, batch = spec["entries"], spec["batch"]
    started = time.perf_counter()
    build_s = 0.0
    with p.Ledger.open(Path(spec["home"])) as ledger:
        for start in range(0, total, batch):
            chunk = items(start, min(batch, total - start))
            clock = time.perf_counter()
            ledger.append_many(chunk)
            build_s += time.perf_counter() - clock
        tail = []
        for _ in range(spec["tail_batches"]):
            chunk = items(ledger.size(), batch)
            clock = time.perf_counter()
            ledger.append_many(chunk)
            tail.append(time.perf_counter() - clock)
        singles = []
        for _ in range(spec["singles"]):
            (item,) = items(ledger.size(), 1)
            clock = time.perf_counter()
            ledger.append(**item)
            singles.append(time.perf_counter() - clock)
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
    database = p.database_file(Path(spec["home"]))
    return {
        "import_s": import_s,
        "work_s": time.perf_counter() - started,
        "entries": size,
        "heads": report.heads,
        "root": head.root,
        "build_s": build_s,
        "tail_batch_s": tail,
        "single_s": singles,
        "inclusion_s": inclusion,
        "consistency_s": consistency,
        "verify_s": verify_s,
        "database_mib": sum(f.stat().st_size for f in database.parent.glob("ledger.db*")) / 2**20,
    }


def peer_appends(spec: dict[str, Any]) -> dict[str, Any]:
    """The same rows inserted with plain sqlite3 (same pragmas and indexes), without hashing or signing."""
    total, batch = spec["entries"], spec["batch"]
    connection = sqlite3.connect(Path(spec["home"]) / "plain.db", isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = FULL"):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute(
        "CREATE TABLE entries (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, subject TEXT NOT NULL, digest TEXT,"
        " path TEXT, inputs TEXT NOT NULL, facts TEXT NOT NULL, recorded_at TEXT NOT NULL)"
    )
    connection.execute("CREATE INDEX entries_subject ON entries (subject, seq)")
    connection.execute("CREATE INDEX entries_kind ON entries (kind, seq)")
    insert = "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    next_seq = 0

    def write(chunk: list[dict[str, Any]]) -> float:
        nonlocal next_seq
        clock = time.perf_counter()
        now = datetime.now(UTC).isoformat(timespec="microseconds")
        rows = []
        for offset, item in enumerate(chunk):
            inputs, facts = json.dumps(item["inputs"]), json.dumps(item["facts"], sort_keys=True)
            rows.append(
                (next_seq + offset, item["kind"], item["subject"], item["digest"], item["path"], inputs, facts, now)
            )
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(insert, rows)
        connection.execute("COMMIT")
        next_seq += len(chunk)
        return time.perf_counter() - clock

    started = time.perf_counter()
    build_s = sum(write(items(start, min(batch, total - start))) for start in range(0, total, batch))
    tail = [write(items(next_seq, batch)) for _ in range(spec["tail_batches"])]
    singles = [write(items(next_seq, 1)) for _ in range(spec["singles"])]
    (count,) = connection.execute("SELECT count(*) FROM entries").fetchone()
    connection.close()
    return {
        "work_s": time.perf_counter() - started,
        "entries": count,
        "build_s": build_s,
        "tail_batch_s": tail,
        "single_s": singles,
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
    entries: int = 1_000_000, batch: int = 1000, tail_batches: int = 20, singles: int = 200, proofs: int = 200
) -> dict[str, Any]:
    spec = {"entries": entries, "batch": batch, "tail_batches": tail_batches, "singles": singles, "proofs": proofs}
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-ledger-") as home:
        mine = run_task("bench.ledger:ours", {**spec, "home": home}, timeout_s=3 * 3600).report
        plain = run_task("bench.ledger:peer_appends", {**spec, "home": home}, timeout_s=3600).report
        full = run_task("bench.ledger:peer_root", {"home": home}, timeout_s=3600).report
    if plain["entries"] != mine["entries"] or full["entries"] != mine["entries"]:
        raise BenchError(f"the sides hold {mine['entries']}, {plain['entries']} and {full['entries']} entries")
    if full["root"] != mine["root"]:
        raise BenchError("the peer's full recomputation gives another root than the ledger's signed head")
    at = f"{entries:,}"
    ours_batch, peer_batch = (batch / median(side["tail_batch_s"]) for side in (mine, plain))
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
        f" holds {mine['database_mib']:,.0f} MiB. Proofs are timed over {proofs} random entries and sizes, each one"
        " verified afterwards; the peer's root equals the ledger's signed root. `verify` recomputes every entry's"
        " leaf hash, chain link, stored subtree hashes and lineage index rows, every head's root and signature."
    ]
    figures = {"ours": mine, "peer": plain, "recompute": full}
    return {"rows": rows, "notes": notes, "figures": figures}


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
        full={"entries": 1_000_000, "batch": 1000, "tail_batches": 20, "singles": 200, "proofs": 200},
        quick={"entries": 20_000, "tail_batches": 5, "singles": 50, "proofs": 50},
        libraries=("SQLAlchemy", "cryptography"),
        minutes="4",
    ),
]
