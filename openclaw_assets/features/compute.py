"""Feature tables computed from validated tables, as pure functions of frames.

Every row carries ``event_timestamp``: the moment its values became known. A rate built
from arrivals is known only once those flights have arrived, so each flight contributes to
the windows after its outcome time:

- departed flights: departure is known at scheduled departure + ``dep_delay``;
- arrived flights: the outcome is known at departure + ``air_time`` + 30 minutes of taxi-in
  allowance (``air_time`` is airborne time only);
- diverted flights: 12 hours after departure, a conservative bound;
- cancelled flights: at the scheduled departure.

Windows are half-open, ``[t - w, t)``: a value stamped ``t`` never includes what became
known at ``t`` or later.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openclaw_assets.features.entities import UNKNOWN

if TYPE_CHECKING:
    import pandas as pd

DELAY_MINUTES = 15
TAXI_IN = "30min"
DIVERTED_AFTER = "12h"
CARRIER_WINDOWS = {"1d": "1D", "7d": "7D", "30d": "30D"}
ORIGIN_WINDOWS = {"3h": "3h", "1d": "1D", "7d": "7D"}
ROUTE_WINDOW_DAYS = 30
WEATHER_COLUMNS = ["temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib"]

REFERENCE_YEAR = 2013


def flight_times(flights: pd.DataFrame) -> pd.DataFrame:
    """Scheduled departure, departure-known and outcome-known instants (UTC) and the label."""
    import pandas as pd

    sched = flights["time_hour"] + pd.to_timedelta(flights["minute"].astype("float64"), unit="min")
    dep_delay = pd.to_timedelta(flights["dep_delay"].astype("float64").fillna(0.0), unit="min")
    air_time = pd.to_timedelta(flights["air_time"].astype("float64").fillna(0.0), unit="min")
    departed_at = sched + dep_delay
    status = flights["status"].astype(str)
    outcome_at = departed_at + air_time + pd.Timedelta(TAXI_IN)
    outcome_at = outcome_at.where(status != "diverted", departed_at + pd.Timedelta(DIVERTED_AFTER))
    outcome_at = outcome_at.where(status != "cancelled", sched)
    arr_delay = flights["arr_delay"].astype("float64")
    return pd.DataFrame(
        {
            "sched_dep": sched,
            "departed_at": departed_at.where(status != "cancelled"),
            "outcome_at": outcome_at,
            "arrived": (status == "arrived").to_numpy(),
            "cancelled": (status == "cancelled").to_numpy(),
            "delayed": (arr_delay > DELAY_MINUTES).fillna(False).to_numpy(),
            "dep_delayed": (flights["dep_delay"].astype("float64") > DELAY_MINUTES).fillna(False).to_numpy(),
            "arr_delay": arr_delay.to_numpy(),
        },
        index=flights.index,
    )


def _window_counts(times, grid, window: str):
    """For sorted event times and grid instants t: how many events fall in [t - window, t)."""
    import numpy as np
    import pandas as pd

    width = np.int64(pd.Timedelta(window).value)
    upper = np.searchsorted(times, grid, side="left")
    lower = np.searchsorted(times, grid - width, side="left")
    return upper - lower


def _windowed(
    events: pd.DataFrame, key: str, time_col: str, flags: list[str], grid: pd.DatetimeIndex, windows: dict[str, str]
) -> pd.DataFrame:
    """Counts of events and of each flag per key over trailing windows, on a time grid."""
    import numpy as np
    import pandas as pd

    grid_ns = grid.asi8
    frames = []
    for value, group in events.dropna(subset=[time_col]).groupby(key, sort=True):
        group = group.sort_values(time_col)
        times = group[time_col].to_numpy(dtype="datetime64[ns]").astype("int64")
        out = {key: np.repeat(value, len(grid)), "event_timestamp": grid}
        for suffix, window in windows.items():
            out[f"n_{suffix}"] = _window_counts(times, grid_ns, window)
            for flag in flags:
                flagged = times[group[flag].to_numpy(dtype=bool)]
                out[f"{flag}_{suffix}"] = _window_counts(flagged, grid_ns, window)
        frames.append(pd.DataFrame(out))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def month_grid(partition: str, freq: str) -> pd.DatetimeIndex:
    """Hour or day boundaries of a calendar month in local time, as UTC instants."""
    import pandas as pd

    from openclaw_assets.kernel.months import LOCAL_TZ

    start = pd.Timestamp(f"{partition}-01", tz=LOCAL_TZ)
    end = start + pd.offsets.MonthBegin(1)
    return pd.date_range(start.tz_convert("UTC"), end.tz_convert("UTC"), freq=freq, inclusive="left")


def _rate(numerator, denominator):
    import numpy as np

    numerator = np.asarray(numerator, dtype="float64")
    denominator = np.asarray(denominator, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def carrier_features(flights: pd.DataFrame, partition: str) -> pd.DataFrame:
    """Per carrier and hour: flights resolved, arrival-delay and cancellation rates over 1, 7, 30 days."""
    import pandas as pd

    times = flight_times(flights)
    events = pd.DataFrame(
        {
            "carrier": flights["carrier"].astype(str),
            "at": times["outcome_at"],
            "arrived": times["arrived"],
            "delayed": times["delayed"],
            "cancelled": times["cancelled"],
        }
    )
    table = _windowed(
        events, "carrier", "at", ["arrived", "delayed", "cancelled"], month_grid(partition, "h"), CARRIER_WINDOWS
    )
    out = table[["carrier", "event_timestamp"]].copy()
    for suffix in CARRIER_WINDOWS:
        out[f"carrier_flights_{suffix}"] = table[f"n_{suffix}"].astype("int64")
        out[f"carrier_delay_rate_{suffix}"] = _rate(table[f"delayed_{suffix}"], table[f"arrived_{suffix}"])
        out[f"carrier_cancel_rate_{suffix}"] = _rate(table[f"cancelled_{suffix}"], table[f"n_{suffix}"])
    return out


def origin_features(flights: pd.DataFrame, partition: str) -> pd.DataFrame:
    """Per origin and hour: scheduled departures that hour (from the timetable) and departure-delay rates."""
    import pandas as pd

    grid = month_grid(partition, "h")
    times = flight_times(flights)
    departed = pd.DataFrame(
        {"origin": flights["origin"].astype(str), "at": times["departed_at"], "dep_delayed": times["dep_delayed"]}
    )
    table = _windowed(departed, "origin", "at", ["dep_delayed"], grid, ORIGIN_WINDOWS)
    scheduled = (
        pd.DataFrame({"origin": flights["origin"].astype(str), "event_timestamp": flights["time_hour"]})
        .groupby(["origin", "event_timestamp"])
        .size()
        .rename("origin_scheduled_this_hour")
        .reset_index()
    )
    out = table[["origin", "event_timestamp"]].copy()
    for suffix in ORIGIN_WINDOWS:
        out[f"origin_departures_{suffix}"] = table[f"n_{suffix}"].astype("int64")
        out[f"origin_dep_delay_rate_{suffix}"] = _rate(table[f"dep_delayed_{suffix}"], table[f"n_{suffix}"])
    out = out.merge(scheduled, on=["origin", "event_timestamp"], how="left")
    out["origin_scheduled_this_hour"] = out["origin_scheduled_this_hour"].fillna(0).astype("int64")
    return out


def route_features(flights: pd.DataFrame, partition: str) -> pd.DataFrame:
    """Per route (origin-dest) and day: arrivals, delay rate and mean arrival delay over 30 days."""
    import numpy as np
    import pandas as pd

    grid = month_grid(partition, "D")
    times = flight_times(flights)
    route = flights["origin"].astype(str) + "-" + flights["dest"].astype(str)
    arrived = times["arrived"]
    events = pd.DataFrame(
        {
            "route": route[arrived],
            "at": times.loc[arrived, "outcome_at"],
            "delayed": times.loc[arrived, "delayed"],
            "arr_delay": times.loc[arrived, "arr_delay"],
        }
    )
    width = np.int64(pd.Timedelta(days=ROUTE_WINDOW_DAYS).value)
    grid_ns = grid.asi8
    frames = []
    for value, group in events.groupby("route", sort=True):
        group = group.sort_values("at")
        stamps = group["at"].to_numpy(dtype="datetime64[ns]").astype("int64")
        cum_delay = np.concatenate([[0.0], np.cumsum(group["arr_delay"].to_numpy(dtype="float64"))])
        cum_late = np.concatenate([[0], np.cumsum(group["delayed"].to_numpy(dtype="int64"))])
        upper = np.searchsorted(stamps, grid_ns, side="left")
        lower = np.searchsorted(stamps, grid_ns - width, side="left")
        count = upper - lower
        frames.append(
            pd.DataFrame(
                {
                    "route": value,
                    "event_timestamp": grid,
                    "route_arrivals_30d": count.astype("int64"),
                    "route_delay_rate_30d": _rate(cum_late[upper] - cum_late[lower], count),
                    "route_mean_arr_delay_30d": _rate(cum_delay[upper] - cum_delay[lower], count),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def tail_features(flights: pd.DataFrame, partition: str) -> pd.DataFrame:
    """Per tail number, at each departure of the month's flights: that departure's delay.

    Joined point-in-time, it gives a flight its aircraft's latest departure delay from New York
    known before the flight's scheduled departure: how late the plane is running that day.
    """
    import pandas as pd

    year, month = (int(part) for part in partition.split("-"))
    own = flights[(flights["year"] == year) & (flights["month"] == month) & flights["tailnum"].notna()]
    times = flight_times(own)
    departed = times["departed_at"].notna()
    return pd.DataFrame(
        {
            "tailnum": own.loc[departed, "tailnum"].astype(str).to_numpy(),
            "event_timestamp": times.loc[departed, "departed_at"].to_numpy(),
            "tail_last_dep_delay": own.loc[departed, "dep_delay"].astype("float64").to_numpy(),
        }
    ).assign(event_timestamp=lambda f: pd.to_datetime(f["event_timestamp"], utc=True))


def weather_features(weather: pd.DataFrame) -> pd.DataFrame:
    """Hourly weather per origin, known at the observation hour."""
    out = weather[["origin", "time_hour", *WEATHER_COLUMNS]].rename(columns={"time_hour": "event_timestamp"})
    out["origin"] = out["origin"].astype(str)
    for column in WEATHER_COLUMNS:
        out[column] = out[column].astype("float64")
    return out.sort_values(["origin", "event_timestamp"], kind="stable").reset_index(drop=True)


def aircraft_features(planes: pd.DataFrame) -> pd.DataFrame:
    """Per tail number: age in the reference year, seats, engines and engine type (known all along)."""
    import pandas as pd

    out = pd.DataFrame(
        {
            "tailnum": planes["tailnum"].astype(str),
            "event_timestamp": pd.Timestamp(f"{REFERENCE_YEAR}-01-01", tz="UTC") - pd.Timedelta(days=1),
            "plane_age": (REFERENCE_YEAR - planes["year"].astype("float64")).to_numpy(),
            "plane_seats": planes["seats"].astype("float64").to_numpy(),
            "plane_engines": planes["engines"].astype("float64").to_numpy(),
            "plane_engine_type": planes["engine"].astype(str).where(planes["engine"].notna(), UNKNOWN).to_numpy(),
        }
    )
    return out.sort_values("tailnum", kind="stable").reset_index(drop=True)


def finish(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Typed, sorted, with ``event_timestamp`` in microseconds UTC: byte-stable output."""
    out = table.sort_values([*keys, "event_timestamp"], kind="stable").reset_index(drop=True)
    out["event_timestamp"] = out["event_timestamp"].astype("datetime64[us, UTC]")
    return out
