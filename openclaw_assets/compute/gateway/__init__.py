"""The serving gateway: features from the Feast online store, models from the MLflow registry by alias."""
