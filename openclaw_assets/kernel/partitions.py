"""The one partitioning every plane shares: New York calendar months."""

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


def partition_months(text: str) -> list[str]:
    """A configured range of months (``A:B``), each a partition; a Failure a user can act on otherwise."""
    from openclaw_assets.kernel.months import MonthError, parse_months

    try:
        return parse_months(text, list(MONTHS.get_partition_keys()))
    except MonthError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
