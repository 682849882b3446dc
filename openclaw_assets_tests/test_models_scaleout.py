"""The scale-out profile's model store on real servers: MLflow tracking and registry on
PostgreSQL, artifacts on an S3-compatible server (moto's, started here on loopback).

Skips without PostgreSQL unless CI=true, where it must run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from openclaw_assets.models.registry import CHALLENGER, MlflowStore
from openclaw_assets_tests.conftest import FAST_TRAINING, check_evaluations, in_ci, run_job
from openclaw_assets_tests.waiting import wait_until

pytestmark = pytest.mark.scaleout
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_server():
    port = _free_port()
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            try:
                urllib.request.urlopen(url, timeout=1)
            except OSError:
                return False
            return True

        wait_until(answers, 30, 0.2, "moto_server answering")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture
def postgres_database():
    try:
        import psycopg2

        admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=3)
    except Exception as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL on 127.0.0.1:5432 is required under CI=true: {exc}")
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 not reachable: {exc}")
    admin.autocommit = True
    name = f"openclaw_mlflow_{uuid.uuid4().hex[:10]}"
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_models_on_postgres_and_s3(
    feature_home: Path, tmp_path: Path, s3_server: str, postgres_database: str, monkeypatch: pytest.MonkeyPatch
):
    import boto3

    home = tmp_path / "home"
    shutil.copytree(feature_home, home)
    bucket = "openclaw-models"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_server)
    s3 = boto3.client("s3", endpoint_url=s3_server)
    s3.create_bucket(Bucket=bucket)
    monkeypatch.setenv("OPENCLAW_PROFILE", "scaleout")
    monkeypatch.setenv(
        "OPENCLAW_MLFLOW_TRACKING_URI", f"postgresql+psycopg2://postgres@127.0.0.1:5432/{postgres_database}"
    )
    monkeypatch.setenv("OPENCLAW_MLFLOW_ARTIFACTS", f"s3://{bucket}/mlflow")
    # only the model store moves to the servers: the data and features this home was built from are in
    # its embedded ledger, which registration reads (the ledger's own scale-out test is in test_ledger.py)
    monkeypatch.setenv("OPENCLAW_LEDGER_URL", f"sqlite:///{home / 'ledger' / 'ledger.db'}")

    result = run_job(
        home,
        run_config={"ops": {"trained_model": {"config": FAST_TRAINING}}},
        selection=["trained_model", "model_evaluation"],
        profile=None,
    )
    assert result.success, [e.message for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert all(e.passed for e in check_evaluations(result).values())

    store = MlflowStore.at(home)
    assert store.uris()[0].startswith("postgresql+psycopg2://")
    version = store.version_for(CHALLENGER)
    assert version is not None and version.tags["feature_service"] == "flight_delay_v1"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any(k.endswith("MLmodel") for k in keys)
    assert any(k.endswith("calibration.png") for k in keys)

    import mlflow

    store.client()
    model = mlflow.pyfunc.load_model(f"models:/flight_delay@{CHALLENGER}")
    import pandas as pd

    from openclaw_assets.kernel.paths import warehouse_file
    from openclaw_assets.models import training

    rows = pd.read_parquet(warehouse_file(home, "features", "training_set", None)).head(5)
    assert model.predict(rows[training.FEATURES])["probability"].between(0, 1).all()
