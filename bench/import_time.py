"""Code location import time: ``import openclaw_assets.definitions`` versus ``import dagster``.

Each import runs in a fresh interpreter, once to warm the bytecode cache and then N
times; the median of the time measured around the import inside the child is the
headline, the median whole-process wall time is reported beside it. Target: ours/peer
at most 1.3. Each child also lists which heavy libraries the import left in
``sys.modules`` (for the code location there should be none: they load inside steps).

Run alone: ``python -m bench.import_time [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from bench._harness import (
    PYTHON,
    BenchError,
    Child,
    fmt_ratio,
    format_table,
    heading,
    median,
    ratio,
    run_process,
    write_result,
)

NAME = "import_time"
PEER = "python -c 'import dagster'"
TARGET = 1.3
HEAVY = ("pandas", "pyarrow", "pandera", "feast", "mlflow", "sklearn")
MODULES = {"ours": "openclaw_assets.definitions", "peer": "dagster"}

_SNIPPET = (
    "import time\n"
    "started = time.perf_counter()\n"
    "import {module}\n"
    "elapsed = time.perf_counter() - started\n"
    "import json, sys\n"
    "print(json.dumps({{'import_s': elapsed, 'loaded': [m for m in {heavy!r} if m in sys.modules]}}))\n"
)


def _once(module: str) -> Child:
    child = run_process(
        [PYTHON, "-c", _SNIPPET.format(module=module, heavy=HEAVY)], env=dict(os.environ), timeout_s=120
    )
    if child.returncode != 0:
        raise BenchError(f"import {module} failed:\n{child.stderr.strip()}")
    child.report = json.loads(child.stdout.strip().splitlines()[-1])
    return child


def measure(runs: int = 7) -> dict[str, list[Child]]:
    """One warm-up, then ``runs`` interleaved imports of ours and the peer, each in its own interpreter."""
    for module in MODULES.values():
        _once(module)
    children: dict[str, list[Child]] = {key: [] for key in MODULES}
    for _ in range(runs):
        for key, module in MODULES.items():
            children[key].append(_once(module))
    return children


def summarise(children: dict[str, list[Child]]) -> dict[str, Any]:
    sides = {
        key: {
            "module": MODULES[key],
            "import_s_median": median([c.report["import_s"] for c in runs]),
            "wall_s_median": median([c.wall_s for c in runs]),
            "import_s_all": [round(c.report["import_s"], 4) for c in runs],
            "wall_s_all": [round(c.wall_s, 4) for c in runs],
            "max_rss_mib": max(c.max_rss_mib for c in runs),
            "heavy_loaded": sorted({m for c in runs for m in c.report["loaded"]}),
        }
        for key, runs in children.items()
    }
    ours, peer = sides["ours"], sides["peer"]
    in_process = ratio(ours["import_s_median"], peer["import_s_median"])
    return {
        "peer": PEER,
        "target_ratio_max": TARGET,
        "ratio": {
            "ours_vs_peer_import": in_process,
            "ours_vs_peer_wall": ratio(ours["wall_s_median"], peer["wall_s_median"]),
        },
        "meets_target": in_process is not None and in_process <= TARGET,
        "heavy_modules_checked": list(HEAVY),
        "runs": len(children["ours"]),
        "sides": sides,
    }


def render(summary: dict[str, Any]) -> str:
    rows = [
        [
            f"{key}: import {side['module']}",
            f"{side['import_s_median']:.3f}",
            f"{side['wall_s_median']:.3f}",
            f"{side['max_rss_mib']:.0f}",
            ", ".join(side["heavy_loaded"]) or "none",
        ]
        for key, side in summary["sides"].items()
    ]
    r = summary["ratio"]
    verdict = "meets" if summary["meets_target"] else "MISSES"
    return "\n".join(
        [
            f"median of {summary['runs']} fresh interpreters each (after 1 warm-up); peer = {summary['peer']}",
            format_table(["import", "import s", "process s", "peak MiB", f"loaded of {'/'.join(HEAVY)}"], rows),
            f"ratio ours/peer: {fmt_ratio(r['ours_vs_peer_import'])} import, {fmt_ratio(r['ours_vs_peer_wall'])} "
            f"whole process ({verdict} target <= {TARGET})",
        ]
    )


def run(runs: int = 7) -> dict[str, Any]:
    heading("import time: code location vs dagster")
    summary = summarise(measure(runs))
    print(render(summary))
    path = write_result(NAME, summary)
    print(f"wrote {path}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_time", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="measured imports per side after one warm-up (default 7)")
    args = parser.parse_args(argv)
    run(max(1, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
