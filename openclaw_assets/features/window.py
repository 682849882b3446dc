"""The training window: the latest complete months, relative to whatever has arrived.

Nothing names a year. The holdout is the newest ``holdout_months`` complete months and the
model trains on the ``train_months`` months just before them; a month is complete once its
validated flights and every monthly feature table exist. ``openclaw run --months A:B`` and
run config may still name months outright (``TrainingSetConfig.months``,
``TrainConfig.train_months`` / ``holdout_months``); the window decides only when they do not.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from openclaw_assets.kernel.months import shift
from openclaw_assets.kernel.partitions import is_month
from openclaw_assets.kernel.paths import table_partitions

MONTHLY_TABLES = (
    ("validated", "flights"),
    ("features", "carrier_stats"),
    ("features", "origin_stats"),
    ("features", "route_stats"),
    ("features", "tail_recent"),
    ("features", "weather_hourly"),
)
"""What a month needs before the window counts it."""


class TrainingWindow(dg.ConfigurableResource):
    """How many complete months the model trains on and holds out (one setting for every step)."""

    train_months: int = Field(default=10, ge=1, description="Months fitted on, just before the holdout.")
    holdout_months: int = Field(default=2, ge=1, description="Newest complete months held out for evaluation.")

    def complete_months(self, home: Path) -> list[str]:
        """The newest contiguous run of complete months in the warehouse, oldest first."""
        sets = [
            {p.stem for p in table_partitions(home, layer, table) if is_month(p.stem)}
            for layer, table in MONTHLY_TABLES
        ]
        complete = sorted(set.intersection(*sets)) if sets else []
        run: list[str] = []
        for month in reversed(complete):
            if run and shift(month, 1) != run[-1]:
                break
            run.append(month)
        return run[::-1]

    def months(self, home: Path) -> list[str]:
        """The months the training set covers: the window's training months, then its holdout."""
        complete = self.complete_months(home)
        return complete[-(self.train_months + self.holdout_months) :]

    def split(self, months: list[str]) -> tuple[list[str], list[str]]:
        """``months`` (in order) cut into the training months and the holdout months."""
        if len(months) < 2:
            return [], months
        held = min(self.holdout_months, len(months) - 1)
        return months[:-held][-self.train_months :], months[-held:]


TRAINING_WINDOW = TrainingWindow()
