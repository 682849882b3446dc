"""Staging validation: the challenger behind a real gateway process on loopback, replaying held-out flights.

The gateway starts pinned to ``challenger`` with one-off tokens and its own prediction log,
so staging traffic never mixes with live traffic. Single-row requests measure latency;
100-row requests exercise the batch path. Any non-200, transport error or answer from
another version counts as an error.
"""

import time
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets.compute.evidence import EVALUATION_CHECKS, verdict
from openclaw_assets.control import subjects
from openclaw_assets.control.resource import ProvenanceLedger
from openclaw_assets.kernel.concurrency import MLFLOW_POOL
from openclaw_assets.kernel.partitions import partition_months
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets.models.registry import CHALLENGER, MlflowStore
from openclaw_assets.observability.resource import Tracing, traced

LATENCY_BUDGET = "latency_budget"
ERROR_BUDGET = "error_budget"
STAGING_CHECKS = (LATENCY_BUDGET, ERROR_BUDGET)
"""The staging gates, in the order the deployment step reports them."""


class StagingConfig(dg.Config):
    """Replay size and the budgets the blocking checks enforce."""

    warmup_requests: int = Field(
        default=10, ge=0, description="Single-row requests sent first and left out of the latency figures."
    )
    single_requests: int = Field(default=300, ge=10, description="Single-row requests replayed.")
    batch_requests: int = Field(default=10, ge=0, description="100-row requests replayed.")
    p99_budget_ms: float = Field(default=100.0, gt=0, description="Largest single-row p99 latency (ms) allowed.")
    max_error_rate: float = Field(default=0.0, ge=0, le=1, description="Largest share of failed requests allowed.")
    startup_timeout_s: float = Field(default=240.0, gt=0, description="Seconds to wait for the gateway to be ready.")
    seed: int = Field(default=11, description="Which held-out flights are replayed.")


def flight_bodies(frame) -> list[dict[str, Any]]:
    """Gateway request rows from validated flights (scheduled departure in New York time)."""
    import pandas as pd

    return [
        {
            "flight_id": str(r.flight_id),
            "carrier": str(r.carrier),
            "origin": str(r.origin),
            "dest": str(r.dest),
            "tailnum": None if pd.isna(r.tailnum) else str(r.tailnum),
            "scheduled_departure": f"{int(r.year):04d}-{int(r.month):02d}-{int(r.day):02d}T"
            f"{int(r.hour):02d}:{int(r.minute):02d}:00",
            "distance": float(r.distance),
        }
        for r in frame.itertuples(index=False)
    ]


def replay(
    url: str, token: str, bodies: list[dict], single: int, batches: int, version: str, warmup: int = 0
) -> dict[str, Any]:
    """Replay flights through the gateway; ``warmup`` requests go first and count only as errors, never as latency."""
    import httpx
    import numpy as np

    from openclaw_assets.observability.tracing import http_transport

    headers = {"Authorization": f"Bearer {token}"}
    latencies: list[float] = []
    batch_latencies: list[float] = []
    reasons: dict[str, int] = {}
    errors = 0
    # a client span per request and its traceparent when tracing is on; httpx's default transport when off
    with httpx.Client(base_url=url, headers=headers, timeout=10, transport=http_transport()) as client:
        plan: list[tuple[list[dict], list[float]]] = [
            (bodies[i % len(bodies) : i % len(bodies) + 1], []) for i in range(warmup if bodies else 0)
        ]
        plan += [(bodies[i : i + 1], latencies) for i in range(min(single, len(bodies)))]
        plan += [(bodies[i * 100 : (i + 1) * 100], batch_latencies) for i in range(batches) if i * 100 < len(bodies)]
        for rows, sink in plan:
            started = time.perf_counter()
            try:
                answer = client.post("/v1/predict", json={"flights": rows})
                sink.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    reason = f"HTTP {answer.status_code}"
                elif {p["model_version"] for p in answer.json()["predictions"]} != {version}:
                    reason = "answered by another version"
                else:
                    continue
            except httpx.HTTPError as exc:
                reason = type(exc).__name__
            errors += 1
            reasons[reason] = reasons.get(reason, 0) + 1
    total = len(plan)

    def pct(values, q):
        return float(np.percentile(values, q)) if values else float("nan")

    return {
        "requests": total,
        "errors": errors,
        "error_rate": errors / total if total else 1.0,
        "error_reasons": reasons,
        "p50_ms": pct(latencies, 50),
        "p99_ms": pct(latencies, 99),
        "batch_p50_ms": pct(batch_latencies, 50),
        "batch_p99_ms": pct(batch_latencies, 99),
    }


