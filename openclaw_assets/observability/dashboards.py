"""The Grafana dashboard for the gateway and the pipeline, generated with the grafana-foundation-sdk.

    python -m openclaw_assets.observability.dashboards           # rewrite helm/openclaw/files/grafana/openclaw.json
    python -m openclaw_assets.observability.dashboards --check   # exit 1 if the checked-in file differs

Every query reads the Prometheus data source picked in the ``datasource`` variable; the
thresholds drawn on the panels are the alert rules' (``alerts.Thresholds``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openclaw_assets.observability.alerts import PREDICT_PATH, Thresholds, write_or_check
from openclaw_assets.observability.probes import PROBE_REGEX

DASHBOARD_FILE = Path(__file__).resolve().parents[2] / "helm" / "openclaw" / "files" / "grafana" / "openclaw.json"
UID = "openclaw-overview"
DATASOURCE = "${datasource}"
RATE = "$__rate_interval"


def _source():
    from grafana_foundation_sdk.models.dashboard import DataSourceRef

    return DataSourceRef(type_val="prometheus", uid=DATASOURCE)


def _queries(panel, queries: Sequence[tuple[str, str]], instant: bool = False):
    from grafana_foundation_sdk.builders.prometheus import Dataquery

    for index, (expr, legend) in enumerate(queries):
        query = Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + index)).datasource(_source())
        panel = panel.with_target(query.instant() if instant else query.range())
    return panel


def _thresholds(limit: float | None, below_is_bad: bool = False):
    from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
    from grafana_foundation_sdk.models.dashboard import Threshold, ThresholdsMode

    if limit is None:
        steps = [Threshold(None, "green")]
    elif below_is_bad:
        steps = [Threshold(None, "red"), Threshold(limit, "green")]
    else:
        steps = [Threshold(None, "green"), Threshold(limit, "red")]
    return ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def timeseries(title: str, description: str, unit: str, queries: Sequence[tuple[str, str]], limit=None, low=False):
    """A time-series panel; ``limit`` draws the alert threshold as a line (``low``: under it is bad)."""
    from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, VizLegendOptions, VizTooltipOptions
    from grafana_foundation_sdk.builders.timeseries import Panel
    from grafana_foundation_sdk.models.common import (
        GraphTresholdsStyleMode,
        LegendDisplayMode,
        LegendPlacement,
        SortOrder,
        TooltipDisplayMode,
    )

    panel = Panel().title(title).description(description).unit(unit).datasource(_source()).height(8).span(12)
    legend = VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM).show_legend(True)
    panel = panel.legend(legend).tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.NONE))
    panel = panel.thresholds(_thresholds(limit, low)).line_width(1).fill_opacity(10)
    if limit is not None:
        panel = panel.thresholds_style(GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.LINE))
    return _queries(panel, queries)


def stat(title: str, description: str, unit: str, queries: Sequence[tuple[str, str]], limit=None, low=False, span=6):
    """A single-value panel of the latest value."""
    from grafana_foundation_sdk.builders.common import ReduceDataOptions
    from grafana_foundation_sdk.builders.stat import Panel

    panel = Panel().title(title).description(description).unit(unit).datasource(_source()).height(5).span(span)
    panel = panel.reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    return _queries(panel.thresholds(_thresholds(limit, low)), queries, instant=True)


def table(title: str, description: str, queries: Sequence[tuple[str, str]], span=12):
    """A table of the latest values, one row per series."""
    from grafana_foundation_sdk.builders.prometheus import Dataquery
    from grafana_foundation_sdk.builders.table import Panel
    from grafana_foundation_sdk.models.prometheus import PromQueryFormat

    panel = Panel().title(title).description(description).datasource(_source()).height(8).span(span)
    panel = panel.show_header(True)

    for index, (expr, legend) in enumerate(queries):
        query = Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + index)).datasource(_source())
        panel = panel.with_target(query.instant().format(PromQueryFormat.TABLE))
    return panel


def _gateway(t: Thresholds) -> list:
    served = f'path!~"{PROBE_REGEX}"'
    predict = f'path="{PREDICT_PATH}"'
    buckets = f"openclaw_gateway_request_seconds_bucket{{{predict}}}"
    return [
        timeseries(
            "Request rate",
            "Requests per second by route and status (scrapes and health probes left out).",
            "reqps",
            [
                (
                    f"sum by (path, status) (rate(openclaw_gateway_requests_total{{{served}}}[{RATE}]))",
                    "{{path}} {{status}}",
                )
            ],
        ),
        timeseries(
            "Error rate (5xx share)",
            f"Share of answers that are 5xx; the alert fires over {t.max_error_rate:.0%}.",
            "percentunit",
            [
                (
                    f'sum(rate(openclaw_gateway_requests_total{{status=~"5..", {served}}}[{RATE}])) '
                    f"/ sum(rate(openclaw_gateway_requests_total{{{served}}}[{RATE}]))",
                    "5xx share",
                )
            ],
            limit=t.max_error_rate,
        ),
        timeseries(
            "Latency p50 / p99 of /v1/predict",
            f"From the request histogram; the alert fires when p99 exceeds {t.p99_seconds * 1000:g} ms.",
            "s",
            [
                (f"histogram_quantile(0.5, sum by (le) (rate({buckets}[{RATE}])))", "p50"),
                (f"histogram_quantile(0.99, sum by (le) (rate({buckets}[{RATE}])))", "p99"),
            ],
            limit=t.p99_seconds,
        ),
        timeseries(
            "Predictions by model version and variant",
            "Rows scored per second, by the version that scored them and the A/B variant.",
            "rowsps",
            [
                (
                    f"sum by (model_version, variant) (rate(openclaw_gateway_predictions_total[{RATE}]))",
                    "v{{model_version}} {{variant}}",
                )
            ],
        ),
        timeseries(
            "Missing features",
            "Rows per second scored without a feature view's values (entity unknown to the online store).",
            "rowsps",
            [(f"sum by (view) (rate(openclaw_gateway_missing_features_total[{RATE}]))", "{{view}}")],
        ),
        timeseries(
            "Model and feature time p99",
            "Where a request's time goes: scoring per model version, and the online feature read.",
            "s",
            [
                (
                    "histogram_quantile(0.99, sum by (le, model_version) "
                    f"(rate(openclaw_gateway_model_seconds_bucket[{RATE}])))",
                    "model v{{model_version}}",
                ),
                (
                    f"histogram_quantile(0.99, sum by (le) (rate(openclaw_gateway_feature_seconds_bucket[{RATE}])))",
                    "feature read",
                ),
            ],
        ),
        stat(
            "Serving",
            "The model version behind each alias in the gateway.",
            "none",
            [("max by (alias, version) (openclaw_gateway_model_version)", "{{alias}} v{{version}}")],
            span=12,
        ),
        stat(
            "Challenger share",
            "Share of traffic the gateway routes to the challenger.",
            "percentunit",
            [("max(openclaw_gateway_challenger_share)", "challenger")],
            span=12,
        ),
    ]


def _pipeline(t: Thresholds) -> list:
    return [
        timeseries(
            "Rows ingested per month",
            "Validated rows of each table's month, as its latest materialization reported.",
            "short",
            [("sum by (table, partition) (openclaw_pipeline_rows_ingested)", "{{table}} {{partition}}")],
        ),
        timeseries(
            "Rows quarantined per month",
            "Rows the contract rejected, by table and month.",
            "short",
            [("sum by (table, partition) (openclaw_pipeline_rows_quarantined)", "{{table}} {{partition}}")],
        ),
        table(
            "Gate results",
            "Latest result of every asset check (1 passed, 0 failed); a failed blocking gate alerts.",
            [("openclaw_pipeline_gate_passed", "{{asset}}:{{check}}")],
            span=24,
        ),
        timeseries(
            "Drift per feature family (PSI)",
            "The worst feature's PSI in each family, per drift asset; each family has its own limits (DriftConfig).",
            "none",
            [('max by (asset, family) (openclaw_drift_score{statistic="psi"})', "{{asset}} {{family}}")],
        ),
        timeseries(
            "Features past their drift limits",
            "Features past their family's warning limit, per drift asset and month; FeatureDriftHigh fires when an "
            "asset's newest month is above 0.",
            "short",
            [("max by (asset, partition) (openclaw_pipeline_drifted_features)", "{{asset}} {{partition}}")],
            limit=0,
        ),
        timeseries(
            "Drift per feature family (KS, Jensen-Shannon)",
            "The worst feature's KS statistic, Jensen-Shannon distance and rise in null share in each family.",
            "none",
            [
                (
                    'max by (asset, family, statistic) (openclaw_drift_score{statistic=~"ks|js|null_rise"})',
                    "{{asset}} {{family}} {{statistic}}",
                )
            ],
        ),
        timeseries(
            "Freshness lag",
            "Seconds since each asset users read was last materialized, and how far the online store's "
            "newest data is behind the newest validated month.",
            "s",
            [
                (
                    'openclaw_pipeline_freshness_lag_seconds{asset=~"online_features|batch_predictions|ab_results"}',
                    "{{asset}} since materialized",
                ),
                ("openclaw_pipeline_online_store_lag_seconds", "online store behind validated data"),
            ],
            limit=t.online_store_max_age_seconds,
        ),
        timeseries(
            "Champion AUC",
            f"Holdout AUC of the champion and live AUC of each version the latest deployment serves; live under "
            f"{t.min_live_auc:g} alerts.",
            "none",
            [
                ("openclaw_pipeline_champion_holdout_auc", "champion holdout"),
                ('openclaw_pipeline_live_auc{served="true"}', "live v{{model_version}}"),
            ],
            limit=t.min_live_auc,
            low=True,
        ),
        stat(
            "Champion version",
            "The model version behind the champion alias, after the latest deployment or rollback.",
            "none",
            [("openclaw_pipeline_champion_version", "champion")],
        ),
        stat(
            "Batch throughput",
            "Flights scored per second by the latest batch run of each month.",
            "rowsps",
            [("avg(openclaw_pipeline_batch_rows_per_second)", "rows/s")],
        ),
    ]


def build(thresholds: Thresholds | None = None):
    """The dashboard model: a gateway row and a pipeline row, panel ids unique in order."""
    from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, Row
    from grafana_foundation_sdk.models.dashboard import DashboardCursorSync

    t = thresholds or Thresholds()
    board = (
        Dashboard("OpenClaw: gateway and pipeline")
        .uid(UID)
        .description("Generated by openclaw_assets/observability/dashboards.py; edit that, not the JSON.")
        .tags(["openclaw", "generated"])
        .timezone("utc")
        .time("now-6h", "now")
        .refresh("1m")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    next_id = 1
    for title, panels in (("Gateway", _gateway(t)), ("Pipeline", _pipeline(t))):
        board = board.with_row(Row(title).id(next_id))
        next_id += 1
        for panel in panels:
            board = board.with_panel(panel.id(next_id))
            next_id += 1
    return board.build()


def render(thresholds: Thresholds | None = None) -> str:
    """The dashboard as Grafana imports it (sorted keys, two-space indent, trailing newline)."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    return JSONEncoder(sort_keys=True, indent=2).encode(build(thresholds)) + "\n"


def panels(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel of a dashboard document, rows' nested panels included."""
    found = []
    for panel in document.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def expressions(document: dict[str, Any]) -> list[str]:
    """Every PromQL expression the dashboard's panels query."""
    return [target["expr"] for panel in panels(document) for target in panel.get("targets", []) if "expr" in target]


def main(argv: list[str] | None = None) -> int:
    command = "python -m openclaw_assets.observability.dashboards"
    parser = argparse.ArgumentParser(prog=command, description="Generate the Grafana dashboard JSON.")
    parser.add_argument("--check", action="store_true", help="only report whether the checked-in file is current")
    args = parser.parse_args(argv)
    text = render()
    json.loads(text)  # what is written is JSON
    return write_or_check({DASHBOARD_FILE: text}, args.check, command)


if __name__ == "__main__":
    raise SystemExit(main())
