"""What the observability tests share: Debian's Prometheus tools, and the metric names the code exports."""

from __future__ import annotations

import shutil

import pytest

from openclaw_assets_tests.conftest import in_ci


def tool(name: str) -> str:
    """The path of ``name`` (promtool, prometheus, prometheus-alertmanager); skip without it, fail in CI.

    `.ci/run` installs Debian's prometheus and prometheus-alertmanager when they are missing, so in
    CI a missing tool is a broken setup, never a reason to skip.
    """
    found = shutil.which(name) or (f"/usr/bin/{name}" if shutil.which(f"/usr/bin/{name}") else None)
    if found is None:
        message = f"{name} is not installed (apt-get install prometheus prometheus-alertmanager)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found


def exported_names() -> set[str]:
    """Every series name the code exports: the gateway's registry and the pipeline exporter's collector."""
    import dagster as dg

    from openclaw_assets.compute.gateway.metrics import GatewayMetrics
    from openclaw_assets.observability.exporter import PipelineCollector, sample_names

    gateway = GatewayMetrics().registry
    with dg.DagsterInstance.ephemeral() as instance:
        pipeline = PipelineCollector(instance, {}).describe()
    return sample_names(gateway.collect()) | sample_names(pipeline)
