"""Benchmarks of the data plane, each reported as a ratio against a peer measured in the same run.

Run all of them with ``python -m bench``, or one with ``python -m bench.ingest``,
``python -m bench.import_time`` or ``python -m bench.memory``. Results land in
``bench/results/<name>.json``.
"""
