"""Production deployment: move ``champion`` to a challenger that passed every gate, and say why.

Promotion needs the latest evaluation and staging validation to have judged this very
version, in their own runs, with every check SUCCEEDED. The step moves the alias (the one
truth for what serves) and appends the change, the champion it replaced and the evidence to
the deployment history (``compute.record``), from which the rollback target and the A/B
split the gateway reads are derived. This asset's metadata shows the same for the UI; nothing
reads it back.
"""

from enum import Enum

import dagster as dg
from pydantic import Field

from openclaw_assets.compute.evidence import EVALUATION_CHECKS, verdict
from openclaw_assets.compute.staging import STAGING_CHECKS
from openclaw_assets.kernel.concurrency import MLFLOW_POOL
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
    pool=MLFLOW_POOL,
    code_version="compute-1",
    description="Moves `champion` to the validated challenger (or starts an A/B split), appending the change "
    "and its evidence to the deployment history.",
)
def production_deployment(
    context: dg.AssetExecutionContext, config: DeploymentConfig, warehouse: Warehouse, mlflow_store: MlflowStore
) -> dg.MaterializeResult:
    from openclaw_assets.compute import record
    from openclaw_assets.kernel import reporting

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
    champion = mlflow_store.version_for(CHAMPION)
    previous = str(champion.version) if champion is not None else None
    history = record.read_history(warehouse.root)
    evidence = [v.as_dict() for v in verdicts]
    common = {"model_name": name, "run_id": context.run.run_id, "evidence": evidence}
    if previous == version:
        action, rollback_target, share = "unchanged", record.previous_champion(history, version), 0.0
        written = None
    elif config.mode is Mode.ab and previous is not None:
        action, rollback_target, share = record.AB, record.previous_champion(history, previous), config.challenger_share
        written = record.append(
            warehouse.root,
            {"action": action, "champion": previous, "challenger": version, "challenger_share": share} | common,
        )
    else:
        action, rollback_target, share = record.PROMOTE, previous, 0.0
        client.set_registered_model_alias(name, CHAMPION, version)
        client.set_model_version_tag(name, version, "deployment.dagster_run_id", context.run.run_id)
        written = record.append(
            warehouse.root, {"action": action, "champion": version, "previous_champion": previous} | common
        )
    serving = previous if action == record.AB else version
    context.log.info(
        f"{action}: champion v{serving} (rollback target {rollback_target}), "
        f"challenger {version if action == record.AB else None} at {share:.0%}"
    )
    return dg.MaterializeResult(
        metadata={
            "action": action,
            "model_version": version,
            "champion_version": str(serving),
            "previous_champion": str(rollback_target),
            "challenger_share": share,
            **({"deployed_at": written["at"]} if written else {}),
            "evidence": reporting.table(
                [
                    {"asset": v.asset, "version": v.model_version, "run": (v.run_id or "")[:8], "check": c, "state": s}
                    for v in verdicts
                    for c, s in v.checks.items()
                ],
                ["asset", "version", "run", "check", "state"],
            ),
            "history": dg.MetadataValue.path(str(record.history_path(warehouse.root))),
        }
    )
