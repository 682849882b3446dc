"""Structured logs: JSON lines with trace and span ids, the gateway's stream and the pipeline's file."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from openclaw_assets.kernel.settings import SettingError
from openclaw_assets.observability import logs, tracing
from openclaw_assets.observability.resource import Tracing, traced
from openclaw_assets_tests.spans import hex_ids, recording

ROOT = Path(__file__).resolve().parent.parent


def _record(message: str = "hello %s", *args, **extra) -> logging.LogRecord:
    record = logging.getLogger("openclaw.test").makeRecord(
        "openclaw.test", logging.WARNING, __file__, 1, message, args or ("world",), None
    )
    record.__dict__.update(extra)
    return record


def test_a_line_is_one_json_object_with_time_level_logger_and_message_and_no_ids_outside_a_span():
    line = json.loads(logs.JsonFormatter().format(_record()))
    assert line.keys() == {"time", "level", "logger", "message"}
    assert line["level"] == "WARNING" and line["logger"] == "openclaw.test" and line["message"] == "hello world"
    assert line["time"].endswith("+00:00") and "T" in line["time"]


def test_a_line_logged_inside_a_span_carries_its_trace_and_span_ids_and_the_extras():
    with recording(), tracing.tracer().start_as_current_span("request") as span:
        text = logs.JsonFormatter().format(_record(model_version="7", rows=3, odd=object()))
    line = json.loads(text)
    context = span.get_span_context()
    assert line["trace_id"] == format(context.trace_id, "032x") and line["span_id"] == format(context.span_id, "016x")
    assert line["model_version"] == "7" and line["rows"] == 3 and line["odd"].startswith("<object object")
    assert "\n" not in text


def test_an_exception_is_kept_in_the_line_as_text():
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = logs.JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert "ValueError: broken\nacross lines" in line["exception"] and "Traceback" in line["exception"]


@pytest.mark.parametrize(("value", "expected"), [(None, "auto"), ("", "auto"), ("JSON", "json"), (" text ", "text")])
def test_the_log_format_setting(value, expected, monkeypatch):
    monkeypatch.delenv(logs.FORMAT_VARIABLE, raising=False)
    assert logs.log_format(value) == expected


def test_an_unknown_log_format_is_refused_by_name(monkeypatch):
    monkeypatch.setenv(logs.FORMAT_VARIABLE, "xml")
    with pytest.raises(SettingError, match="OPENCLAW_LOG_FORMAT must be one of auto, json, text, not 'xml'"):
        logs.log_format()


def test_auto_is_text_on_a_terminal_and_json_anywhere_else(tmp_path: Path):
    primary, secondary = os.openpty()
    with open(secondary, "w") as terminal, open(tmp_path / "file.log", "w") as file:
        assert logs.resolve("auto", terminal) == "text"
        assert logs.resolve("auto", file) == "json"
        assert logs.resolve("json", terminal) == "json" and logs.resolve("text", file) == "text"
    os.close(primary)


@pytest.fixture
def root_logger():
    """The root logger's handlers and level, restored after a test that reconfigures them."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield root
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    logging.captureWarnings(False)


def test_configure_puts_one_handler_on_the_root_logger_in_the_chosen_format(root_logger):
    stream = io.StringIO()
    assert logs.configure(stream=stream, value="json") == "json"
    assert len(root_logger.handlers) == 1
    with recording(), tracing.tracer().start_as_current_span("request") as span:
        logging.getLogger("openclaw.gateway").info("served %d rows", 3, extra={"model_version": "4"})
    logging.getLogger("openclaw.gateway").debug("below the level")
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "served 3 rows" and line["model_version"] == "4"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    text = io.StringIO()
    assert logs.configure(stream=text, value="text") == "text"
    logging.getLogger("openclaw.gateway").warning("plain")
    assert len(root_logger.handlers) == 1 and text.getvalue().rstrip().endswith("WARNING openclaw.gateway plain")


@dg.asset
@traced
def logged_step(context: dg.AssetExecutionContext, tracing: Tracing) -> None:
    """A step that logs through Dagster, inside its span."""
    context.log.info("scored the month", extra={"model_version": "7"})


def test_the_shipped_dagster_yaml_writes_each_run_line_as_json_with_run_step_and_trace_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    home = tmp_path / "home"
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    settings = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    (tmp_path / "dagster").mkdir()
    with (
        recording() as exporter,
        dg.DagsterInstance.local_temp(tempdir=str(tmp_path / "dagster"), overrides=settings) as instance,
    ):
        result = dg.materialize([logged_step], instance=instance, resources={"tracing": Tracing()})
        (step,) = [s for s in exporter.get_finished_spans() if s.name == "dagster.step logged_step"]
    assert result.success
    lines = logs.read_lines(logs.pipeline_log(home))
    (mine,) = [line for line in lines if line["message"] == "scored the month"]
    trace_id, span_id, _ = hex_ids(step)
    assert mine["run_id"] == result.run_id and mine["step_key"] == "logged_step"
    assert mine["trace_id"] == trace_id and mine["span_id"] == span_id and mine["model_version"] == "7"
    assert mine["level"] == "INFO" and mine["logger"] == "dagster"
    # Dagster's own events at INFO and above are lines too (its step events are DEBUG), named by their type
    assert all(line["run_id"] == result.run_id for line in lines)


