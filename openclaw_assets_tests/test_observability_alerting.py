"""End to end: a real Prometheus scrapes a real gateway and the pipeline exporter, an induced breach fires the
shipped rule, and a real Alertmanager delivers it to a webhook.

The gateway runs on a home without a model, so every /v1/predict answers 503 not_ready: a real
error-rate breach. The rules are the shipped expressions with short windows and ``for:``
(``alerts.E2E_TIMINGS``), evaluated every second.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest
import yaml

from openclaw_assets.compute.gateway import auth, server
from openclaw_assets.compute.gateway.auth import ROLES
from openclaw_assets.observability import alerts
from openclaw_assets_tests.prometheus import tool
from openclaw_assets_tests.waiting import wait_until

READY_SECONDS = 120
BLANK = {f"OPENCLAW_GATEWAY_{role.upper()}_TOKEN{suffix}": "" for role in ROLES for suffix in ("", "_FILE")}
FLIGHT = {
    "flight_id": "UA1545-2013-02-20",
    "carrier": "UA",
    "origin": "EWR",
    "dest": "IAH",
    "scheduled_departure": "2013-02-20T05:15:00",
    "distance": 1400,
}


class Webhook:
    """A local HTTP receiver for Alertmanager's webhook: every POSTed notification, parsed, in a queue."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.put(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def notifications(self) -> list[dict[str, Any]]:
        found = []
        with contextlib.suppress(queue.Empty):
            while True:
                found.append(self.received.get_nowait())
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _start(argv: list[str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def _get(url: str) -> Any:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        answer = httpx.get(url, timeout=5)
        if answer.status_code == 200:
            return answer.json()
    return None


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"


@pytest.fixture
def exporter(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``openclaw metrics`` started (not yet waited for) on an instance whose latest quarantine-rate gate failed."""
    dagster_home = tmp_path / "pipeline" / "dagster"
    dagster_home.mkdir(parents=True)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("validated_flights"),
                check_name="quarantine_rate",
                passed=False,
                blocking=True,
                metadata={"summary": "41% quarantined (ceiling 5%)"},
            )
        )
    port, log = server.free_port("127.0.0.1"), tmp_path / "exporter.log"
    env = {**os.environ, "OPENCLAW_HOME": str(dagster_home.parent), "DAGSTER_HOME": str(dagster_home)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "openclaw_assets.cli", "metrics", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield f"127.0.0.1:{port}", log
    finally:
        _stop(process)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real gateway process on a home without a model: (url, predict token)."""
    home = tmp_path / "home"
    endpoint_file, log = home / "gateway" / "alerting.json", tmp_path / "gateway.log"
    process = server.start_child(
        home, port=0, endpoint_file=endpoint_file, env={**BLANK, "OPENCLAW_PROFILE": "embedded"}, log_file=log
    )
    try:
        found = wait_until(lambda: server.read_endpoint(endpoint_file), READY_SECONDS, 0.2, "the endpoint file")
        url = found["url"]
        wait_until(lambda: _get(url + "/healthz") is not None, READY_SECONDS, 0.2, lambda: "the gateway: " + _tail(log))
        yield url, auth.default_token_file(home, "predict").read_text().strip()
    finally:
        server.stop(process.pid)
        process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.cli
def test_a_failed_gate_and_an_error_rate_breach_reach_a_webhook_through_prometheus_and_alertmanager(
    tmp_path: Path, exporter: tuple[str, Path], gateway: tuple[str, str]
):
    """A failed blocking gate (from the pipeline exporter) and a gateway error-rate breach, both delivered."""
    prometheus_bin, alertmanager_bin = tool("prometheus"), tool("prometheus-alertmanager")
    gateway_url, token = gateway
    exporter_target, exporter_log = exporter
    hook = Webhook()
    am_port, prom_port = server.free_port("127.0.0.1"), server.free_port("127.0.0.1")

    rules_file = tmp_path / "alerts.yaml"
    rules_file.write_text(alerts.to_yaml(alerts.rules_document(timings=alerts.E2E_TIMINGS)))
    am_config = tmp_path / "alertmanager.yml"
    am_config.write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "webhook",
                    "group_by": ["alertname", "job"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [{"name": "webhook", "webhook_configs": [{"url": hook.url, "send_resolved": False}]}],
            }
        )
    )
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules_file)],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                "scrape_configs": [
                    {
                        "job_name": "openclaw-gateway",
                        "static_configs": [{"targets": [gateway_url.removeprefix("http://")]}],
                    },
                    {"job_name": "openclaw-pipeline", "static_configs": [{"targets": [exporter_target]}]},
                ],
            }
        )
    )
    am_log, prom_log = tmp_path / "alertmanager.log", tmp_path / "prometheus.log"
    alertmanager = _start(
        [
            alertmanager_bin,
            f"--config.file={am_config}",
            f"--storage.path={tmp_path / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",
        ],
        am_log,
    )
    prometheus = _start(
        [
            prometheus_bin,
            f"--config.file={prom_config}",
            f"--storage.tsdb.path={tmp_path / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        prom_log,
    )
    prom = f"http://127.0.0.1:{prom_port}"
    try:
        wait_until(
            lambda: _ready(am_port),
            60,
            0.2,
            lambda: "Alertmanager: " + _tail(am_log),
        )

        def scraping() -> bool:
            found = _get(f"{prom}/api/v1/targets")
            targets = (found or {}).get("data", {}).get("activeTargets", [])
            up = {t["labels"]["job"] for t in targets if t["health"] == "up"}
            return up == {"openclaw-gateway", "openclaw-pipeline"}

        wait_until(
            scraping,
            READY_SECONDS,
            0.2,
            lambda: f"Prometheus scraping both: {_get(prom + '/api/v1/targets')}; exporter: {_tail(exporter_log)}",
        )

        # the failed gate is read from the instance, fires at once (for: 0s) and reaches the webhook
        delivered: list[dict[str, Any]] = []

        def delivered_alerts(name: str) -> list[dict[str, Any]]:
            delivered.extend(hook.notifications())
            return [a for n in delivered for a in n["alerts"] if a["labels"]["alertname"] == name]

        gate = wait_until(lambda: delivered_alerts("BlockingGateFailed"), 60, 0.2, "the failed gate's notification")[0]
        assert gate["status"] == "firing"
        assert gate["labels"] == {
            "alertname": "BlockingGateFailed",
            "job": "openclaw-pipeline",
            "instance": exporter_target,
            "asset": "validated_flights",
            "check": "quarantine_rate",
            "blocking": "true",
            "severity": "critical",
            "component": "gates",
        }
        assert gate["annotations"]["summary"] == "Blocking gate validated_flights:quarantine_rate failed"

        # before the breach: the gateway's rules evaluate on its series and do not fire
        def evaluated() -> bool:
            found = _get(f"{prom}/api/v1/query?query=openclaw_gateway_requests_total") or {}
            rules = (_get(f"{prom}/api/v1/rules") or {}).get("data", {}).get("groups", [])
            return bool(found.get("data", {}).get("result")) and any(
                g["name"] == "openclaw-gateway" and g["lastEvaluation"] > "2000" for g in rules
            )

        wait_until(evaluated, 60, 0.2, lambda: "rules evaluated: " + _tail(prom_log))
        alerting = {a["labels"]["alertname"] for a in (_get(f"{prom}/api/v1/alerts") or {})["data"]["alerts"]}
        assert alerting == {"BlockingGateFailed"}
        assert delivered_alerts("GatewayErrorRateHigh") == []

        # the breach: every prediction answers 503 (no model), far more than the 20 requests judged
        client = httpx.Client(base_url=gateway_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        started = time.monotonic()

        def breach_delivered() -> list[dict[str, Any]]:
            for _ in range(10):
                assert client.post("/v1/predict", json={"flights": [FLIGHT]}).status_code == 503
            return delivered_alerts("GatewayErrorRateHigh")

        fired = wait_until(
            breach_delivered,
            90,
            0.5,
            lambda: (
                f"a webhook notification (Prometheus alerts: {_get(prom + '/api/v1/alerts')}; "
                f"Alertmanager: {_tail(am_log)})"
            ),
        )
        client.close()
        print(f"breach to webhook: {time.monotonic() - started:.1f} s (window 10s, for 2s, group_wait 1s)")
        alert = fired[0]
        assert alert["status"] == "firing"
        assert alert["labels"] == {  # summed by job: no instance label
            "alertname": "GatewayErrorRateHigh",
            "job": "openclaw-gateway",
            "severity": "critical",
            "component": "gateway",
        }
        assert alert["annotations"]["summary"] == "Gateway 5xx share over 5% for 2s"
        assert alert["annotations"]["description"].startswith("100% of the requests to openclaw-gateway")
        assert {n["receiver"] for n in delivered} == {"webhook"}
        firing = (_get(f"{prom}/api/v1/alerts") or {})["data"]["alerts"]
        assert {a["labels"]["alertname"] for a in firing if a["state"] == "firing"} == {
            "GatewayErrorRateHigh",
            "BlockingGateFailed",
        }
    finally:
        _stop(prometheus)
        _stop(alertmanager)
        hook.close()


def _ready(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=5).status_code == 200
    return False
