"""The entities a flight is looked up by, the same way for training, batch scoring and the gateway.

One definition of a flight's entity rows (keys, event time and the request-time fields), so
the training set, batch scoring and online serving all ask Feast the same question.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from openclaw_assets.kernel.warehouse import Warehouse

UNKNOWN = "UNKNOWN"
"""The key of a missing tail number (and of a missing engine type): a value of its own, never a null."""
ENTITY_KEYS = ("carrier", "origin", "route", "tailnum")


def route(origin: str, dest: str) -> str:
    return f"{origin}-{dest}"


def online_entities(flights: Sequence[Any]) -> dict[str, list[str]]:
    """Entity rows, by column, for request objects with carrier, origin, dest and tailnum attributes."""
    return {
        "carrier": [f.carrier for f in flights],
        "origin": [f.origin for f in flights],
        "route": [route(f.origin, f.dest) for f in flights],
        "tailnum": [f.tailnum or UNKNOWN for f in flights],
    }


def flight_entity_rows(flights: pd.DataFrame) -> pd.DataFrame:
    """Entity rows for validated flights: keys, event time (scheduled departure), label and request fields."""
    import pandas as pd

    from openclaw_assets.features.compute import flight_times
    from openclaw_assets.kernel.months import LOCAL_TZ

    times = flight_times(flights)
    local = times["sched_dep"].dt.tz_convert(LOCAL_TZ)
    return pd.DataFrame(
        {
            "flight_id": flights["flight_id"].astype(str),
            "carrier": flights["carrier"].astype(str),
            "origin": flights["origin"].astype(str),
            "route": flights["origin"].astype(str) + "-" + flights["dest"].astype(str),
            "tailnum": flights["tailnum"].astype(object).where(flights["tailnum"].notna(), UNKNOWN).astype(str),
            "event_timestamp": times["sched_dep"].astype("datetime64[us, UTC]"),
            "delayed": times["delayed"].astype("int64"),
            "month": flights["month"].astype("int64"),
            "day_of_week": local.dt.dayofweek.astype("int64"),
            "hour": flights["hour"].astype("int64"),
            "minute": flights["minute"].astype("int64"),
            "distance": flights["distance"].astype("float64"),
        }
    )


def labelled_flights(warehouse: Warehouse, months: list[str]) -> pd.DataFrame:
    """Entity rows of the arrived flights (the ones with a label), with their label."""
    import pandas as pd

    frames = []
    for month in months:
        flights = warehouse.read("validated", "flights", month, why="the training set's labelled flights")
        frames.append(flight_entity_rows(flights[flights["status"] == "arrived"].reset_index(drop=True)))
    return pd.concat(frames, ignore_index=True)
