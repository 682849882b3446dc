"""The delay model as an MLflow pyfunc: raw feature rows in; probability and a risk flag out.

The wrapper owns its preprocessing (categories fixed at training time) and its risk control:
a row with a numeric feature outside the range seen in training is scored, and flagged in
``out_of_range`` with the names of those features, rather than refused or silently trusted.
"""

from __future__ import annotations

from mlflow.pyfunc import PythonModel


class FlightDelayModel(PythonModel):
    def __init__(self, model, prepared) -> None:
        self.model = model
        self.prepared = prepared

    def predict(self, context, model_input, params=None):
        import pandas as pd

        from openclaw_assets.models.training import predict

        return pd.DataFrame(
            {
                "probability": predict(self.model, self.prepared, model_input),
                "out_of_range": self.prepared.out_of_range(model_input).to_numpy(),
            },
            index=model_input.index,
        )
