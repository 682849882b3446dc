"""Anomaly checks on the pipeline's own metrics: quiet on the real 2013 months, loud on injected anomalies."""

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from openclaw_assets.data.seed import seed, source_dir
from openclaw_assets.kernel.months import between
from openclaw_assets.kernel.warehouse import Warehouse
from openclaw_assets.observability import anomaly, health
from openclaw_assets.observability.anomaly import Bounds
from openclaw_assets_tests.conftest import check_evaluations, run_assets

YEAR = between("2013-01", "2013-12")
CHECKS = [health.ROW_COUNTS, health.QUARANTINE_RATE, health.STAGING_LATENCY, health.PREDICTION_RATE]


# --- the statistics ---------------------------------------------------------------------------------
def test_a_value_is_anomalous_only_beyond_both_the_robust_spread_and_the_relative_floor():
    history = [100, 98, 103, 101, 99, 250]  # one wild value moves the median, not the verdict
    bounds = Bounds(max_z=4, min_relative=0.10, min_history=4)
    assert not anomaly.judge("x", 108, history, bounds).anomalous  # z > 4, but under 10%
    assert anomaly.judge("x", 80, history, bounds).anomalous
    assert not anomaly.judge("x", 80, history, Bounds(4, 0.10, side="high")).anomalous  # a drop, judged high only
    assert anomaly.judge("x", 80, history[:3], bounds) is None  # too little history to judge by
    flat = Bounds(max_z=4, min_relative=0.0, min_absolute=0.005, side="high")
    assert not anomaly.judge("q", 0.004, [0.0] * 11, flat).anomalous  # no spread at all: the absolute floor holds
    assert anomaly.judge("q", 0.015, [0.0] * 11, flat).anomalous


def test_a_months_level_is_judged_against_what_its_weekdays_predict():
    # a month of Saturdays-light traffic is not short of flights: its calendar predicts it
    def month(key: str, scale: float) -> dict[date, int]:
        return {d: round(scale * (600 if d.weekday() == 5 else 1000)) for d in anomaly.calendar_days(key)}

    daily = {m: month(m, 1.0) for m in between("2013-01", "2013-08")}
    levels = anomaly.month_levels(daily)
    assert all(abs(level - 1.0) < 0.01 for level in levels.values()), levels
    daily["2013-06"] = month("2013-06", 0.8)
    [june] = [j for j in anomaly.row_counts(daily, Bounds(4, 0.10)) if j.anomalous]
    assert june.subject == "2013-06" and june.relative == pytest.approx(-0.2, abs=0.01)


# --- a home holding the real 2013 months --------------------------------------------------------------
def _write(home: Path, layer: str, name: str, month: str, frame: pd.DataFrame) -> None:
    Warehouse(home=str(home)).write(frame.reset_index(drop=True), layer, name, month)


