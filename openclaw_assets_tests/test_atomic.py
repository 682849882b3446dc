"""Atomic writes: a killed writer leaves the previous file intact and no partial table."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd

from openclaw_assets.kernel.atomic import TMP_PREFIX, remove_stale_temporaries, write_parquet_atomic
from openclaw_assets_tests.waiting import wait_until

WRITER = """
import sys, numpy as np, pandas as pd
from pathlib import Path
from openclaw_assets.kernel.atomic import write_parquet_atomic
target = Path(sys.argv[1])
frame = pd.DataFrame({"x": np.random.default_rng(0).random(3_000_000), "s": ["value"] * 3_000_000})
while True:
    write_parquet_atomic(frame, target)
"""


def test_a_killed_writer_leaves_the_old_file_and_no_partial_table(tmp_path: Path):
    target = tmp_path / "validated" / "flights" / "2013-01.parquet"
    old = pd.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    write_parquet_atomic(old, target)
    before = target.read_bytes()

    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])

    def writing() -> list[Path]:
        assert proc.poll() is None, "writer exited"
        return list(target.parent.glob(f"{TMP_PREFIX}*"))

    try:
        started = wait_until(writing, 60, 0.01, "the writer's temporary file")

        def under_way() -> bool:  # bytes in the temporary file: the write is in progress
            return any(p.exists() and p.stat().st_size > 0 for p in started) or target.read_bytes() != before

        wait_until(under_way, 60, 0.005, "bytes in the writer's temporary file")
        if target.read_bytes() != before:  # the writer finished one round; stop it mid-way through the next
            wait_until(writing, 60, 0.005, "the writer's next temporary file")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    # the target is a complete Parquet file: the old one or a whole new one
    frame = pd.read_parquet(target)
    assert len(frame) in (2, 3_000_000)
    leftovers = list(target.parent.glob(f"{TMP_PREFIX}*"))
    assert leftovers, "the kill should have interrupted a write"
    assert remove_stale_temporaries(target.parent) == len(leftovers)
    assert sorted(p.name for p in target.parent.iterdir()) == ["2013-01.parquet"]


def test_live_writers_temporaries_are_not_removed(tmp_path: Path):
    mine = tmp_path / f"{TMP_PREFIX}x.parquet.{os.getpid()}.abcd1234"
    mine.write_bytes(b"in progress")
    parent = tmp_path / f"{TMP_PREFIX}y.parquet.{os.getppid()}.abcd1234"
    parent.write_bytes(b"in progress")
    assert remove_stale_temporaries(tmp_path) == 1  # this process's own leftovers go; a live writer's stay
    assert not mine.exists()
    assert parent.exists()


def test_same_frame_gives_same_bytes(tmp_path: Path):
    frame = pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": ["x", None, "z"]})
    _, first = write_parquet_atomic(frame, tmp_path / "a.parquet")
    _, second = write_parquet_atomic(frame, tmp_path / "b.parquet")
    assert first == second
