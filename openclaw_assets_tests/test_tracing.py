"""Traces: configured by OTEL_* alone, free when nobody collects, one trace from a Dagster step to the model predict.

Unit level with the SDK's in-memory exporter (``spans.recording``); the process-wide setup in
fresh interpreters (it can happen once per process); and one cross-process test against a real
OTLP receiver, the MLflow tracking server, fed by a real ``dagster asset materialize`` of
``staging_validation`` and by the gateway process it starts.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from openclaw_assets.observability import tracing
from openclaw_assets.observability.resource import ASSET_KEY, PARTITION_KEY, RUN_ID, Tracing, traced
from openclaw_assets_tests.spans import hex_ids, recording
from openclaw_assets_tests.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
OTEL_NAMES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "TRACEPARENT",
)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any OTEL_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "TRACEPARENT"}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def ids_of(header: str) -> tuple[str, str]:
    """(trace id, parent span id) of a W3C ``traceparent``; its flags say sampled (bit 0), perhaps random (bit 1)."""
    version, trace_id, span_id, flags = header.split("-")
    assert version == "00" and int(flags, 16) & 1, header
    return trace_id, span_id


# --- which exporters the environment asks for ---------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ("otlp",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp",)),
        ({"OTEL_TRACES_EXPORTER": "console, otlp"}, ("console", "otlp")),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ()),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, ()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ("otlp",)),
    ],
)
def test_tracing_is_on_only_when_the_otel_environment_names_an_exporter_or_an_endpoint(environ, expected):
    assert tracing.exporters(environ) == expected


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "zipkin"),
        ({"OTEL_TRACES_EXPORTER": "otlp,jaeger"}, "jaeger"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "http/json"),
    ],
)
def test_an_exporter_or_protocol_that_is_not_shipped_is_refused_by_name(environ, named):
    with pytest.raises(tracing.TracingSettingError, match=named):
        tracing.exporters(environ)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ("tracecontext", "baggage")),
        ("", ("tracecontext", "baggage")),
        ("baggage", ("baggage",)),
        (" tracecontext , baggage ", ("tracecontext", "baggage")),
        ("None", ()),
    ],
)
def test_the_propagators_setting_is_read_as_opentelemetry_reads_it(value, expected):
    assert tracing.propagators({} if value is None else {"OTEL_PROPAGATORS": value}) == expected


@pytest.mark.parametrize(
    ("value", "named"),
    [("tracecontxt", "'tracecontxt'"), ("tracecontext,b3", "'b3'"), ("tracecontext,", "''"), ("xray,none", "'xray'")],
)
def test_a_propagator_that_is_not_installed_is_refused_by_name(value, named):
    with pytest.raises(
        tracing.TracingSettingError, match=rf"OTEL_PROPAGATORS names {named}, which is not an installed"
    ):
        tracing.propagators({"OTEL_PROPAGATORS": value})


PROPAGATORS_PROBE = textwrap.dedent(
    """
    import json, os, sys
    from openclaw_assets.observability import tracing
    enabled = tracing.configure("probe")  # the pipeline's setup: the default instead, with a warning
    tracing.configure("probe")
    import openclaw_assets.compute.gateway.app  # imports FastAPI, and with it opentelemetry.propagate
    print("REPORT " + json.dumps({"enabled": enabled, "value": os.environ["OTEL_PROPAGATORS"]}))
    """
)


def test_an_unknown_propagator_falls_back_to_the_default_with_one_warning_in_the_pipeline_setup():
    env = clean_env(OTEL_PROPAGATORS="tracecontxt")
    done = subprocess.run(
        [sys.executable, "-c", PROPAGATORS_PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("REPORT ")]
    assert json.loads(line.removeprefix("REPORT ")) == {"enabled": False, "value": "tracecontext,baggage"}
    assert done.stderr.count("OTEL_PROPAGATORS names 'tracecontxt'") == 1, done.stderr
    assert "using tracecontext,baggage" in done.stderr and "Traceback" not in done.stderr


def test_without_the_check_the_gateway_app_cannot_even_be_imported():
    """What the check is for: FastAPI's import raises on the same setting, tracing off."""
    done = subprocess.run(
        [sys.executable, "-c", "import openclaw_assets.compute.gateway.app"],
        env=clean_env(OTEL_PROPAGATORS="tracecontxt"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0 and "Propagator tracecontxt not found" in done.stderr


@pytest.mark.cli
@pytest.mark.parametrize("background", [False, True])
def test_openclaw_serve_refuses_an_unknown_propagator_in_one_line(tmp_path: Path, background: bool):
    command = [sys.executable, "-m", "openclaw_assets.cli", "--home", str(tmp_path / "home"), "serve", "--port", "0"]
    done = subprocess.run(
        command + (["--background"] if background else []),
        env=clean_env(OTEL_PROPAGATORS="tracecontxt"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip() == (
        "openclaw: error: OTEL_PROPAGATORS names 'tracecontxt', which is not an installed propagator; "
        "use a comma-separated list of baggage, tracecontext, or none"
    )
    assert not (tmp_path / "home" / "gateway" / "endpoint.json").exists()


# --- the process-wide setup, each in a fresh interpreter -----------------------------------------

PROBE = textwrap.dedent(
    """
    import json, sys, threading
    import dagster as dg
    import openclaw_assets.definitions  # the code location, as a run imports it
    from openclaw_assets.observability import tracing
    from openclaw_assets.observability.resource import Tracing, traced

    @dg.asset
    @traced
    def probe(context: dg.AssetExecutionContext, tracing: Tracing):
        context.log.info("probing")
        return 1

    result = dg.materialize([probe], resources={"tracing": Tracing()})
    loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
    report = {
        "success": result.success,
        "enabled": tracing.enabled(),
        "transport": tracing.http_transport() is not None,
        "null_span": tracing.span("x") is tracing.span("y"),
        "sdk": "opentelemetry.sdk.trace" in loaded,
        "exporter": any(m.startswith("opentelemetry.exporter") for m in loaded),
        "any_opentelemetry": bool(loaded),
        "threads": sorted(t.name for t in threading.enumerate()),
    }
    from opentelemetry import trace

    span = tracing.tracer().start_span("after")
    report["recording"] = span.is_recording()
    report["provider"] = type(trace.get_tracer_provider()).__name__
    span.end()
    print("REPORT " + json.dumps(report))
    """
)


def _probe(env: dict[str, str]) -> tuple[dict[str, Any], str]:
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("REPORT "))
    return json.loads(line[len("REPORT ") :]), done.stderr


class Sink:
    """A local OTLP/HTTP receiver: decodes each ``POST /v1/traces`` (protobuf) and keeps its spans and headers."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.echo: list[dict[str, str]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest.FromString(body)
                    for resource_spans in request.resource_spans:
                        service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                        for scope in resource_spans.scope_spans:
                            for span in scope.spans:
                                sink.spans.append(
                                    {"name": span.name, "trace_id": span.trace_id.hex(), "resource": service}
                                )
                    sink.headers.append(dict(self.headers.items()))
                    self._answer(200)
                else:
                    sink.echo.append(dict(self.headers.items()))
                    self._answer(int(self.path.split("?")[0].strip("/") or 200))

            do_GET = do_POST

            def _answer(self, status: int) -> None:
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Sink":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_embedded_default_installs_nothing_imports_nothing_and_starts_no_thread():
    report, _ = _probe(clean_env())
    assert report["success"]
    assert not report["enabled"] and not report["transport"] and report["null_span"]
    # not even the OpenTelemetry API was imported by the code location and a traced step
    assert not report["any_opentelemetry"] and not report["sdk"] and not report["exporter"]
    assert not any("Otel" in name for name in report["threads"]), report["threads"]
    assert report["provider"] == "ProxyTracerProvider" and not report["recording"]


def test_an_endpoint_in_the_environment_installs_the_sdk_and_exports_the_step_over_otlp_http():
    """The same probe, with an endpoint: the checks above all flip, and the sink receives the step's span."""
    with Sink() as sink:
        env = clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=sink.url,
            OTEL_EXPORTER_OTLP_HEADERS="x-tenant=openclaw-tests",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=test",
        )
        report, _ = _probe(env)
    assert report["success"] and report["enabled"] and report["transport"] and not report["null_span"]
    assert report["sdk"] and report["exporter"] and report["recording"]
    assert report["provider"] == "TracerProvider"
    assert any(name.startswith("OtelBatchSpan") for name in report["threads"]), report["threads"]
    step = [s for s in sink.spans if s["name"] == "dagster.step probe"]
    assert len(step) == 1, sink.spans
    assert step[0]["resource"]["service.name"] == "openclaw-pipeline"
    assert step[0]["resource"]["deployment.environment.name"] == "test"
    assert all(h.get("x-tenant") == "openclaw-tests" for h in sink.headers)


def test_otel_service_name_and_the_sampler_are_read_from_the_environment():
    with Sink() as sink:
        named = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=sink.url, OTEL_SERVICE_NAME="my-pipeline")
        _probe(named)
        assert {s["resource"]["service.name"] for s in sink.spans} == {"my-pipeline"}
        sink.spans.clear()
        never = clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=sink.url, OTEL_TRACES_SAMPLER="always_off")
        report, _ = _probe(never)
    assert report["enabled"] and not report["recording"]
    assert sink.spans == []


