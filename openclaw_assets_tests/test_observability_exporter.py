"""The pipeline exporter: what real runs and reported materializations look like to Prometheus."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from openclaw_assets.cli import main as cli_main
from openclaw_assets.control.evidence import check_specs
from openclaw_assets.definitions import defs
from openclaw_assets.kernel.atomic import parquet_rows
from openclaw_assets.observability.exporter import FAMILIES, PipelineCollector, Sources, registry_for, sample_names
from openclaw_assets_tests.waiting import wait_until

Samples = dict[tuple[str, frozenset], float]


def scrape(collector: PipelineCollector) -> Samples:
    """The exposition Prometheus would read, parsed back: (name, labels) -> value."""
    text = generate_latest(registry_for(collector)).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no {name}{labels}; have {sorted(k for k in samples if k[0] == name)}"
    return samples[key]


def named(samples: Samples, name: str) -> dict[frozenset, float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


@pytest.fixture(scope="module")
def specs() -> dict[str, bool | None]:
    return check_specs(defs.resolve_asset_graph())


@pytest.fixture
def instance(feature_home: Path, tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    """A copy of the two-month pipeline's Dagster instance (January and February in one run)."""
    shutil.copytree(feature_home / "dagster", tmp_path / "dagster")
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as found:
        yield found


def test_rows_gates_and_the_online_store_of_a_real_two_month_run(
    instance: dg.DagsterInstance, feature_home: Path, specs: dict
):
    samples = scrape(PipelineCollector(instance, specs))
    assert value(samples, "openclaw_pipeline_exporter_up") == 1
    for table in ("flights", "weather"):
        for month in ("2013-01", "2013-02"):
            labels = {"table": table, "partition": month}
            valid = parquet_rows(feature_home / "warehouse" / "validated" / table / f"{month}.parquet")
            rejected = parquet_rows(feature_home / "warehouse" / "quarantine" / table / f"{month}.parquet")
            assert value(samples, "openclaw_pipeline_rows_ingested", **labels) == valid > 0
            assert value(samples, "openclaw_pipeline_rows_quarantined", **labels) == rejected
    # the two months came from one run: each partition's own figure, not the range's total
    jan = value(samples, "openclaw_pipeline_rows_ingested", table="flights", partition="2013-01")
    feb = value(samples, "openclaw_pipeline_rows_ingested", table="flights", partition="2013-02")
    assert jan != feb
    airlines = parquet_rows(feature_home / "warehouse" / "validated" / "airlines" / "all.parquet")
    assert value(samples, "openclaw_pipeline_rows_ingested", table="airlines", partition="all") == airlines

    gates = named(samples, "openclaw_pipeline_gate_passed")
    assert len(gates) >= 20  # every check of ingestion, the feature tables, the online store and the training set
    for labels, passed in gates.items():
        found = dict(labels)
        name = f"{found['asset']}:{found['check']}"
        assert found["blocking"] == ("true" if specs[name] else "false"), name
        assert found["severity"] == ("warn" if found["check"] == "dest_reference_coverage" else "error"), name
        assert passed == 1, name  # the run passed every gate
    assert value(samples, "openclaw_pipeline_gate_passed", asset="validated_flights", check="row_accounting",
                 severity="error", blocking="true") == 1  # fmt: skip

    march_first = 1362114000.0  # 2013-03-01T05:00:00Z: the end of February in New York
    assert value(samples, "openclaw_pipeline_online_store_until_timestamp_seconds") == march_first
    assert value(samples, "openclaw_pipeline_online_store_lag_seconds") == 0
    stamp = value(samples, "openclaw_pipeline_last_materialization_timestamp_seconds", asset="online_features")
    lag = value(samples, "openclaw_pipeline_freshness_lag_seconds", asset="online_features")
    assert 0 <= lag < 3 * 3600 and stamp > march_first


