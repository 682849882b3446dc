"""The run summary's stage lines, from a real run's events."""

import dagster as dg

from openclaw_assets.console import StageLines

MONTHS = dg.StaticPartitionsDefinition(["2013-01", "2013-02", "2013-03"])


@dg.asset(partitions_def=MONTHS, backfill_policy=dg.BackfillPolicy.single_run(), output_required=False)
def per_month(context: dg.AssetExecutionContext):
    """Each month reports its own rows, as the drift assets do."""
    for key, rows in zip(context.partition_keys, (10, 20, 30), strict=True):
        yield dg.AssetMaterialization("per_month", partition=key, metadata={"dagster/row_count": rows})


@dg.asset(partitions_def=MONTHS, backfill_policy=dg.BackfillPolicy.single_run())
def whole_range(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """A range recorded alike in every partition, as the tables are."""
    return dg.MaterializeResult(metadata={"dagster/row_count": 60})


def _lines(asset) -> list[str]:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [asset], instance=instance, tags={"dagster/asset_partition_range_start": "2013-01",
                                          "dagster/asset_partition_range_end": "2013-03"}
    )  # fmt: skip
    stages = StageLines()
    return [line for event in instance.all_logs(result.run_id) if (line := stages.line(event))]


def test_months_reporting_their_own_rows_are_summed_and_a_range_is_shown_once():
    [line] = _lines(per_month)
    assert "per_month 60 rows" in line and "(3 months)" in line, line
    [line] = _lines(whole_range)
    assert "whole_range 60 rows" in line and "(3 months)" in line, line
