"""The deployment history: what it derives (rollback target, A/B split) and how it survives a cut-short write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openclaw_assets.compute import record


def _promote(champion: str, previous: str | None) -> dict:
    return {"action": "promote", "champion": champion, "previous_champion": previous}


def test_the_rollback_target_is_the_champion_the_serving_one_replaced():
    history = [_promote("1", None), _promote("2", "1")]
    assert record.previous_champion(history, "2") == "1"
    assert record.previous_champion([_promote("1", None)], "1") is None
    assert record.previous_champion([], "1") is None and record.previous_champion(history, None) is None


def test_an_ab_split_leaves_the_rollback_target_as_it_was():
    history = [_promote("1", None), _promote("2", "1"), {"action": "ab", "champion": "2", "challenger": "3"}]
    assert record.previous_champion(history, "2") == "1"


def test_after_a_rollback_there_is_nothing_to_go_back_to():
    history = [_promote("1", None), _promote("2", "1"), {"action": "rollback", "champion": "1", "rolled_back": "2"}]
    assert record.previous_champion(history, "1") is None
    # a promotion after the rollback gives a target again
    assert record.previous_champion([*history, _promote("3", "1")], "3") == "1"


def test_a_champion_the_history_does_not_name_has_no_rollback_target():
    """An alias moved by hand leaves no line: the history says nothing about what to go back to."""
    assert record.previous_champion([_promote("1", None), _promote("2", "1")], "5") is None


def test_the_split_is_the_latest_lines_and_ends_with_a_promotion_or_rollback(home: Path):
    assert record.read_current(home) is None
    record.append(home, _promote("1", None))
    assert record.read_current(home)["challenger_share"] == 0.0
    record.append(home, {"action": "ab", "champion": "1", "challenger": "2", "challenger_share": 0.25})
    current = record.read_current(home)
    assert (current["action"], current["challenger"], current["challenger_share"]) == ("ab", "2", 0.25)
    record.append(home, {"action": "rollback", "champion": "1", "rolled_back": "3"})
    assert record.read_current(home) | {"at": None} == {
        "action": "rollback",
        "at": None,
        "challenger": None,
        "challenger_share": 0.0,
    }
    assert [e["action"] for e in record.read_history(home)] == ["promote", "ab", "rollback"]
    assert all(e["at"] for e in record.read_history(home))


def test_only_changes_are_appended(home: Path):
    with pytest.raises(ValueError, match="not a deployment change"):
        record.append(home, {"action": "unchanged", "champion": "1"})
    assert record.read_history(home) == []


def test_a_cut_short_line_is_skipped_and_the_next_change_starts_a_new_line(home: Path):
    record.append(home, _promote("1", None))
    with open(record.history_path(home), "ab") as handle:
        handle.write(b'{"action": "promote", "champion": "2", "prev')  # a write that never finished
    assert [e["champion"] for e in record.read_history(home)] == ["1"]
    assert record.last_change(home)["champion"] == "1"
    record.append(home, _promote("3", "1"))
    assert [e["champion"] for e in record.read_history(home)] == ["1", "3"]
    assert record.previous_champion(record.read_history(home), "3") == "1"


def test_the_latest_change_is_found_past_a_long_history(home: Path):
    for version in range(1, 400):
        record.append(home, _promote(str(version), str(version - 1)) | {"evidence": ["x" * 200]})
    big = {"action": "ab", "champion": "399", "challenger": "400", "challenger_share": 0.1, "pad": "y" * 70_000}
    record.append(home, big)
    assert record.history_path(home).stat().st_size > 2 * 65_536
    assert record.last_change(home)["challenger"] == "400"  # a last line longer than the tail read
    assert record.read_current(home)["challenger_share"] == 0.1
    record.append(home, _promote("400", "399"))
    assert record.last_change(home)["champion"] == "400"
    assert json.loads(record.history_path(home).read_bytes().splitlines()[-1])["champion"] == "400"
