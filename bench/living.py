"""Living pipeline cases: one new month through the real daemon against the full-year run; the landing sensor's latency.

Nothing drives the pipeline here but files. ``openclaw seed`` and ``openclaw run --no-serve`` build a fresh home (the
peer, timed as processes); then ``dagster dev`` (UI, daemon, code server: the sensors and declarative automation run by
default) runs in its own process group while children drop months into the landing zone and read back from the
instance what became of them. Every clock on the daemon's side is a timestamp the instance recorded (sensor ticks, run
events, materializations, check evaluations); children poll for conditions and never sleep in their place.

Before each drop the instance must be idle: no run queued or in progress, no backfill in progress, and every sensor
that runs by default has finished a tick since the last run ended that requested nothing. A drop is two files (flights
and weather) written to a scratch folder first and renamed into the landing zone, so it appears at once; it lands at a
random phase (uniform over the landing sensor's interval) after the instance went idle, since idleness is itself
noticed on a sensor's tick.
"""

from __future__ import annotations

import functools
import itertools
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import _project as p
from bench.runner import BIN, PYTHON, RESULTS, ROOT, BenchError, Case, median, run_process, run_task, stop_group, x

YEAR = "2013-01:2013-12"
LANDING_SENSOR = "landing_zone_sensor"
LANDING_INTERVAL_S = 30.0
"""The landing sensor's ``minimum_interval_seconds``: the spread of the drops' phases."""
TARGET = 1 / 8
"""The issue's target: one new month end to end in at most an eighth of the full-year run."""
BUSY = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")
BACKFILLING = ("REQUESTED", "CANCELING", "FAILING")
POLL_S = 0.5
LOG_TAIL = 4000


# ---------------------------------------------------------------- children: reading the instance


def _runs_since(instance, after: float) -> list[Any]:
    """Run records created after ``after`` (the column has whole seconds: callers match by tag or time)."""
    import dagster as dg

    created_after = datetime.fromtimestamp(after - 1, UTC)
    return list(instance.get_run_records(filters=dg.RunsFilter(created_after=created_after)))


def _busy(instance) -> list[Any]:
    import dagster as dg

    statuses = [dg.DagsterRunStatus(status) for status in BUSY]
    return list(instance.get_run_records(filters=dg.RunsFilter(statuses=statuses)))


def _lifecycle(instance, run_id: str) -> dict[str, float]:
    """When the run was enqueued, dequeued, launched and started, and when it ended, from its own events."""
    import dagster as dg

    names = {
        dg.DagsterEventType.RUN_ENQUEUED: "enqueued",
        dg.DagsterEventType.RUN_DEQUEUED: "dequeued",
        dg.DagsterEventType.RUN_STARTING: "starting",
        dg.DagsterEventType.RUN_START: "started",
        dg.DagsterEventType.RUN_SUCCESS: "ended",
        dg.DagsterEventType.RUN_FAILURE: "ended",
        dg.DagsterEventType.RUN_CANCELED: "ended",
    }
    found: dict[str, float] = {}
    for entry in instance.all_logs(run_id, of_type=set(names)):
        found.setdefault(names[entry.dagster_event.event_type], entry.timestamp)
    return found


def _failure(instance, run_id: str) -> tuple[str, bool]:
    """Why a run failed: its failed checks and its failed steps' first error lines; and whether only checks failed."""
    import dagster as dg

    kinds = {dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ASSET_CHECK_EVALUATION}
    checks, steps = [], []
    for entry in instance.all_logs(run_id, of_type=kinds):
        event = entry.dagster_event
        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            if not event.event_specific_data.passed:
                checks.append(f"check {event.event_specific_data.check_name} failed")
            continue
        error = event.step_failure_data.error
        if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
            continue  # a blocking check stopped the step: named above
        message = (error.message if error else entry.user_message or "").strip().splitlines()
        steps.append(f"{event.step_key} failed: {message[0][:300] if message else 'no message'}")
    return "; ".join(checks + steps) or "no failed step or check recorded", bool(checks) and not steps


@functools.cache
def _ordered() -> list[Any]:
    """Every asset key, in dependency order."""
    return list(p.defs.resolve_asset_graph().toposorted_asset_keys)


