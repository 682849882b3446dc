"""The living pipeline under the real daemon: a dropped month flows through by itself, a corrected one once.

From a pipeline built on 2013-01..06 by `openclaw run`, a real `dagster dev` (UI, daemon, code
server) is started and nothing else is done but dropping files: July's drop must yield July's
feature tables, July in the online store with its freshness gate passed, July's batch
predictions and a challenger that the gates promote or block; a re-dropped July with shuffled
labels must train a challenger that is not promoted, and flow downstream exactly once (the
ingestion, July's feature tables, online rows and batch predictions, one training set, model and
evaluation; July's weather, not re-dropped, is not touched).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from openclaw_assets.data.seed import seed
from openclaw_assets.data.tables import landing_file
from openclaw_assets.kernel.atomic import atomic_path
from openclaw_assets.kernel.paths import warehouse_file
from openclaw_assets.models.registry import CHAMPION, MlflowStore
from openclaw_assets.replay import MonthStory, observe
from openclaw_assets_tests.test_servers import BIN, ROOT, _env, _free_port, _server, _wait

pytestmark = [pytest.mark.cli, pytest.mark.slow]

JULY = "2013-07"
FLOWING = [
    "validated_flights",
    "quarantine_flights",
    "carrier_stats",
    "online_features",
    "training_set",
    "trained_model",
    "model_evaluation",
    "batch_predictions",
]


def _materializations_since(instance: dg.DagsterInstance, asset: str, since: float, month: str | None) -> int:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), after_timestamp=since), limit=100
    ).records
    partitioned = {r.asset_materialization.partition for r in records} - {None}
    return sum(1 for r in records if not partitioned or r.asset_materialization.partition == month)


def _idle(instance: dg.DagsterInstance) -> bool:
    busy = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    return not instance.get_runs(filters=dg.RunsFilter(statuses=busy))


def _story(instance: dg.DagsterInstance, home: Path, story: MonthStory) -> MonthStory | None:
    observe(instance, home, story)
    return story if story.complete() else None


def _shuffled_labels(home: Path) -> None:
    """July's drop again, with arrival delays shuffled among the flights that arrived (a broken producer)."""
    path = landing_file(home, "flights", JULY, "csv")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    arrived = frame.index[frame["arr_delay"] != "NA"]
    values = frame.loc[arrived, "arr_delay"].to_numpy()
    frame.loc[arrived, "arr_delay"] = np.random.default_rng(5).permutation(values)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


@pytest.mark.timeout(2400)  # two months' flows through a real daemon: about ten minutes on two busy cores
def test_a_dropped_month_flows_through_by_itself_and_a_corrected_one_once(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    env = _env(home)
    seed(home, [f"2013-{m:02d}" for m in range(1, 7)], "csv")
    built = subprocess.run(
        [str(BIN / "openclaw"), "run", "--months", "2013-01:2013-06", "--no-serve"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-2000:]
    store = MlflowStore.at(home, "embedded")
    first_champion = str(store.version_for(CHAMPION).version)

    port = _free_port()
    log = home / "dev.log"
    args = [str(BIN / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with _server(args, env, log), dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        # July lands; nothing else is done
        dropped = time.time()
        seed(home, [JULY], "csv", references=False)
        story = _wait(lambda: _story(instance, home, MonthStory(JULY, dropped)), 900, "July's story", log)
        assert story.ingested.startswith("ingested ") and story.online == "online store fresh", story
        assert story.challenger.startswith("challenger v") and story.batch.startswith("batch scored by v"), story
        assert story.decision.startswith(("promoted v", "blocked by")), story
        for view in ("carrier_stats", "origin_stats", "route_stats", "tail_recent", "weather_hourly"):
            assert warehouse_file(home, "features", view, JULY).exists(), view
        assert warehouse_file(home, "predictions", "flight_delay", JULY).exists()
        champion = str(store.version_for(CHAMPION).version)
        if story.decision.startswith("promoted"):
            assert champion == story.version != first_champion
        _wait(lambda: _idle(instance), 600, "the runs July started to finish", log)

        # July again, corrected for the worse: shuffled labels train a challenger the gates stop
        redropped = time.time()
        _shuffled_labels(home)
        degraded = _wait(lambda: _story(instance, home, MonthStory(JULY, redropped)), 900, "the re-drop's story", log)
        assert degraded.version != story.version
        assert degraded.decision.startswith("blocked by"), degraded
        assert str(store.version_for(CHAMPION).version) == champion
        _wait(lambda: _idle(instance), 600, "the runs the re-drop started to finish", log)
        counts = {asset: _materializations_since(instance, asset, redropped, JULY) for asset in FLOWING}
        assert counts == dict.fromkeys(FLOWING, 1), counts
        # only the flights were re-dropped: July's weather is left as it was
        assert _materializations_since(instance, "weather_hourly", redropped, JULY) == 0
