"""README.md's tables of assets, feature views, gates, pools and readiness items, generated from the code.

``python -m openclaw_assets.docs`` rewrites each block between ``<!-- generated: NAME -->`` and
``<!-- end generated: NAME -->`` in README.md; ``--check`` only says whether the README is
current (exit 1 if not). The tests assert the README equals what this module generates, so
the tables cannot drift from the asset graph (keys, groups, partitions, descriptions, pools), the
checks (names, blocking, descriptions), the Feast views (keys, TTLs, features) or the pools' slots
in ``dagster.yaml``.
It sits beside the CLI, above every plane, and is imported by nothing in the package.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
DAGSTER_YAML = README.parent / "dagster.yaml"
_BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)", re.S)


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _graph():
    from openclaw_assets.definitions import defs

    return defs.resolve_asset_graph()


def _asset_order(graph) -> list:
    """Assets by group, groups in the order the pipeline reaches them, each group in lineage order."""
    keys = list(graph.toposorted_asset_keys)
    groups = list(dict.fromkeys(graph.get(k).group_name for k in keys))
    return sorted(keys, key=lambda k: (groups.index(graph.get(k).group_name), keys.index(k)))


def _refreshed_by(graph) -> dict:
    """Asset key -> the sensor that starts its runs, for assets without an automation condition."""
    from openclaw_assets.definitions import defs

    found: dict = {}
    for sensor in defs.sensors or ():
        for target in sensor.targets if sensor.asset_selection is None else []:
            job = defs.resolve_job_def(target.job_name)
            for key in job.asset_layer.selected_asset_keys:
                found.setdefault(key, f"`{sensor.name}`")
    return found


def _automation(graph, key, sensors: dict) -> str:
    condition = graph.get(key).automation_condition
    if condition is not None:
        return condition.get_label() or condition.name
    return sensors.get(key, "by hand")


def assets_table() -> str:
    graph = _graph()
    sensors = _refreshed_by(graph)
    rows = [
        [
            graph.get(key).group_name,
            f"`{key.to_user_string()}`",
            "monthly" if graph.get(key).partitions_def is not None else "–",
            _automation(graph, key, sensors),
            graph.get(key).description,
        ]
        for key in _asset_order(graph)
    ]
    return _table(["group", "asset", "partitions", "kept fresh by", "what it is for"], rows)


def _duration(ttl: timedelta) -> str:
    seconds = int(ttl.total_seconds())
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} s"


def feature_views_table() -> str:
    from openclaw_assets.features.repo import VIEWS

    rows = [
        [
            f"`{view.name}`",
            view.key,
            _duration(view.ttl),
            "monthly" if view.partitioned else "–",
            ", ".join(f"`{name}`" for name in view.features),
            view.description,
        ]
        for view in VIEWS
    ]
    return _table(["view", "entity", "TTL", "partitions", "features", "what it holds"], rows)


def gates_table() -> str:
    graph = _graph()
    rows = []
    for key in _asset_order(graph):
        for check in sorted(graph.get(key).check_keys, key=lambda c: c.name):
            spec = graph.get_check_spec(check)
            rows.append(
                [f"`{key.to_user_string()}`", f"`{check.name}`", "yes" if spec.blocking else "no", spec.description]
            )
    return _table(["asset", "check", "blocking", "passes when"], rows)


def pools_table() -> str:
    import yaml

    from openclaw_assets.kernel.concurrency import POOLS

    graph = _graph()
    slots = yaml.safe_load(DAGSTER_YAML.read_text(encoding="utf-8"))["concurrency"]["pools"]["default_limit"]
    members: dict[str, list[str]] = {pool: [] for pool in POOLS}
    for key in _asset_order(graph):
        for pool in sorted(graph.get(key).pools or ()):
            members.setdefault(pool, []).append(f"`{key.to_user_string()}`")
    rows = [[f"`{pool}`", str(slots), ", ".join(assets), POOLS.get(pool, "")] for pool, assets in members.items()]
    return _table(["pool", "slots", "assets", "what it guards"], rows)


def readiness_table() -> str:
    from openclaw_assets.control.readiness import RUBRIC, SECTIONS

    rows = [
        [SECTIONS[item.section], f"`{item.id}`", item.title, item.proves, "automated" if item.judge else "attestation"]
        for item in RUBRIC
    ]
    return _table(["section", "item", "holds when", "evidence", "scored by"], rows)


BLOCKS: dict[str, Callable[[], str]] = {
    "assets": assets_table,
    "feature-views": feature_views_table,
    "gates": gates_table,
    "pools": pools_table,
    "readiness": readiness_table,
}


def render(text: str) -> str:
    """``text`` with every generated block rewritten; a block name this module does not know is an error."""
    seen: set[str] = set()

    def replace(found: re.Match[str]) -> str:
        name = found.group("name")
        if name not in BLOCKS:
            raise KeyError(f"README.md has a generated block {name!r}; known: {', '.join(BLOCKS)}")
        seen.add(name)
        return found.group(1) + "\n" + BLOCKS[name]() + "\n" + found.group(4)

    out = _BLOCK.sub(replace, text)
    missing = set(BLOCKS) - seen
    if missing:
        raise KeyError(f"README.md lacks the generated block(s) {', '.join(sorted(missing))}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m openclaw_assets.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report whether README.md is current")
    parser.add_argument("--readme", type=Path, default=README, help="the file to rewrite (default: README.md)")
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    generated = render(text)
    if args.check:
        if generated != text:
            print(f"{args.readme} is out of date: run python -m openclaw_assets.docs", file=sys.stderr)
            return 1
        return 0
    if generated != text:
        args.readme.write_text(generated, encoding="utf-8")
        print(f"rewrote the generated tables in {args.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