def _run_row(instance, record) -> dict[str, Any]:
    run = record.dagster_run
    tags = run.tags
    start, end = tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end")
    partition = tags.get("dagster/partition") or (f"{start}..{end}" if start else None)
    row = {
        "run_id": run.run_id,
        "job": run.job_name,
        "status": run.status.value,
        "assets": [key.to_user_string() for key in _ordered() if key in (run.asset_selection or ())],
        "partition": partition,
        "sensor": tags.get("dagster/sensor_name"),
        "drop": tags.get("openclaw/drop"),
        "backfill": tags.get("dagster/backfill"),
        **_lifecycle(instance, run.run_id),
    }
    if run.status.value == "FAILURE":
        row["failure"], row["gates_only"] = _failure(instance, run.run_id)
    return row


def _sensor_states(instance) -> dict[str, Any]:
    return {state.name: state for state in instance.all_instigator_state() if state.instigator_type.value == "SENSOR"}


def _ticks(instance, name: str, after: float) -> list[Any]:
    state = _sensor_states(instance).get(name)
    if state is None:
        return []
    return list(instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after))


def _backfills(instance) -> list[Any]:
    return list(instance.get_backfills(limit=20))


def _quiet(tick) -> bool:
    """A finished tick that requested nothing: no run, no backfill."""
    return tick.status.value != "STARTED" and not tick.run_ids and not tick.tick_data.run_requests


def _idle_since(instance, sensors: list[str], since: float) -> float | None:
    """When the instance went idle (the last run's or backfill's end, or ``since``); None while it is not idle yet.

    Idle: no run queued or in progress, no backfill in progress, and every sensor in ``sensors`` has a finished tick
    that started after that moment and requested nothing (the automation sensor requests a backfill, not a run, for
    a range of partitions: its runs come later, from the backfill daemon).
    """
    backfills = _backfills(instance)
    if _busy(instance) or any(b.status.value in BACKFILLING for b in backfills):
        return None
    ends = [record.end_time for record in instance.get_run_records(limit=50) if record.end_time]
    ends += [b.backfill_end_timestamp or b.backfill_timestamp for b in backfills]
    last = max([since, *ends])
    for name in sensors:
        if not any(_quiet(tick) for tick in _ticks(instance, name, last)):
            return None
    if _busy(instance) or any(r.end_time is None or r.end_time > last for r in _runs_since(instance, last)):
        return None  # a run was requested meanwhile
    if any(b.backfill_timestamp > last or b.status.value in BACKFILLING for b in _backfills(instance)):
        return None
    return last


def _first_materialization(instance, asset: str, month: str, after: float):
    import dagster as dg

    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[month], after_timestamp=after),
        limit=1,
        ascending=True,
    ).records
    return records[0] if records else None


def _online_fresh(instance, month: str, after: float) -> tuple[float, str] | None:
    """(when, run id): the first materialization of ``month`` in the online store whose freshness check passed."""
    import dagster as dg

    asset = dg.AssetKey("online_features")
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset, asset_partitions=[month], after_timestamp=after),
        limit=20,
        ascending=True,
    ).records
    if not records:
        return None
    key = dg.AssetCheckKey(asset, p.ONLINE_FRESHNESS)
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
    for record in records:
        for check in history:
            if check.run_id == record.run_id and check.status.value == "SUCCEEDED" and check.event is not None:
                return check.event.timestamp, record.run_id
    return None


def _counts(instance, month: str, after: float) -> dict[str, int]:
    """Materializations since ``after`` of every asset, for ``month`` or unpartitioned."""
    import dagster as dg

    counts = {}
    for key in _ordered():
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_timestamp=after), limit=500
        ).records
        hits = sum(1 for r in records if r.asset_materialization.partition in (month, None))
        if hits:
            counts[key.to_user_string()] = hits
    return counts


