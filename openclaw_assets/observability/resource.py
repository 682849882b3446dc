"""The ``tracing`` resource: a span per asset step, with the run, the asset and the partition as attributes.

Dagster emits no spans of its own, so a step is traced by its asset: the asset takes the
resource (``tracing: Tracing``) and is decorated with ``@traced`` under ``@dg.asset``. The span
is current while the step's code runs, so what it calls (an HTTP request through
``tracing.http_transport``, a log line) joins the step's trace, and it is exported when the
step ends (the step waits at most ``tracing.FLUSH_WAIT_S`` for that) and, whatever is left,
when the process exits. The resource configures the process from the ``OTEL_*`` environment when a run
first needs it; with nothing set it installs nothing and every span is the API's no-op.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import dagster as dg
from pydantic import Field

from openclaw_assets.observability import tracing

PIPELINE_SERVICE = "openclaw-pipeline"
RUN_ID = "dagster.run_id"
JOB_NAME = "dagster.job_name"
STEP_KEY = "dagster.step_key"
ASSET_KEY = "dagster.asset_key"
PARTITION_KEY = "dagster.partition_key"
PARTITION_RANGE_START = "dagster.partition_key_range.start"
PARTITION_RANGE_END = "dagster.partition_key_range.end"

F = TypeVar("F", bound=Callable[..., Any])


class Tracing(dg.ConfigurableResource):
    """Spans for asset steps, exported where the ``OTEL_*`` environment says (nowhere when it says nothing)."""

    service_name: str = Field(
        default=PIPELINE_SERVICE,
        description="The service.name of the pipeline's spans when OTEL_SERVICE_NAME does not name one.",
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        from openclaw_assets import __version__

        tracing.configure(self.service_name, __version__)

    @contextmanager
    def step(self, context: dg.AssetExecutionContext) -> Iterator[Any]:
        """The step's span, current for the ``with`` block and ended after it; None when tracing is off."""
        with self.started(context) as span, tracing.current(span):
            yield span

    @contextmanager
    def started(self, context: dg.AssetExecutionContext) -> Iterator[Any]:
        """The step's span, started but not made current (``tracing.current`` does that); None when tracing is off."""
        if not tracing.enabled():
            yield None
            return
        with tracing.step_span(f"dagster.step {_step_key(context)}", step_attributes(context)) as span:
            yield span


def _step_key(context: dg.AssetExecutionContext) -> str:
    return context.op_execution_context.get_step_execution_context().step.key


def step_attributes(context: dg.AssetExecutionContext) -> dict[str, Any]:
    """The run, job, step, asset keys and partition (or partition range) of a step, as span attributes."""
    keys = sorted(key.to_user_string() for key in context.selected_asset_keys)
    attributes: dict[str, Any] = {
        RUN_ID: context.run.run_id,
        JOB_NAME: context.run.job_name,
        STEP_KEY: _step_key(context),
        ASSET_KEY: keys[0] if len(keys) == 1 else keys,
    }
    if context.has_partition_key:
        attributes[PARTITION_KEY] = context.partition_key
    elif context.has_partition_key_range:  # a range of partitions in one run
        found = context.partition_key_range
        attributes[PARTITION_RANGE_START], attributes[PARTITION_RANGE_END] = found.start, found.end
    return attributes


def traced(function: F) -> F:
    """Run an asset's body inside its step's span; the asset takes ``tracing: Tracing``, ``@traced`` goes under
    ``@dg.asset``.

    A generator body keeps its span current each time it runs, between the values it yields,
    and ends it when it is exhausted or fails.
    """
    if "tracing" not in inspect.signature(function).parameters:
        raise TypeError(f"{function.__name__} is @traced but takes no `tracing` resource")

    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def generator(context: Any, *args: Any, **kwargs: Any) -> Any:
            resource: Tracing = kwargs["tracing"]
            with resource.started(context) as span:
                inner = function(context, *args, **kwargs)
                try:
                    while True:
                        with tracing.current(span):
                            try:
                                item = next(inner)
                            except StopIteration:
                                return
                        yield item
                finally:
                    inner.close()

        return generator  # type: ignore[return-value]

    @functools.wraps(function)
    def plain(context: Any, *args: Any, **kwargs: Any) -> Any:
        with kwargs["tracing"].step(context):
            return function(context, *args, **kwargs)

    return plain  # type: ignore[return-value]


def resources() -> Mapping[str, Any]:
    """The plane's resources, bound by ``observability.definitions.build``."""
    return {"tracing": Tracing()}