@pytest.fixture(scope="session")
def year_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real 2013 flights and weather, one validated file per month (quarantine empty), written once."""
    home = tmp_path_factory.mktemp("year") / "home"
    sources = {
        "flights": pd.read_csv(source_dir() / "flights.csv.zip", usecols=["year", "month", "day", "origin", "flight"]),
        "weather": pd.read_csv(source_dir() / "weather.csv", usecols=["year", "month", "day", "origin", "hour"]),
    }
    for name, frame in sources.items():
        for month in YEAR:
            rows = frame[frame["month"] == int(month[5:])]
            _write(home, "validated", name, month, rows)
            _write(home, "quarantine", name, month, rows.iloc[:0])
    return home


@pytest.fixture
def year_copy(year_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    shutil.copytree(year_home, home)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return home


def judge_health(
    home: Path, instance: dg.DagsterInstance | None = None, **config
) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [health.pipeline_health],
        resources={"warehouse": Warehouse(home=str(home))},
        instance=instance or dg.DagsterInstance.ephemeral(),
        run_config={"ops": {health.ASSET: {"config": config}}} if config else None,
    )
    assert result.success
    found = check_evaluations(result)
    assert sorted(found) == sorted(f"{health.ASSET}:{c}" for c in CHECKS)
    assert all(e.severity == dg.AssetCheckSeverity.WARN for e in found.values())
    return {key.split(":")[1]: e for key, e in found.items()}


def test_the_twelve_2013_months_do_not_alarm(year_copy: Path):
    verdicts = judge_health(year_copy)
    rows, quarantine = verdicts[health.ROW_COUNTS], verdicts[health.QUARANTINE_RATE]
    assert rows.passed and rows.metadata["judged"].value == 24, rows.description
    flights = [r.data for r in rows.metadata["judgements"].value.records if r.data["subject"].startswith("flights")]
    assert len(flights) == 12 and all(abs(r["z"]) < 4 and abs(r["relative"]) < 0.10 for r in flights), flights
    assert "24 months judged, none anomalous" in (rows.description or "")
    assert quarantine.passed and quarantine.metadata["judged"].value == 24
    # nothing staged and no prediction log in this home: passing, and saying it could not judge
    assert verdicts[health.STAGING_LATENCY].passed and "0 staged versions" in (
        verdicts[health.STAGING_LATENCY].description or ""
    )
    assert verdicts[health.PREDICTION_RATE].passed and "no prediction log" in (
        verdicts[health.PREDICTION_RATE].description or ""
    )


def test_half_a_months_flights_missing_is_an_anomaly(year_copy: Path):
    path = Warehouse(home=str(year_copy)).path("validated", "flights", "2013-06")
    june = pd.read_parquet(path)
    _write(year_copy, "validated", "flights", "2013-06", june.iloc[::2])  # every day still has flights
    rows = judge_health(year_copy)[health.ROW_COUNTS]
    assert not rows.passed
    assert (rows.description or "").startswith("flights 2013-06: weekday-adjusted row level 0.5")
    assert rows.metadata["anomalies"].value == 1


def test_a_quarantine_spike_under_the_contracts_ceiling_is_an_anomaly(year_copy: Path):
    path = Warehouse(home=str(year_copy)).path("validated", "flights", "2013-09")
    september = pd.read_parquet(path)
    moved = september.sample(frac=0.015, random_state=0)  # 1.5%: the blocking ceiling (2%) lets it through
    _write(year_copy, "validated", "flights", "2013-09", september.drop(moved.index))
    _write(year_copy, "quarantine", "flights", "2013-09", moved)
    verdict = judge_health(year_copy)[health.QUARANTINE_RATE]
    assert not verdict.passed
    assert (verdict.description or "").startswith("flights 2013-09: quarantine rate 1.50% vs 0.00%")


def _stage(instance: dg.DagsterInstance, version: int, p99: float) -> None:
    """What staging_validation's materialization reports for a version (the fields the check reads)."""
    instance.report_runless_asset_event(
        dg.AssetMaterialization("staging_validation", metadata={"model_version": str(version), "p99_ms": p99})
    )


def test_a_jump_in_staging_p99_is_an_anomaly_and_ordinary_noise_is_not(year_copy: Path, tmp_path: Path):
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        for version, p99 in enumerate([30.2, 28.9, 33.0, 31.5, 29.7, 36.1], start=1):
            _stage(instance, version, p99)
        latency = judge_health(year_copy, instance)[health.STAGING_LATENCY]
        assert latency.passed and latency.metadata["judged"].value == 1, latency.description
        _stage(instance, 7, 95.0)
        latency = judge_health(year_copy, instance)[health.STAGING_LATENCY]
        assert not latency.passed
        assert (latency.description or "").startswith("v7 staging p99 95.0 ms vs 30.9 ms for 6 earlier versions")


def _log(home: Path, stamps: list[datetime]) -> None:
    """Prediction-log lines as the gateway writes them (``predlog``: compact JSON, ``ts`` in UTC)."""
    frame = pd.DataFrame({"ts": stamps})
    for day, rows in frame.groupby(frame["ts"].dt.strftime("%Y-%m-%d")):
        folder = home / "predictions" / "log" / day
        folder.mkdir(parents=True, exist_ok=True)
        lines = (
            json.dumps({"ts": t.isoformat(timespec="milliseconds"), "model_version": "1"}, separators=(",", ":"))
            for t in rows["ts"]
        )
        (folder / "gateway-1.jsonl").write_text("".join(line + "\n" for line in lines))


