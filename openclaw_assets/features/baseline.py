"""Regenerate the feature baseline the drift gate compares against.

``python -m openclaw_assets.features.baseline [OPENCLAW_HOME]`` profiles every feature table
in the warehouse (null rate, 1st and 99th percentiles of each numeric feature) and writes
``openclaw_assets/features/baseline.json``. The shipped file was made from all of 2013.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from openclaw_assets.features.checks import baseline_profile
from openclaw_assets.features.repo import VIEWS
from openclaw_assets.kernel.paths import table_partitions, warehouse_file
from openclaw_assets.kernel.settings import openclaw_home

TARGET = Path(__file__).with_name("baseline.json")


def build(home: Path) -> dict[str, dict[str, dict[str, float]]]:
    import pandas as pd

    out = {}
    for view in VIEWS:
        files = table_partitions(home, "features", view.name)
        if not files:
            folder = warehouse_file(home, "features", view.name, None).parent
            raise SystemExit(f"no feature table {view.name} under {folder}: run `openclaw run` first")
        table = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
        out[view.name] = baseline_profile(table, list(view.features))
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    home = openclaw_home(args[0] if args else None)
    from openclaw_assets.kernel.atomic import write_bytes_atomic

    write_bytes_atomic(TARGET, (json.dumps(build(home), indent=2, sort_keys=True) + "\n").encode())
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