def _exited(pid: int) -> bool:
    """``dagster dev`` is gone (a zombie counts: its parent reaps it only after this child ends)."""
    stat = Path(f"/proc/{pid}/stat")
    if Path("/proc/self/stat").exists():
        try:
            return stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except FileNotFoundError:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _until(condition: Callable[[], Any], timeout_s: float, what: Callable[[], str], dev_pid: int) -> Any:
    """Poll ``condition`` until it returns something; BenchError saying ``what()`` when it does not in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = condition()
        if found is not None:
            return found
        if _exited(dev_pid):
            raise BenchError(f"dagster dev exited while waiting: {what()}")
        if time.monotonic() > deadline:
            raise BenchError(f"not within {timeout_s:.0f} s: {what()}")
        time.sleep(POLL_S)


# ---------------------------------------------------------------- the child: one drop


def _stage(staging: Path, month: str) -> list[Path]:
    """The month's drops (``seed``, replayed data after 2013) written outside the landing zone."""
    p.seed(staging, [month], "csv", shift_years=p.shift_years_for(month), references=False)
    return sorted(staging.glob("landing/*/*"))


def _land(staged: list[Path], home: Path, month: str) -> tuple[float, list[str]]:
    """Rename the staged drops into the landing zone: (when they had all landed, their ``openclaw/drop`` tags)."""
    names = []
    for path in staged:
        target = p.landing_file(home, path.parent.name, month, "csv")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        names.append(f"{path.parent.name}/{target.name}")
    return time.time(), names


def drop(spec: dict[str, Any]) -> dict[str, Any]:
    """Wait for an idle instance, drop one month, time what the spec asks for, then wait until idle again.

    ``until``: ``"first_run"`` (the first run the drop causes has started) or ``"fresh"`` (the month's batch
    predictions are written and its online store rows passed their freshness check).
    """
    import dagster as dg

    home, month, pid = Path(spec["home"]), spec["month"], spec["dev_pid"]
    sensors = [s.name for s in p.defs.sensors if s.default_status == dg.DefaultSensorStatus.RUNNING]
    staging_started = time.perf_counter()
    staged = _stage(Path(spec["staging"]), month)
    stage_s = time.perf_counter() - staging_started
    with dg.DagsterInstance.from_config(spec["dagster_home"]) as instance:

        def state() -> str:
            runs = [_run_row(instance, r) for r in _busy(instance)]
            return f"{month}: {spec['until']}; runs in progress {[(r['job'], r['assets'], r['status']) for r in runs]}"

        idle_at = _until(lambda: _idle_since(instance, sensors, spec["since"]), spec["settle_timeout_s"], state, pid)
        noticed_idle = time.time()
        time.sleep(spec["phase_s"])  # a random phase against the sensors' ticks, drawn by the parent
        busy_at_drop = [_run_row(instance, r) for r in _busy(instance)]
        dropped_at, names = _land(staged, home, month)
        story = p.MonthStory(month, dropped_at)

        def caused() -> list[Any]:
            return [r for r in _runs_since(instance, dropped_at) if r.dagster_run.tags.get("openclaw/drop") in names]

        def first_started():
            started = [r for r in caused() if r.start_time]
            return min(started, key=lambda r: r.start_time) if started else None

        def told() -> str:
            p.observe(instance, home, story)
            runs = [_run_row(instance, r) for r in _runs_since(instance, dropped_at)]
            brief = [(r["job"], r["assets"], r["partition"], r["status"]) for r in runs]
            return f"{month} ({spec['until']}): {story.line()}; runs since the drop {brief}"

        first = _until(first_started, spec["timeout_s"], told, pid)
        out: dict[str, Any] = {"month": month, "stage_s": stage_s, "idle_at": idle_at, "noticed_idle_at": noticed_idle}
        out |= {"phase_s": spec["phase_s"], "dropped_at": dropped_at, "busy_at_drop": busy_at_drop}
        out["first_run"] = _run_row(instance, first)
        landing_ticks = _ticks(instance, LANDING_SENSOR, dropped_at - LANDING_INTERVAL_S * 4)
        tick = next((t for t in landing_ticks if first.dagster_run.run_id in t.run_ids), None)
        out["tick"] = None if tick is None else {"started": tick.timestamp, "ended": tick.end_timestamp}
        if spec["until"] == "fresh":

            def fresh():
                online = _online_fresh(instance, month, dropped_at)
                batch = _first_materialization(instance, "batch_predictions", month, dropped_at)
                return (online, batch) if online and batch else None

            (online_at, online_run), batch = _until(fresh, spec["timeout_s"], told, pid)
            out |= {"online_fresh_at": online_at, "batch_at": batch.timestamp, "batch_run": batch.run_id}
            out["online_run"] = online_run
            out["end_at"] = max(online_at, batch.timestamp)
            out["seconds"] = out["end_at"] - dropped_at
        else:
            out["seconds"] = first.start_time - dropped_at
        # the rest of the month's story: what the daemon goes on to do, until it is idle again
        out["idle_again_at"] = _until(
            lambda: _idle_since(instance, sensors, dropped_at), spec["settle_timeout_s"], told, pid
        )
        p.observe(instance, home, story)
        out["story"] = story.line()
        out["story_complete"] = story.complete()
        out["runs"] = [_run_row(instance, r) for r in _runs_since(instance, dropped_at)]
        out["materializations"] = _counts(instance, month, dropped_at)
        out["landing_ticks"] = [t.timestamp for t in _ticks(instance, LANDING_SENSOR, spec["since"])]
        out["ingestion_runs"] = [_run_row(instance, r) for r in caused()]
    return out


