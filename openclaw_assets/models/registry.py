"""MLflow as a Dagster resource: tracking and the model registry, by storage profile.

embedded (default): SQLite tracking and registry at ``$OPENCLAW_HOME/mlflow/mlflow.db``,
artifacts under ``$OPENCLAW_HOME/mlflow/artifacts``.
scaleout: the tracking/registry URL from ``OPENCLAW_MLFLOW_TRACKING_URI`` (PostgreSQL) and
artifacts at ``OPENCLAW_MLFLOW_ARTIFACTS`` (an ``s3://`` location; ``MLFLOW_S3_ENDPOINT_URL``
points MLflow at an S3-compatible server). mlflow is imported only when a run uses it.
"""

# No `from __future__ import annotations` here: Dagster reads the nested resource type at run time.

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from openclaw_assets.kernel.concurrency import exclusive
from openclaw_assets.kernel.settings import Profile
from openclaw_assets.kernel.warehouse import WAREHOUSE, Warehouse

MODEL_NAME = "flight_delay"
EXPERIMENT = "openclaw-flight-delay"
CHAMPION = "champion"
CHALLENGER = "challenger"
TRACKING_VARIABLE = "OPENCLAW_MLFLOW_TRACKING_URI"
ARTIFACTS_VARIABLE = "OPENCLAW_MLFLOW_ARTIFACTS"


class MlflowStore(dg.ConfigurableResource):
    """Opens MLflow tracking and the model registry for this installation, in the warehouse's profile."""

    warehouse: Warehouse
    tracking_uri: str | None = Field(
        default=None, description=f"Tracking and registry URI (scaleout); default ${TRACKING_VARIABLE}."
    )
    artifact_root: str | None = Field(
        default=None, description=f"Artifact location, e.g. s3://bucket/path (scaleout); default ${ARTIFACTS_VARIABLE}."
    )
    model_name: str = Field(default=MODEL_NAME, description="The registered model's name.")

    @classmethod
    def at(cls, home: str | Path, profile: str | None = None, **fields: Any) -> "MlflowStore":
        """The store of the installation at ``home`` (outside a Dagster run: the gateway, tools, tests)."""
        return cls(warehouse=Warehouse(home=str(home), profile=profile), **fields)

    @property
    def root(self) -> Path:
        return self.warehouse.root

    def uris(self) -> tuple[str, str]:
        """(tracking and registry URI, artifact location) for the profile."""
        if self.warehouse.storage_profile() is Profile.SCALEOUT:
            tracking = self.tracking_uri or dg.EnvVar(TRACKING_VARIABLE).get_value()
            artifacts = self.artifact_root or dg.EnvVar(ARTIFACTS_VARIABLE).get_value()
            if not tracking or not artifacts:
                raise dg.Failure(
                    description=f"the scaleout profile needs {TRACKING_VARIABLE} and {ARTIFACTS_VARIABLE}",
                    allow_retries=False,
                )
            return tracking, artifacts
        folder = self.root / "mlflow"
        folder.mkdir(parents=True, exist_ok=True)
        return (
            self.tracking_uri or f"sqlite:///{folder / 'mlflow.db'}",
            self.artifact_root or (folder / "artifacts").as_uri(),
        )

    @property
    def init_lock(self) -> Path:
        """The file lock every process holds while it opens the store (creating its schema the first time)."""
        return self.root / "mlflow" / ".init.lock"

    def client(self):
        """Point mlflow at this store, make sure the schema and experiment exist, return an MlflowClient.

        The first process to open a new store creates its schema (MLflow migrates an empty
        database when its store object is made) and the experiment; two doing it at once break
        each other (``duplicate column name``, a duplicate experiment), so each holds the store's
        ``init_lock`` until both exist.
        """
        import mlflow
        from mlflow.tracking import MlflowClient

        tracking, artifacts = self.uris()
        mlflow.set_tracking_uri(tracking)
        mlflow.set_registry_uri(tracking)
        with exclusive(self.init_lock):
            client = MlflowClient(tracking_uri=tracking, registry_uri=tracking)  # makes the tracking store
            if client.get_experiment_by_name(EXPERIMENT) is None:
                client.create_experiment(EXPERIMENT, artifact_location=artifacts)
            client.search_registered_models(max_results=1)  # makes the registry store, which checks the schema
            mlflow.set_experiment(EXPERIMENT)
        return client

    def version_for(self, alias: str):
        """The model version an alias points at, or None if there is none (an outage raises)."""
        return alias_version(self.client(), self.model_name, alias)


NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
"""The error codes MLflow answers a missing registered model or alias with."""


def alias_version(client: Any, model_name: str, alias: str):
    """The version ``alias`` points at; None only when the model or the alias does not exist.

    Any other error (the tracking database is down, say) is raised: an outage is not "no champion".
    """
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if exc.error_code in NOT_FOUND:
            return None
        raise


MLFLOW = MlflowStore(warehouse=WAREHOUSE)
"""The code location's MLflow store, bound as ``mlflow_store``."""
