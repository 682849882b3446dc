"""Rollout, A/B and rollback end to end: real Dagster runs, a real MLflow registry, real gateway processes.

One home goes through the whole life of a model: v1 passes its gates, is staged behind a
gateway process and promoted; v2 is promoted while a burst of requests runs against the live
gateway; a degraded v3 is stopped by its gates; a version that fails live is rolled back by the
rollback sensor. The tests in this module share that home and run in order.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import pytest

from openclaw_assets.compute import record
from openclaw_assets.compute.deployment import ROLLED_BACK_TAG
from openclaw_assets.compute.gateway import server
from openclaw_assets.compute.gateway.predlog import read_log
from openclaw_assets.compute.sensors import Slo, model_rollout_sensor, rollback_sensor, rollback_tick, rollout_decision
from openclaw_assets.compute.staging import flight_bodies
from openclaw_assets.kernel.paths import warehouse_file
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets.models.registry import CHALLENGER, CHAMPION, MlflowStore
from openclaw_assets_tests.conftest import FAST_TRAINING, ONE_MONTH_GATES, check_evaluations, run_job

pytestmark = pytest.mark.slow

PREDICT = "predict-token-for-the-rollout-tests"
ADMIN = "admin-token-for-the-rollout-tests"
STAGING = {"single_requests": 40, "batch_requests": 2}


def train(home: Path, **params) -> dg.ExecuteInProcessResult:
    run_config = {
        "ops": {
            "trained_model": {"config": {**FAST_TRAINING, **params}},
            "model_evaluation": {"config": ONE_MONTH_GATES},
        }
    }
    return run_job(home, run_config=run_config, selection=["trained_model", "model_evaluation"])


def rollout(home: Path, **deployment) -> dg.ExecuteInProcessResult:
    run_config = {
        "ops": {
            "staging_validation": {"config": STAGING},
            "production_deployment": {"config": deployment},
        }
    }
    return run_job(home, run_config=run_config, selection=["staging_validation", "production_deployment"])


def failures(result: dg.ExecuteInProcessResult) -> list[str]:
    return [
        f"{e.step_key}: {e.event_specific_data.error.message if e.event_specific_data.error else e.message}"
        for e in result.all_events
        if e.event_type_value == "STEP_FAILURE"
    ]


def instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.local_temp(tempdir=str(home / "dagster"))


def alias(home: Path, name: str) -> str | None:
    found = MlflowStore.at(home, "embedded").version_for(name)
    return str(found.version) if found is not None else None


def flights(home: Path, n: int) -> list[dict]:
    frame = pd.read_parquet(warehouse_file(home, "validated", "flights", "2013-02"))
    arrived = frame[frame["status"] == "arrived"]
    return flight_bodies(arrived.sample(n=n, random_state=3))


class Gateway:
    def __init__(self, home: Path, profile: str = "embedded") -> None:
        self.home = home
        self.endpoint = home / "gateway" / "endpoint.json"
        env = {
            "OPENCLAW_GATEWAY_PREDICT_TOKEN": PREDICT,
            "OPENCLAW_GATEWAY_ADMIN_TOKEN": ADMIN,
            "OPENCLAW_GATEWAY_POLL_SECONDS": "0.5",
            "OPENCLAW_PROFILE": profile,
        }
        self.process = server.start_background(home, port=0, endpoint_file=self.endpoint, env=env)
        try:
            self.url = server.wait_ready(self.endpoint, self.process, 180)["url"]
        except RuntimeError:
            server.stop(self.process.pid)  # never leave a gateway behind a failed start
            raise
        self.client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {PREDICT}"}, timeout=30)

    def predict(self, rows: list[dict]) -> httpx.Response:
        return self.client.post("/v1/predict", json={"flights": rows})

    def status(self) -> dict:
        return self.client.get("/v1/admin/status", headers={"Authorization": f"Bearer {ADMIN}"}).json()

    def stop(self) -> None:
        self.client.close()
        server.stop(self.process.pid)


@pytest.fixture(scope="module")
def life(feature_home: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest):
    """A home whose v1 passed its gates, and (started on first use) a gateway on it."""
    home = tmp_path_factory.mktemp("rollout") / "home"
    shutil.copytree(feature_home, home)
    assert run_job(home, selection=["feast_registry"]).success
    result = train(home)
    assert result.success, failures(result)
    state: dict = {"home": home}
    yield state
    if "gateway" in state:
        state["gateway"].stop()


def test_a_challenger_that_passed_every_gate_is_staged_and_promoted(life: dict, monkeypatch: pytest.MonkeyPatch):
    home = life["home"]
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    store = MlflowStore.at(home, "embedded")
    with instance(home) as inst:
        request, reason, handled = rollout_decision(inst, store, None)
    assert request is not None and request.job_name == "openclaw_rollout", reason
    assert handled == "1" and request.run_key == "rollout-v1"

    result = rollout(home)
    assert result.success, failures(result)
    checks = check_evaluations(result)
    assert checks["staging_validation:latency_budget"].passed
    assert checks["staging_validation:error_budget"].passed
    staged = result.asset_materializations_for_node("staging_validation")[0].metadata
    assert staged["model_version"].value == "1" and staged["errors"].value == 0
    assert staged["requests"].value == STAGING["single_requests"] + STAGING["batch_requests"]
    # staging traffic stays out of the live prediction log
    assert read_log(home) == ([], 0)

    assert alias(home, CHAMPION) == "1"
    current = record.read_current(home)
    assert current["action"] == "promote" and current["champion"] == "1" and current["previous_champion"] is None
    assert {e["asset"] for e in current["evidence"]} == {"model_evaluation", "staging_validation"}
    assert all(state == "SUCCEEDED" for e in current["evidence"] for state in e["checks"].values())

    # once champion, the sensor leaves it alone
    with instance(home) as inst:
        context = dg.build_sensor_context(instance=inst, cursor="1", resources={"mlflow_store": store})
        assert isinstance(model_rollout_sensor(context), dg.SkipReason)

    gateway = life["gateway"] = Gateway(home)
    answer = gateway.predict(flights(home, 3))
    assert answer.status_code == 200, answer.text
    assert {p["model_version"] for p in answer.json()["predictions"]} == {"1"}


def test_a_promotion_under_a_burst_of_requests_fails_none_of_them(life: dict, monkeypatch: pytest.MonkeyPatch):
    home, gateway = life["home"], life["gateway"]
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    result = train(home, seed=8)  # another seed (the same one would find v1 again): registered as v2
    assert result.success, failures(result)
    assert alias(home, CHALLENGER) == "2"

    rows = flights(home, 200)
    seen: list[tuple[int, set[str]]] = []
    stop = threading.Event()

    def burst(offset: int) -> None:
        with httpx.Client(base_url=gateway.url, headers={"Authorization": f"Bearer {PREDICT}"}, timeout=30) as c:
            i = offset
            while not stop.is_set():
                batch = rows[i % 190 : i % 190 + 1 + (i % 7)]
                try:
                    answer = c.post("/v1/predict", json={"flights": batch})
                    versions = {p["model_version"] for p in answer.json()["predictions"]}
                    seen.append((answer.status_code, versions))
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    seen.append((0, {type(exc).__name__}))
                i += 1

    threads = [threading.Thread(target=burst, args=(k * 50,)) for k in range(4)]
    for thread in threads:
        thread.start()
    try:
        promoted = rollout(home)
        assert promoted.success, failures(promoted)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(v == {"2"} for _, v in seen[-20:]):
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert alias(home, CHAMPION) == "2"
    assert record.read_current(home)["previous_champion"] == "1"
    assert len(seen) > 100
    assert [s for s in seen if s[0] != 200] == []
    versions = set().union(*(v for _, v in seen))
    assert versions == {"1", "2"}, versions  # served by v1, then by v2, never by anything else
    assert seen[-1][1] == {"2"}


def test_a_degraded_challenger_is_stopped_by_its_gates(life: dict, monkeypatch: pytest.MonkeyPatch):
    home = life["home"]
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    result = train(home, n_estimators=1, num_leaves=2, learning_rate=0.01)
    assert not result.success
    assert not check_evaluations(result)["model_evaluation:quality_floor"].passed
    assert alias(home, CHALLENGER) == "3"

    store = MlflowStore.at(home, "embedded")
    with instance(home) as inst:
        request, reason, handled = rollout_decision(inst, store, "2")
    assert request is None and "failed its gates" in reason and "quality_floor" in reason
    assert handled == "3"

    # even run by hand, the deployment step refuses a version whose gates failed
    deployed = run_job(home, selection=["production_deployment"])
    assert not deployed.success
    assert any("not deploying v3" in message for message in failures(deployed))
    assert alias(home, CHAMPION) == "2"


def test_an_ab_split_is_sticky_and_ab_results_report_each_variant(life: dict, monkeypatch: pytest.MonkeyPatch):
    home, gateway = life["home"], life["gateway"]
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    result = train(home, seed=9)
    assert result.success, failures(result)
    ab = rollout(home, mode="ab", challenger_share=0.5)
    assert ab.success, failures(ab)
    current = record.read_current(home)
    assert (current["action"], current["champion"], current["challenger"]) == ("ab", "2", "4")
    assert alias(home, CHAMPION) == "2"

    deadline = time.monotonic() + 20
    while gateway.status()["challenger_share"] != 0.5 and time.monotonic() < deadline:
        time.sleep(0.2)
    rows = flights(home, 300)
    first = gateway.predict(rows[:150]).json()["predictions"]
    again = gateway.predict(rows[:150]).json()["predictions"]
    assert [p["variant"] for p in first] == [p["variant"] for p in again]  # sticky by request key
    variants = {p["variant"]: p["model_version"] for p in first}
    assert variants == {"champion": "2", "challenger": "4"}
    share = sum(p["variant"] == "challenger" for p in first) / len(first)
    assert 0.35 < share < 0.65, share

    materialized = run_job(home, selection=["ab_results"])
    assert materialized.success, failures(materialized)
    table = pd.read_parquet(warehouse_file(home, "predictions", "ab_results", None))
    table = table.set_index(["variant", "model_version"])
    logged = read_log(home)[0]
    assert table["predictions"].sum() == len(logged)  # every logged prediction, earlier tests' too
    # the reported AUC is the one the log and the outcomes give, for each arm of this split
    from sklearn.metrics import roc_auc_score

    validated = pd.read_parquet(warehouse_file(home, "validated", "flights", "2013-02"))
    arrived = validated[validated["status"] == "arrived"].set_index("flight_id")
    for arm in (("champion", "2"), ("challenger", "4")):
        mine = [r for r in logged if (r["variant"], r["model_version"]) == arm and r["flight_id"] in arrived.index]
        labels = [int(arrived.loc[r["flight_id"], "arr_delay"] > 15) for r in mine]
        expected = roc_auc_score(labels, [r["probability"] for r in mine])
        assert table.loc[arm, "labelled"] == len(mine) > 0
        assert abs(table.loc[arm, "auc"] - expected) < 1e-12
    metadata = materialized.asset_materializations_for_node("ab_results")[0].metadata
    assert "v4_auc" in metadata and "| challenger | v4 |" in metadata["variants"].value


def _register_broken_version(home: Path, good: str) -> str:
    """A copy of a good version whose preprocessing asks for a feature the service does not serve:
    it passed offline (it is the same booster) but fails every live request."""
    import dataclasses

    import mlflow

    from openclaw_assets.models.pyfunc import FlightDelayModel, log_model

    store = MlflowStore.at(home, "embedded")
    client = store.client()
    loaded = mlflow.pyfunc.load_model(f"models:/{store.model_name}/{good}").unwrap_python_model()
    features = [*loaded.prepared.features, "feature_that_is_not_served"]
    broken = FlightDelayModel(loaded.booster, dataclasses.replace(loaded.prepared, features=features))
    with mlflow.start_run(run_name="broken-live"):
        info = log_model(broken, pip_requirements=[])
    version = str(mlflow.register_model(info.model_uri, store.model_name).version)
    client.set_registered_model_alias(store.model_name, CHAMPION, version)
    record.write_record(home, {"action": "promote", "champion": version, "previous_champion": good})
    return version


def test_an_induced_live_breach_rolls_the_champion_back_within_one_tick(life: dict, monkeypatch: pytest.MonkeyPatch):
    home, gateway = life["home"], life["gateway"]
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    monkeypatch.setenv("OPENCLAW_GATEWAY_PREDICT_TOKEN", PREDICT)
    monkeypatch.setenv("OPENCLAW_GATEWAY_ADMIN_TOKEN", ADMIN)
    broken = _register_broken_version(home, "2")
    deadline = time.monotonic() + 20
    while gateway.status()["champion"] != broken and time.monotonic() < deadline:
        time.sleep(0.2)
    rows = flights(home, 30)
    answers = [gateway.predict([row]) for row in rows]
    failed = [a for a in answers if a.status_code != 200]
    assert failed and all(a.status_code == 503 and a.json()["error"] == "model_failed" for a in failed)

    store = MlflowStore.at(home, "embedded")
    with instance(home) as inst:
        context = dg.build_sensor_context(
            instance=inst,
            resources={"mlflow_store": store, "warehouse": Warehouse(home=str(home))},
        )
        result = rollback_sensor(context)
    assert isinstance(result, dg.SensorResult), result
    event = result.asset_events[0]
    assert event.metadata["rolled_back"].value == broken and "error rate" in event.metadata["reason"].value

    # within the tick: the alias moved back, the record says why, the gateway already serves v2
    assert alias(home, CHAMPION) == "2"
    current = record.read_current(home)
    assert current["action"] == "rollback" and current["rolled_back"] == broken and current["previous_champion"] is None
    assert store.client().get_model_version(store.model_name, broken).tags[ROLLED_BACK_TAG].startswith("error rate")
    answer = gateway.predict(rows[:5])
    assert answer.status_code == 200 and {p["model_version"] for p in answer.json()["predictions"]} == {"2"}

    # a second tick has nothing to go back to, and changes nothing
    with instance(home) as inst:
        # (live AUC is left out here: replayed February flights read the online store's latest
        # values, not those at departure, so their live AUC is not the offline one)
        event, reason = rollback_tick(home, inst, store, Slo(min_auc=0.0))
    assert event is None and "within SLO" in reason and alias(home, CHAMPION) == "2"
    history = [json.loads(json.dumps(h)) for h in record.read_history(home)]
    assert [h["action"] for h in history][-1] == "rollback"


def test_batch_predictions_score_every_flight_with_the_champion(life: dict, monkeypatch: pytest.MonkeyPatch):
    home = life["home"]
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    result = run_job(
        home,
        tags={"dagster/partition": "2013-02"},
        run_config={"ops": {"batch_predictions": {"config": {"chunk_rows": 5000}}}},
        selection=["batch_predictions"],
    )
    assert result.success, failures(result)
    assert check_evaluations(result)["batch_predictions:every_flight_scored"].passed
    scored = pd.read_parquet(warehouse_file(home, "predictions", "flight_delay", "2013-02"))
    validated = pd.read_parquet(warehouse_file(home, "validated", "flights", "2013-02"))
    assert len(scored) == len(validated) and set(scored["flight_id"]) == set(validated["flight_id"].astype(str))
    assert set(scored["model_version"]) == {"2"} and scored["probability"].between(0, 1).all()
    assert set(scored["status"]) == {"arrived", "cancelled", "diverted"}  # cancelled flights are scored too


def test_the_batch_gate_fails_when_a_flight_goes_unscored(life: dict, monkeypatch: pytest.MonkeyPatch):
    from openclaw_assets.compute import batch

    home = life["home"]
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    original = batch.scoring_rows
    monkeypatch.setattr(batch, "scoring_rows", lambda flights: original(flights).iloc[1:])
    result = run_job(home, tags={"dagster/partition": "2013-02"}, selection=["batch_predictions"])
    evaluation = check_evaluations(result)["batch_predictions:every_flight_scored"]
    assert not evaluation.passed
    assert evaluation.metadata["predictions"].value == evaluation.metadata["flights"].value - 1


@pytest.mark.cli
def test_openclaw_serve_in_the_background_prints_a_call_that_works(life: dict):
    import os
    import subprocess
    import sys

    home = life["home"]
    openclaw = Path(sys.executable).with_name("openclaw")
    endpoint = home / "gateway" / "cli-endpoint.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLAW_GATEWAY_")}
    env |= {"OPENCLAW_HOME": str(home), "OPENCLAW_PROFILE": "embedded"}
    common = [str(openclaw), "--home", str(home), "serve", "--endpoint-file", str(endpoint)]
    started = subprocess.run(
        [*common, "--background", "--port", "0"], capture_output=True, text=True, env=env, timeout=300
    )
    try:
        assert started.returncode == 0, started.stderr
        assert (home / "secrets" / "gateway-predict.token").stat().st_mode & 0o777 == 0o600
        call = next(line for line in started.stdout.splitlines() if "call it:" in line).split("call it:", 1)[1]
        answer = subprocess.run(["bash", "-c", call], capture_output=True, text=True, env=env, timeout=60)
        prediction = json.loads(answer.stdout)["predictions"][0]
        assert prediction["model_version"] == alias(home, CHAMPION) and prediction["variant"] == "champion"
        again = subprocess.run([*common, "--background"], capture_output=True, text=True, env=env, timeout=60)
        assert again.returncode == 2 and "already running" in again.stderr
    finally:
        stopped = subprocess.run([*common, "--stop"], capture_output=True, text=True, env=env, timeout=60)
    assert stopped.returncode == 0 and "stopped the gateway" in stopped.stdout
    assert not endpoint.exists()
