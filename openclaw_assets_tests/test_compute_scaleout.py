"""The compute plane on the scale-out profile's real servers: the Feast registry on PostgreSQL with a
Redis online store, MLflow on PostgreSQL with artifacts on an S3-compatible server (moto's, on
loopback). A challenger is staged behind a gateway process, promoted, and served from Redis.

Skips without PostgreSQL and Redis unless CI=true, where it must run.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from openclaw_assets.compute import record
from openclaw_assets.models.registry import CHAMPION, MlflowStore
from openclaw_assets_tests.conftest import FAST_TRAINING, TWO_MONTHS, check_evaluations, run_job
from openclaw_assets_tests.test_features_scaleout import POSTGRES, _postgres_admin, _require_services
from openclaw_assets_tests.test_models_scaleout import postgres_database, s3_server  # noqa: F401 (fixtures)
from openclaw_assets_tests.test_rollout import STAGING, Gateway, failures, flights

pytestmark = [pytest.mark.scaleout, pytest.mark.slow]
REDIS_DB = 12


@pytest.fixture
def feast_servers(monkeypatch: pytest.MonkeyPatch):
    _require_services()
    import redis

    database = f"openclaw_registry_{uuid.uuid4().hex[:10]}"
    admin = _postgres_admin()
    admin.cursor().execute(f'CREATE DATABASE "{database}"')
    client = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    client.flushdb()
    monkeypatch.setenv("OPENCLAW_FEAST_REGISTRY_URL", POSTGRES.format(db=database))
    monkeypatch.setenv("OPENCLAW_REDIS_URL", f"127.0.0.1:6379,db={REDIS_DB}")
    try:
        yield client
    finally:
        client.flushdb()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def test_a_challenger_is_staged_promoted_and_served_on_the_scaleout_profile(
    feature_home: Path,
    tmp_path: Path,
    feast_servers,
    s3_server: str,  # noqa: F811
    postgres_database: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
):
    import boto3

    home = tmp_path / "home"
    shutil.copytree(feature_home, home)
    bucket = "openclaw-compute"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MLFLOW_S3_ENDPOINT_URL": s3_server,
        "OPENCLAW_PROFILE": "scaleout",
        "OPENCLAW_MLFLOW_TRACKING_URI": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{postgres_database}",
        "OPENCLAW_MLFLOW_ARTIFACTS": f"s3://{bucket}/mlflow",
        # the ledger on PostgreSQL too, in MLflow's database (its tables are prefixed openclaw_ledger_)
        "OPENCLAW_LEDGER_URL": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{postgres_database}",
        "OPENCLAW_HOME": str(home),
    }.items():
        monkeypatch.setenv(name, value)
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=bucket)

    # the training set again, so the scale-out ledger holds what the model is registered from
    online = run_job(
        home,
        tags=TWO_MONTHS,
        selection=["feast_registry", "online_features", "training_set"],
        profile=None,
        run_config={"ops": {"training_set": {"config": {"months": "2013-01:2013-02"}}}},
    )
    assert online.success, failures(online)
    assert feast_servers.dbsize() > 0
    trained = run_job(
        home,
        run_config={"ops": {"trained_model": {"config": FAST_TRAINING}}},
        selection=["trained_model", "model_evaluation"],
        profile=None,
    )
    assert trained.success, failures(trained)
    # staging starts its own gateway process, which takes the profile from the environment
    rolled = run_job(
        home,
        run_config={"ops": {"staging_validation": {"config": STAGING}}},
        selection=["staging_validation", "release_readiness", "production_deployment"],
        profile=None,
    )
    assert rolled.success, failures(rolled)
    verdicts = check_evaluations(rolled)
    assert all(e.passed for e in verdicts.values()), {k: e.metadata["summary"].value for k, e in verdicts.items()}

    store = MlflowStore.at(home)
    assert store.uris()[0].startswith("postgresql+psycopg2://")
    assert str(store.version_for(CHAMPION).version) == "1"
    promoted = record.last_change(home)
    assert promoted is not None and (promoted["action"], promoted["champion"]) == ("promote", "1")

    gateway = Gateway(home, profile="scaleout")
    try:
        answer = gateway.predict(flights(home, 20))
        assert answer.status_code == 200, answer.text
        predictions = answer.json()["predictions"]
        assert {p["model_version"] for p in predictions} == {"1"}
        # features came from Redis: carrier, origin and weather views exist for every known flight (tail-keyed
        # views may not: some tails are not in `planes`)
        assert not any(
            {"carrier_stats", "origin_stats", "weather_hourly"} & set(p["missing_features"]) for p in predictions
        )
        assert sum(not p["missing_features"] for p in predictions) >= len(predictions) // 2
    finally:
        gateway.stop()
