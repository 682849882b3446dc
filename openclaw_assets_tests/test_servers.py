"""The real servers: the Dagster webserver shows the graph and its checks; the daemon runs the sensor.

Each server starts in its own process group and the whole group is ended with a deadline
(Dagster's child processes can ignore SIGTERM for many seconds).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from openclaw_assets.kernel.paths import warehouse_file
from openclaw_assets_tests.waiting import wait_until

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.cli, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(home: Path) -> dict[str, str]:
    dagster_home = home / "dagster"
    dagster_home.mkdir(exist_ok=True)
    (dagster_home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    return {**os.environ, "OPENCLAW_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}


@contextlib.contextmanager
def _server(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _wait(predicate, timeout: float, what: str, log: Path | None = None):
    """Poll every second; on timeout fail naming ``what``, with the end of the server's log."""

    def message() -> str:
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        return f"{what}\n{tail}"

    return wait_until(predicate, timeout, 1.0, message)


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
            return True
    except OSError:
        return False


def test_webserver_shows_the_graph_and_check_results(tmp_path: Path):
    env = _env(tmp_path)
    for args in (["seed", "--months", "2013-01"], ["run", "--months", "2013-01:2013-01"]):
        done = subprocess.run([str(BIN / "openclaw"), *args], env=env, cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    port = _free_port()
    log = tmp_path / "webserver.log"
    args = [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with _server(args, env, log):
        _wait(lambda: _up(port), 120, "the webserver", log)
        data = _graphql(
            port,
            "{ assetNodes { assetKey { path } dependencyKeys { path } assetChecksOrError { ... on AssetChecks"
            " { checks { name blocking executionForLatestMaterialization { status } } } } } }",
        )
    nodes = {n["assetKey"]["path"][0]: n for n in data["assetNodes"]}
    assert set(nodes) >= {
        "raw_flights",
        "validated_flights",
        "quarantine_flights",
        "validated_weather",
        "airlines",
        "carrier_stats",
        "feast_registry",
        "online_features",
        "training_set",
        "staging_validation",
        "release_readiness",
        "production_deployment",
        "batch_predictions",
        "ab_results",
    }
    readiness = {c["name"]: c for c in nodes["release_readiness"]["assetChecksOrError"]["checks"]}
    assert readiness["readiness_floor"]["blocking"] is True
    assert "release_readiness" in {d["path"][0] for d in nodes["production_deployment"]["dependencyKeys"]}
    training_checks = {c["name"]: c for c in nodes["training_set"]["assetChecksOrError"]["checks"]}
    assert training_checks["point_in_time"]["executionForLatestMaterialization"]["status"] == "SUCCEEDED"
    assert {d["path"][0] for d in nodes["validated_flights"]["dependencyKeys"]} == {
        "raw_flights",
        "airlines",
        "airports",
    }
    checks = {c["name"]: c for c in nodes["validated_flights"]["assetChecksOrError"]["checks"]}
    assert checks["row_accounting"]["blocking"] is True
    statuses = {name: c["executionForLatestMaterialization"]["status"] for name, c in checks.items()}
    assert set(statuses.values()) == {"SUCCEEDED"}, statuses


def _drop_runs(dagster_home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return [r for r in instance.get_runs() if "openclaw/drop" in r.tags]


def _all_finished(dagster_home: Path, count: int) -> list[dg.DagsterRun] | None:
    runs = _drop_runs(dagster_home)
    if len(runs) >= count and all(r.is_finished for r in runs):
        return runs
    return None


def _ticks_since(dagster_home: Path, sensor: str, since: float) -> list:
    """The sensor's completed ticks that started after ``since`` (a Unix time), oldest first."""
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        states = [s for s in instance.all_instigator_state() if s.name == sensor]
        ticks = [
            tick
            for state in states
            for tick in instance.get_ticks(state.instigator_origin_id, state.selector_id, after=since)
            if tick.is_completed
        ]
    return sorted(ticks, key=lambda tick: tick.timestamp)


def test_daemon_ingests_new_drops_once_across_a_restart(seeded_home: Path, january_flights):
    env = _env(seeded_home)
    dagster_home = seeded_home / "dagster"
    args = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(_free_port())]

    log = seeded_home / "dev-1.log"
    with _server(args, env, log):
        runs = _wait(lambda: _all_finished(dagster_home, 5), 360, "five ingestion runs", log)
    assert sorted(r.tags["openclaw/drop"] for r in runs) == [
        "airlines/airlines.csv",
        "airports/airports.csv",
        "flights/flights_2013-01.csv",
        "planes/planes.csv",
        "weather/weather_2013-01.csv",
    ]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [(r.tags, r.status) for r in runs]
    assert warehouse_file(seeded_home, "validated", "flights", "2013-01").exists()

    # a restarted daemon sees every drop again: only the one that changed is ingested
    january_flights.head(27000).to_csv(seeded_home / "landing" / "flights" / "flights_2013-01.csv", index=False)
    log = seeded_home / "dev-2.log"
    with _server(args, env, log):
        runs = _wait(lambda: _all_finished(dagster_home, 6), 360, "the run for the changed drop", log)
        settled = time.time()
        # the next tick, which sees every drop already ingested, must start nothing
        ticks = _wait(
            lambda: _ticks_since(dagster_home, "landing_zone_sensor", settled),
            120,
            "a landing-zone sensor tick after the sixth run",
            log,
        )
        runs = _drop_runs(dagster_home)
    assert not ticks[0].is_failure, ticks[0].error
    assert ticks[0].run_ids == [], ticks[0].run_ids
    assert len(runs) == 6
    changed = [r for r in runs if r.tags["openclaw/drop"] == "flights/flights_2013-01.csv"]
    assert len(changed) == 2 and changed[0].tags["openclaw/drop_sha256"] != changed[1].tags["openclaw/drop_sha256"]
    assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)


def _materialize(env: dict[str, str], select: str, config: dict | None = None) -> None:
    args = [str(BIN / "dagster"), "asset", "materialize", "-m", "openclaw_assets.definitions", "--select", select]
    if config:
        args += ["--config-json", json.dumps(config)]
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _sensor_runs(dagster_home: Path, sensor: str) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return [r for r in instance.get_runs() if r.tags.get("openclaw/trigger") == sensor]


def test_the_daemon_rolls_out_a_gated_challenger_and_rolls_back_a_failing_champion(
    feature_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The rollout and rollback sensors in a real `dagster dev` daemon, against a real gateway process."""
    import shutil

    from openclaw_assets.compute import record
    from openclaw_assets.compute.gateway import server
    from openclaw_assets.models.registry import CHAMPION, MlflowStore
    from openclaw_assets_tests.conftest import FAST_TRAINING
    from openclaw_assets_tests.test_rollout import _register_broken_version, flights

    home = tmp_path / "home"
    shutil.copytree(feature_home, home)
    env = _env(home) | {"OPENCLAW_PROFILE": "embedded", "OPENCLAW_GATEWAY_POLL_SECONDS": "0.5"}
    dagster_home = home / "dagster"
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))
    _materialize(env, "feast_registry")
    _materialize(
        env,
        "trained_model,model_evaluation",
        {"ops": {"trained_model": {"config": FAST_TRAINING}}},
    )
    store = MlflowStore.at(home, "embedded")
    assert store.version_for(CHAMPION) is None

    args = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(_free_port())]
    log = home / "dev.log"
    gateway = None
    with _server(args, env, log):
        runs = _wait(
            lambda: [r for r in _sensor_runs(dagster_home, "model_rollout_sensor") if r.is_finished],
            420,
            "the rollout run",
            log,
        )
        assert [(r.job_name, r.status) for r in runs] == [("openclaw_rollout", dg.DagsterRunStatus.SUCCESS)]
        assert str(store.version_for(CHAMPION).version) == "1"
        promoted = record.last_change(home)
        assert promoted is not None and promoted["action"] == "promote" and promoted["champion"] == "1"

        # a champion that fails live is taken back by the rollback sensor's next tick
        gateway = server.start_child(home, port=0, env={"OPENCLAW_GATEWAY_POLL_SECONDS": "0.5"})
        try:
            url = server.wait_ready(server.default_endpoint_file(home), gateway, 180)["url"]
            token = (home / "secrets" / "gateway-predict.token").read_text().strip()
            broken = _register_broken_version(home, "1")
            rows = flights(home, 40)
            import httpx

            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
                _wait(lambda: client.get("/readyz").json().get("model_version") == broken, 60, "the broken champion")
                statuses = [client.post("/v1/predict", json={"flights": [row]}).status_code for row in rows]
                assert statuses.count(503) >= 20
                _wait(lambda: str(store.version_for(CHAMPION).version) == "1", 120, "the rollback", log)
                answer = client.post("/v1/predict", json={"flights": rows[:3]})
            assert answer.status_code == 200
            assert {p["model_version"] for p in answer.json()["predictions"]} == {"1"}
        finally:
            server.stop(gateway.pid)
    rolled = record.last_change(home)
    assert rolled is not None and rolled["action"] == "rollback" and rolled["rolled_back"] == broken
    assert rolled["champion"] == "1" and "error rate" in rolled["reason"]
    assert record.previous_champion(record.read_history(home), "1") is None