def _traffic() -> list[datetime]:
    """One prediction per real 2013 flight, at its scheduled hour, March to April (nine weeks)."""
    hours = pd.to_datetime(pd.read_csv(source_dir() / "flights.csv.zip", usecols=["time_hour"])["time_hour"], utc=True)
    chosen = hours[(hours >= "2013-02-25") & (hours < "2013-04-30")].sort_values()
    return [t.to_pydatetime() + timedelta(minutes=i % 60) for i, t in enumerate(chosen)]


def test_a_drop_in_the_prediction_rate_is_an_anomaly_and_the_weekly_rhythm_is_not(year_copy: Path):
    traffic = _traffic()
    end = "2013-04-30T00:00:00+00:00"
    _log(year_copy, traffic)
    rate = judge_health(year_copy, rate_end=end)[health.PREDICTION_RATE]
    assert rate.passed and rate.metadata["judged"].value == 1, rate.description

    last_day = datetime(2013, 4, 29, tzinfo=UTC)
    shutil.rmtree(year_copy / "predictions")
    _log(year_copy, [t for i, t in enumerate(traffic) if t < last_day or i % 2])  # half the last day's
    rate = judge_health(year_copy, rate_end=end)[health.PREDICTION_RATE]
    assert not rate.passed
    assert "predictions vs" in (rate.description or "") and "-50" in (rate.description or "")


def test_the_gateways_own_log_writer_is_read_hour_by_hour(tmp_path: Path):
    from openclaw_assets.compute.gateway.predlog import PredictionLog

    log = PredictionLog(tmp_path / "predictions" / "log")
    log.append([{"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "request_id": "a"}] * 3)
    log.close()
    now = anomaly.hour_of(datetime.now(UTC))
    hourly, first = health.prediction_hours(tmp_path, [(now - timedelta(days=1), now + timedelta(hours=1))])
    assert sum(hourly.values()) == 3 and first is not None and first >= now - timedelta(hours=1)


def test_a_bad_window_end_is_a_clear_failure(year_copy: Path):
    result = dg.materialize(
        [health.pipeline_health],
        resources={"warehouse": Warehouse(home=str(year_copy))},
        run_config={"ops": {health.ASSET: {"config": {"rate_end": "last tuesday"}}}},
        raise_on_error=False,
    )
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "rate_end 'last tuesday' is not an ISO date-time" in str(failure.step_failure_data.error)


# --- through the real data plane ------------------------------------------------------------------
@pytest.mark.slow
def test_the_data_planes_own_twelve_months_do_not_alarm_and_a_half_landed_month_does(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("OPENCLAW_HOME", str(home))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    seed(home, YEAR, "parquet")
    tags = {"dagster/asset_partition_range_start": YEAR[0], "dagster/asset_partition_range_end": YEAR[-1]}
    tables = [f"{layer}_{t}" for t in ("flights", "weather") for layer in ("raw", "validated", "quarantine")]
    assert run_assets(home, ["airlines", "airports", *tables], partition=None, tags=tags).success
    verdicts = judge_health(home)
    for check in (health.ROW_COUNTS, health.QUARANTINE_RATE):
        assert verdicts[check].passed and verdicts[check].metadata["judged"].value == 24, verdicts[check].description

    drop = home / "landing" / "flights" / "flights_2013-06.parquet"
    pd.read_parquet(drop).iloc[::2].to_parquet(drop)  # half of June's flights re-landed
    flights = ["raw_flights", "validated_flights", "quarantine_flights"]
    result = run_assets(home, flights, partition="2013-06")
    assert all(e.passed for e in result.get_asset_check_evaluations())  # the contract lets it through
    rows = judge_health(home)[health.ROW_COUNTS]
    assert not rows.passed and (rows.description or "").startswith("flights 2013-06")
