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


def route(origin: Any, dest: Any) -> Any:
    """The route key, ``EWR-IAH``: for two strings, or two columns of strings."""
    return origin + "-" + dest


def online_entities(flights: Sequence[Any]) -> dict[str, list[str]]:
    """Entity rows, by column, for request objects with carrier, origin, dest and tailnum attributes."""
    return {
        "carrier": [f.carrier for f in flights],
        "origin": [f.origin for f in flights],
        "route": [route(f.origin, f.dest) for f in flights],
        "tailnum": [f.tailnum or UNKNOWN for f in flights],
    }


def request_fields(flights: Sequence[Any]) -> dict[str, list]:
    """The model's request-time inputs, by column, for request objects: the same fields as
    ``flight_entity_rows`` gives validated flights (schedule in New York time, route key)."""
    from zoneinfo import ZoneInfo

    from openclaw_assets.kernel.months import LOCAL_TZ

    zone = ZoneInfo(LOCAL_TZ)
    local = [
        f.scheduled_departure if f.scheduled_departure.tzinfo is None else f.scheduled_departure.astimezone(zone)
        for f in flights
    ]
    return {
        "day_of_week": [t.weekday() for t in local],
        "hour": [t.hour for t in local],
        "minute": [t.minute for t in local],
        "distance": [f.distance for f in flights],
        "carrier": [f.carrier for f in flights],
        "origin": [f.origin for f in flights],
        "route": [route(f.origin, f.dest) for f in flights],
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
            "route": route(flights["origin"].astype(str), flights["dest"].astype(str)),
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
