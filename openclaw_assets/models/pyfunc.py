"""The delay model as an MLflow pyfunc: the one implementation of scoring.

Raw feature values in; probability and a risk flag out. The gateway (a dict of columns per
request), batch scoring and the evaluation gates (pandas frames) all call this class, loaded
from the registry. Its preprocessing is fixed at training time: categories map to the codes
LightGBM saw in training (an unknown category is missing, never a new code), numbers are
coerced (text that is not a number is missing), and a row with a numeric feature outside the
range seen in training is scored and flagged in ``out_of_range`` with the names of those
features, rather than refused or silently trusted.

It is logged with MLflow's models-from-code: the logged code is ``model_code.py`` (it names this
class), and the model's state is two artifacts, the LightGBM booster as model text and the
prepared inputs (features, categories, ranges) as JSON, read back by ``load_context``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd  # at module level so that MLflow reads ``predict``'s type hints (a frame in and out)
from mlflow.pyfunc import PythonModel

if TYPE_CHECKING:
    from openclaw_assets.models.training import Prepared

MODEL_CODE = Path(__file__).with_name("model_code.py")
"""The file MLflow logs as the model's code."""
BOOSTER = "booster"
PREPARED = "prepared"
SMALL_INPUT_ROWS = 1_000
"""Up to this many rows, LightGBM predicts on one thread: starting a thread pool costs more than it saves."""


class FlightDelayModel(PythonModel):
    """A LightGBM booster and the preprocessing it was trained with."""

    def __init__(self, booster: Any = None, prepared: Prepared | None = None) -> None:
        self.booster: Any = None
        self.prepared: Prepared | None = None
        if booster is not None and prepared is not None:
            self._bind(booster, prepared)

    # --- state: built at training, saved as artifacts, loaded by MLflow --------------------------
    def _bind(self, booster: Any, prepared: Prepared) -> None:
        self.booster, self.prepared = booster, prepared
        self.features = list(prepared.features)
        self._codes = {c: {v: float(i) for i, v in enumerate(cats)} for c, cats in prepared.categories.items()}
        self._ranged = [c for c in self.features if c in prepared.ranges]
        self._ranged_index = np.array([self.features.index(c) for c in self._ranged], dtype=np.int64)
        self._low = np.array([prepared.ranges[c][0] for c in self._ranged], dtype=np.float64)
        self._high = np.array([prepared.ranges[c][1] for c in self._ranged], dtype=np.float64)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # versions registered before the model was logged from code were pickled with the fitted
        # LGBMClassifier as ``model``: they load, and score, through the same code
        if "model" in state and "booster" not in state:
            self._bind(state["model"].booster_, state["prepared"])
        else:
            self.__dict__.update(state)

    def save_artifacts(self, folder: Path) -> dict[str, str]:
        """Write the booster (model text) and the prepared inputs (JSON); return MLflow's ``artifacts``."""
        if self.booster is None or self.prepared is None:
            raise ValueError("an empty FlightDelayModel has nothing to save")
        folder.mkdir(parents=True, exist_ok=True)
        booster, prepared = folder / "booster.txt", folder / "prepared.json"
        self.booster.save_model(str(booster))
        prepared.write_text(self.prepared.to_json())
        return {BOOSTER: str(booster), PREPARED: str(prepared)}

    def load_context(self, context) -> None:
        import lightgbm as lgb

        from openclaw_assets.models.training import Prepared

        if BOOSTER not in context.artifacts and self.booster is not None:
            return  # a pickled version: its state came with it
        booster = lgb.Booster(model_file=context.artifacts[BOOSTER])
        self._bind(booster, Prepared.from_json(Path(context.artifacts[PREPARED]).read_text()))

    # --- scoring ---------------------------------------------------------------------------------
    def matrix(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """The booster's input: one float row per flight, categories as training codes, missing as NaN."""
        try:
            rows = len(columns[self.features[0]])
            out = np.empty((rows, len(self.features)), dtype=np.float64)
            nan = float("nan")
            for j, name in enumerate(self.features):
                values = columns[name]
                codes = self._codes.get(name)
                if codes is not None:
                    out[:, j] = [codes.get(v, nan) for v in values]
                else:
                    out[:, j] = _numbers(values)
        except KeyError:
            absent = [name for name in self.features if name not in columns]
            raise KeyError(f"the model needs feature columns that are missing: {', '.join(absent)}") from None
        except TypeError as exc:  # an unhashable category
            raise ValueError(f"{name}: a category must be text ({exc})") from None
        return out

    def score(self, columns: Mapping[str, Sequence[Any]]) -> tuple[np.ndarray, list[str]]:
        """Probabilities and, per row, the numeric features outside the training range (comma-separated)."""
        if self.booster is None:
            raise ValueError("the model has no booster: load it through MLflow or build it from a fit")
        x = self.matrix(columns)
        probability = self.booster.predict(x, num_threads=1 if len(x) <= SMALL_INPUT_ROWS else 0)
        ranged = x[:, self._ranged_index]
        outside = (ranged < self._low) | (ranged > self._high)
        flags = [""] * len(x)
        for row in np.flatnonzero(outside.any(axis=1)):
            flags[row] = ",".join(self._ranged[k] for k in np.flatnonzero(outside[row]))
        return probability, flags

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """``probability`` and ``out_of_range`` for a frame of raw feature rows (MLflow's pyfunc call)."""
        present = [name for name in self.features if name in model_input.columns]
        probability, flags = self.score({name: model_input[name].to_numpy() for name in present})
        return pd.DataFrame(
            {"probability": probability, "out_of_range": np.array(flags, dtype=object)}, index=model_input.index
        )


def _numbers(values: Sequence[Any]) -> Any:
    """Values as floats; None, missing markers and text that is not a number become NaN."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        coerced = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce")
        return coerced.to_numpy(dtype=np.float64, na_value=np.nan)


def log_model(model: FlightDelayModel, pip_requirements: list[str], input_example: pd.DataFrame | None = None):
    """Log ``model`` to the active MLflow run from code, with its artifacts; MLflow's ModelInfo.

    With ``input_example``, the signature is inferred from the model's own answer to it, and
    MLflow checks at logging time that the logged model loads and scores it.
    """
    import tempfile

    import mlflow
    from mlflow.models import infer_signature

    signature = None
    if input_example is not None:
        signature = infer_signature(input_example, model.predict(None, input_example))
    with tempfile.TemporaryDirectory() as folder:
        return mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts=model.save_artifacts(Path(folder)),
            signature=signature,
            input_example=input_example,
            pip_requirements=pip_requirements,
        )