def test_a_failed_blocking_gate_and_an_online_store_behind_show(instance: dg.DagsterInstance, specs: dict):
    collector = PipelineCollector(instance, specs)
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("validated_flights"),
            check_name="quarantine_rate",
            passed=False,
            severity=dg.AssetCheckSeverity.ERROR,
            blocking=True,
            metadata={"summary": "2013-03: 41% quarantined (ceiling 5%)"},
        )
    )
    # March validated (reported here as the validate step does), the online store still ending in February
    instance.report_runless_asset_event(
        dg.AssetMaterialization("validated_flights", partition="2013-03", metadata={"dagster/row_count": 28834})
    )
    samples = scrape(collector)
    failed = {"asset": "validated_flights", "check": "quarantine_rate", "severity": "error", "blocking": "true"}
    assert value(samples, "openclaw_pipeline_gate_passed", **failed) == 0
    assert value(samples, "openclaw_pipeline_gate_passed", asset="validated_flights", check="row_accounting",
                 severity="error", blocking="true") == 1  # fmt: skip
    assert value(samples, "openclaw_pipeline_rows_ingested", table="flights", partition="2013-03") == 28834
    # March ends at 04:00 UTC (daylight saving began on the 10th), February at 05:00: 31 days less an hour
    assert value(samples, "openclaw_pipeline_online_store_lag_seconds") == 31 * 86400 - 3600


def _report(instance: dg.DagsterInstance, asset: str, metadata: dict, partition: str | None = None) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition, metadata=metadata))


def test_drift_models_live_auc_and_batch_throughput_from_their_metadata():
    collector_clock = 1_800_000_000.0
    with dg.DagsterInstance.ephemeral() as instance:
        # the drift contract: "<family>/<statistic>" floats (the worst feature of the family) and drifted_features
        _report(
            instance,
            "feature_drift",
            {
                "weather_hourly/psi": 0.31,
                "weather_hourly/ks": 0.12,
                "carrier_stats/js": 0.02,
                "weather_hourly/mean": 4.0,  # not a drift statistic
                "notes/psi": "not a number",
                "drifted_features": 3,
            },
            partition="2013-02",
        )
        _report(instance, "feature_drift", {"weather_hourly/psi": 0.04, "drifted_features": 0}, partition="2013-01")
        _report(instance, "live_drift", {"prediction/psi": 0.05, "request/ks": 0.2, "drifted_features": 1})
        _report(instance, "model_evaluation", {"model_version": "1", "holdout_auc": 0.71, "auc_floor": 0.6})
        _report(instance, "model_evaluation", {"model_version": "2", "holdout_auc": 0.69, "auc_floor": 0.62})
        _report(instance, "production_deployment", {"champion_version": "1", "challenger_share": 0.2})
        _report(instance, "ab_results", {"v1_auc": 0.66, "v2_auc": 0.58, "v1_brier": 0.2, "logged_predictions": 40})
        batch_range = {
            "dagster/row_count": 55000,
            "model_version": "1",
            "partitions": dg.MetadataValue.table(
                records=[
                    dg.TableRecord({"partition": "2013-01", "rows": 27004, "rows_per_s": 9100}),
                    dg.TableRecord({"partition": "2013-02", "rows": 24951, "rows_per_s": 8800}),
                ],
                schema=dg.TableSchema(
                    columns=[
                        dg.TableColumn("partition", "string"),
                        dg.TableColumn("rows", "int"),
                        dg.TableColumn("rows_per_s", "int"),
                    ]
                ),
            ),
        }
        for month in ("2013-01", "2013-02"):  # one range run: the same metadata on each partition
            _report(instance, "batch_predictions", batch_range, partition=month)
        single = {"dagster/row_count": 28834, "model_version": "2", "rows_per_second": 9500.5}
        _report(instance, "batch_predictions", single, partition="2013-03")
        samples = scrape(PipelineCollector(instance, {}, clock=lambda: collector_clock))

    drift = {
        (dict(labels)["asset"], dict(labels)["partition"], dict(labels)["family"], dict(labels)["statistic"]): v
        for labels, v in named(samples, "openclaw_drift_score").items()
    }
    assert drift == {
        ("feature_drift", "2013-02", "weather_hourly", "psi"): 0.31,
        ("feature_drift", "2013-02", "weather_hourly", "ks"): 0.12,
        ("feature_drift", "2013-02", "carrier_stats", "js"): 0.02,
        ("feature_drift", "2013-01", "weather_hourly", "psi"): 0.04,
        ("live_drift", "all", "prediction", "psi"): 0.05,
        ("live_drift", "all", "request", "ks"): 0.2,
    }
    drifted = {
        (dict(labels)["asset"], dict(labels)["partition"], dict(labels)["latest"]): v
        for labels, v in named(samples, "openclaw_pipeline_drifted_features").items()
    }
    assert drifted == {  # every month stays exported; only each asset's newest is marked latest
        ("feature_drift", "2013-02", "true"): 3,
        ("feature_drift", "2013-01", "false"): 0,
        ("live_drift", "all", "true"): 1,
    }

    assert value(samples, "openclaw_pipeline_champion_version") == 1
    assert value(samples, "openclaw_pipeline_champion_holdout_auc") == 0.71  # the champion's, not the latest's
    assert value(samples, "openclaw_pipeline_evaluation_holdout_auc", model_version="2") == 0.69
    assert value(samples, "openclaw_pipeline_evaluation_auc_floor") == 0.62
    assert value(samples, "openclaw_pipeline_challenger_share") == 0.2
    assert named(samples, "openclaw_pipeline_live_auc") == {  # the deployment names no challenger: v2 is not served
        frozenset({"model_version": "1", "served": "true"}.items()): 0.66,
        frozenset({"model_version": "2", "served": "false"}.items()): 0.58,
    }
    assert value(samples, "openclaw_pipeline_live_brier", model_version="1", served="true") == 0.2

    assert value(samples, "openclaw_pipeline_batch_rows", partition="2013-01", model_version="1") == 27004
    assert value(samples, "openclaw_pipeline_batch_rows", partition="2013-02", model_version="1") == 24951
    assert value(samples, "openclaw_pipeline_batch_rows_per_second", partition="2013-02", model_version="1") == 8800
    assert value(samples, "openclaw_pipeline_batch_rows", partition="2013-03", model_version="2") == 28834
    assert value(samples, "openclaw_pipeline_batch_rows_per_second", partition="2013-03", model_version="2") == 9500.5
    stamp = value(samples, "openclaw_pipeline_last_materialization_timestamp_seconds", asset="batch_predictions")
    assert value(samples, "openclaw_pipeline_freshness_lag_seconds", asset="batch_predictions") == pytest.approx(
        collector_clock - stamp
    )