@dg.asset(
    group_name="deployment",
    deps=["model_evaluation"],
    kinds={"fastapi", "mlflow"},
    pool=MLFLOW_POOL,
    code_version="compute-1",
    check_specs=[
        dg.AssetCheckSpec(
            LATENCY_BUDGET,
            asset="staging_validation",
            blocking=True,
            description="Single-row p99 latency through the gateway within the budget.",
        ),
        dg.AssetCheckSpec(
            ERROR_BUDGET,
            asset="staging_validation",
            blocking=True,
            description="Failed requests within the error budget.",
        ),
    ],
    description="The challenger served by a real gateway process on loopback, replaying held-out flights.",
)
@traced  # the step's span; the replay's requests and the gateway's work join its trace
def staging_validation(
    context: dg.AssetExecutionContext,
    config: StagingConfig,
    warehouse: Warehouse,
    mlflow_store: MlflowStore,
    ledger: ProvenanceLedger,
    tracing: Tracing,
):
    import secrets

    import pandas as pd

    from openclaw_assets.compute.gateway import server
    from openclaw_assets.kernel.outcomes import Outcome
    from openclaw_assets.kernel.reporting import check_results

    evaluation = verdict(context.instance, "model_evaluation", EVALUATION_CHECKS)
    candidate = mlflow_store.version_for(CHALLENGER)
    if candidate is None:
        raise dg.Failure(description="no challenger is registered: materialize trained_model", allow_retries=False)
    version = str(candidate.version)
    if evaluation.model_version != version:
        raise dg.Failure(
            description=f"challenger is v{version} but the latest evaluation judged v{evaluation.model_version}: "
            "materialize model_evaluation first",
            allow_retries=False,
        )
    months = partition_months(candidate.tags["holdout_months"]) if candidate.tags.get("holdout_months") else []
    why = f"v{version}'s held-out flights"
    flights = warehouse.read_many("validated", "flights", months, why=why) if months else pd.DataFrame()
    if not len(flights):
        raise dg.Failure(description=f"no held-out flights to replay for v{version}", allow_retries=False)
    flights = flights.sample(frac=1.0, random_state=config.seed).reset_index(drop=True)
    bodies = flight_bodies(flights.head(config.single_requests + 100 * config.batch_requests))

    token = secrets.token_urlsafe(24)
    scratch = warehouse.root / "gateway" / "staging" / context.run.run_id
    scratch.mkdir(parents=True, exist_ok=True)
    endpoint = scratch / "endpoint.json"
    env = {
        "OPENCLAW_GATEWAY_PREDICT_TOKEN": token,
        "OPENCLAW_GATEWAY_ADMIN_TOKEN": secrets.token_urlsafe(24),
        "OPENCLAW_PREDICTION_LOG_DIR": str(scratch / "predictions"),
        # the child serves from the stores of this run's profile, whatever its environment says
        "OPENCLAW_PROFILE": warehouse.storage_profile().value,
    }
    started = time.perf_counter()
    process = server.start_child(  # dies with this run, however the run ends
        warehouse.root, port=0, endpoint_file=endpoint, pin=CHALLENGER, env=env, log_file=scratch / "gateway.log"
    )
    try:
        found = server.wait_ready(endpoint, process, config.startup_timeout_s)
        startup = time.perf_counter() - started
        context.log.info(
            f"staging gateway for v{version} ready at {found['url']} after {startup:.1f}s",
            extra={"model_version": version},  # a field of its JSON line (observability.logs)
        )
        result = replay(
            found["url"],
            token,
            bodies,
            config.single_requests,
            config.batch_requests,
            version,
            warmup=config.warmup_requests,
        )
    except RuntimeError as exc:
        tail = (scratch / "gateway.log").read_text(errors="replace").strip().splitlines()[-5:]
        raise dg.Failure(
            description=f"staging gateway for v{version}: {exc}",
            metadata={"log_tail": "\n".join(tail)},
            allow_retries=False,
        ) from None
    finally:
        server.stop(process.pid)
    context.log.info(
        f"v{version}: {result['requests']} requests, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
        f"{result['errors']} errors",
        extra={"model_version": version},
    )
    outcomes = {
        LATENCY_BUDGET: Outcome(
            result["p99_ms"] <= config.p99_budget_ms,
            f"single-row p99 {result['p99_ms']:.2f} ms (budget {config.p99_budget_ms} ms)",
            {"p99_ms": result["p99_ms"], "budget_ms": config.p99_budget_ms},
        ),
        ERROR_BUDGET: Outcome(
            result["error_rate"] <= config.max_error_rate,
            f"{result['errors']} of {result['requests']} requests failed (budget {config.max_error_rate:.2%})"
            + (f": {result['error_reasons']}" if result["errors"] else ""),
            {"error_rate": result["error_rate"], "max_error_rate": config.max_error_rate},
        ),
    }
    name = mlflow_store.model_name
    ledger.record(
        context,
        "staging",
        f"staging:{name}/{version}",
        inputs=[subjects.model(name, version)],
        facts={
            "version": version,
            "passed": all(o.passed for o in outcomes.values()),
            "p99_ms": result["p99_ms"],
            "p99_budget_ms": config.p99_budget_ms,
            "error_rate": result["error_rate"],
        },
    )
    yield dg.MaterializeResult(
        metadata={
            "model_version": version,
            "gateway_startup_s": startup,
            "requests": result["requests"],
            "errors": result["errors"],
            "error_rate": result["error_rate"],
            "p50_ms": result["p50_ms"],
            "p99_ms": result["p99_ms"],
            "p99_budget_ms": config.p99_budget_ms,
            "batch_100_p50_ms": result["batch_p50_ms"],
            "batch_100_p99_ms": result["batch_p99_ms"],
            "evaluation_run_id": evaluation.run_id or "",
        }
    )
    yield from check_results("staging_validation", {None: outcomes})
