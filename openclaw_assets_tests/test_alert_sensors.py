"""The alert sensors, ticked for real against a temp instance and a local webhook receiver."""

import importlib.util
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import pytest

from openclaw_assets.observability import sensors
from openclaw_assets.observability.notify import WEBHOOK_ENV, AlertWebhook


class Receiver:
    """A webhook on 127.0.0.1 that records each POST it takes.

    ``fail_next`` answers that many with 500 first; ``answers`` maps an alert's summary to the status
    to answer it with (200 if absent); ``refused`` lists the summaries of the POSTs not taken.
    """

    def __init__(self) -> None:
        self.deliveries: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.fail_next = 0
        self.answers: dict[str, int] = {}
        self.refused: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                summary = json.loads(body)["alerts"][0]["annotations"]["summary"]
                status = receiver.answers.get(summary, 200)
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    status = 500
                if status != 200:
                    receiver.refused.append(summary)
                    self.send_response(status)
                    self.end_headers()
                    self.wfile.write(b"receiver down" if status >= 500 else b"not taken")
                    return
                receiver.deliveries.append(json.loads(body))
                receiver.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self) -> list[dict]:
        return [alert for body in self.deliveries for alert in body["alerts"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.local_temp(str(tmp_path)) as inst:
        yield inst


class Verdicts(dg.Config):
    """What the test asset's checks conclude."""

    gate: bool = True
    ids: bool = True
    soft: bool = True


@dg.asset(
    check_specs=[
        dg.AssetCheckSpec("gate", asset="orders", blocking=True),
        dg.AssetCheckSpec("ids", asset="orders", blocking=True),
        dg.AssetCheckSpec("soft", asset="orders"),
    ]
)
def orders(config: Verdicts):
    """A table with two blocking gates and a WARN check."""
    yield dg.MaterializeResult(metadata={"rows": 3})
    yield dg.AssetCheckResult(check_name="gate", passed=config.gate, description="3 of 3 rows have an order id")
    yield dg.AssetCheckResult(check_name="ids", passed=config.ids, description="order ids are unique")
    yield dg.AssetCheckResult(check_name="soft", passed=config.soft, severity=dg.AssetCheckSeverity.WARN)


@dg.asset(check_specs=[dg.AssetCheckSpec("psi", asset="feature_drift")])
def feature_drift(config: Verdicts):
    """Drift of the newest month against the baseline (a WARN check)."""
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(
        check_name="psi", passed=config.soft, severity=dg.AssetCheckSeverity.WARN, description="dep_delay PSI 0.31"
    )


@dg.asset(check_specs=[dg.AssetCheckSpec("online_freshness", asset="online_features", blocking=True)])
def online_features(config: Verdicts):
    """The online store and its freshness gate."""
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="online_freshness", passed=config.gate, description="online until 2013-05")


MONTHS = dg.StaticPartitionsDefinition(["2013-01", "2013-02"])


@dg.asset(
    partitions_def=MONTHS,
    check_specs=[dg.AssetCheckSpec("rows", asset="monthly", blocking=True, partitions_def=MONTHS)],
)
def monthly(config: Verdicts):
    """A monthly table whose blocking gate judges each month."""
    yield dg.MaterializeResult()
    yield dg.AssetCheckResult(check_name="rows", passed=config.gate)


ASSETS = [orders, feature_drift, online_features, monthly]
REPOSITORY = dg.Definitions(assets=ASSETS).get_repository_def()
SENSORS = {s.name: s for s in sensors.SENSORS}


def run(instance: dg.DagsterInstance, asset: dg.AssetsDefinition, **verdicts: bool) -> None:
    dg.materialize(
        [asset], instance=instance, raise_on_error=False, run_config={"ops": {asset.key.path[-1]: {"config": verdicts}}}
    )


class Ticker:
    """One sensor ticked again and again, its cursor carried as the daemon carries it."""

    def __init__(self, instance: dg.DagsterInstance, name: str, webhook: AlertWebhook) -> None:
        self.instance, self.sensor, self.webhook = instance, SENSORS[name], webhook
        self.cursor: str | None = None

    def tick(self) -> str:
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            repository_def=REPOSITORY,
            resources={"alert_webhook": self.webhook},
        )
        result = self.sensor(context)
        assert isinstance(result, dg.SensorResult)
        assert not result.run_requests
        if result.cursor is not None:
            self.cursor = result.cursor
        assert result.skip_reason is not None
        return result.skip_reason.skip_message or ""


