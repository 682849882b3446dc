"""How each asset keeps itself fresh: declarative automation conditions, named once.

The landing-zone sensor ingests drops (raw, validated, quarantine); from there Dagster's
automation sensor carries a month downstream by these conditions, and the rollout sensor
stages and promotes the challenger they train. Conditions see each other's requests on the
same tick (``will_be_requested``), so a new month's feature tables, online store rows,
training set, model and evaluation are requested together and run in dependency order as
one backfill; an asset whose inputs are missing (weather not yet dropped) waits.
"""

from datetime import timedelta

import dagster as dg

ON_NEW_DATA = dg.AutomationCondition.eager()
"""A missing partition is filled once its inputs exist; a partition is refreshed when an input changes."""

ON_CODE_CHANGE = (
    dg.AutomationCondition.on_missing()
    | (dg.AutomationCondition.code_version_changed() & ~dg.AutomationCondition.in_progress())
).with_label("when missing or its code changed")
"""The Feast registry: its objects change with the code, not with the data in the tables they point at (an apply
per month would also re-materialize every month of the online store, which follows the registry)."""

ON_NEW_MONTH = (
    dg.AutomationCondition.eager()
    .ignore(dg.AssetSelection.assets("validated_flights"))
    .with_label("eager, on feature tables")
)
"""The training set: rebuilt when the feature tables change (a month arrived or was corrected, so the window
moved), not when validated flights alone change, which the feature tables follow within the same backfill."""

AB_RESULTS_CRON = "*/15 * * * *"
ON_SCHEDULE = (
    dg.AutomationCondition.cron_tick_passed(AB_RESULTS_CRON) & ~dg.AutomationCondition.in_progress()
).with_label("every 15 minutes")
"""A/B results join the gateway's prediction log, which changes outside Dagster: recomputed on a clock."""

MONTHLY_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=32), warn_window=timedelta(days=31))
"""Monthly drops: an asset users read that has not been refreshed for a month and a day is late."""
