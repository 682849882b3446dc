"""The one runner: declarative cases, one child-process runner, JSON results and the generated README tables.

Every measurement runs in a fresh interpreter (``python -m bench child MODULE:FUNCTION SPEC REPORT``); the
parent takes its wall time from spawn to exit and its peak RSS (``ru_maxrss`` from ``wait4``).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RECORDED = ROOT / "bench" / "recorded.json"
PYTHON = sys.executable
BIN = Path(PYTHON).parent


class BenchError(Exception):
    """A measurement that could not be taken, or that does not measure what its case claims."""


@dataclass(frozen=True)
class Case:
    """What one benchmark compares. ``measure(**settings)`` returns the payload; its ``rows`` feed the README."""

    name: str
    plane: str
    ours: str
    peer: str
    metrics: str
    ratio: str
    measure: Callable[..., dict[str, Any]]
    full: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    libraries: tuple[str, ...] = ()
    minutes: str = ""
    block: str = ""
    """A README block of the case's own (``<!-- {block}:begin -->``), filled with its result's ``markdown``
    lines; empty: its rows go into the plane's table of the "Performance" block."""


# ---------------------------------------------------------------- children


@dataclass
class Child:
    wall_s: float
    max_rss_mib: float
    report: dict[str, Any]


def run_process(argv: Sequence[str], env: dict[str, str] | None = None, timeout_s: float = 600.0):
    """Run ``argv`` to completion: (wall seconds, peak RSS MiB, exit code, stdout, stderr)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=err)
        killer = threading.Timer(timeout_s, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if code < 0:
        raise BenchError(f"{shlex.join(argv)} was killed by signal {-code} (timeout {timeout_s:g}s?)")
    return wall, usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024), code, stdout, stderr


def stop_group(process: subprocess.Popen, grace_s: float) -> None:
    """Stop a child started in its own session and everything under it: SIGTERM, then SIGKILL after ``grace_s``."""
    import signal
    from contextlib import suppress

    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # what ignored SIGTERM: workers, servers under a shell
    process.wait(timeout=10)


def run_task(task: str, spec: dict[str, Any], env: dict[str, str] | None = None, timeout_s: float = 900.0) -> Child:
    """Run ``task`` (``module:function``) on ``spec`` in a fresh interpreter, with ``env`` added to its environment."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-") as scratch:
        report = Path(scratch) / "report.json"
        argv = [PYTHON, "-m", "bench", "child", task, json.dumps(spec), str(report)]
        wall, rss, code, stdout, stderr = run_process(argv, env, timeout_s)
        if code != 0 or not report.exists():
            tail = "\n".join((stderr or stdout).strip().splitlines()[-15:])
            raise BenchError(f"{task} failed with exit code {code}:\n{tail}")
        return Child(wall, rss, json.loads(report.read_text()))


def child_main(task: str, spec: str, report: str) -> int:
    """The child side of ``run_task``."""
    module, _, function = task.partition(":")
    result = getattr(importlib.import_module(module), function)(json.loads(spec))
    Path(report).write_text(json.dumps(result))
    return 0


def failures(result: Any) -> str:
    """The errors of a Dagster run's failed steps."""
    failed = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return "\n".join(str(e.event_specific_data.error) for e in failed) or "a blocking check failed"


def imports(*names: str) -> float:
    """Import ``names``; the seconds it took (the clock a child keeps apart from its work)."""
    started = time.perf_counter()
    for name in names:
        importlib.import_module(name)
    return time.perf_counter() - started


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def instrument(phases: dict[str, Sequence[tuple[str, str]]], wrap_result: str | None = None) -> dict[str, float]:
    """Wrap the listed functions so that their calls add their wall time to their group.

    Only the outermost timed call counts, so groups never overlap. For the ``wrap_result`` group,
    the returned object's ``to_df`` is timed in the same group (a lazy job's work). ``calls:<group>``
    counts the outermost calls.
    """
    totals = dict.fromkeys(phases, 0.0) | {f"calls:{group}": 0.0 for group in phases}
    depth = [0]

    def timed(group: str, function: Callable[..., Any], lazy: bool = False) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return function(*args, **kwargs)
            depth[0] += 1
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            finally:
                totals[group] += time.perf_counter() - started
                totals[f"calls:{group}"] += 1
                depth[0] -= 1
            if lazy:
                result.to_df = timed(group, result.to_df)
            return result

        return wrapper

    for group, targets in phases.items():
        for module, dotted in targets:
            owner: Any = importlib.import_module(module)
            *path, attribute = dotted.split(".")
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, attribute, timed(group, getattr(owner, attribute), group == wrap_result))
    return totals


# ---------------------------------------------------------------- figures


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def x(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}x"


def n(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value):,}"