# ---------------------------------------------------------------- the parent: the peer, dagster dev, the drops


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-LOG_TAIL:] if log.exists() else "(no log)"


@contextmanager
def dagster_dev(env: dict[str, str], log: Path, ready_s: float = 300.0) -> Iterator[tuple[subprocess.Popen, float]]:
    """``dagster dev`` in its own process group, up once its UI answers; the whole group is ended however this ends.

    Dagster's webserver, daemon, code server and run workers are all in the group. SIGTERM (which ``dagster dev``
    treats as Ctrl-C) first, SIGKILL for whatever is left after 30 s.
    """
    port = _port()
    argv = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    started_at = time.time()
    with open(log, "ab") as out:
        tie = functools.partial(p.exit_with_parent, os.getpid())  # SIGTERM from Linux if this process dies first
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=tie
        )
    try:
        deadline = time.monotonic() + ready_s
        while True:
            if process.poll() is not None:
                raise BenchError(f"dagster dev exited with {process.returncode}:\n{_tail(log)}")
            with suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as answer:
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"dagster dev's UI did not answer within {ready_s:.0f} s:\n{_tail(log)}")
            time.sleep(POLL_S)
        yield process, started_at
    finally:
        stop_group(process, 30)


@contextmanager
def keep(log: Path, target: Path) -> Iterator[None]:
    """Copy ``log`` to ``target`` (git-ignored results) however the block ends."""
    try:
        yield
    finally:
        if log.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, target)


def _cli(home: Path, env: dict[str, str], *args: str, timeout_s: float) -> float:
    """``openclaw --home HOME ARGS`` as a process: its wall seconds; BenchError unless it succeeds."""
    argv = [PYTHON, "-m", p.CLI, "--home", str(home), *args]
    wall, _, code, stdout, stderr = run_process(argv, env, timeout_s)
    if code != 0:
        tail = "\n".join((stderr + stdout).strip().splitlines()[-20:])
        raise BenchError(f"openclaw {' '.join(args)} failed with exit code {code}:\n{tail}")
    return wall


