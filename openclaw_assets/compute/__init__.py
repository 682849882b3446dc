"""The compute plane: batch scoring, staging validation, deployment, A/B results, the gateway."""