def _served(instance: dg.DagsterInstance) -> dict[str, str]:
    found = named(scrape(PipelineCollector(instance, {})), "openclaw_pipeline_live_auc")
    return {dict(labels)["model_version"]: dict(labels)["served"] for labels in found}


def test_live_auc_marks_the_versions_the_latest_deployment_serves_so_a_rollback_clears_it():
    with dg.DagsterInstance.ephemeral() as instance:
        _report(instance, "ab_results", {"v1_auc": 0.66, "v2_auc": 0.52})
        assert _served(instance) == {"1": "false", "2": "false"}  # never deployed: nothing served
        # deployment.py's metadata: an A/B split keeps the champion, the deployed version is the challenger
        ab = {"action": "ab", "model_version": "2", "champion_version": "1", "challenger_share": 0.2}
        _report(instance, "production_deployment", ab)
        assert _served(instance) == {"1": "true", "2": "true"}
        promote = {"action": "promote", "model_version": "2", "champion_version": "2", "challenger_share": 0.0}
        _report(instance, "production_deployment", promote)
        assert _served(instance) == {"1": "false", "2": "true"}
        # the rollback sensor's event (compute/sensors.py): v2 still scores 0.52 in ab_results, but is not served
        rollback = {"action": "rollback", "model_version": "1", "champion_version": "1", "rolled_back": "2"}
        _report(instance, "production_deployment", rollback)
        assert _served(instance) == {"1": "true", "2": "false"}


