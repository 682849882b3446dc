"""Production deployment: move ``champion`` to a challenger that passed every gate, and say why.

Promotion needs the latest evaluation and staging validation to have judged this very
version, in their own runs, with every check SUCCEEDED. The step moves the alias (the one
truth for what serves) and appends the change, the champion it replaced and the evidence to
the deployment history (``compute.record``), from which the rollback target and the A/B
split the gateway reads are derived. This asset's metadata shows the same for the UI; nothing
reads it back.
"""

from enum import Enum
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets.compute.evidence import EVALUATION_CHECKS, Verdict, verdict
from openclaw_assets.compute.staging import STAGING_CHECKS
from openclaw_assets.control import subjects
from openclaw_assets.control.readiness import DEFAULT_MINIMUM
from openclaw_assets.control.resource import ProvenanceLedger
from openclaw_assets.kernel.concurrency import MLFLOW_POOL
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets.models.assets import GateConfig
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
    require_approval: bool = Field(
        default=False,
        description="Promote only a version a person approved in the ledger (`openclaw ledger approve VERSION`).",
    )
    min_readiness: float = Field(
        default=DEFAULT_MINIMUM,
        ge=0,
        le=7,
        description="Lowest release-readiness score (its weakest section's points of 7) the promotion needs.",
    )


def _materialization(instance: dg.DagsterInstance, asset: str, run_id: str | None) -> dict[str, Any]:
    """The metadata of ``asset``'s materialization in ``run_id`` (empty if there is none)."""
    event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    if event is None or event.asset_materialization is None or event.run_id != run_id:
        return {}
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def promotion_document(
    instance: dg.DagsterInstance,
    ledger: ProvenanceLedger,
    config: DeploymentConfig,
    name: str,
    version: str,
    verdicts: list[Verdict],
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """What the ``promote_model`` policy judges, read from the gates' own records and the ledger."""
    from openclaw_assets.compute import record

    checks = [
        {"asset": v.asset, "name": check, "passed": state == "SUCCEEDED", "blocking": True}
        for v in verdicts
        for check, state in v.checks.items()
    ]
    checks += [
        {"asset": v.asset, "name": "judges_this_version", "passed": v.model_version == version, "blocking": True}
        for v in verdicts
    ]
    evaluation = _materialization(instance, "model_evaluation", verdicts[0].run_id)
    staging = _materialization(instance, "staging_validation", verdicts[1].run_id)
    auc, p99, budget = evaluation.get("holdout_auc"), staging.get("p99_ms"), staging.get("p99_budget_ms")
    approvals = [
        {"by": str(e.facts.get("by", "")), "version": str(e.facts.get("version", ""))}
        for e in ledger.open().find(kind="approval", subject_prefix=f"approval:{name}/")
    ]
    readiness = ledger.open().latest(f"readiness:{name}/{version}")
    return {
        "version": version,
        "checks": checks,
        # a figure its run did not record is null: the policy then names what is missing
        # the floor the evaluation applied (its configured floor less its sampling allowance)
        "quality": {
            "auc": None if auc is None else float(auc),
            "floor": float(evaluation.get("auc_floor", GateConfig().min_auc)),
        },
        "staging": {
            "p99_ms": None if p99 is None else float(p99),
            "budget_ms": None if budget is None else float(budget),
            "passed": verdicts[1].passed,
        },
        "rolled_back_versions": sorted(
            {str(line["rolled_back"]) for line in history if line.get("action") == record.ROLLBACK}
        ),
        "approval": {"required": config.require_approval, "approvals": approvals},
        "readiness": {
            "score": float(readiness.facts.get("score", 0.0)) if readiness is not None else 0.0,
            "minimum": config.min_readiness,
        },
    }


@dg.asset(
    group_name="deployment",
    deps=["staging_validation", "release_readiness"],
    kinds={"mlflow"},
    pool=MLFLOW_POOL,
    code_version="compute-1",
    description="Moves `champion` to the validated challenger (or starts an A/B split), appending the change "
    "and its evidence to the deployment history.",
)
def production_deployment(
    context: dg.AssetExecutionContext,
    config: DeploymentConfig,
    warehouse: Warehouse,
    mlflow_store: MlflowStore,
    ledger: ProvenanceLedger,
) -> dg.MaterializeResult:
    from openclaw_assets.compute import record
    from openclaw_assets.kernel import reporting

    client = mlflow_store.client()
    name = mlflow_store.model_name
    candidate = mlflow_store.version_for(CHALLENGER)
    if candidate is None:
        raise dg.Failure(description="no challenger is registered", allow_retries=False)
    version = str(candidate.version)
    verdicts = [
        verdict(context.instance, "model_evaluation", EVALUATION_CHECKS),
        verdict(context.instance, "staging_validation", STAGING_CHECKS),
    ]
    history = record.read_history(warehouse.root)
    model = subjects.model(name, version)
    document = promotion_document(context.instance, ledger, config, name, version, verdicts, history)
    if candidate.tags.get(ROLLED_BACK_TAG) and version not in document["rolled_back_versions"]:
        document["rolled_back_versions"].append(version)  # tagged by hand or by an older history
    decision = ledger.require(
        context, "promote_model", document, f"{name}/{version}", inputs=[model, f"evaluation:{name}/{version}"]
    )
    champion = mlflow_store.version_for(CHAMPION)
    previous = str(champion.version) if champion is not None else None
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
    ledger.record(
        context,
        "deployment",
        f"deployment:{name}",
        inputs=[model, subjects.decision("promote_model", f"{name}/{version}")],
        facts={
            "action": action,
            "champion": str(serving),
            "challenger": version if action == record.AB else None,
            "previous_champion": previous,
            "challenger_share": share,
            "policy_bundle": decision.bundle_hash,
        },
    )
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
