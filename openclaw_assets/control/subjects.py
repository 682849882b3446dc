"""How the ledger names things: one function per kind of subject, so every plane names them alike.

A subject is a stable string: ``drop:<path under home>``, ``table:<layer>/<table>/<partition>``,
``registry:feast``, ``model:<name>/<version>``, ``decision:<point>/<what>``, ``deployment:<name>``,
``readiness:<name>/<version>``, ``prediction_log:<segment>``. Partition ``all`` is an unpartitioned table.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from openclaw_assets.kernel.paths import UNPARTITIONED


def relative(home: Path, path: Path | str) -> str:
    """``path`` relative to ``home`` as a posix string (how entries name files, so a copied home verifies)."""
    resolved = Path(path).resolve()
    try:
        return PurePosixPath(resolved.relative_to(home.resolve())).as_posix()
    except ValueError:
        return str(resolved)


def drop(home: Path, path: Path | str) -> str:
    return f"drop:{relative(home, path)}"


def table(layer: str, name: str, partition: str | None = None) -> str:
    return f"table:{layer}/{name}/{partition or UNPARTITIONED}"


def table_of_path(home: Path, path: Path | str) -> str:
    """The table subject of a warehouse file (``warehouse/<layer>/<table>/<partition>.parquet``)."""
    parts = PurePosixPath(relative(home, path)).parts
    if len(parts) != 4 or parts[0] != "warehouse" or not parts[3].endswith(".parquet"):
        raise ValueError(f"{path} is not a warehouse table file")
    return table(parts[1], parts[2], parts[3][: -len(".parquet")])


def model(name: str, version: str | int) -> str:
    return f"model:{name}/{version}"


def decision(point: str, what: str) -> str:
    return f"decision:{point}/{what}"


REGISTRY = "registry:feast"
