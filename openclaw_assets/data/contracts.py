"""Data contracts: types, nullability, ranges, domains, keys, time and references.

A contract turns a raw text frame into typed, valid rows plus quarantined rows, each
quarantined row keeping every source column as it arrived and a ``reason`` that names
every rule it broke. The rules are pandera schemas; the coercion from text to types is
done here first so that a value that is not a number is reported as such, not as a null.

These are pure functions of frames: no files, no Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openclaw_assets.data.tables import AIRLINES, AIRPORTS, FLIGHTS, PLANES, WEATHER, TableSpec
from openclaw_assets.kernel.months import LOCAL_TZ

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa
    import pyarrow as pa_types

"""The wall clock of the three New York origins: year/month/day/hour columns are local time."""

REASON = "reason"
MAX_SHOWN = 40


class ContractError(Exception):
    """A failure of the whole table, not of single rows (for example a wrong column type)."""


@dataclass(frozen=True)
class Field:
    """One source column: its type (int, float, str, timestamp) and whether it may be null."""

    name: str
    kind: str
    nullable: bool = False


@dataclass
class ContractResult:
    """Typed valid rows, quarantined source rows with reasons, and what was found."""

    valid: pd.DataFrame
    quarantine: pd.DataFrame
    reason_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows_in(self) -> int:
        return len(self.valid) + len(self.quarantine)


FLIGHT_FIELDS = (
    Field("year", "int"),
    Field("month", "int"),
    Field("day", "int"),
    Field("dep_time", "int", True),
    Field("sched_dep_time", "int"),
    Field("dep_delay", "float", True),
    Field("arr_time", "int", True),
    Field("sched_arr_time", "int"),
    Field("arr_delay", "float", True),
    Field("carrier", "str"),
    Field("flight", "int"),
    Field("tailnum", "str", True),
    Field("origin", "str"),
    Field("dest", "str"),
    Field("air_time", "float", True),
    Field("distance", "float"),
    Field("hour", "int"),
    Field("minute", "int"),
    Field("time_hour", "timestamp"),
)
WEATHER_FIELDS = (
    Field("origin", "str"),
    Field("year", "int"),
    Field("month", "int"),
    Field("day", "int"),
    Field("hour", "int"),
    Field("temp", "float", True),
    Field("dewp", "float", True),
    Field("humid", "float", True),
    Field("wind_dir", "float", True),
    Field("wind_speed", "float", True),
    Field("wind_gust", "float", True),
    Field("precip", "float", True),
    Field("pressure", "float", True),
    Field("visib", "float", True),
    Field("time_hour", "timestamp"),
)
AIRLINE_FIELDS = (Field("carrier", "str"), Field("name", "str"))
AIRPORT_FIELDS = (
    Field("faa", "str"),
    Field("name", "str"),
    Field("lat", "float"),
    Field("lon", "float"),
    Field("alt", "int"),
    Field("tz", "int"),
    Field("dst", "str"),
    Field("tzone", "str", True),
)
PLANE_FIELDS = (
    Field("tailnum", "str"),
    Field("year", "int", True),
    Field("type", "str", True),
    Field("manufacturer", "str", True),
    Field("model", "str", True),
    Field("engines", "int"),
    Field("seats", "int"),
    Field("speed", "float", True),
    Field("engine", "str", True),
)
FIELDS: dict[str, tuple[Field, ...]] = {
    FLIGHTS.name: FLIGHT_FIELDS,
    WEATHER.name: WEATHER_FIELDS,
    AIRLINES.name: AIRLINE_FIELDS,
    AIRPORTS.name: AIRPORT_FIELDS,
    PLANES.name: PLANE_FIELDS,
}

_DTYPES = {"int": "Int64", "float": "Float64", "str": "string[pyarrow]", "timestamp": "datetime64[us, UTC]"}


# ---------------------------------------------------------------- coercion


def _short(value: Any) -> str:
    if hasattr(value, "item"):
        value = value.item()
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[:MAX_SHOWN]}…({len(str(value))} chars)"


def _arrow_text(text: pd.Series):
    import pyarrow as pa

    return pa.array(text.to_numpy(dtype=object), type=pa.string(), from_pandas=True)


def _parse_numbers(text: pd.Series) -> pd.Series:
    """Text to float64 (NaN for null or unparseable): pyarrow's parser, pandas' for dirty columns."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        parsed = pc.cast(_arrow_text(text), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_numeric(text, errors="coerce").astype("float64")
    return pd.Series(parsed.to_numpy(zero_copy_only=False), index=text.index, dtype="float64")


