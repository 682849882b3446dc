"""MLflow as a Dagster resource: tracking and the model registry, by storage profile.

embedded (default): SQLite tracking and registry at ``$OPENCLAW_HOME/mlflow/mlflow.db``,
artifacts under ``$OPENCLAW_HOME/mlflow/artifacts``.
scaleout: the tracking/registry URL from ``OPENCLAW_MLFLOW_TRACKING_URI`` (PostgreSQL) and
artifacts at ``OPENCLAW_MLFLOW_ARTIFACTS`` (an ``s3://`` location; ``MLFLOW_S3_ENDPOINT_URL``
points MLflow at an S3-compatible server). mlflow is imported only when a run uses it.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import Field

from openclaw_assets.settings import openclaw_home
from openclaw_assets.settings import profile as current_profile

MODEL_NAME = "flight_delay"
EXPERIMENT = "openclaw-flight-delay"
CHAMPION = "champion"
CHALLENGER = "challenger"


class MlflowStore(dg.ConfigurableResource):
    """Opens MLflow tracking and the model registry for this installation and profile."""

    home: str | None = Field(default=None, description="OPENCLAW_HOME override.")
    profile: str | None = Field(default=None, description="embedded or scaleout; default OPENCLAW_PROFILE.")
    tracking_uri: str | None = Field(default=None, description="Tracking and registry URI (scaleout).")
    artifact_root: str | None = Field(default=None, description="Artifact location, e.g. s3://bucket/path.")
    model_name: str = Field(default=MODEL_NAME, description="The registered model's name.")

    @property
    def root(self) -> Path:
        return openclaw_home(self.home)

    def uris(self) -> tuple[str, str]:
        """(tracking and registry URI, artifact location) for the profile."""
        if (self.profile or current_profile()) == "scaleout":
            tracking = self.tracking_uri or os.environ.get("OPENCLAW_MLFLOW_TRACKING_URI")
            artifacts = self.artifact_root or os.environ.get("OPENCLAW_MLFLOW_ARTIFACTS")
            if not tracking or not artifacts:
                raise dg.Failure(
                    description="the scaleout profile needs OPENCLAW_MLFLOW_TRACKING_URI and OPENCLAW_MLFLOW_ARTIFACTS",
                    allow_retries=False,
                )
            return tracking, artifacts
        folder = self.root / "mlflow"
        folder.mkdir(parents=True, exist_ok=True)
        return (
            self.tracking_uri or f"sqlite:///{folder / 'mlflow.db'}",
            self.artifact_root or (folder / "artifacts").as_uri(),
        )

    def client(self):
        """Point mlflow at this store, make sure the experiment exists, return an MlflowClient."""
        import mlflow
        from mlflow.tracking import MlflowClient

        tracking, artifacts = self.uris()
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(tracking)
        client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
        if client.get_experiment_by_name(EXPERIMENT) is None:
            client.create_experiment(EXPERIMENT, artifact_location=artifacts)
        mlflow.set_experiment(EXPERIMENT)
        return client

    def version_for(self, alias: str):
        """The model version an alias points at, or None."""
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            return client.get_model_version_by_alias(self.model_name, alias)
        except MlflowException:
            return None
