"""The control plane: policies at each decision point, the provenance ledger, lineage, release readiness."""