def test_a_failed_blocking_check_is_delivered_once_in_alertmanagers_format(instance, receiver):
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook(url=receiver.url))
    run(instance, orders, gate=False)
    reason = ticker.tick()
    assert "sent 1: orders:gate failed" in reason
    [body] = receiver.deliveries
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "openclaw-dagster"
    [alert] = body["alerts"]
    assert alert["labels"] == {
        "alertname": "OpenclawCheckFailed",
        "severity": "critical",
        "source": "dagster",
        "asset": "orders",
        "check": "gate",
        "blocking": "true",
    }
    assert alert["annotations"]["description"] == "3 of 3 rows have an order id"
    assert alert["annotations"]["run_id"] == instance.get_runs()[0].run_id
    record = instance.get_run_records()[0]
    assert record.start_time <= datetime.fromisoformat(alert["startsAt"]).timestamp() <= record.end_time
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert receiver.headers[0]["Idempotency-Key"] == alert["fingerprint"]

    assert "nothing new to send (1 recent events, all sent)" in ticker.tick()  # the next tick: no second copy
    assert len(receiver.deliveries) == 1

    run(instance, orders, gate=False)  # failing again is the same condition: no second page
    assert "nothing new" in ticker.tick()
    assert len(receiver.deliveries) == 1


def test_a_check_failing_on_three_executions_in_a_row_is_notified_once(instance, receiver):
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook(url=receiver.url))
    reasons = []
    for _ in range(3):
        run(instance, orders, gate=False)
        reasons.append(ticker.tick())
    assert "sent 1: orders:gate failed" in reasons[0]
    assert all("nothing new" in reason for reason in reasons[1:]), reasons
    assert [a["labels"]["check"] for a in receiver.alerts()] == ["gate"]
    assert list(json.loads(ticker.cursor or "{}")["firing"]) == ["check:orders:gate"]


def test_a_check_that_passes_and_fails_again_is_notified_again(instance, receiver):
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook(url=receiver.url))
    run(instance, orders, gate=False)
    assert "sent 1" in ticker.tick()
    run(instance, orders, gate=True)
    assert "nothing new to send (0 recent events" in ticker.tick()  # cleared: it leaves the cursor
    assert json.loads(ticker.cursor or "{}")["firing"] == {}
    run(instance, orders, gate=False)
    assert "sent 1: orders:gate failed" in ticker.tick()
    run(instance, orders, gate=True)  # a pass and a new failure between two ticks: a new failure too
    run(instance, orders, gate=False)
    assert "sent 1: orders:gate failed" in ticker.tick()
    assert "nothing new" in ticker.tick()
    prints = [a["fingerprint"] for a in receiver.alerts()]
    assert len(prints) == 3 == len(set(prints))


def test_each_partition_of_a_check_is_its_own_condition(instance, receiver):
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook(url=receiver.url))

    def month(key: str, gate: bool) -> None:
        dg.materialize(
            [monthly],
            instance=instance,
            partition_key=key,
            raise_on_error=False,
            run_config={"ops": {"monthly": {"config": {"gate": gate}}}},
        )

    month("2013-01", False)
    assert "sent 1: monthly:rows [2013-01] failed" in ticker.tick()
    month("2013-02", False)  # another month failing is another condition
    assert "sent 1: monthly:rows [2013-02] failed" in ticker.tick()
    month("2013-01", False)
    month("2013-02", True)  # one month clearing does not clear the other
    assert "nothing new" in ticker.tick()
    assert list(json.loads(ticker.cursor or "{}")["firing"]) == ["check:monthly:rows:2013-01"]
    month("2013-02", False)
    assert "sent 1: monthly:rows [2013-02] failed" in ticker.tick()
    assert [a["labels"].get("partition") for a in receiver.alerts()] == ["2013-01", "2013-02", "2013-02"]