def _parse_timestamps(text: pd.Series) -> pd.Series:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        parsed = pc.cast(_arrow_text(text), pa.timestamp("us", tz="UTC"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601").astype(_DTYPES["timestamp"])
    return pd.Series(parsed.to_pandas(), index=text.index).astype(_DTYPES["timestamp"])


def _coerce(raw: pd.DataFrame, fields: tuple[Field, ...]) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Typed columns plus one record frame (index, column, message, rule) per column with bad values."""
    import numpy as np
    import pandas as pd

    typed: dict[str, pd.Series] = {}
    problems: list[pd.DataFrame] = []
    for spec in fields:
        text = raw[spec.name]
        present = text.notna().to_numpy()
        if spec.kind in ("int", "float"):
            values = _parse_numbers(text).to_numpy()
            finite = np.isfinite(values)
            bad = present & ~finite
            kind = "a number"
            if spec.kind == "int":
                bad |= present & finite & (np.mod(np.where(finite, values, 0.0), 1) != 0)
                kind = "an integer"
            missing = bad | ~finite
            if spec.kind == "int":
                array = pd.arrays.IntegerArray(np.where(missing, 0, values).astype("int64"), missing)
            else:
                array = pd.arrays.FloatingArray(np.where(missing, 0.0, values), missing)
            column = pd.Series(array, index=text.index)
        elif spec.kind == "timestamp":
            column = _parse_timestamps(text)
            bad = present & column.isna().to_numpy()
            kind = "an ISO 8601 timestamp"
        else:
            column = text.astype(_DTYPES["str"])
            bad = np.zeros(len(text), dtype=bool)
            kind = ""
        if bad.any():
            values_shown = text[bad]
            problems.append(
                pd.DataFrame(
                    {
                        "index": values_shown.index,
                        "column": spec.name,
                        "message": [f"{spec.name}={_short(v)} is not {kind}" for v in values_shown],
                        "rule": f"{spec.name} is not {kind}",
                    }
                )
            )
        typed[spec.name] = column
    return pd.DataFrame(typed, index=raw.index), problems


# ---------------------------------------------------------------- schemas


def _clock(column: str) -> pa.Check:
    import pandera.pandas as pa

    return pa.Check(
        lambda s: ((s // 100) <= 24) & ((s % 100) < 60), error="must be a clock time HHMM", name=f"{column}_clock"
    )


def _code(pattern: str, what: str) -> pa.Check:
    import pandera.pandas as pa

    return pa.Check.str_matches(pattern, error=f"must be {what}")


def _in(values: set[str], what: str) -> pa.Check:
    import pandera.pandas as pa

    return pa.Check.isin(sorted(values), error=f"must be in {what}")


def _range(low: float, high: float, unit: str = "") -> pa.Check:
    import pandera.pandas as pa

    suffix = f" {unit}" if unit else ""
    return pa.Check.in_range(low, high, error=f"must be within [{low:g}, {high:g}]{suffix}")


def _local_matches(frame: pd.DataFrame) -> pd.Series:
    local = frame["time_hour"].dt.tz_convert(LOCAL_TZ)
    return (
        (
            (local.dt.year == frame["year"])
            & (local.dt.month == frame["month"])
            & (local.dt.day == frame["day"])
            & (local.dt.hour == frame["hour"])
        )
        .fillna(False)
        .astype(bool)
    )


def _in_partition(partition: str):
    year, month = (int(part) for part in partition.split("-"))

    def check(frame: pd.DataFrame) -> pd.Series:
        return ((frame["year"] == year) & (frame["month"] == month)).fillna(False).astype(bool)

    return check


def _is_date(frame: pd.DataFrame) -> pd.Series:
    import pandas as pd

    parts = pd.DataFrame({"year": frame["year"], "month": frame["month"], "day": frame["day"]}).astype("float64")
    return pd.to_datetime(parts, errors="coerce").notna()


def _columns(fields: tuple[Field, ...], checks: dict[str, list[pa.Check]]) -> dict[str, pa.Column]:
    import pandera.pandas as pa

    return {
        spec.name: pa.Column(_DTYPES[spec.kind], checks.get(spec.name, []), nullable=spec.nullable) for spec in fields
    }


def flights_schema(partition: str, carriers: set[str], airports: set[str]) -> pa.DataFrameSchema:
    """The flights contract for one month, given the known carriers and airports."""
    import pandera.pandas as pa

    def cancelled_is_empty(frame: pd.DataFrame) -> pd.Series:
        cancelled = frame["dep_time"].isna()
        later = frame[["dep_delay", "arr_time", "arr_delay", "air_time"]].notna().any(axis=1)
        return ~(cancelled & later)

    def schedule_matches(frame: pd.DataFrame) -> pd.Series:
        sched = frame["sched_dep_time"]
        return ((sched // 100 == frame["hour"]) & (sched % 100 == frame["minute"])).fillna(False).astype(bool)

    checks = {
        "month": [_range(1, 12)],
        "day": [_range(1, 31)],
        "dep_time": [_range(0, 2400), _clock("dep_time")],
        "sched_dep_time": [_range(0, 2359), _clock("sched_dep_time")],
        "arr_time": [_range(0, 2400), _clock("arr_time")],
        "sched_arr_time": [_range(0, 2359), _clock("sched_arr_time")],
        "dep_delay": [_range(-180, 1800, "minutes")],
        "arr_delay": [_range(-180, 1800, "minutes")],
        "carrier": [_code(r"^[A-Z0-9]{2}$", "a two-character carrier code"), _in(carriers, "airlines")],
        "flight": [_range(1, 9999)],
        "tailnum": [_code(r"^[A-Z0-9]{2,7}$", "a tail number of 2 to 7 letters or digits")],
        "origin": [_code(r"^[A-Z0-9]{3,4}$", "an FAA airport code"), _in(airports, "airports")],
        "dest": [_code(r"^[A-Z]{3}$", "a three-letter airport code")],
        "air_time": [_range(1, 900, "minutes")],
        "distance": [_range(1, 6000, "miles")],
        "hour": [_range(0, 23)],
        "minute": [_range(0, 59)],
    }
    return pa.DataFrameSchema(
        _columns(FLIGHT_FIELDS, checks),
        checks=[
            pa.Check(_in_partition(partition), error=f"year/month outside partition {partition}"),
            pa.Check(_is_date, error="year/month/day is not a calendar date"),
            pa.Check(schedule_matches, error="hour/minute disagree with sched_dep_time"),
            pa.Check(_local_matches, error=f"time_hour disagrees with year/month/day/hour in {LOCAL_TZ}"),
            pa.Check(cancelled_is_empty, error="cancelled (no dep_time) but has departure or arrival values"),
        ],
        unique=list(FLIGHTS.key),
        report_duplicates="exclude_first",
        strict=False,
        coerce=False,
    )


def weather_schema(partition: str, airports: set[str]) -> pa.DataFrameSchema:
    """The hourly weather contract for one month, given the known airports."""
    import pandera.pandas as pa

    checks = {
        "origin": [_code(r"^[A-Z0-9]{3,4}$", "an FAA airport code"), _in(airports, "airports")],
        "month": [_range(1, 12)],
        "day": [_range(1, 31)],
        "hour": [_range(0, 23)],
        "temp": [_range(-60, 130, "°F")],
        "dewp": [_range(-80, 100, "°F")],
        "humid": [_range(0, 100, "%")],
        "wind_dir": [_range(0, 360, "degrees")],
        "wind_speed": [_range(0, 150, "mph")],
        "wind_gust": [_range(0, 250, "mph")],
        "precip": [_range(0, 20, "inches")],
        "pressure": [_range(870, 1090, "hPa")],
        "visib": [_range(0, 100, "miles")],
    }
    return pa.DataFrameSchema(
        _columns(WEATHER_FIELDS, checks),
        checks=[
            pa.Check(_in_partition(partition), error=f"year/month outside partition {partition}"),
            pa.Check(_is_date, error="year/month/day is not a calendar date"),
            pa.Check(_local_matches, error=f"time_hour disagrees with year/month/day/hour in {LOCAL_TZ}"),
        ],
        unique=list(WEATHER.key),
        report_duplicates="exclude_first",
        strict=False,
        coerce=False,
    )


def reference_schema(spec: TableSpec) -> pa.DataFrameSchema:
    """The contract of an unpartitioned reference table (airlines, airports, planes)."""
    import pandera.pandas as pa

    checks: dict[str, dict[str, list[pa.Check]]] = {
        AIRLINES.name: {"carrier": [_code(r"^[A-Z0-9]{2}$", "a two-character carrier code")]},
        AIRPORTS.name: {
            "faa": [_code(r"^[A-Z0-9]{3,4}$", "an FAA airport code")],
            "lat": [_range(-90, 90, "degrees")],
            "lon": [_range(-180, 180, "degrees")],
            "alt": [_range(-1500, 30000, "feet")],
            "tz": [_range(-12, 14, "hours")],
            "dst": [_in({"A", "N", "U"}, "{A, N, U}")],
        },
        PLANES.name: {
            "tailnum": [_code(r"^[A-Z0-9]{2,7}$", "a tail number of 2 to 7 letters or digits")],
            "year": [_range(1900, 2013)],
            "engines": [_range(0, 8)],
            "seats": [_range(1, 1000)],
            "speed": [_range(0, 1000, "mph")],
        },
    }
    return pa.DataFrameSchema(
        _columns(FIELDS[spec.name], checks[spec.name]),
        unique=list(spec.key),
        report_duplicates="exclude_first",
        strict=False,
        coerce=False,
    )


# ---------------------------------------------------------------- applying a contract


def _pandera_records(schema: pa.DataFrameSchema, typed: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    import pandas as pd
    import pandera.pandas as pa

    empty = pd.DataFrame({"index": pd.Series(dtype="int64"), "column": [], "message": [], "rule": []}, dtype=object)
    try:
        schema.validate(typed, lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    else:
        return empty
    table_level = cases[cases["index"].isna()]
    if len(table_level):
        found = "; ".join(f"{row.column}: {row.check} ({row.failure_case})" for row in table_level.itertuples())
        raise ContractError(f"table-level contract failure: {found}")
    cases = cases.drop_duplicates(["index", "check"])
    messages, rules = [], []
    for row in cases.itertuples():
        if row.check == "multiple_fields_uniqueness":
            rule = message = f"duplicate key ({', '.join(key)}) of an earlier row"
        elif row.check == "not_nullable":
            rule = message = f"{row.column} is missing"
        elif row.schema_context == "DataFrameSchema":
            rule = message = str(row.check)
        else:
            rule = f"{row.column} {row.check}"
            message = f"{row.column}={_short(row.failure_case)} {row.check}"
        messages.append(message)
        rules.append(rule)
    column = cases["column"].where(cases["schema_context"] == "Column", None)
    return pd.DataFrame(
        {
            "index": cases["index"].astype("int64").to_numpy(),
            "column": column.to_numpy(),
            "message": messages,
            "rule": rules,
        }
    )


def apply_contract(raw: pd.DataFrame, spec: TableSpec, schema: pa.DataFrameSchema) -> ContractResult:
    """Split a raw text frame into typed valid rows and quarantined source rows with reasons."""
    import pandas as pd

    fields = FIELDS[spec.name]
    raw = raw.reset_index(drop=True)
    typed, coercion = _coerce(raw, fields)
    checked = _pandera_records(schema, typed, spec.key)
    if coercion:
        coerced = pd.concat(coercion, ignore_index=True)
        failed_cells = set(zip(coerced["index"], coerced["column"], strict=True))
        redundant = [(i, c) in failed_cells for i, c in zip(checked["index"], checked["column"], strict=True)]
        checked = checked[[not r for r in redundant]]
        records = pd.concat([coerced, checked], ignore_index=True)
    else:
        records = checked
    records = records.drop_duplicates(["index", "message"])
    reasons = records.groupby("index", sort=True)["message"].agg("; ".join)
    bad = raw.index.isin(reasons.index)

    quarantine = raw.loc[bad].copy()
    quarantine[REASON] = reasons.reindex(quarantine.index).to_numpy()
    valid = typed.loc[~bad]
    counts = {str(rule): int(n) for rule, n in records["rule"].value_counts().items()}
    return ContractResult(valid=valid, quarantine=quarantine.reset_index(drop=True), reason_counts=counts)


def _finish_flights(valid: pd.DataFrame) -> pd.DataFrame:
    """Add ``status`` and ``flight_id``; order rows by key so the output is byte-stable."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    out = valid.sort_values(list(FLIGHTS.key), kind="stable").reset_index(drop=True)
    departed = out["dep_time"].notna().to_numpy()
    arrived = out["arr_delay"].notna().to_numpy()
    out["status"] = pd.Series(
        np.where(~departed, "cancelled", np.where(arrived, "arrived", "diverted")), dtype=_DTYPES["str"]
    )

    def digits(column: str, width: int) -> pa.Array:
        numbers = pa.array(out[column].to_numpy(dtype="int64"))
        return pc.utf8_lpad(pc.cast(numbers, pa.string()), width=width, padding="0")

    date = pc.binary_join_element_wise(digits("year", 4), digits("month", 2), digits("day", 2), "")
    flight = pc.binary_join_element_wise(_arrow_text(out["carrier"]), digits("flight", 1), "")
    flight_id = pc.binary_join_element_wise(date, flight, _arrow_text(out["origin"]), digits("sched_dep_time", 4), "-")
    out["flight_id"] = pd.Series(pd.arrays.ArrowStringArray(flight_id))
    return out


def validate_flights(raw: pd.DataFrame, partition: str, carriers: set[str], airports: set[str]) -> ContractResult:
    result = apply_contract(raw, FLIGHTS, flights_schema(partition, carriers, airports))
    result.valid = _finish_flights(result.valid)
    return result


def validate_weather(raw: pd.DataFrame, partition: str, airports: set[str]) -> ContractResult:
    result = apply_contract(raw, WEATHER, weather_schema(partition, airports))
    result.valid = result.valid.sort_values(list(WEATHER.key), kind="stable").reset_index(drop=True)
    return result


def validate_reference(raw: pd.DataFrame, spec: TableSpec) -> ContractResult:
    result = apply_contract(raw, spec, reference_schema(spec))
    result.valid = result.valid.sort_values(list(spec.key), kind="stable").reset_index(drop=True)
    return result


def arrow_schema(table: str, text: bool = False, extra: tuple[str, ...] = ()) -> pa_types.Schema:
    """The Parquet schema of a table: typed for validated rows, all text for raw and quarantine."""
    import pyarrow as pa

    kinds = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "timestamp": pa.timestamp("us", tz="UTC")}
    columns = [(f.name, pa.string() if text else kinds[f.kind]) for f in FIELDS[table]]
    return pa.schema(columns + [(name, pa.string()) for name in extra])


def quarantine_frame(result: ContractResult, source_columns: list[str]) -> pd.DataFrame:
    """Quarantined rows with every source column (as text) and the reason, in source order."""
    return result.quarantine.reindex(columns=[*source_columns, REASON]).astype(object)
