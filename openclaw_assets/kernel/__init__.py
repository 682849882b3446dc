"""The shared kernel: settings and the storage profile, New York months, gate outcomes, paths,
atomic Parquet I/O and materialization metadata. It imports no plane; every plane imports it."""
