"""README.md against the code: its tables of assets, feature views and gates, and its package layout."""

from __future__ import annotations

import re
from pathlib import Path

from openclaw_assets import docs
from openclaw_assets.definitions import defs
from openclaw_assets.features.repo import VIEWS

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(name: str) -> list[list[str]]:
    """The rows of a generated table, as cells with backticks removed (header and rule left out)."""
    found = re.search(rf"<!-- generated: {name} -->\n(.*?)<!-- end generated: {name} -->", README, re.S)
    assert found, f"README.md has no generated block {name!r}"
    lines = [line for line in found.group(1).splitlines() if line.startswith("|")][2:]
    return [[cell.strip().strip("`") for cell in line.strip("|").split(" | ")] for line in lines]


def test_the_readme_tables_are_the_generated_ones():
    assert docs.render(README) == README, "README.md is out of date: run python -m openclaw_assets.docs"


def test_the_asset_table_names_every_asset_with_its_group():
    graph = defs.resolve_asset_graph()
    expected = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    rows = _block("assets")
    assert {row[1]: row[0] for row in rows} == expected
    assert len(rows) == len(expected)
    nodes = {key.to_user_string(): graph.get(key) for key in graph.get_all_asset_keys()}
    for row in rows:
        assert (row[2] == "monthly") == (nodes[row[1]].partitions_def is not None), row
        assert row[4] == " ".join((nodes[row[1]].description or "").split()), row
        condition = nodes[row[1]].automation_condition
        assert row[3] == (condition.get_label() if condition else row[3]) and row[3] != "by hand", row


def test_the_feature_view_table_is_the_feast_repository():
    rows = {row[0]: row for row in _block("feature-views")}
    assert list(rows) == [view.name for view in VIEWS]
    for view in VIEWS:
        _, key, ttl, _, features, _ = rows[view.name]
        assert key == view.key
        assert docs._duration(view.ttl) == ttl
        assert [f.strip().strip("`") for f in features.split(",")] == list(view.features)
    assert "tail_recent" in rows


def test_the_gates_table_is_every_check_with_its_blocking():
    graph = defs.resolve_asset_graph()
    expected = {
        (key.asset_key.to_user_string(), key.name): graph.get_check_spec(key).blocking for key in graph.asset_check_keys
    }
    rows = _block("gates")
    assert {(row[0], row[1]): row[2] == "yes" for row in rows} == expected
    assert len(rows) == len(expected)


def _hand_tables_of_checks() -> list[str]:
    """The first cells of every other README table whose first column is a check."""
    names, in_table = [], False
    for line in README.splitlines():
        if line.startswith("| check |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table and not line.startswith("|---"):
            names.append(line.strip("|").split(" | ")[0].strip())
    return names


def test_every_check_the_prose_tables_name_exists_with_its_severity():
    graph = defs.resolve_asset_graph()
    blocking = {key.name: graph.get_check_spec(key).blocking for key in graph.asset_check_keys}
    named = _hand_tables_of_checks()
    assert len(named) >= 15
    for cell in named:
        name = re.fullmatch(r"`(\w+)`( \(warn\))?", cell)
        assert name, cell
        assert name.group(1) in blocking, f"README names a check the code does not have: {cell}"
        assert blocking[name.group(1)] == (name.group(2) is None), cell


def _layout() -> list[Path]:
    """The paths the README's package layout names, from the indentation of its tree."""
    block = README.split("```\nopenclaw_assets/\n", 1)[1].split("```", 1)[0]
    paths, stack = [Path("openclaw_assets")], [Path("openclaw_assets")]
    for line in block.splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 2
        if not line.strip() or depth > 4 or (depth == 0 and not line.startswith("openclaw_assets")):
            if depth == 0 and line.strip():
                paths.append(Path(line.split()[0]))
            continue
        name = line.split()[0]
        parent = stack[depth - 1] if depth else Path()
        path = parent / name.rstrip("/")
        paths.append(path)
        if name.endswith("/"):
            del stack[depth:]
            stack.append(path)
    return paths


def test_the_package_layout_names_files_that_exist_and_every_module():
    listed = _layout()
    assert Path("openclaw_assets/kernel/reporting.py") in listed and Path("openclaw_assets/docs.py") in listed
    missing = [str(p) for p in listed if not (ROOT / p).exists()]
    assert missing == []
    package = ROOT / "openclaw_assets"
    modules = {
        p.relative_to(ROOT) for p in package.rglob("*.py") if p.name != "__init__.py" and "__pycache__" not in p.parts
    }
    assert sorted(str(m) for m in modules - set(listed)) == []
