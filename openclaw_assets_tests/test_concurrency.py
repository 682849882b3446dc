"""Overlapping runs on one home: the pools make their store-writing steps take turns; stores are created once.

Real processes throughout: two ``openclaw run`` started together, a run the daemon launches
beside a manual one, and processes opening new stores at the same instant.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest

from openclaw_assets.data.seed import seed
from openclaw_assets.kernel.concurrency import FEAST_POOL, POOLS
from openclaw_assets_tests.conftest import TWO_MONTHS
from openclaw_assets_tests.test_servers import _server
from openclaw_assets_tests.waiting import wait_until

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
MONTHS = "2013-01:2013-02"
WAITING = re.compile(r"^  waiting (\S+) +for pool '(\w+)'(?: \(held by run ([0-9a-f-]{8}), step (\S+)\))?$")


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "OPENCLAW_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}


def _instance(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home / "dagster"))


def _pool_steps(job_name: str) -> dict[str, str]:
    """Step key -> pool for the steps of a job that are in a pool."""
    from openclaw_assets.definitions import defs

    job = defs.resolve_job_def(job_name)
    return {node.name: node.definition.pool for node in job.nodes_in_topological_order if node.definition.pool}


def _intervals(instance: dg.DagsterInstance, run_id: str, steps: dict[str, str]) -> list[tuple[str, str, float, float]]:
    """(pool, step, started, ended) of each pool step the run executed, from its events."""
    started, out = {}, []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key not in steps:
            continue
        if event.event_type_value == "STEP_START":
            started[event.step_key] = record.timestamp
        elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
            out.append((steps[event.step_key], event.step_key, started[event.step_key], record.timestamp))
    return out


def _assert_took_turns(instance: dg.DagsterInstance, run_ids: list[str], steps: dict[str, str]) -> None:
    """No two runs were ever inside steps of the same pool at the same time."""
    spans = {run_id: _intervals(instance, run_id, steps) for run_id in run_ids}
    for run_id, found in spans.items():
        assert {step for _, step, _, _ in found} == set(steps), (run_id, found)
    first, second = run_ids
    for pool, step, start, end in spans[first]:
        for other_pool, other_step, other_start, other_end in spans[second]:
            if pool == other_pool:
                assert end <= other_start or other_end <= start, (
                    f"{first[:8]}'s {step} and {second[:8]}'s {other_step} were both in pool {pool!r}: "
                    f"{start:.1f}-{end:.1f} and {other_start:.1f}-{other_end:.1f}"
                )


def _waiting_lines(stdout: str) -> list[re.Match[str]]:
    return [found for line in stdout.splitlines() if (found := WAITING.match(line))]


def _run_id(stdout: str) -> str:
    found = re.search(r"^run ([0-9a-f-]{36}) succeeded\.$", stdout, re.M)
    assert found, stdout
    return found.group(1)


@pytest.fixture(scope="module")
def two_month_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """January and February 2013 in a landing zone (copy it, do not write into it)."""
    home = tmp_path_factory.mktemp("landing-2013-01-02")
    seed(home, ["2013-01", "2013-02"], "csv")
    return home / "landing"


def test_every_pool_has_one_slot_in_the_instance_config():
    import yaml

    pools = yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"]["pools"]
    assert pools == {"granularity": "op", "default_limit": 1}
    assert set(_pool_steps("openclaw_main").values()) == set(POOLS)


def _blocked(instance: dg.DagsterInstance, run_id: str) -> bool:
    return any(
        record.dagster_event is not None
        and record.dagster_event.event_type_value == "ENGINE_EVENT"
        and "blocked by limit for pool" in (record.dagster_event.message or "")
        for record in instance.all_logs(run_id)
    )


def test_a_step_waiting_for_a_pool_sleeps_and_says_who_holds_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """In process, as `openclaw run` runs a job: a step waits without spinning a core; the console names its holder."""
    import threading
    import time

    import openclaw_assets.definitions  # noqa: F401 (the code location makes pool waits sleep)
    from openclaw_assets.console import QuietRun

    @dg.asset(pool=FEAST_POOL)
    def fills_the_store() -> None:
        return None

    job = dg.Definitions(assets=[fills_the_store]).resolve_implicit_global_asset_job_def()
    pools = {"concurrency": {"pools": {"granularity": "op", "default_limit": 1}}}
    (tmp_path / "dagster").mkdir()
    instance = dg.DagsterInstance.local_temp(tempdir=str(tmp_path / "dagster"), overrides=pools)
    storage = instance.event_log_storage
    holder, run_id = str(uuid.uuid4()), str(uuid.uuid4())
    storage.initialize_concurrency_limit_to_default(FEAST_POOL)
    assert storage.claim_concurrency_slot(FEAST_POOL, holder, "online_features").is_claimed

    results: list[dg.ExecuteInProcessResult] = []
    run = threading.Thread(target=lambda: results.append(job.execute_in_process(instance=instance, run_id=run_id)))
    run.start()
    try:
        wait_until(lambda: _blocked(instance, run_id), 60, 0.2, "the step to wait for the pool")
        console = QuietRun(tmp_path, instance, run_id)
        console._drain()  # what `openclaw run` prints, read from the run's events by the same code
        assert capsys.readouterr().out.splitlines()[-1] == (
            f"  waiting fills_the_store      for pool 'feast' (held by run {holder[:8]}, step online_features)"
        )
        # the run has nothing else to do: Dagster's own loop would poll at full speed; it sleeps instead
        cpu, since = time.process_time(), time.monotonic()
        wait_until(lambda: time.monotonic() - since >= 4, 10, 0.5, "four seconds of waiting")
        assert time.process_time() - cpu < 1.0, "the waiting run spun a core"
        assert not results
    finally:
        storage.free_concurrency_slot_for_step(holder, "online_features")
        run.join(timeout=120)
    assert results and results[0].success
    console._drain()
    done = capsys.readouterr().out.splitlines()[-1]
    assert re.fullmatch(
        r"  done    fills_the_store +\d+\.\ds  fills_the_store \(waited \d+\.\ds for pool 'feast'\)", done
    )


@pytest.mark.cli
@pytest.mark.slow
def test_two_openclaw_runs_started_together_take_turns_and_both_succeed(tmp_path: Path, two_month_landing: Path):
    home = tmp_path / "home"
    shutil.copytree(two_month_landing, home / "landing")
    args = [str(BIN / "openclaw"), "run", "--job", "openclaw_features", "--months", MONTHS, "--no-serve"]
    runs = [
        subprocess.Popen(args, env=_env(home), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, stdout + stderr
        assert "Traceback" not in stdout + stderr
    run_ids = [_run_id(stdout) for stdout, _ in outputs]

    # at least one run said, in one line, that it waited, and for whom
    waits = [found for stdout, _ in outputs for found in _waiting_lines(stdout)]
    assert waits, [stdout for stdout, _ in outputs]
    assert {found.group(2) for found in waits} == {FEAST_POOL}
    for found in waits:
        assert found.group(1) in ("feast_registry", "online_features"), found.group(0)
        if found.group(3):
            assert any(run_id.startswith(found.group(3)) for run_id in run_ids), found.group(0)
    with _instance(home) as instance:
        _assert_took_turns(instance, run_ids, _pool_steps("openclaw_features"))


@pytest.mark.cli
@pytest.mark.slow
def test_a_run_the_daemon_launches_and_a_manual_run_take_turns(feature_copy: Path):
    """While a slot of ``feast`` is taken, both wait; once it is free they go through one at a time."""
    home = feature_copy
    (home / "dagster" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = _env(home)
    steps = _pool_steps("openclaw_features")
    holder, holder_step = str(uuid.uuid4()), "a_step_of_another_run"
    launched = str(uuid.uuid4())
    daemon_log, manual_log = home / "daemon.log", home / "manual.log"
    with (
        _instance(home) as instance,
        _server([str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"], env, daemon_log),
    ):
        wait_until(
            lambda: "QUEUED_RUN_COORDINATOR" in instance.get_daemon_heartbeats(),
            120,
            1.0,
            lambda: f"the daemon's run queue\n{daemon_log.read_text(errors='replace')[-3000:]}",
        )
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(FEAST_POOL)
        assert storage.claim_concurrency_slot(FEAST_POOL, holder, holder_step).is_claimed

        with open(manual_log, "w") as out:
            manual = subprocess.Popen(
                [str(BIN / "openclaw"), "run", "--job", "openclaw_features", "--months", MONTHS, "--no-serve"],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
            )
        try:
            launch = subprocess.run(
                [
                    *(str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "openclaw_features"),
                    *("-o", "feast_registry,online_features", "--tags", json.dumps(TWO_MONTHS), "--run-id", launched),
                ],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert launch.returncode == 0, launch.stderr[-3000:]

            def both_wait() -> bool:
                manual_waits = [
                    found
                    for found in _waiting_lines(manual_log.read_text())
                    if found.group(1) == "feast_registry" and found.group(4) == holder_step
                ]
                queue_holds = f"Run {launched} is blocked by global concurrency limits" in daemon_log.read_text()
                return bool(manual_waits) and (queue_holds or _blocked(instance, launched))

            wait_until(both_wait, 300, 1.0, lambda: f"both runs waiting\n{manual_log.read_text()[-3000:]}")
            run = instance.get_run_by_id(launched)
            assert run is not None and run.status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTED)
            assert not any(_intervals(instance, launched, steps))  # nothing of the daemon's run got the slot

            storage.free_concurrency_slot_for_step(holder, holder_step)
            assert manual.wait(timeout=600) == 0, manual_log.read_text()
            wait_until(
                lambda: (found := instance.get_run_by_id(launched)) is not None and found.is_finished,
                300,
                1.0,
                lambda: f"the launched run to finish\n{daemon_log.read_text(errors='replace')[-3000:]}",
            )
        finally:
            if manual.poll() is None:
                manual.kill()
                manual.wait(timeout=30)
        assert instance.get_run_by_id(launched).status == dg.DagsterRunStatus.SUCCESS
        _assert_took_turns(instance, [_run_id(manual_log.read_text()), launched], steps)


def _open_store(kind: str, home: str, barrier, results) -> None:
    """In a fresh process: import everything first, then open a new store at the same instant as the others."""
    import mlflow  # noqa: F401 (imported before the barrier, so the processes race on the store alone)

    from openclaw_assets.cli import open_instance, prepare_dagster_home
    from openclaw_assets.models.registry import MlflowStore

    store = MlflowStore.at(home, "embedded")
    barrier.wait(timeout=120)
    try:
        if kind == "mlflow":
            store.client().search_experiments()
        else:
            with open_instance(prepare_dagster_home(Path(home))) as instance:
                instance.get_runs(limit=1)
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{exc.__class__.__name__}: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["mlflow", "dagster-instance"])
def test_processes_opening_a_new_store_at_the_same_instant_all_succeed(
    tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch
):
    """MLflow migrates a new SQLite store, and Dagster creates a new instance's tables, when first opened."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(3), context.Queue()
    processes = [context.Process(target=_open_store, args=(kind, str(tmp_path), barrier, results)) for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert sorted(results.get(timeout=10) for _ in processes) == ["ok"] * 3
    if kind == "mlflow":
        from openclaw_assets.models.registry import EXPERIMENT, MlflowStore

        client = MlflowStore.at(tmp_path, "embedded").client()
        assert [e.name for e in client.search_experiments()].count(EXPERIMENT) == 1


def test_a_run_waiting_for_a_pool_sleeps_until_its_next_claim_and_the_patched_method_still_exists():
    """The one private Dagster path (kernel/concurrency.sleep_while_blocked): fails if a Dagster upgrade moves it."""
    import inspect
    import time
    from types import SimpleNamespace

    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

    import openclaw_assets.definitions  # noqa: F401 (applies the patch, as loading the code location does)

    method = InstanceConcurrencyContext.interval_to_next_pending_claim_check
    assert getattr(method, "sleeps", False)
    source = inspect.getsource(InstanceConcurrencyContext)
    assert "_pending_claims" in source and "_pending_timeouts" in source  # the state the replacement reads
    waiting = SimpleNamespace(
        _pending_claims={"online_features"}, _pending_timeouts={"online_features": time.time() + 5}
    )
    assert 4.0 < method(waiting) <= 5.0  # Dagster's own answer here is 0: a busy loop
    assert method(SimpleNamespace(_pending_claims=set(), _pending_timeouts={})) == 0.0
