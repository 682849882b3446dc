"""The observability plane: traces, metrics, alert rules, drift and anomaly checks, structured logs.

Like the control plane it imports only the kernel; every other plane uses it through resources
and plain functions. What it needs to know of the pipeline (which columns form which feature
family) is handed to ``definitions.build`` by the code location when it assembles.
"""
