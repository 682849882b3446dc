"""The data plane's one partitioning: calendar months of the reference year."""

import warnings

import dagster as dg

# Single-run backfills are the point here; the decorator flags the parameter as beta.
warnings.filterwarnings(
    "ignore", message=".*(backfill_policy|allow_nonexistent_upstream_partitions).*", category=dg.BetaWarning
)

MONTHS = dg.MonthlyPartitionsDefinition(start_date="2013-01", end_date="2014-01", fmt="%Y-%m")
"""Monthly partitions ``2013-01`` … ``2013-12`` (local calendar months of the flights)."""

SINGLE_RUN = dg.BackfillPolicy.single_run()
"""A Dagster run costs tens of seconds here: backfill any range of months in one run."""