def test_a_check_still_failing_is_notified_again_after_the_repeat_interval_only(instance, receiver):
    run(instance, orders, gate=False)
    keys = sensors.check_keys(REPOSITORY)

    def collect(since: float) -> list:
        return sensors.failed_checks(instance, keys, {"check"}, since)

    hourly, never = (
        AlertWebhook(url=receiver.url, repeat_after_hours=1),
        AlertWebhook(url=receiver.url, repeat_after_hours=0),
    )
    first = sensors.alert_tick(collect, hourly, None, time.time())
    assert len(first.sent) == 1
    soon = sensors.alert_tick(collect, hourly, first.cursor, time.time() + 1800)
    assert soon.sent == []
    later = sensors.alert_tick(collect, hourly, first.cursor, time.time() + 3700)
    assert [a.summary for a in later.sent] == ["orders:gate failed"]
    assert sensors.alert_tick(collect, never, first.cursor, time.time() + 3700).sent == []


def test_nothing_is_sent_for_passing_checks_nor_for_a_failed_warn_check(instance, receiver):
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook(url=receiver.url))
    run(instance, orders, gate=True, soft=True)
    run(instance, orders, gate=True, soft=False)
    assert ticker.tick().startswith("nothing new to send (0 recent events")
    assert receiver.deliveries == []


def test_a_failed_delivery_is_retried_on_the_next_tick_and_never_marked_sent(instance, receiver):
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook(url=receiver.url))
    run(instance, orders, gate=False, ids=False)
    receiver.fail_next = 1
    reason = ticker.tick()
    assert "2 not delivered" in reason and "answered 500 Internal Server Error" in reason
    assert "token=secret" not in reason  # the URL's path and query may hold a secret
    assert json.loads(ticker.cursor or "{}")["firing"] == {}
    assert receiver.deliveries == []

    assert "sent 2" in ticker.tick()
    assert "nothing new" in ticker.tick()
    assert len(receiver.deliveries) == 2 and receiver.refused == ["orders:gate failed"]


def test_a_failure_midway_keeps_what_was_delivered_and_retries_the_rest(instance, receiver):
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook(url=receiver.url))
    run(instance, orders, gate=False, ids=False)
    receiver.answers = {"orders:ids failed": 503}
    reason = ticker.tick()
    assert "sent 1: orders:gate failed" in reason and "1 not delivered" in reason and "503" in reason
    receiver.answers = {}
    assert "sent 1: orders:ids failed" in ticker.tick()
    assert "nothing new" in ticker.tick()
    assert [a["labels"]["check"] for a in receiver.alerts()] == ["gate", "ids"]


def test_a_permanent_rejection_is_given_up_and_the_next_alerts_still_go_out(instance, receiver):
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook(url=receiver.url))
    run(instance, orders, gate=False, ids=False)
    receiver.answers = {"orders:gate failed": 400}
    reason = ticker.tick()
    assert "sent 1: orders:ids failed" in reason
    assert "gave up on 1, a permanent rejection, not retried: orders:gate failed (refused 400" in reason
    assert "answered 400 Bad Request" in reason and "retried next tick" not in reason
    assert "nothing new" in ticker.tick()  # not retried
    assert receiver.refused == ["orders:gate failed"]
    assert [a["labels"]["check"] for a in receiver.alerts()] == ["ids"]

    run(instance, orders, gate=True)  # once it clears and fails again it is a new alert, tried again
    run(instance, orders, gate=False)
    receiver.answers = {}
    assert "sent 1: orders:gate failed" in ticker.tick()


