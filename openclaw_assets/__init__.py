"""OpenClaw assets: a production ML pipeline as one Dagster lineage graph."""

__version__ = "0.1.0"
