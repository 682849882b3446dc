"""Benchmarks: one runner (``python -m bench``) over declarative cases, each measured against a peer in the same run.

``python -m bench list`` names the cases; results land in ``bench/results/<case>.json`` and
``python -m bench report`` writes the README's tables from them (see bench/README.md).
"""
