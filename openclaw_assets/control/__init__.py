"""The control plane: policies as code, the provenance ledger, release readiness. It imports only the kernel."""