def test_a_setting_the_sdk_cannot_honour_warns_once_and_leaves_tracing_off():
    report, stderr = _probe(clean_env(OTEL_TRACES_EXPORTER="zipkin"))
    assert report["success"] and not report["enabled"] and not report["sdk"]
    assert "tracing is off: OTEL_TRACES_EXPORTER names zipkin" in stderr


SILENT = textwrap.dedent(
    """
    import json, sys, time
    from openclaw_assets.observability import tracing
    assert tracing.configure("probe")
    with tracing.step_span("a step", {}) as span:
        pass
    started = time.perf_counter()
    done = tracing.flush(0.5)
    print("REPORT " + json.dumps({"done": done, "waited_s": time.perf_counter() - started}))
    """
)


def test_a_collector_that_never_answers_holds_the_end_of_a_step_for_the_flush_wait_only():
    import socket

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        env = clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{silent.getsockname()[1]}", OTEL_EXPORTER_OTLP_TIMEOUT="3"
        )
        done = subprocess.run(
            [sys.executable, "-c", SILENT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("REPORT "))[len("REPORT ") :])
    # the step's own flush (inside step_span, FLUSH_WAIT_S) and this one gave up waiting: the export was still stuck
    assert report["done"] is False and report["waited_s"] < 2.5, report


