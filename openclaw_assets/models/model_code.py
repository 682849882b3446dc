"""The delay model's logged code (MLflow models-from-code): MLflow runs this file to build the model.

It is not imported by the package. The booster and the prepared inputs are the logged model's
artifacts; ``FlightDelayModel.load_context`` reads them.
"""

import mlflow

from openclaw_assets.models.pyfunc import FlightDelayModel

mlflow.models.set_model(FlightDelayModel())