def test_the_exporter_takes_the_drift_statistics_from_the_drift_module_which_loads_no_heavy_library():
    from openclaw_assets.observability import drift, exporter

    assert exporter.DRIFT_STATISTICS is drift.STATISTICS
    code = (
        "import sys, openclaw_assets.observability.drift, openclaw_assets.observability.exporter; "
        "print([m for m in ('numpy', 'scipy', 'pandas') if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, env=env)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_an_unreadable_instance_answers_with_up_zero_not_an_error():
    instance = dg.DagsterInstance.ephemeral()
    instance.dispose()

    class Broken(PipelineCollector):
        def samples(self):
            raise RuntimeError("database is locked")

    samples = scrape(Broken(instance, {}))
    assert value(samples, "openclaw_pipeline_exporter_up") == 0
    assert not named(samples, "openclaw_pipeline_gate_passed")


def test_the_exporter_reads_assets_the_code_location_has_and_metadata_its_assets_write():
    """Observability reads other planes by key strings: these must stay the ones the code location uses."""
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    missing = set(Sources().asset_keys()) - keys
    assert missing <= set(Sources().drift), missing  # the drift assets arrive with their own plane's work
    from openclaw_assets.compute import batch, deployment, sensors
    from openclaw_assets.data import assets as data_assets
    from openclaw_assets.features import feast_assets
    from openclaw_assets.models import assets as model_assets

    written = {
        data_assets: ["quarantined_rows"],
        feast_assets: ["online_until"],
        model_assets: ['"model_version"', '"holdout_auc"', '"auc_floor"'],
        deployment: ['"champion_version"', '"challenger_share"', '"model_version"'],
        sensors: ['"champion_version"', '"model_version"'],  # the rollback's production_deployment event
        batch: ['"rows_per_second"', '"rows_per_s"', '"model_version"'],
    }
    for module, fields in written.items():
        source = inspect.getsource(module)
        for field in fields:
            assert field in source, (module.__name__, field)


def test_describe_lists_every_family_the_collector_exports():
    with dg.DagsterInstance.ephemeral() as instance:
        described = PipelineCollector(instance, {}).describe()
    assert [f.name for f in described] == [f.name for f in FAMILIES]
    assert all(f.type == "gauge" for f in described)
    assert "openclaw_drift_score" in sample_names(described)
    assert all(f.name.startswith(("openclaw_pipeline_", "openclaw_drift_score")) for f in FAMILIES)


def test_openclaw_metrics_refuses_a_remote_address_without_allow_remote(capsys: pytest.CaptureFixture[str]):
    assert cli_main(["metrics", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "no authentication" in err and "--allow-remote" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("port", "said"),
    [("70000", "port 70000 is out of range: use 0 to 65535"), ("-1", "port -1 is out of range"), ("x", "not a port")],
)
def test_openclaw_metrics_refuses_a_port_out_of_range_with_a_usage_error(
    port: str, said: str, capsys: pytest.CaptureFixture[str]
):
    with pytest.raises(SystemExit) as exited:  # argparse's usage error, before anything is opened
        cli_main(["metrics", "--port", port])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"openclaw metrics: error: argument --port: {said}" in err
    assert "unexpected error" not in err and "Traceback" not in err


def test_the_port_argument_takes_the_whole_range():
    from openclaw_assets.cli import build_parser

    for port in (0, 9464, 65535):
        assert build_parser().parse_args(["metrics", "--port", str(port)]).port == port


@pytest.mark.cli
def test_openclaw_metrics_serves_the_instance_of_its_home(tmp_path: Path):
    from openclaw_assets.compute.gateway.server import free_port

    home = tmp_path / "home"
    dagster_home = home / "dagster"
    dagster_home.mkdir(parents=True)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        _report(instance, "production_deployment", {"champion_version": "7", "challenger_share": 0.0})
    port = free_port("127.0.0.1")
    env = {**os.environ, "OPENCLAW_HOME": str(home), "DAGSTER_HOME": str(dagster_home)}
    log = tmp_path / "metrics.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "openclaw_assets.cli", "metrics", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def scraped() -> str | None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
            except httpx.HTTPError:
                assert process.poll() is None, log.read_text()
                return None
            return answer.text if answer.status_code == 200 else None

        text = wait_until(scraped, 120, 0.5, lambda: "openclaw metrics: " + log.read_text()[-2000:])
        assert "openclaw_pipeline_champion_version 7.0" in text
        assert "openclaw_pipeline_exporter_up 1.0" in text
        assert f"pipeline metrics at http://127.0.0.1:{port}/metrics" in log.read_text()
    finally:
        process.terminate()
        process.wait(timeout=30)
