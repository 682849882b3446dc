"""Spans recorded in the test process: the SDK's in-memory exporter behind a switch.

A tracer provider can be installed once per process, so the first use installs one (with the
SDK's ``InMemorySpanExporter`` behind a ``SimpleSpanProcessor``) and every later test reuses
it. Spans are kept only inside ``recording()``, so the other tests of a session, which then
run with tracing on, leave nothing behind.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_gate: Any = None


def _install() -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
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

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    gate = Gate()
    provider.add_span_processor(gate)
    return gate


@contextlib.contextmanager
def recording() -> Iterator[Any]:
    """The in-memory exporter, cleared, recording every span that ends inside the block."""
    global _gate
    if _gate is None:
        _gate = _install()
    _gate.exporter.clear()
    _gate.open = True
    try:
        yield _gate.exporter
    finally:
        _gate.open = False


def hex_ids(span: Any) -> tuple[str, str, str | None]:
    """(trace id, span id, parent span id) of a finished span, as lower-case hex."""
    parent = span.parent.span_id if span.parent is not None else None
    context = span.get_span_context()
    return (
        format(context.trace_id, "032x"),
        format(context.span_id, "016x"),
        None if parent is None else format(parent, "016x"),
    )