@dg.asset
@traced
def failing_step(context: dg.AssetExecutionContext, tracing: Tracing) -> None:
    """A step that fails."""
    raise dg.Failure(description="no rows to score")


def test_a_failed_step_is_an_error_line_naming_the_event_the_run_and_the_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    home = tmp_path / "home"
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    settings = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(tempdir=str(tmp_path / "dagster"), overrides=settings) as instance:
        result = dg.materialize(
            [failing_step], instance=instance, resources={"tracing": Tracing()}, raise_on_error=False
        )
    assert not result.success
    failed = [line for line in logs.read_lines(logs.pipeline_log(home)) if line.get("dagster_event") == "STEP_FAILURE"]
    assert len(failed) == 1 and failed[0]["level"] == "ERROR"
    assert failed[0]["run_id"] == result.run_id and failed[0]["step_key"] == "failing_step"
    assert failed[0]["message"] == 'Execution of step "failing_step" failed.'
    assert failed[0]["error"].startswith("Failure: ") and "no rows to score" in failed[0]["error"]


def test_without_the_handler_a_run_writes_no_json_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    (tmp_path / "dagster").mkdir()
    with dg.DagsterInstance.local_temp(tempdir=str(tmp_path / "dagster")) as instance:
        assert dg.materialize([logged_step], instance=instance, resources={"tracing": Tracing()}).success
    assert not logs.pipeline_log(home).exists()


def test_a_torn_last_line_is_skipped_when_reading(tmp_path: Path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"message": "whole"}\n{"message": "to')
    assert logs.read_lines(path) == [{"message": "whole"}]
    assert logs.read_lines(tmp_path / "none.jsonl") == []


@pytest.mark.cli
def test_openclaw_serve_refuses_an_unknown_log_format_in_one_line(tmp_path: Path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), logs.FORMAT_VARIABLE: "xml"}
    done = subprocess.run(
        [sys.executable, "-m", "openclaw_assets.cli", "--home", str(tmp_path / "home"), "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "openclaw: error: OPENCLAW_LOG_FORMAT must be one of auto, json, text, not 'xml'"
    assert not (tmp_path / "home" / "gateway" / "endpoint.json").exists()


def test_the_pipeline_log_lives_under_the_home(tmp_path: Path):
    assert logs.pipeline_log(tmp_path) == tmp_path / "logs" / "pipeline.jsonl"
    handler = logs.pipeline_handler(str(tmp_path / "deep" / "folder" / "p.jsonl"))
    try:
        handler.handle(_record())
    finally:
        handler.close()
    assert logs.read_lines(tmp_path / "deep" / "folder" / "p.jsonl")[0]["message"] == "hello world"


def test_each_record_is_one_write_on_an_append_descriptor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "p.jsonl"
    handler = logs.pipeline_handler(str(path))
    writes: list[bytes] = []
    real = os.write

    def counting(fd: int, data) -> int:
        writes.append(bytes(data))
        return real(fd, data)

    monkeypatch.setattr(logs.os, "write", counting)
    try:
        handler.handle(_record("big %s", "x" * 200_000))  # far over any I/O buffer
        handler.handle(_record())
        assert os.fstat(handler._descriptor()).st_size == sum(map(len, writes))
        import fcntl

        assert fcntl.fcntl(handler._descriptor(), fcntl.F_GETFL) & os.O_APPEND
    finally:
        handler.close()
    assert len(writes) == 2 and all(w.endswith(b"\n") and w.count(b"\n") == 1 for w in writes)
    assert [line["message"][:5] for line in logs.read_lines(path)] == ["big x", "hello"]


APPENDER = """
import sys
from openclaw_assets.observability import logs
import logging
handler = logs.pipeline_handler(sys.argv[1])
record = logging.makeLogRecord({"msg": "%s", "args": (sys.argv[2] * int(sys.argv[3]),), "levelno": 20})
for n in range(int(sys.argv[4])):
    handler.handle(record)
handler.close()
"""


def test_two_processes_appending_long_records_at_once_never_tear_a_line(tmp_path: Path):
    path = tmp_path / "pipeline.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    sizes = {"a": 300_000, "b": 70_000}  # both over the 8 KiB buffer text I/O would write them through
    writers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(path), letter, str(size), "40"], env=env)
        for letter, size in sizes.items()
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    raw = path.read_bytes().split(b"\n")
    assert raw[-1] == b"" and len(raw) == 81
    lines = [json.loads(line) for line in raw[:-1]]  # every line whole: a torn one would not parse
    assert sorted(len(line["message"]) for line in lines) == sorted([70_000] * 40 + [300_000] * 40)
    assert all(set(line["message"]) in ({"a"}, {"b"}) for line in lines)
