"""The control plane: policies at each decision point, the provenance ledger, lineage, release readiness.

``ledger.py`` and ``merkle.py`` import only ``openclaw_assets.kernel``, the standard library and
third-party libraries, heavy ones inside the functions that need them, so importing them stays cheap.
"""