# --- spans in this process (the in-memory exporter) ------------------------------------------------

PARTS = dg.StaticPartitionsDefinition(["2013-01", "2013-02"])


@dg.asset(partitions_def=PARTS)
@traced
def traced_generator(context: dg.AssetExecutionContext, tracing: Tracing):
    """A partitioned generator asset that calls a local server over httpx."""
    with httpx.Client(transport=tracing_transport()) as client:
        client.get(os.environ["OPENCLAW_TEST_ECHO"] + "/200")
    yield dg.MaterializeResult(metadata={"ids": str(tracing_ids())})
    with tracing_span("after the first yield"):
        pass


@dg.asset
@traced
def traced_failure(context: dg.AssetExecutionContext, tracing: Tracing) -> None:
    """An asset whose step fails."""
    raise dg.Failure(description="the step failed on purpose")


def tracing_transport():
    return tracing.http_transport()


def tracing_ids():
    return tracing.current_ids()


def tracing_span(name: str):
    return tracing.span(name)


def test_a_step_span_names_the_run_asset_and_partition_and_parents_what_the_step_does(monkeypatch):
    with Sink() as echo, recording() as exporter:
        monkeypatch.setenv("OPENCLAW_TEST_ECHO", echo.url)
        result = dg.materialize([traced_generator], partition_key="2013-02", resources={"tracing": Tracing()})
        spans = exporter.get_finished_spans()
    assert result.success
    by_name = {s.name: s for s in spans}
    step = by_name["dagster.step traced_generator"]
    assert step.attributes[RUN_ID] == result.run_id
    assert step.attributes[ASSET_KEY] == "traced_generator"
    assert step.attributes[PARTITION_KEY] == "2013-02"
    trace_id, step_id, parent = hex_ids(step)
    assert parent is None
    client = by_name["GET"]
    assert hex_ids(client)[0] == trace_id and hex_ids(client)[2] == step_id
    # the step's span stays current after a yield, and the server got the client span as parent
    assert hex_ids(by_name["after the first yield"])[2] == step_id
    assert ids_of(echo.echo[0]["traceparent"]) == (trace_id, hex_ids(client)[1])
    ids = result.asset_materializations_for_node("traced_generator")[0].metadata["ids"].value
    assert ids == str((trace_id, step_id))


