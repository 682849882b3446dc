"""Spans recorded in the test process: the SDK's in-memory exporter, installed for one block only.

OpenTelemetry's API lets a process set its tracer provider once and offers no public way back,
so ``recording()`` installs a fresh SDK provider (an ``InMemorySpanExporter`` behind a
``SimpleSpanProcessor``) and, when the block ends, puts the API's globals back as they were
before: no provider, the set-once guard unset (the two names OpenTelemetry's own test utilities,
``opentelemetry.test.globals_test.reset_trace_globals``, reset). The tests after it run with
tracing off, as a process without ``OTEL_*`` does, and ``tracing``'s kept tracer is dropped too.
Should those names ever go, the provider stays installed and spans are kept only inside the block.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def _gate() -> Any:
    """A span processor that passes spans to the in-memory exporter only while ``open``."""
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    class Gate(SpanProcessor):
        def __init__(self) -> None:
            self.exporter = InMemorySpanExporter()
            self.inner = SimpleSpanProcessor(self.exporter)
            self.open = False

        def on_end(self, span: Any) -> None:
            if self.open:
                self.inner.on_end(span)

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    return Gate()


_kept: Any = None
"""The gate on a provider that could not be taken back (only if the API's globals are not where expected)."""


def _resettable(api: Any) -> bool:
    return hasattr(api, "_TRACER_PROVIDER") and hasattr(api, "_TRACER_PROVIDER_SET_ONCE")


def _reset(api: Any) -> None:
    from opentelemetry.util._once import Once

    from openclaw_assets.observability import tracing

    api._TRACER_PROVIDER = None
    api._TRACER_PROVIDER_SET_ONCE = Once()
    tracing._tracer = None  # kept once a provider is installed: not this one's any more


@contextlib.contextmanager
def recording() -> Iterator[Any]:
    """The in-memory exporter, empty, recording every span that ends inside the block; tracing is off after it."""
    global _kept
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    if _kept is not None:
        gate = _kept
    else:
        gate = _gate()
        before = trace.get_tracer_provider()
        if isinstance(before, TracerProvider):  # the host installed one: add to it, leave it
            before.add_span_processor(gate)
            _kept = gate
        else:
            provider = TracerProvider()
            provider.add_span_processor(gate)
            trace.set_tracer_provider(provider)
    gate.exporter.clear()
    gate.open = True
    try:
        yield gate.exporter
    finally:
        gate.open = False
        if gate is not _kept:
            if _resettable(trace):
                _reset(trace)
            else:
                _kept = gate


def hex_ids(span: Any) -> tuple[str, str, str | None]:
    """(trace id, span id, parent span id) of a finished span, as lower-case hex."""
    parent = span.parent.span_id if span.parent is not None else None
    context = span.get_span_context()
    return (
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
        None if parent is None else format(parent, "016x"),
    )
