"""The scale-out profile's feature store on real servers: SQL registry on PostgreSQL, Redis online store.

Runs against PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379. Without them the
tests skip with the reason, except under CI=true, where they must run.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd
import pytest

from openclaw_assets.features import checks
from openclaw_assets.features.feast_assets import latest_offline, materialized_until, parity
from openclaw_assets.features.repo import FEATURE_SERVICE, build_objects
from openclaw_assets.features.store import FeastStore
from openclaw_assets_tests.conftest import TWO_MONTHS, check_evaluations, in_ci, run_job

pytestmark = pytest.mark.scaleout
POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/{db}"
REDIS_DB = 14


def _postgres_admin():
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3)
    connection.autocommit = True
    return connection


def _require_services() -> None:
    problems = []
    try:
        _postgres_admin().close()
    except Exception as exc:
        problems.append(f"PostgreSQL on 127.0.0.1:5432: {exc}".strip())
    try:
        import redis

        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=3).ping()
    except Exception as exc:
        problems.append(f"Redis on 127.0.0.1:6379: {exc}")
    if problems:
        if in_ci():
            pytest.fail("scale-out services are required under CI=true: " + "; ".join(problems))
        pytest.skip("scale-out services not reachable: " + "; ".join(problems))


@pytest.fixture
def scaleout(feature_copy: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh PostgreSQL database for the registry and an empty Redis database for the online store."""
    _require_services()
    import redis

    database = f"openclaw_test_{uuid.uuid4().hex[:10]}"
    admin = _postgres_admin()
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    registry_url = POSTGRES.format(db=database)
    redis_url = f"127.0.0.1:6379,db={REDIS_DB}"
    monkeypatch.setenv("OPENCLAW_PROFILE", "scaleout")
    monkeypatch.setenv("OPENCLAW_FEAST_REGISTRY_URL", registry_url)
    monkeypatch.setenv("OPENCLAW_REDIS_URL", redis_url)
    monkeypatch.setenv("OPENCLAW_LEDGER_URL", registry_url)  # the ledger's tables beside the registry's
    try:
        yield feature_copy, FeastStore.at(feature_copy), client, database
    finally:
        client.flushdb()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def test_profile_picks_the_sql_registry_and_redis(scaleout):
    _home, feast, _client, database = scaleout
    config = feast.config()
    assert config["registry"]["registry_type"] == "sql"
    assert config["registry"]["path"].endswith(f"/{database}")
    assert config["online_store"] == {"type": "redis", "connection_string": f"127.0.0.1:6379,db={REDIS_DB}"}
    assert os.environ["OPENCLAW_PROFILE"] == "scaleout"


def test_registry_online_store_and_gates_on_postgres_and_redis(scaleout):
    home, feast, client, database = scaleout
    result = run_job(home, tags=TWO_MONTHS, selection=["feast_registry", "online_features"], profile=None)
    assert result.success, [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    gates = check_evaluations(result)
    assert gates[f"online_features:{checks.ONLINE_PARITY}"].passed
    assert gates[f"online_features:{checks.ONLINE_FRESHNESS}"].passed

    # the registry lives in PostgreSQL
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=database) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT feature_view_name FROM feature_views ORDER BY 1")
        assert [row[0] for row in cursor.fetchall()] == [
            "aircraft",
            "carrier_stats",
            "origin_stats",
            "route_stats",
            "tail_recent",
            "weather_hourly",
        ]
    # the online values live in Redis, and match the latest offline values
    assert client.dbsize() > 0
    store = feast.open()
    until = materialized_until(store, ["carrier_stats"])
    assert until == pd.Timestamp("2013-03-01T05:00:00Z")
    assert parity(store, home, "route_stats", until, sample=50).passed
    served = store.get_online_features(
        features=store.get_feature_service(FEATURE_SERVICE),
        entity_rows=[{"carrier": "DL", "origin": "LGA", "route": "LGA-ATL", "tailnum": "N3744F"}],
    ).to_dict()
    expected = latest_offline(home, "carrier_stats", until).set_index("carrier").loc["DL", "carrier_flights_7d"]
    assert served["carrier_flights_7d"][0] == expected


def test_a_stale_redis_row_fails_the_parity_gate(scaleout):
    home, feast, _client, _database = scaleout
    store = feast.open()
    store.apply(build_objects(feast.root))
    assert run_job(home, tags=TWO_MONTHS, selection=["online_features"], profile=None).success
    stale = latest_offline(home, "origin_stats", pd.Timestamp("2013-03-01T05:00:00Z"))
    # Redis keeps a row only if it is newer than the one it holds: a misbehaving writer's row is
    store.write_to_online_store(
        "origin_stats", stale.assign(origin_departures_7d=-1, event_timestamp=pd.Timestamp("2013-03-01T06:00:00Z"))
    )
    result = run_job(home, tags=TWO_MONTHS, selection=["online_features"], profile=None)
    assert not result.success
    assert not check_evaluations(result)[f"online_features:{checks.ONLINE_PARITY}"].passed