def test_a_failed_step_ends_its_span_as_an_error():
    from opentelemetry.trace import StatusCode

    with recording() as exporter:
        result = dg.materialize([traced_failure], resources={"tracing": Tracing()}, raise_on_error=False)
        spans = exporter.get_finished_spans()
    assert not result.success
    (step,) = [s for s in spans if s.name == "dagster.step traced_failure"]
    assert step.status.status_code == StatusCode.ERROR
    assert step.attributes["error.type"] == "Failure"
    assert "the step failed on purpose" in step.status.description


def test_a_step_continues_a_traceparent_from_the_environment(monkeypatch):
    parent_trace, parent_span = secrets.token_hex(16), secrets.token_hex(8)
    monkeypatch.setenv("TRACEPARENT", f"00-{parent_trace}-{parent_span}-01")
    with recording() as exporter:
        dg.materialize([traced_failure], resources={"tracing": Tracing()}, raise_on_error=False)
        (step,) = exporter.get_finished_spans()
    assert hex_ids(step)[0] == parent_trace and hex_ids(step)[2] == parent_span
    monkeypatch.setenv("TRACEPARENT", "not a traceparent")
    with recording() as exporter:
        dg.materialize([traced_failure], resources={"tracing": Tracing()}, raise_on_error=False)
        (step,) = exporter.get_finished_spans()
    assert hex_ids(step)[0] != parent_trace and hex_ids(step)[2] is None  # a bad carrier starts a new trace


def test_http_client_spans_use_the_stable_semantic_conventions():
    from opentelemetry.trace import SpanKind, StatusCode

    with Sink() as echo, recording() as exporter:
        with httpx.Client(transport=tracing.http_transport()) as client:
            assert client.post(echo.url + "/200?q=1", json={}).status_code == 200
            assert client.get(echo.url + "/503").status_code == 503
        with httpx.Client(transport=tracing.http_transport()) as client, pytest.raises(httpx.ConnectError):
            client.get("http://127.0.0.1:9/refused")
        ok, failed, refused = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time)
    port = int(echo.url.rsplit(":", 1)[1])
    assert ok.kind == SpanKind.CLIENT and ok.name == "POST"
    assert dict(ok.attributes) == {
        "http.request.method": "POST",
        "url.full": f"http://127.0.0.1:{port}/200?q=1",
        "server.address": "127.0.0.1",
        "server.port": port,
        "http.response.status_code": 200,
    }
    assert ok.status.status_code == StatusCode.UNSET
    assert failed.attributes["http.response.status_code"] == 503 and failed.attributes["error.type"] == "503"
    assert failed.status.status_code == StatusCode.ERROR
    assert refused.attributes["error.type"] == "ConnectError" and "http.response.status_code" not in refused.attributes
    assert refused.status.status_code == StatusCode.ERROR


