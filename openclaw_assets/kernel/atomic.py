"""Atomic file writes: a temporary file beside the target, fsync, then rename.

A reader sees either the previous file or the complete new one, never a partial
write. Temporary files start with a dot so no reader or sensor ever picks them up.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

TMP_PREFIX = ".tmp-"
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path; on success it replaces ``target``, on error it is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f"{TMP_PREFIX}{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_open(target: Path) -> Iterator[BinaryIO]:
    """Open a binary handle whose content appears at ``target`` only when the block ends cleanly."""
    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        yield handle


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_open(target) as handle:
        handle.write(data)


def write_parquet_atomic(
    frame: pd.DataFrame,
    target: Path,
    schema: pa.Schema | None = None,
    metadata: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Write ``frame`` as Parquet atomically; return (rows, sha256 of the bytes written).

    ``schema`` pins the column types (a column of nulls stays typed); ``metadata`` goes
    into the file's key-value footer. The writer settings are fixed so that the same
    frame always gives the same bytes.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    # One chunk per column: otherwise how the frame was built shows through in the page layout.
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False).combine_chunks()
    if metadata:
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), **{k.encode(): v.encode() for k, v in metadata.items()}}
        )
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression="zstd", compression_level=3, use_dictionary=True)
    return table.num_rows, sha256_file(target)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (it may belong to another user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(directory: Path) -> int:
    """Remove temporary files whose writing process is gone; return how many.

    This process's own temporaries count as stale: call it before writing into ``directory``.
    """
    removed = 0
    if not directory.is_dir():
        return removed
    for path in directory.glob(f"{TMP_PREFIX}*"):
        parts = path.name.rsplit(".", 2)
        pid = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None
        if pid is not None and pid != os.getpid() and pid_alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def parquet_rows(path: Path) -> int:
    """Row count from a Parquet footer, without reading the data."""
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def parquet_footer(path: Path) -> dict[str, str]:
    """The key-value metadata of a Parquet file's footer."""
    import pyarrow.parquet as pq

    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if not k.startswith(b"pandas")}


def json_objects(lines: Iterable[str | bytes]) -> list[dict]:
    """The JSON objects among ``lines`` of a JSON lines file; a torn line (a writer that died mid-write) is skipped."""
    import json

    out = []
    for line in lines:
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            out.append(found)
    return out