def load_average() -> float:
    return os.getloadavg()[0]


# ---------------------------------------------------------------- results


def environment(libraries: Sequence[str]) -> dict[str, Any]:
    """Where the figures were measured: interpreter, machine, library versions and source revision."""
    versions = {}
    for name in ("dagster", "pandas", "pyarrow", "numpy", *libraries):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()

    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "libraries": versions,
        "git": {"revision": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "-uno"))},
    }


def run_case(case: Case, quick: bool, overrides: dict[str, Any]) -> Path:
    """Measure ``case`` with its full (or quick) settings and write ``bench/results/<case>.json``."""
    overrides = {key: value for key, value in overrides.items() if key in case.full or key in case.quick}
    settings = {**case.full, **(case.quick if quick else {}), **overrides}
    print(f"\n== {case.name} ({'quick' if quick else 'full'} settings: {settings}) ==", flush=True)
    started, load_before = time.perf_counter(), load_average()
    payload = case.measure(**settings)
    document = {
        "case": case.name,
        "command": shlex.join(sys.orig_argv),
        "settings": settings,
        "quick": settings != case.full,  # figures from other than the full settings are proofs, not reported
        "elapsed_s": round(time.perf_counter() - started, 1),
        "load_average_1m": {"start": load_before, "end": load_average()},
        "environment": environment(case.libraries),
        **payload,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{case.name}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    for row in payload["rows"]:
        print("  " + " | ".join(row))
    for note in payload.get("notes", []):
        print("  " + note)
    print(f"{case.name}: {document['elapsed_s']:.0f}s, load {load_before:.1f} -> {load_average():.1f}; wrote {path}")
    return path


# ---------------------------------------------------------------- the generated README blocks


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    cells = [[str(c).replace("|", "\\|") for c in row] for row in rows]
    return [
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
        *("| " + " | ".join(r) + " |" for r in cells),
    ]


def performance_block(cases: Sequence[Case], include_quick: bool = False) -> list[str]:
    """Per plane, one table of every case's rows: from ``bench/results`` (full runs), else ``bench/recorded.json``."""
    recorded = json.loads(RECORDED.read_text()) if RECORDED.exists() else {}
    out: list[str] = []
    cases = [case for case in cases if not case.block]
    for plane in dict.fromkeys(case.plane for case in cases):
        rows, notes, sources = [], [], []
        for case in (c for c in cases if c.plane == plane):
            path = RESULTS / f"{case.name}.json"
            result = json.loads(path.read_text()) if path.exists() else None
            if result is not None and (include_quick or not result["quick"]):
                load = result["load_average_1m"]
                how = "quick settings, " if result["quick"] else ""
                when = result["environment"]["measured_at"][:10]
                sources.append(f"`{case.name}` measured {how}{when}, load {load['start']:.1f} to {load['end']:.1f}")
            elif case.name in recorded:
                result = recorded[case.name]
                sources.append(f"`{case.name}` recorded {result['recorded']}")
            else:
                sources.append(f"`{case.name}` not measured yet")
                continue
            rows += result["rows"]
            notes += result.get("notes", [])
        out += [f"{plane}:", "", *_table(["measure", "ours", "peer", "ours / peer"], rows), ""]
        out += [*(f"{note}\n" for note in notes), f"Source: {'; '.join(sources)}.", ""]
    return out


def own_block(case: Case, include_quick: bool = False) -> list[str] | None:
    """The lines of ``case``'s own README block from its latest result, or None when there is none to report."""
    path = RESULTS / f"{case.name}.json"
    result = json.loads(path.read_text()) if path.exists() else None
    if result is None or (result["quick"] and not include_quick):
        return None
    load, when = result["load_average_1m"], result["environment"]["measured_at"][:10]
    how = "quick settings, " if result["quick"] else ""
    source = f"Source: `{case.name}` measured {how}{when}, load {load['start']:.1f} to {load['end']:.1f}"
    return [*result["markdown"], "", f"{source}; `{result['command']}`."]


def cases_block(cases: Sequence[Case]) -> list[str]:
    rows = [[f"`{c.name}`", c.ours, c.peer, c.metrics, c.ratio, c.minutes] for c in cases]
    return _table(["case", "ours", "peer", "metrics", "ratio", "minutes (2 cores)"], rows)


def rewrite(path: Path, lines: list[str], marker: str = "bench") -> None:
    """Replace what stands between ``<!-- {marker}:begin -->`` and ``<!-- {marker}:end -->`` in ``path``."""
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    text = path.read_text()
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise BenchError(f"{path} has no {begin} ... {end} block")
    block = "\n".join([begin, "<!-- generated by `python -m bench report`; edit bench/, not this -->", *lines, end])
    path.write_text(pattern.sub(lambda _: block, text, count=1))