@pytest.mark.parametrize("status", [408, 429, 502])
def test_a_rejection_that_says_try_later_is_retried_and_stops_the_tick(instance, receiver, status):
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook(url=receiver.url))
    run(instance, orders, gate=False, ids=False)
    receiver.answers = {"orders:gate failed": status}
    reason = ticker.tick()
    assert (
        f"2 not delivered (webhook http://127.0.0.1:{receiver.url.split(':')[2].split('/')[0]} answered {status}"
        in reason
    )
    assert "gave up" not in reason and receiver.deliveries == []
    receiver.answers = {}
    assert "sent 2" in ticker.tick()


def test_an_unreachable_webhook_is_a_clear_reason_not_an_error(instance):
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook(url="http://127.0.0.1:9/hook"))
    run(instance, orders, gate=False)
    reason = ticker.tick()
    assert "1 not delivered (webhook http://127.0.0.1:9 unreachable: ConnectError" in reason


def test_without_a_webhook_url_the_sensors_send_nothing_and_say_so(instance, receiver, monkeypatch):
    monkeypatch.delenv(WEBHOOK_ENV, raising=False)
    ticker = Ticker(instance, "check_failure_alert_sensor", AlertWebhook())
    run(instance, orders, gate=False)
    assert ticker.tick() == f"${WEBHOOK_ENV} is not set: alert notifications are off"
    assert ticker.cursor is None

    monkeypatch.setenv(WEBHOOK_ENV, receiver.url)  # read through dg.EnvVar at delivery time
    assert "sent 1: orders:gate failed" in ticker.tick()
    assert len(receiver.deliveries) == 1


def test_a_failed_check_on_a_drift_asset_is_a_drift_alarm_not_a_check_alert(instance, receiver):
    webhook = AlertWebhook(url=receiver.url)
    drift, checks = (
        Ticker(instance, "drift_alert_sensor", webhook),
        Ticker(instance, "check_failure_alert_sensor", webhook),
    )
    run(instance, feature_drift, soft=True)
    assert "nothing new" in drift.tick()
    run(instance, feature_drift, soft=False)
    assert "sent 1: feature_drift:psi failed" in drift.tick()
    assert "nothing new" in checks.tick()
    [alert] = receiver.alerts()
    assert alert["labels"]["alertname"] == "OpenclawDrift" and alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["description"] == "dep_delay PSI 0.31"


def test_a_failed_freshness_gate_and_a_stale_asset_are_freshness_alerts(instance, receiver):
    from dagster._core.definitions.freshness import FreshnessState, FreshnessStateChange

    webhook = AlertWebhook(url=receiver.url)
    fresh, checks = (
        Ticker(instance, "freshness_alert_sensor", webhook),
        Ticker(instance, "check_failure_alert_sensor", webhook),
    )
    run(instance, online_features, gate=False)
    assert "sent 1: online_features:online_freshness failed" in fresh.tick()
    assert "nothing new" in checks.tick()  # blocking, but a freshness gate: notified once, by the freshness sensor

    # what Dagster's freshness daemon records when a freshness policy's window has passed
    instance.report_runless_asset_event(
        FreshnessStateChange(
            key=dg.AssetKey("online_features"),
            previous_state=FreshnessState.PASS,
            new_state=FreshnessState.FAIL,
            state_change_timestamp=datetime.now().timestamp(),
        )
    )
    assert "sent 1: online_features freshness FAIL" in fresh.tick()
    assert "nothing new" in fresh.tick()
    names = [(a["labels"]["alertname"], a["labels"].get("freshness_state")) for a in receiver.alerts()]
    assert names == [("OpenclawStale", None), ("OpenclawStale", "FAIL")]


