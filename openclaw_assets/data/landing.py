"""Reading landed drops into text frames, and the table-level checks that reject a whole file.

Raw tables are text: every value is kept exactly as it arrived (CSV) or in its plain
string form (Parquet), and nulls are ``None``. Types are decided by the contract only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from openclaw_assets.data.tables import DROP_FORMATS, TableSpec, landing_file

if TYPE_CHECKING:
    import pandas as pd

NULL_TOKENS = ("", "NA")


class LandingError(Exception):
    """A drop that cannot be ingested as a whole: the message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass
class Drop:
    """A drop read into memory: its text frame and where it came from."""

    path: Path
    format: str
    size: int
    sha256: str
    frame: pd.DataFrame
    extra_columns: list[str] = field(default_factory=list)


def find_drop(home: Path, spec: TableSpec, partition: str | None) -> Path:
    """The one drop for a table (and partition); an error if there is none or more than one."""
    found = [landing_file(home, spec.name, partition, fmt) for fmt in DROP_FORMATS]
    present = [path for path in found if path.exists()]
    if not present:
        names = " or ".join(path.name for path in found)
        raise LandingError(
            found[0].parent, f"no drop for {spec.name} {partition or ''}: expected {names}".replace("  ", " ")
        )
    if len(present) > 1:
        raise LandingError(
            present[0].parent,
            f"two drops for the same table and partition: {', '.join(p.name for p in present)}; keep one",
        )
    return present[0]


def check_header(path: Path, spec: TableSpec) -> None:
    """Cheap table-level checks that need only the file's header or footer."""
    if not path.exists():
        raise LandingError(path, "file does not exist")
    if path.stat().st_size == 0:
        raise LandingError(path, "file is empty (0 bytes)")
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            names = pq.read_schema(path).names
        except Exception as exc:  # pyarrow raises several types for damaged files
            raise LandingError(path, f"not a readable Parquet file ({_first_line(exc)})") from None
    else:
        with open(path, "rb") as handle:
            first = handle.readline()
        try:
            header = first.decode("utf-8-sig").strip()
        except UnicodeDecodeError:
            raise LandingError(path, "header line is not valid UTF-8") from None
        names = [name.strip().strip('"') for name in header.split(",")] if header else []
    _check_columns(path, spec, names)


def _check_columns(path: Path, spec: TableSpec, names: list[str]) -> list[str]:
    if not names or names == [""]:
        raise LandingError(path, "file has no header")
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise LandingError(path, f"duplicated column(s): {', '.join(duplicated)}")
    missing = [name for name in spec.columns if name not in names]
    extra = [name for name in names if name not in spec.columns]
    if missing:
        hint = f"; unexpected column(s) present: {', '.join(extra)}" if extra else ""
        raise LandingError(path, f"missing required column(s): {', '.join(missing)}{hint}")
    return extra


def read_drop(path: Path, spec: TableSpec) -> Drop:
    """Read a CSV or Parquet drop into a text frame, raising LandingError for whole-file problems."""
    import hashlib

    check_header(path, spec)
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    frame = _read_parquet_text(path, data) if path.suffix == ".parquet" else _read_csv_text(path, data)
    if len(frame) == 0:
        raise LandingError(path, "file has a header but no rows")
    extra = _check_columns(path, spec, list(frame.columns))
    return Drop(path=path, format=path.suffix.lstrip("."), size=len(data), sha256=sha, frame=frame, extra_columns=extra)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else exc.__class__.__name__


def _read_csv_text(path: Path, data: bytes) -> pd.DataFrame:
    """Parse CSV bytes with every column as text (pyarrow's reader; nulls are empty or NA)."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LandingError(
            path,
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line}); "
            "re-export the file as UTF-8",
        ) from None
    header_line = text.lstrip("\ufeff").split("\n", 1)[0]
    names = next(csv.reader([header_line]), [])
    if not names:
        raise LandingError(path, "file has no header")
    try:
        table = pacsv.read_csv(
            pa.BufferReader(data[3:] if data.startswith(b"\xef\xbb\xbf") else data),
            read_options=pacsv.ReadOptions(use_threads=True, block_size=1 << 22),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                null_values=list(NULL_TOKENS),
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise LandingError(path, f"not a readable CSV file ({_first_line(exc)})") from None
    return table.to_pandas()


def _read_parquet_text(path: Path, data: bytes) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as exc:  # pyarrow raises several types for damaged files
        raise LandingError(path, f"not a readable Parquet file ({_first_line(exc)})") from None
    return parquet_to_text(table.to_pandas())


def parquet_to_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn a typed frame into the text form raw tables keep (timestamps as ISO 8601 UTC)."""
    import pandas as pd

    out = {}
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(column.dtype):
            stamps = column.dt.tz_localize("UTC") if column.dt.tz is None else column.dt.tz_convert("UTC")
            text = stamps.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            text = column.astype(str)
        out[name] = text.where(column.notna(), None).astype(object)
    return pd.DataFrame(out, columns=list(frame.columns))


def rows_for_partition(frame: pd.DataFrame, partition: str) -> int:
    """How many rows name this ``YYYY-MM`` partition in their year and month columns."""
    import pandas as pd

    year, month = (int(part) for part in partition.split("-"))
    years = pd.to_numeric(frame["year"], errors="coerce")
    months = pd.to_numeric(frame["month"], errors="coerce")
    return int(((years == year) & (months == month)).sum())


def check_partition(drop: Drop, partition: str) -> None:
    """A drop none of whose rows belong to its partition is the wrong file: reject it whole."""
    import pandas as pd

    if rows_for_partition(drop.frame, partition):
        return
    years = pd.to_numeric(drop.frame["year"], errors="coerce")
    months = pd.to_numeric(drop.frame["month"], errors="coerce")
    seen = (years.astype("Int64").astype(str) + "-" + months.astype("Int64").astype(str).str.zfill(2)).value_counts()
    found = ", ".join(f"{key} ({count} rows)" for key, count in seen.head(3).items())
    raise LandingError(drop.path, f"no row belongs to partition {partition}; rows are for {found}")
