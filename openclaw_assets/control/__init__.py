"""The control plane: policies, the provenance ledger and release readiness, used by every plane.

It imports only ``openclaw_assets.kernel``, the standard library and third-party libraries; heavy
libraries are imported inside the functions that need them, so importing it stays cheap.
"""
