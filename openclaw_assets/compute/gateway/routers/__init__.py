"""The gateway's routes, one router per concern: operations, predictions, administration."""