def measure_living(
    base: str = YEAR,
    latency_drops: int = 5,
    timeout_s: float = 1800.0,
    settle_timeout_s: float = 1800.0,
    seed: int = 17,
) -> dict[str, Any]:
    months = p.months_of(base)
    after = [p.shift(months[-1], i) for i in range(1, latency_drops + 2)]
    for month in after:
        try:
            p.source_months([month], p.shift_years_for(month))
        except Exception as exc:
            raise BenchError(f"{month} cannot be replayed: {exc}") from None
    new_month, latency_months = after[0], after[1:]
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-living-") as root:
        home = Path(root) / "home"
        env = {
            "OPENCLAW_HOME": str(home),
            "DAGSTER_HOME": str(home / "dagster"),
            "OPENCLAW_PROFILE": "embedded",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        seed_s = _cli(home, env, "seed", "--months", base, timeout_s=600)
        run_s = _cli(home, env, "run", "--months", base, "--no-serve", timeout_s=3600)
        log = Path(root) / "dagster-dev.log"
        drops = []
        with keep(log, RESULTS / "living-dagster-dev.log"), dagster_dev({**os.environ, **env}, log) as (process, since):
            for index, month in enumerate([new_month, *latency_months]):
                spec = {
                    "home": str(home),
                    "dagster_home": env["DAGSTER_HOME"],
                    "month": month,
                    "staging": str(Path(root) / f"staging-{month}"),
                    "until": "fresh" if index == 0 else "first_run",
                    "since": since,
                    "dev_pid": process.pid,
                    "phase_s": rng.uniform(0.0, LANDING_INTERVAL_S),
                    "timeout_s": timeout_s,
                    "settle_timeout_s": settle_timeout_s,
                }
                try:
                    child = run_task("bench.living:drop", spec, env, timeout_s=timeout_s + 2 * settle_timeout_s + 600)
                except BenchError as exc:
                    raise BenchError(f"{exc}\n-- the end of dagster dev's log --\n{_tail(log)}") from None
                drops.append(child.report)
                print(f"  {month}: {child.report['seconds']:.1f} s; {child.report['story']}", flush=True)
    return _rows(base, months, seed_s, run_s, drops)


def _rows(base: str, months: list[str], seed_s: float, run_s: float, drops: list[dict[str, Any]]) -> dict[str, Any]:
    month, latency = drops[0], drops[1:]
    peer_s = seed_s + run_s
    share = month["seconds"] / peer_s
    met = "met" if share <= TARGET else "missed"
    at = month["dropped_at"]
    first = month["first_run"]
    ingested = max(r.get("ended", at) for r in month["ingestion_runs"]) - at
    online_run = next((r for r in month["runs"] if r["run_id"] == month["online_run"]), {"started": at})
    tick = f"the landing sensor's tick at {month['tick']['started'] - at:.0f} s, " if month["tick"] else ""
    span = f"{months[0]}..{months[-1]}"
    rows = [
        [
            f"one new month under `dagster dev`: the drop to its batch predictions written and its online store fresh"
            f" ({month['month']}{', replayed data' if month['month'] > '2013-12' else ''})",
            f"{month['seconds']:.0f} s ({tick}ingestion started at {first['started'] - at:.0f} s and done at"
            f" {ingested:.0f} s, the automation run started at {online_run['started'] - at:.0f} s)",
            f"the run `make run` does, without serving: `openclaw seed` + `openclaw run --no-serve` for {span},"
            f" {peer_s:.0f} s ({seed_s:.0f} + {run_s:.0f})",
            f"{x(share, 3)} = 1/{1 / share:.1f} (target at most 1/8: {met}); 1/{run_s / month['seconds']:.1f} of the"
            " run alone",
        ]
    ]
    notes = []
    if latency:
        seconds = [d["seconds"] for d in latency]
        part = {
            "tick": [d["tick"]["started"] - d["dropped_at"] for d in latency if d["tick"]],
            "enqueued": [d["first_run"]["enqueued"] - d["tick"]["started"] for d in latency if d["tick"]],
            "started": [d["first_run"]["started"] - d["first_run"]["enqueued"] for d in latency],
        }
        ticks = sorted(set(latency[-1]["landing_ticks"]))
        intervals = [b - a for a, b in itertools.pairwise(ticks)]
        interval = median(intervals) if intervals else None
        names = f"{latency[0]['month']}..{latency[-1]['month']}" if len(latency) > 1 else latency[0]["month"]
        rows.append(
            [
                f"landing-zone sensor: a drop to the first run it causes started, median of {len(latency)} drops"
                f" ({names}, each on an idle instance at a random phase)",
                f"{median(seconds):.1f} s (min {min(seconds):.1f}, max {max(seconds):.1f}; medians: drop to the"
                f" sensor's tick {median(part['tick']):.1f} s, tick to run enqueued {median(part['enqueued']):.1f} s,"
                f" enqueued to started {median(part['started']):.1f} s)",
                f"the sensor's own tick interval in the same run (minimum 30 s), median of {len(intervals)}:"
                f" {interval:.1f} s"
                if interval
                else "–",
                f"{x(median(seconds) / interval)} of the interval" if interval else "–",
            ]
        )
        notes.append(
            "Drop to first run started, per drop: "
            + ", ".join(f"{d['month']} {d['seconds']:.1f} s (phase {d['phase_s']:.0f} s)" for d in latency)
            + "."
        )
    notes.append(_chain_note(month))
    stalled = [d["month"] for d in drops if not d["story_complete"]]
    overlapping = {d["month"]: ", ".join(_label(r) for r in d["busy_at_drop"]) for d in drops if d["busy_at_drop"]}
    doubles = {d["month"]: _repeated(d) for d in drops}
    doubles = {m: found for m, found in doubles.items() if found}
    failed = [(d["month"], _label(r)) for d in drops for r in d["runs"] if _broken(r)]
    if stalled or overlapping or doubles or failed:
        notes.append(
            "Seen in the automation: "
            + "; ".join(
                [
                    *(f"{m}'s story was not complete once the daemon went idle" for m in stalled),
                    *(f"a run of {what} was in progress when {m} was dropped" for m, what in overlapping.items()),
                    *(f"{m} materialized {found} more than once" for m, found in doubles.items()),
                    *(f"after {m}, a run of {what}" for m, what in failed),
                ]
            )
            + "."
        )
    return {
        "rows": rows,
        "notes": notes,
        "peer": {"seed_s": seed_s, "run_s": run_s},
        "month_s": month["seconds"],
        "month_over_year": share,
        "latency_s": [d["seconds"] for d in latency],
        "drops": drops,
    }


def _broken(run: dict[str, Any]) -> bool:
    """A run that failed for another reason than a gate doing its work."""
    return run["status"] != "SUCCESS" and not run.get("gates_only")


def _repeated(drop: dict[str, Any]) -> dict[str, int]:
    """Assets the month materialized more often than once (batch predictions: twice after a promotion)."""
    promoted = any(r["job"] == "openclaw_rollout" and r["status"] == "SUCCESS" for r in drop["runs"])
    expected = {"batch_predictions": 2 if promoted else 1}
    return {asset: n for asset, n in drop["materializations"].items() if n > expected.get(asset, 1)}


FEATURE_TABLES = ("carrier_stats", "origin_stats", "route_stats", "tail_recent", "weather_hourly")


def _label(run: dict[str, Any]) -> str:
    """What a run was, in a few words: ingestion, rollout, or the assets it materialized (feature tables as one)."""
    if run["drop"]:
        what = "ingestion"
    elif run["job"] == "openclaw_rollout":
        what = "rollout"
    else:
        assets = [a for a in run["assets"] if a not in FEATURE_TABLES]
        what = " + ".join((["feature tables"] if len(assets) < len(run["assets"]) else []) + assets)
    if run.get("backfill"):
        what += f" for {run['partition'] or 'a range'} (a backfill)"
    if run.get("gates_only"):
        what += f" (stopped by its gates: {run['failure']})"
    elif run["status"] in ("FAILURE", "CANCELED"):
        what += f" ({run['status'].lower()}{': ' + run['failure'] if run.get('failure') else ''})"
    return what


def _chain_note(month: dict[str, Any]) -> str:
    at = month["dropped_at"]
    runs = ", ".join(f"{n} {what}" for what, n in Counter(_label(r) for r in reversed(month["runs"])).items())
    twice = month["materializations"].get("batch_predictions", 0)
    return (
        f"What {month['month']}'s drop went on to cause: {month['story'].split('  ', 1)[1]}; the daemon was idle again"
        f" {month['idle_again_at'] - at:.0f} s after the drop, after {len(month['runs'])} runs: {runs};"
        f" {month['month']}'s batch predictions were written {twice} time(s). Preparing the drop (`seed`, not timed)"
        f" took {month['stage_s']:.1f} s."
    )


CASES = [
    Case(
        "living",
        "Living pipeline",
        "one new month under `dagster dev` (UI and daemon, sensors and automation on by default): from its drop"
        " landing to its batch predictions written and its online store fresh, read from the instance; and the"
        " landing sensor's latency, drop to the first run started",
        "the full-year run in the same fresh home: `openclaw seed` + `openclaw run --no-serve` (`make run` without"
        " serving); the sensor's own tick interval",
        "seconds from instance timestamps (sensor ticks, run events, materializations, check evaluations)",
        "month ÷ full year, target at most 1/8; median latency ÷ tick interval",
        measure_living,
        full={"base": YEAR, "latency_drops": 5, "timeout_s": 1800.0, "settle_timeout_s": 1800.0},
        quick={"base": "2013-01:2013-03", "latency_drops": 2},
        libraries=("feast", "mlflow", "lightgbm"),
        minutes="30 to 35 (the full-year run, then six months dropped one at a time, each followed until idle)",
    ),
]
