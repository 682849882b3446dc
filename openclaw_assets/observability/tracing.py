"""OpenTelemetry traces for a process, configured only by the standard ``OTEL_*`` environment variables.

Tracing is on when the environment names somewhere to send spans: ``OTEL_TRACES_EXPORTER``
(``otlp``, ``console``, or both, comma-separated), or else an OTLP endpoint
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT``). ``OTEL_SDK_DISABLED=true``
or ``OTEL_TRACES_EXPORTER=none`` turn it off. Everything else is read by the SDK itself:
headers, timeout and compression (``OTEL_EXPORTER_OTLP_[TRACES_]*``), the sampler
(``OTEL_TRACES_SAMPLER``, ``OTEL_TRACES_SAMPLER_ARG``), the batch processor (``OTEL_BSP_*``), the
resource (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``) and the propagators
(``OTEL_PROPAGATORS``, W3C ``traceparent`` and ``baggage`` by default). Spans go out over OTLP/HTTP
(protobuf) through a batch span processor, flushed at the end of each Dagster step and when the
process exits.

With none of that set (the embedded default) ``configure`` does nothing: no SDK provider is
installed, no exporter is imported, no thread is started, and every span the code asks for is
the API's no-op. A setting the SDK cannot honour (an unknown exporter, the gRPC protocol) is
reported once as a warning and tracing stays off: telemetry never stops the work it observes.
An ``OTEL_PROPAGATORS`` naming a propagator that is not installed is replaced by the default, also
with one warning; ``openclaw serve`` refuses it instead, in one line, before it imports FastAPI.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

log = logging.getLogger("openclaw.tracing")

TRACER_NAME = "openclaw"
EXPORTERS = ("otlp", "console")
"""The span exporters ``OTEL_TRACES_EXPORTER`` may name here (and ``none``)."""
PROTOCOL = "http/protobuf"
"""The one OTLP protocol shipped (``opentelemetry-exporter-otlp-proto-http``)."""

_lock = threading.Lock()
_provider: Any = None
"""The SDK tracer provider this module installed, or None (not configured, or tracing is off)."""
_decided = False


class TracingSettingError(ValueError):
    """An ``OTEL_*`` value this process cannot honour; ``configure`` logs it and leaves tracing off."""


PROPAGATORS_VARIABLE = "OTEL_PROPAGATORS"
DEFAULT_PROPAGATORS = "tracecontext,baggage"
"""The W3C propagators OpenTelemetry uses when ``OTEL_PROPAGATORS`` is unset."""


def propagators(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The propagators ``OTEL_PROPAGATORS`` names (empty for ``none``); raises ``TracingSettingError`` for one
    that is not installed.

    ``opentelemetry.propagate`` (which FastAPI imports with itself) raises ``ValueError`` at import for such a
    value, tracing on or off; this reads the same installed entry points without importing OpenTelemetry, so a
    process can check the setting before anything imports it.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get(PROPAGATORS_VARIABLE)
    if not raw:
        return tuple(DEFAULT_PROPAGATORS.split(","))
    from importlib.metadata import entry_points

    installed = {found.name for found in entry_points(group="opentelemetry_propagator")}
    names: list[str] = []
    unknown: list[str] = []
    for name in (part.strip() for part in raw.split(",")):
        if name.lower() == "none":  # as OpenTelemetry reads it: none means none, unless an unknown one came first
            if unknown:
                break
            return ()
        (names if name in installed else unknown).append(name)
    if unknown:
        raise TracingSettingError(
            f"{PROPAGATORS_VARIABLE} names {', '.join(repr(n) for n in unknown)}, which is not an installed propagator;"
            f" use a comma-separated list of {', '.join(sorted(installed))}, or none"
        )
    return tuple(names)


def _propagators_or_default() -> None:
    """Check ``OTEL_PROPAGATORS``; an unknown one is replaced by the default, with one warning, for this process
    and the processes it starts (``opentelemetry.propagate`` would raise at import)."""
    try:
        propagators()
    except TracingSettingError as exc:
        log.warning("%s; using %s", exc, DEFAULT_PROPAGATORS)
        os.environ[PROPAGATORS_VARIABLE] = DEFAULT_PROPAGATORS


def _env(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def exporters(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The span exporters the environment asks for; empty when tracing is off. Raises ``TracingSettingError``."""
    environ = os.environ if environ is None else environ
    if _env(environ, "OTEL_SDK_DISABLED").lower() == "true":
        return ()
    named = _env(environ, "OTEL_TRACES_EXPORTER").lower()
    if not named:  # unset: on only when an endpoint says where to send (the embedded default costs nothing)
        endpoint = _env(environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or _env(environ, "OTEL_EXPORTER_OTLP_ENDPOINT")
        named = "otlp" if endpoint else "none"
    chosen = tuple(dict.fromkeys(part.strip() for part in named.split(",") if part.strip()))
    if chosen == ("none",):
        return ()
    unknown = [name for name in chosen if name not in EXPORTERS]
    if unknown:
        raise TracingSettingError(
            f"OTEL_TRACES_EXPORTER names {', '.join(unknown)}; this process exports to {', '.join(EXPORTERS)} or none"
        )
    if "otlp" in chosen:
        protocol = _env(environ, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or _env(environ, "OTEL_EXPORTER_OTLP_PROTOCOL")
        if protocol and protocol != PROTOCOL:
            raise TracingSettingError(f"OTLP protocol {protocol!r} is not shipped here; use {PROTOCOL}")
    return chosen


def configure(service_name: str, service_version: str | None = None) -> bool:
    """Install the process-wide tracer provider the ``OTEL_*`` environment asks for, once; True if tracing is on.

    ``service_name`` is the ``service.name`` used when neither ``OTEL_SERVICE_NAME`` nor
    ``OTEL_RESOURCE_ATTRIBUTES`` names one. Later calls return the first call's answer. An
    ``OTEL_PROPAGATORS`` that names no installed propagator is replaced by the default with a warning,
    tracing on or off (the gateway refuses it earlier: ``server.serve``).
    """
    global _provider, _decided
    with _lock:
        if _decided:
            return _provider is not None
        _decided = True
        _propagators_or_default()
        try:
            chosen = exporters()
        except TracingSettingError as exc:
            log.warning("tracing is off: %s", exc)
            return False
        if not chosen:
            return False
        _provider = _install(chosen, service_name, service_version)
        return _provider is not None


def _install(chosen: tuple[str, ...], service_name: str, service_version: str | None) -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    resource = Resource.create()  # OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
    ours: dict[str, str] = {}
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        ours[SERVICE_NAME] = service_name
    if service_version and SERVICE_VERSION not in resource.attributes:
        ours[SERVICE_VERSION] = service_version
    provider = TracerProvider(resource=resource.merge(Resource(ours)))  # sampler from OTEL_TRACES_SAMPLER
    for name in chosen:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter: Any = OTLPSpanExporter()  # endpoint, headers, timeout, compression from OTEL_EXPORTER_OTLP_*
        else:
            exporter = ConsoleSpanExporter()
        provider.add_span_processor(BatchSpanProcessor(exporter))  # OTEL_BSP_*
    trace.set_tracer_provider(provider)
    if trace.get_tracer_provider() is not provider:  # another component installed one first: use it, add nothing
        provider.shutdown()
        log.warning("a tracer provider was already installed in this process; its exporters are used instead")
        return None
    return provider


def enabled() -> bool:
    """Whether spans are recorded in this process: an SDK provider is installed (by ``configure`` or the host).

    Never imports OpenTelemetry: a process that has not imported it has installed no provider.
    """
    api = sys.modules.get("opentelemetry.trace")
    if api is None:
        return False
    provider = api.get_tracer_provider()
    return not isinstance(provider, (api.ProxyTracerProvider, api.NoOpTracerProvider))


_tracer: Any = None


def tracer() -> Any:
    """The project's tracer: recording when a provider is installed, the API's no-op otherwise.

    Kept once a provider is installed (it cannot be replaced): a new tracer per span costs as
    much as the span itself.
    """
    global _tracer
    if _tracer is not None:
        return _tracer
    from opentelemetry import trace

    found = trace.get_tracer(TRACER_NAME)
    if enabled():
        _tracer = found
    return found


FLUSH_WAIT_S = 2.0
"""How long the end of a step waits for its spans' export: a collector that does not answer costs a step
this much, not the exporter's retries (``OTEL_EXPORTER_OTLP_TIMEOUT``); the spans still go out later."""


def flush(timeout_s: float = FLUSH_WAIT_S) -> bool:
    """Export the spans ended so far (the end of a Dagster step), waiting at most ``timeout_s``; True if done.

    The SDK's ``force_flush`` ignores its timeout and blocks through the exporter's retries, so it
    runs in a thread of its own. Without a provider of the SDK's there is nothing to do, and no thread.
    """
    api = sys.modules.get("opentelemetry.trace")
    provider = api.get_tracer_provider() if api is not None else None
    force = getattr(provider, "force_flush", None)
    if not callable(force):
        return True
    done = threading.Event()

    def run() -> None:
        try:
            force()
        finally:
            done.set()

    threading.Thread(target=run, name="openclaw-trace-flush", daemon=True).start()
    return done.wait(timeout_s)


_NOTHING = contextlib.nullcontext()


def span(name: str, attributes: Callable[[], Mapping[str, Any]] | None = None, kind: str = "INTERNAL"):
    """A context manager: a child span of the current one while tracing is on, a shared null context otherwise.

    ``attributes`` is called only when the span is recorded, so that a caller on a hot path
    pays nothing for building them when nobody collects.
    """
    if not enabled():
        return _NOTHING
    from opentelemetry.trace import SpanKind

    return tracer().start_as_current_span(
        name, kind=SpanKind[kind], attributes=dict(attributes() if attributes else {})
    )


def current_ids() -> tuple[str, str] | None:
    """The current span's (trace id, span id) as lower-case hex, or None when no valid span is current."""
    api = sys.modules.get("opentelemetry.trace")
    if api is None:
        return None
    context = api.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def current_trace_id() -> str | None:
    """The current trace id (32 hex digits), or None."""
    ids = current_ids()
    return ids[0] if ids else None


def inject(headers: dict[str, str] | None = None) -> dict[str, str]:
    """``headers`` with the current context added (``traceparent``, ``tracestate``, ``baggage``) when tracing is on."""
    headers = {} if headers is None else headers
    if enabled():
        from opentelemetry import propagate

        propagate.inject(headers)
    return headers


def traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, or None when tracing is off or no span is current."""
    return inject({}).get("traceparent")


def extract(headers: Mapping[str, str]) -> Any:
    """The OpenTelemetry context a carrier (``traceparent`` and friends) names, to start spans under."""
    from opentelemetry import propagate

    return propagate.extract(dict(headers))


def parent_from_environment(environ: Mapping[str, str] | None = None) -> Any:
    """The context named by ``TRACEPARENT`` (and ``TRACESTATE``) in the environment, as a CI job or a caller sets it;
    None when unset (OpenTelemetry's environment-variable carrier)."""
    environ = os.environ if environ is None else environ
    value = _env(environ, "TRACEPARENT")
    if not value:
        return None
    carrier = {"traceparent": value}
    if _env(environ, "TRACESTATE"):
        carrier["tracestate"] = _env(environ, "TRACESTATE")
    return extract(carrier)


# ---------------------------------------------------------------- HTTP, both sides


def http_transport(inner: Any = None) -> Any:
    """An httpx transport that records a client span per request and sends ``traceparent``; None when tracing is off.

    Pass it as ``httpx.Client(transport=...)``: None is httpx's own default, so an untraced
    client is exactly what it was.
    """
    if not enabled():
        return None
    import httpx

    return _TracingTransport(inner or httpx.HTTPTransport())


class _TracingTransport:
    """Stable HTTP client semantic conventions (``http.request.method``, ``url.full``, ``server.address``,
    ``server.port``, ``http.response.status_code``, ``error.type``), the context injected by hand."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def handle_request(self, request: Any) -> Any:
        from opentelemetry import propagate
        from opentelemetry.trace import SpanKind, StatusCode

        method = request.method.upper()
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        attributes = {
            "http.request.method": method,
            "url.full": f"{url.scheme}://{url.host}:{port}{url.raw_path.decode('ascii', 'replace')}",
            "server.address": url.host,
            "server.port": port,
        }
        with tracer().start_as_current_span(
            method, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
        ) as current:
            propagate.inject(request.headers)
            try:
                response = self.inner.handle_request(request)
            except Exception as exc:
                current.set_attribute("error.type", type(exc).__qualname__)
                current.set_status(StatusCode.ERROR, str(exc))
                raise
            current.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 400:
                current.set_attribute("error.type", str(response.status_code))
                current.set_status(StatusCode.ERROR)
            return response

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> _TracingTransport:
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.inner.__exit__(*exc)


class TraceparentResponse:
    """ASGI middleware: answer with the server span's ``traceparent``, so a caller can find its request's trace.

    Install it only when tracing is on (``enabled()``); it runs inside the framework's server span.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                value = traceparent()
                if value:
                    message = {**message, "headers": [*message.get("headers", []), (b"traceparent", value.encode())]}
            await send(message)

        await self.app(scope, receive, sending)


# ---------------------------------------------------------------- a span per pipeline step


@contextlib.contextmanager
def step_span(name: str, attributes: Mapping[str, Any]) -> Iterator[Any]:
    """A started span for one pipeline step (under ``TRACEPARENT`` when set), ended and exported when the block
    ends; None when tracing is off. It is not made current: ``current(span)`` does that for each stretch of the
    step's code (a generator's body runs in stretches, between the values it yields)."""
    if not enabled():
        yield None
        return
    from opentelemetry.trace import StatusCode

    started = tracer().start_span(name, context=parent_from_environment(), attributes=dict(attributes))
    try:
        yield started
    except GeneratorExit:
        raise
    except BaseException as exc:
        started.record_exception(exc)
        started.set_attribute("error.type", type(exc).__qualname__)
        started.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:500])
        raise
    finally:
        started.end()
        flush()


def current(span: Any):
    """A context manager that makes ``span`` (from ``step_span``) current without ending it; a null one for None."""
    if span is None:
        return _NOTHING
    from opentelemetry import trace

    return trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)