def test_a_rollback_is_notified_once_and_a_promotion_is_not(instance, receiver):
    ticker = Ticker(instance, "rollback_alert_sensor", AlertWebhook(url=receiver.url))
    # the two kinds of production_deployment materialization compute's deployment step and rollback sensor report
    instance.report_runless_asset_event(
        dg.AssetMaterialization("production_deployment", metadata={"action": "promote", "model_version": "3"})
    )
    assert "nothing new" in ticker.tick()
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "production_deployment",
            description="rollback: v3 -> v2",
            metadata={
                "action": "rollback",
                "model_version": "2",
                "champion_version": "2",
                "rolled_back": "3",
                "reason": "p99 412.0 ms over 40 requests (SLO 250 ms)",
            },
        )
    )
    assert "sent 1: rollback v3 -> v2" in ticker.tick()
    assert "nothing new" in ticker.tick()
    [alert] = receiver.alerts()
    assert alert["labels"]["alertname"] == "OpenclawRollback" and alert["labels"]["model_version"] == "3"
    assert alert["annotations"]["description"] == "p99 412.0 ms over 40 requests (SLO 250 ms)"


def test_the_code_location_binds_the_alert_sensors_and_their_webhook():
    from openclaw_assets.definitions import defs

    repository = defs.get_repository_def()
    assert {s.name for s in defs.sensors or []} >= set(SENSORS)
    assert isinstance((defs.resources or {})["alert_webhook"], AlertWebhook)
    keys = {f"{k.asset_key.to_user_string()}:{k.name}" for k in sensors.check_keys(repository)}
    assert {"validated_flights:row_accounting", "online_features:online_freshness"} <= keys
    assert "pipeline_health:row_count_anomaly" in keys


STALE_LOCATION = '''
from datetime import timedelta

import dagster as dg

from openclaw_assets.observability import sensors

@dg.asset(freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=1)))
def minutely():
    """A table that is late a minute after its last refresh."""
    return dg.MaterializeResult()

defs = dg.Definitions.merge(
    dg.Definitions(assets=[minutely]),
    dg.Definitions(sensors=[s for s in sensors.SENSORS if s.name == "freshness_alert_sensor"]),
    dg.Definitions(resources=sensors.defs.resources),
)
'''


@pytest.mark.slow
@pytest.mark.cli
@pytest.mark.timeout(600)
def test_a_stale_asset_reaches_the_webhook_through_the_real_daemon(tmp_path: Path, receiver: Receiver):
    """Dagster's freshness daemon marks the asset FAIL; the daemon's own tick of the sensor delivers it."""
    from openclaw_assets_tests.test_servers import BIN, _env, _server, _wait

    home = tmp_path / "home"
    home.mkdir()
    env = _env(home) | {
        WEBHOOK_ENV: receiver.url,
        "FRESHNESS_DAEMON_INTERVAL_SECONDS": "5",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
    }
    location = tmp_path / "stale_location.py"
    location.write_text(STALE_LOCATION)
    with dg.DagsterInstance.local_temp(env["DAGSTER_HOME"]) as instance:
        spec = importlib.util.spec_from_file_location("stale_location", location)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert dg.materialize([module.minutely], instance=instance).success
        log = tmp_path / "daemon.log"
        with _server([str(BIN / "dagster-daemon"), "run", "-f", str(location)], env, log):

            def stale() -> list[dict]:
                return [a for a in receiver.alerts() if a["labels"].get("freshness_state") == "FAIL"]

            [alert] = _wait(stale, 300, "a freshness FAIL notification from the daemon", log)
            assert alert["labels"]["asset"] == "minutely" and alert["labels"]["alertname"] == "OpenclawStale"
            state = instance.get_freshness_state_records([dg.AssetKey("minutely")])[dg.AssetKey("minutely")]
            assert state.freshness_state.value == "FAIL"


def test_events_older_than_a_day_are_not_sent_and_a_broken_cursor_is_replaced(instance, receiver):
    webhook = AlertWebhook(url=receiver.url)
    run(instance, orders, gate=False)
    keys = sensors.check_keys(REPOSITORY)

    def collect(since: float) -> list:
        return sensors.failed_checks(instance, keys, {"check"}, since)

    later = sensors.alert_tick(collect, webhook, None, time.time() + sensors.LOOKBACK + 60)
    assert later.sent == [] and receiver.deliveries == []  # turned on a day after the failure: no page
    now = sensors.alert_tick(collect, webhook, "not json", time.time())
    assert len(now.sent) == 1 and "an unreadable cursor was replaced" in now.reason
