"""The Grafana dashboard as code: current, structurally sound, and reading only metrics the code exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from openclaw_assets.observability import alerts, dashboards
from openclaw_assets.observability.promql import metric_names
from openclaw_assets_tests.prometheus import exported_names


@pytest.fixture(scope="module")
def document() -> dict:
    return json.loads(dashboards.DASHBOARD_FILE.read_text(encoding="utf-8"))


def test_the_checked_in_dashboard_is_the_generated_one(tmp_path: Path):
    assert dashboards.DASHBOARD_FILE.read_text(encoding="utf-8") == dashboards.render()
    assert dashboards.main(["--check"]) == 0
    stale = tmp_path / "openclaw.json"
    stale.write_text(dashboards.render().replace("Request rate", "Requests"))
    assert alerts.write_or_check({stale: dashboards.render()}, check=True, command="regen") == 1


def test_the_dashboard_has_its_rows_panels_and_data_source(document: dict):
    assert document["uid"] == dashboards.UID and document["title"] and isinstance(document["schemaVersion"], int)
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    found = dashboards.panels(document)
    ids = [p["id"] for p in found]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    rows = [p["title"] for p in found if p["type"] == "row"]
    assert rows == ["Gateway", "Pipeline"]
    titles = {p["title"] for p in found}
    for wanted in (
        "Request rate",
        "Error rate (5xx share)",
        "Latency p50 / p99 of /v1/predict",
        "Predictions by model version and variant",
        "Missing features",
        "Rows ingested per month",
        "Rows quarantined per month",
        "Gate results",
        "Drift per feature family (PSI)",
        "Freshness lag",
        "Champion AUC",
    ):
        assert wanted in titles, wanted
    for panel in found:
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat", "table"}, panel["type"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}" and target["expr"].strip()
        assert panel["description"] and panel["options"], panel["title"]


def test_panels_fit_the_grid_without_overlapping(document: dict):
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboards.panels(document):
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_the_json_round_trips_through_the_sdks_schema_types(document: dict):
    """Every field is one the Grafana 10.1 dashboard schema (the SDK's generated types) knows."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard

    register_default_plugins()

    def round_trip(doc: dict) -> dict:
        return json.loads(JSONEncoder(sort_keys=True).encode(Dashboard.from_json(doc)))

    assert round_trip(document) == document
    misspelt = json.loads(json.dumps(document))
    misspelt["panels"][1]["fieldconfig"] = misspelt["panels"][1].pop("fieldConfig")
    assert round_trip(misspelt) != misspelt  # a field the schema does not know is dropped, so this would fail


def test_every_metric_a_panel_queries_is_one_the_code_exports(document: dict):
    exported = exported_names()
    used: set[str] = set()
    for expr in dashboards.expressions(document):
        names = metric_names(expr)
        assert names, expr
        assert names <= exported, (expr, names - exported)
        used |= names
    # the gateway and the pipeline both appear, and every pipeline family the brief names
    for name in (
        "openclaw_gateway_requests_total",
        "openclaw_gateway_request_seconds_bucket",
        "openclaw_gateway_predictions_total",
        "openclaw_gateway_missing_features_total",
        "openclaw_pipeline_rows_ingested",
        "openclaw_pipeline_rows_quarantined",
        "openclaw_pipeline_gate_passed",
        "openclaw_drift_score",
        "openclaw_pipeline_freshness_lag_seconds",
        "openclaw_pipeline_champion_holdout_auc",
    ):
        assert name in used, name


def test_the_name_check_catches_a_metric_nobody_exports():
    exported = exported_names()
    assert metric_names("sum(rate(openclaw_gateway_request_total[5m]))") - exported == {
        "openclaw_gateway_request_total"
    }
    assert metric_names('histogram_quantile(0.99, sum by (le) (rate(a_bucket{path="/x"}[$__rate_interval])))') == {
        "a_bucket"
    }
