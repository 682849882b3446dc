"""Production deployment: move ``champion`` to a challenger that passed every gate, and say why.

Promotion needs the latest evaluation and staging validation to have judged this very
version, in their own runs, with every check SUCCEEDED. The step records the previous
champion (the rollback target) and the evidence in the deployment record, in the model
version's tags and in this asset's metadata, and sets the A/B split the gateway reads.
"""

from enum import Enum

import dagster as dg
from pydantic import Field

from openclaw_assets.compute.evidence import EVALUATION_CHECKS, STAGING_CHECKS, verdict
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets.models.registry import CHALLENGER, CHAMPION, MlflowStore

ROLLED_BACK_TAG = "deployment.rolled_back"


class Mode(Enum):
    promote = "promote"
    ab = "ab"


class DeploymentConfig(dg.Config):
    """How the validated challenger goes live."""

    mode: Mode = Field(
        default=Mode.promote,
        description="promote: the challenger becomes champion. ab: the champion stays and the challenger "
        "gets `challenger_share` of live traffic (sticky by request key); promote later.",
    )
    challenger_share: float = Field(default=0.1, ge=0, le=1, description="Challenger's traffic share in ab mode.")


@dg.asset(
    group_name="deployment",
    deps=["staging_validation"],
    kinds={"mlflow"},
    code_version="compute-1",
    description="Moves `champion` to the validated challenger (or starts an A/B split), recording the previous "
    "champion and the evidence.",
)
def production_deployment(
    context: dg.AssetExecutionContext, config: DeploymentConfig, warehouse: Warehouse, mlflow_store: MlflowStore
) -> dg.MaterializeResult:
    from openclaw_assets.compute import record

    client = mlflow_store.client()
    name = mlflow_store.model_name
    candidate = mlflow_store.version_for(CHALLENGER)
    if candidate is None:
        raise dg.Failure(description="no challenger is registered", allow_retries=False)
    version = str(candidate.version)
    if candidate.tags.get(ROLLED_BACK_TAG):
        raise dg.Failure(
            description=f"v{version} was rolled back ({candidate.tags[ROLLED_BACK_TAG]}); train a new challenger",
            allow_retries=False,
        )
    verdicts = [
        verdict(context.instance, "model_evaluation", EVALUATION_CHECKS),
        verdict(context.instance, "staging_validation", STAGING_CHECKS),
    ]
    problems = [f"{v.asset} judged v{v.model_version}" for v in verdicts if v.model_version != version]
    problems += [failure for v in verdicts for failure in v.failed()]
    if problems:
        raise dg.Failure(
            description=f"not deploying v{version}: " + "; ".join(problems),
            metadata={"evidence": dg.MetadataValue.json([v.as_dict() for v in verdicts])},
            allow_retries=False,
        )
    current = mlflow_store.version_for(CHAMPION)
    previous = str(current.version) if current is not None else None
    mode = config.mode.value if previous is not None and previous != version else "promote"
    if mode == "promote":
        entry = {
            "action": "promote" if previous != version else "unchanged",
            "champion": version,
            "previous_champion": previous
            if previous != version
            else (record.read_current(warehouse.root) or {}).get("previous_champion"),
            "challenger": None,
            "challenger_share": 0.0,
        }
        if previous != version:
            client.set_registered_model_alias(name, CHAMPION, version)
            client.set_model_version_tag(name, version, "deployment.previous_champion", previous or "none")
            client.set_model_version_tag(name, version, "deployment.dagster_run_id", context.run.run_id)
    else:
        entry = {
            "action": "ab",
            "champion": previous,
            "previous_champion": (record.read_current(warehouse.root) or {}).get("previous_champion"),
            "challenger": version,
            "challenger_share": config.challenger_share,
        }
    entry |= {"model_name": name, "run_id": context.run.run_id, "evidence": [v.as_dict() for v in verdicts]}
    written = record.write_record(warehouse.root, entry)
    context.log.info(
        f"{entry['action']}: champion v{entry['champion']} (previous {entry['previous_champion']}), "
        f"challenger {entry['challenger']} at {entry['challenger_share']:.0%}"
    )
    evidence = "| asset | version | run | check | state |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {v.asset} | v{v.model_version} | {(v.run_id or '')[:8]} | {check} | {state} |"
        for v in verdicts
        for check, state in v.checks.items()
    )
    return dg.MaterializeResult(
        metadata={
            "action": entry["action"],
            "model_version": version,
            "champion_version": str(entry["champion"]),
            "previous_champion": str(entry["previous_champion"]),
            "challenger_share": entry["challenger_share"],
            "deployed_at": written["at"],
            "evidence": dg.MetadataValue.md(evidence),
            "record": dg.MetadataValue.path(str(record.current_path(warehouse.root))),
        }
    )
