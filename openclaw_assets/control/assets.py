"""``release_readiness``: the release scored from evidence, recorded in the ledger, behind a blocking floor.

It runs after ``model_evaluation`` and ``staging_validation`` (declared by key: the control plane
imports no other plane) and judges the version staging validated last, as the deployment step
does. Its metadata holds the 28 items as a table and the score and each section's as numbers
(plotted over materializations in the UI); the ledger gets the same as a ``readiness`` entry.
"""

# No `from __future__ import annotations` here: Dagster reads the config and resource types at run time.

import dagster as dg
from pydantic import Field

from openclaw_assets.control.readiness import DEFAULT_MINIMUM
from openclaw_assets.control.resource import ProvenanceLedger
from openclaw_assets.kernel.warehouse import Warehouse

READINESS_FLOOR = "readiness_floor"


def _asset_graph(context: dg.AssetExecutionContext):
    """The code location's asset graph; an in-process run has none, so its job's (the assets it selected)."""
    try:
        return context.repository_def.asset_graph
    except Exception:  # Dagster raises a bare invariant error when no repository was set on the step
        return context.job_def.asset_layer.asset_graph


class ReadinessConfig(dg.Config):
    """The floor the release must reach, where the evidence is, and the thresholds the items apply."""

    minimum_score: float = Field(
        default=DEFAULT_MINIMUM,
        ge=0,
        le=7,
        description="Lowest release score (its weakest section's points, of 7) that passes readiness_floor.",
    )
    reports_dir: str | None = Field(
        default=None,
        description="Folder with junit.xml and coverage.xml; default $OPENCLAW_READINESS_REPORTS, else "
        "<project root>/reports.",
    )
    max_report_age_days: float = Field(default=7.0, gt=0, description="Older CI reports are not evidence.")
    security_scan: bool = Field(default=True, description="Run bandit over the package source.")
    min_line_coverage: float = Field(default=0.75, ge=0, le=1, description="Line coverage floor of a plane's code.")
    max_model_age_months: int = Field(
        default=1, ge=0, description="Months the newest data may be past the release's last holdout month."
    )
    max_out_of_range_share: float = Field(
        default=0.05, ge=0, le=1, description="Largest share of holdout rows outside the training ranges."
    )
    min_live_labelled: int = Field(default=200, ge=1, description="Labelled live predictions needed to judge.")
    min_live_auc: float = Field(default=0.6, ge=0, le=1, description="Live AUC floor of the serving champion.")
    max_offline_online_gap: float = Field(
        default=0.05, ge=0, le=1, description="Largest gap between the champion's live and offline AUC."
    )


@dg.asset(
    group_name="control",
    deps=["model_evaluation", "staging_validation"],
    kinds={"python"},
    code_version="control-1",
    check_specs=[
        dg.AssetCheckSpec(
            READINESS_FLOOR,
            asset="release_readiness",
            blocking=True,
            description="The release's readiness score (its weakest section) is at least the configured minimum.",
        )
    ],
    description="The release scored on 28 items after the ML Test Score: gates, CI tests and coverage, a security "
    "scan, the gateway's metrics and the ledger's attestations; the score is the weakest section's.",
)
def release_readiness(
    context: dg.AssetExecutionContext, config: ReadinessConfig, warehouse: Warehouse, ledger: ProvenanceLedger
):
    import hashlib
    import json
    from pathlib import Path

    from openclaw_assets.control import evidence as gathering
    from openclaw_assets.control.readiness import READINESS_KIND, SECTIONS, Limits, Status, score
    from openclaw_assets.kernel.reporting import table

    limits = Limits(
        min_line_coverage=config.min_line_coverage,
        max_model_age_months=config.max_model_age_months,
        max_out_of_range_share=config.max_out_of_range_share,
        min_live_labelled=config.min_live_labelled,
        min_live_auc=config.min_live_auc,
        max_offline_online_gap=config.max_offline_online_gap,
    )
    try:
        store = ledger.open()
    except Exception as exc:
        raise dg.Failure(
            description=f"the ledger could not be opened: {type(exc).__name__}: {exc}", allow_retries=False
        ) from None
    found = gathering.collect_evidence(
        context.instance,
        warehouse.root,
        store,
        blocking=gathering.check_specs(_asset_graph(context)),
        reports=Path(config.reports_dir) if config.reports_dir else None,
        max_report_age_days=config.max_report_age_days,
        scan=config.security_scan,
    )
    release = found.release
    if release is None:
        raise dg.Failure(
            description="no release to judge: no staging_validation or model_evaluation has named a model "
            "version on this instance; materialize them first",
            allow_retries=False,
        )
    report = score(found, limits)
    rows = report.rows()
    facts = report.facts(config.minimum_score)
    digest = hashlib.sha256(json.dumps({"facts": facts, "items": rows}, sort_keys=True).encode()).hexdigest()
    inputs = [s.attestation.seq for s in report.items if s.status is Status.ATTESTED and s.attestation]
    if found.provenance is not None:
        inputs.append(found.provenance.seq)
    entry = ledger.record(context, READINESS_KIND, release.subject, digest=digest, inputs=inputs, facts=facts)

    passed = report.score >= config.minimum_score
    weakest = ", ".join(report.weakest())
    summary = (
        f"{release.name}: readiness {report.score:g} of 7 (weakest: {weakest}; minimum {config.minimum_score:g}); "
        + ", ".join(f"{key} {points:g}" for key, points in report.sections.items())
    )
    context.log.info(summary)
    counts = {status.value: sum(s.status is status for s in report.items) for status in Status}
    yield dg.MaterializeResult(
        metadata={
            "readiness/score": dg.MetadataValue.float(float(report.score)),
            **{f"readiness/{key}": dg.MetadataValue.float(float(report.sections[key])) for key in SECTIONS},
            "model_name": release.model_name,
            "model_version": release.version,
            "minimum_score": dg.MetadataValue.float(float(config.minimum_score)),
            "weakest_sections": weakest,
            "carried_by": ", ".join(report.carried_by()) or "nothing",
            **{f"items_{status}": count for status, count in counts.items()},
            "items": table(rows, ["item", "section", "title", "status", "points", "detail", "evidence"]),
            "evidence_unavailable": dg.MetadataValue.json(dict(found.unavailable)),
            "ledger_entries_by_kind": dg.MetadataValue.json(dict(sorted(found.ledger_kinds.items()))),
            "ledger_seq": entry.seq,
            "ledger_subject": entry.subject,
            "report_sha256": digest,
        }
    )
    yield dg.AssetCheckResult(
        check_name=READINESS_FLOOR,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=summary,
        metadata={
            "score": float(report.score),
            "minimum_score": float(config.minimum_score),
            "weakest_sections": weakest,
            "carried_by": ", ".join(report.carried_by()) or "nothing",
        },
    )
