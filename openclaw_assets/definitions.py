"""The code location: each plane's definitions merged, plus the jobs that span them.

Kept cheap to import: no plane imports pandas, pyarrow, feast, mlflow or sklearn at
module level; they load inside the steps that use them.
"""

import dagster as dg

from openclaw_assets.data.definitions import defs as data_defs

main_job = dg.define_asset_job(
    "openclaw_main",
    selection=dg.AssetSelection.all(),
    description="The whole pipeline for a range of months, in one run.",
    executor_def=dg.in_process_executor,
)

defs = dg.Definitions.merge(data_defs, dg.Definitions(jobs=[main_job]))