def test_traceparent_helpers_round_trip_the_w3c_header():
    from opentelemetry import context, trace

    assert tracing.traceparent() is None  # no span is current
    with recording(), tracing.tracer().start_as_current_span("outer") as outer:
        header = tracing.traceparent()
        trace_id, span_id = tracing.current_ids()
    assert ids_of(header) == (trace_id, span_id)
    assert trace_id == format(outer.get_span_context().trace_id, "032x")
    token = context.attach(tracing.extract({"traceparent": header}))
    try:
        assert tracing.current_ids() == (trace_id, span_id)
        assert not trace.get_current_span().is_recording()  # a remote parent, not a span of ours
    finally:
        context.detach(token)


def test_the_gateway_app_traces_requests_continues_callers_and_answers_with_its_traceparent():
    """FastAPI's built-in server spans under the gateway's telemetry settings, with the traceparent middleware."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from openclaw_assets.compute.gateway.app import TELEMETRY

    app = FastAPI(telemetry=TELEMETRY)
    app.add_middleware(tracing.TraceparentResponse)

    @app.post("/v1/items/{item}")
    def item(item: str) -> dict[str, str]:
        with tracing.span("inside", lambda: {"item": item}):
            return {"trace_id": tracing.current_trace_id() or ""}

    @app.get("/healthz")
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    with recording() as exporter, TestClient(app) as client:
        answer = client.post("/v1/items/7", headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"})
        probe = client.get("/healthz")
        spans = exporter.get_finished_spans()
    assert answer.status_code == 200 and answer.json()["trace_id"] == caller_trace
    assert "traceparent" not in probe.headers  # probes are not traced
    names = sorted(s.name for s in spans)
    assert names == ["POST /v1/items/{item}", "inside"], names  # one server span, no operation spans
    server = next(s for s in spans if s.name.startswith("POST"))
    assert hex_ids(server)[0] == caller_trace and hex_ids(server)[2] == caller_span
    assert ids_of(answer.headers["traceparent"]) == (caller_trace, hex_ids(server)[1])
    assert {k: server.attributes[k] for k in ("http.request.method", "url.path", "http.route")} == {
        "http.request.method": "POST",
        "url.path": "/v1/items/7",
        "http.route": "/v1/items/{item}",
    }
    assert server.attributes["http.response.status_code"] == 200


def test_a_request_that_fails_with_a_500_still_answers_with_its_traceparent():
    """The last-resort handler's answer is sent outside the user middleware: it names its trace itself."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from openclaw_assets.compute.gateway import errors
    from openclaw_assets.compute.gateway.app import TELEMETRY

    app = FastAPI(telemetry=TELEMETRY)
    errors.install(app)
    app.add_middleware(tracing.TraceparentResponse)

    @app.get("/v1/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    with recording() as exporter, TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/v1/boom", headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"})
        spans = exporter.get_finished_spans()
    assert answer.status_code == 500 and answer.json()["error"] == "internal_error"
    server = next(s for s in spans if s.name == "GET /v1/boom")
    assert hex_ids(server)[0] == caller_trace
    assert ids_of(answer.headers["traceparent"]) == (caller_trace, hex_ids(server)[1])
    assert server.attributes["http.response.status_code"] == 500


# --- one trace across processes, in a real OTLP receiver -------------------------------------------

REPLAY = {"warmup_requests": 1, "single_requests": 10, "batch_requests": 1, "p99_budget_ms": 5000.0}


@contextlib.contextmanager
def mlflow_server(root: Path) -> Iterator[str]:
    """An MLflow tracking server (SQLite backend) on a free loopback port, in its own process group."""
    from openclaw_assets.compute.gateway.server import free_port

    port = free_port()
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "mlflow-server.log", "wb")  # noqa: SIM115 (closed below)
    argv = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    argv += ["--backend-store-uri", f"sqlite:///{root}/receiver.db", "--default-artifact-root", str(root / "art")]
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=clean_env(), start_new_session=True, cwd=root
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # its job consumers can outlive it: the whole group goes
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        log.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _spans(url: str, experiment: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(url)
    return [span for found in client.search_traces(locations=[experiment]) for span in found.data.spans]


@pytest.mark.slow
@pytest.mark.cli
def test_one_trace_from_a_dagster_step_through_the_gateway_to_the_model_predict_in_mlflow(
    feature_home: Path, tmp_path: Path
):
    from mlflow.tracking import MlflowClient

    from openclaw_assets.compute.gateway import server
    from openclaw_assets.compute.gateway.predlog import read_log
    from openclaw_assets.models.registry import CHALLENGER, MlflowStore
    from openclaw_assets.observability.logs import pipeline_log, read_lines
    from openclaw_assets_tests.conftest import FAST_TRAINING, run_job

    home = tmp_path / "home"
    shutil.copytree(feature_home, home)
    with mlflow_server(tmp_path / "receiver") as url:
        # the receiver boots while the challenger is trained and evaluated (no OTEL_* here: nothing exported)
        assert run_job(home, selection=["feast_registry"]).success
        trained = run_job(
            home,
            run_config={"ops": {"trained_model": {"config": FAST_TRAINING}}},
            selection=["trained_model", "model_evaluation"],
        )
        assert trained.success
        version = str(MlflowStore.at(home, "embedded").version_for(CHALLENGER).version)
        wait_until(lambda: _healthy(url), 180, 0.5, "the MLflow server to answer /health")
        experiment = MlflowClient(url).create_experiment("openclaw-traces")
        otel = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": url,
            "OTEL_EXPORTER_OTLP_HEADERS": f"x-mlflow-experiment-id={experiment}",
        }
        # the real command line; its instance is the one run_job used, with the project's dagster.yaml
        shutil.copyfile(ROOT / "dagster.yaml", home / "dagster" / "dagster.yaml")
        env = clean_env(
            OPENCLAW_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), OPENCLAW_PROFILE="embedded", **otel
        )
        argv = [str(BIN / "dagster"), "asset", "materialize", "-m", "openclaw_assets.definitions"]
        argv += ["--select", "staging_validation", "--config-json"]
        argv += [json.dumps({"ops": {"staging_validation": {"config": REPLAY}}})]
        done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
            staged_key = dg.AssetKey("staging_validation")
            (run,) = [r for r in instance.get_runs() if r.asset_selection and staged_key in r.asset_selection]
        requests = REPLAY["warmup_requests"] + REPLAY["single_requests"] + REPLAY["batch_requests"]

        def complete() -> list[Any]:
            spans = _spans(url, experiment)
            servers = [s for s in spans if s.name == "POST /v1/predict"]
            predicts = [s for s in spans if s.name.startswith("predict ")]
            return spans if len(servers) == requests and len(predicts) == requests else []

        spans = wait_until(complete, 60, 1.0, f"{requests} requests' spans in MLflow")

        # --- an outside caller's trace is continued by a gateway (pinned to the challenger)
        caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
        token = secrets.token_urlsafe(16)
        endpoint = home / "gateway" / "outside.json"
        child_env = {**otel, "OPENCLAW_GATEWAY_PREDICT_TOKEN": token, "OPENCLAW_PROFILE": "embedded"}
        gateway = server.start_child(home, port=0, endpoint_file=endpoint, pin=CHALLENGER, env=child_env)
        try:
            found = server.wait_ready(endpoint, gateway, 240)
            flight = {"flight_id": "outside-1", "carrier": "UA", "origin": "EWR", "dest": "IAH", "tailnum": None}
            flight |= {"scheduled_departure": "2013-02-20T05:15:00", "distance": 1400}
            headers = {"Authorization": f"Bearer {token}", "traceparent": f"00-{caller_trace}-{caller_span}-01"}
            answer = httpx.post(found["url"] + "/v1/predict", json={"flights": [flight]}, headers=headers, timeout=30)
        finally:
            server.stop(gateway.pid)  # SIGTERM: the gateway flushes its spans as it exits
        outside = wait_until(
            lambda: [s for s in _spans(url, experiment) if s.trace_id == f"tr-{caller_trace}"],
            60,
            1.0,
            "the outside request's trace in MLflow",
        )

    # --- the staging run: one trace from the Dagster step to every model predict
    (step,) = [s for s in spans if s.name == "dagster.step staging_validation"]
    assert step.attributes[RUN_ID] == run.run_id and step.attributes[ASSET_KEY] == "staging_validation"
    assert step.parent_id is None
    in_trace = [s for s in spans if s.trace_id == step.trace_id]
    by_id = {s.span_id: s for s in in_trace}
    clients = [s for s in in_trace if s.name == "POST" and s.parent_id == step.span_id]
    servers = [s for s in in_trace if s.name == "POST /v1/predict"]
    reads = [s for s in in_trace if s.name.startswith("get_online_features ")]
    predicts = [s for s in in_trace if s.name.startswith("predict ")]
    assert len(clients) == len(servers) == len(reads) == len(predicts) == requests
    for client in clients:
        assert client.attributes["http.request.method"] == "POST"
        assert client.attributes["http.response.status_code"] == 200
        assert client.attributes["url.full"].endswith("/v1/predict")
    for served in servers:
        assert by_id[served.parent_id].name == "POST"  # the gateway continued the client span
        assert served.attributes["http.route"] == "/v1/predict"
        assert served.attributes["http.response.status_code"] == 200
    for read in reads:
        assert by_id[read.parent_id] in servers
        assert read.attributes["db.system.name"] == "sqlite"
        assert read.attributes["db.operation.name"] == "get_online_features"
    for predict in predicts:
        assert by_id[predict.parent_id] in servers
        assert predict.attributes["openclaw.model.version"] == version
        assert predict.attributes["openclaw.model.variant"] == "challenger"
        assert predict.attributes["feature_flag.result.variant"] == "challenger"
    trace_id = step.trace_id.removeprefix("tr-")

    # the staging gateway's prediction log and the run's JSON log lines carry that trace id
    staged = home / "gateway" / "staging" / run.run_id
    records, _ = read_log(home, staged / "predictions")
    assert records and {r["trace_id"] for r in records} == {trace_id}
    lines = [line for line in read_lines(pipeline_log(home)) if line.get("run_id") == run.run_id]
    ready = [line for line in lines if "staging gateway for" in line["message"]]
    assert ready and ready[0]["trace_id"] == trace_id and ready[0]["step_key"] == "staging_validation"
    assert {line["model_version"] for line in lines if line["message"].startswith(f"v{version}:")} == {version}
    gateway_log = read_lines(staged / "gateway.log")
    assert any(line["message"].startswith("listening on") for line in gateway_log)

    # the outside request: its server span is the caller's span's child, and the answer names the trace
    assert answer.status_code == 200, answer.text
    served = next(s for s in outside if s.name == "POST /v1/predict")
    assert served.parent_id == caller_span
    assert ids_of(answer.headers["traceparent"]) == (caller_trace, served.span_id)
    assert {s.name.split(" ")[0] for s in outside} >= {"POST", "get_online_features", "predict"}
    logged, _ = read_log(home)
    assert [r["trace_id"] for r in logged if r["flight_id"] == "outside-1"] == [caller_trace]


def test_after_recording_the_process_is_back_to_no_tracing():
    """The in-memory provider of ``recording()`` does not outlive its block: later tests run untraced."""
    from opentelemetry import trace

    with recording() as exporter:
        assert tracing.enabled()
        with tracing.span("inside"):
            assert tracing.current_ids() is not None
        assert [s.name for s in exporter.get_finished_spans()] == ["inside"]
    assert not tracing.enabled()
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert tracing.span("after") is tracing.span("again")  # the shared null context
    assert tracing.http_transport() is None and tracing.traceparent() is None
    with tracing.tracer().start_as_current_span("direct") as span:
        assert not span.is_recording() and tracing.current_ids() is None
    with recording() as exporter:  # and a second block records again
        with tracing.span("second"):
            pass
        assert [s.name for s in exporter.get_finished_spans()] == ["second"]
