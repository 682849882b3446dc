"""Contracts as pure functions, on real January 2013 rows and on the bad-input corpus."""

from __future__ import annotations

import pandas as pd
import pytest

from openclaw_assets.data import contracts
from openclaw_assets.data.tables import AIRLINES, AIRPORTS, FLIGHTS, PLANES
from openclaw_assets_tests.conftest import MONTH, read_source_text
from openclaw_assets_tests.corpus import FLIGHT_ROW_CASES, WEATHER_ROW_CASES

ROW = 17


def test_real_january_flights_pass_the_contract(january_flights, references):
    result = contracts.validate_flights(january_flights, MONTH, references["carriers"], references["airports"])
    assert len(result.quarantine) == 0, result.reason_counts
    assert len(result.valid) == len(january_flights) == 27004
    assert result.valid["flight_id"].is_unique
    assert str(result.valid["time_hour"].dtype) == "datetime64[us, UTC]"
    assert str(result.valid["arr_delay"].dtype) == "Float64"


def test_cancelled_and_diverted_flights_are_kept_with_a_status(january_flights, references):
    result = contracts.validate_flights(january_flights, MONTH, references["carriers"], references["airports"])
    counts = result.valid["status"].value_counts().to_dict()
    source = january_flights
    cancelled = int(source["dep_time"].isna().sum())
    diverted = int((source["dep_time"].notna() & source["arr_delay"].isna()).sum())
    assert counts["cancelled"] == cancelled > 0
    assert counts["diverted"] == diverted > 0
    assert counts["arrived"] == len(source) - cancelled - diverted
    cancelled_rows = result.valid[result.valid["status"] == "cancelled"]
    assert cancelled_rows["arr_delay"].isna().all()


def test_real_weather_outlier_is_quarantined():
    weather = read_source_text("weather.csv")
    february = weather[weather["month"] == "2"].reset_index(drop=True)
    airports = set(read_source_text("airports.csv")["faa"])
    result = contracts.validate_weather(february, "2013-02", airports)
    assert len(result.quarantine) == 1
    row = result.quarantine.iloc[0]
    assert row["wind_speed"] == "1048.36058"
    assert row["reason"] == "wind_speed=1048.36058 must be within [0, 150] mph"
    assert len(result.valid) + len(result.quarantine) == len(february)


@pytest.mark.parametrize("spec", [AIRLINES, AIRPORTS, PLANES], ids=lambda s: s.name)
def test_reference_tables_pass(spec):
    raw = read_source_text(f"{spec.name}.csv")
    result = contracts.validate_reference(raw, spec)
    assert len(result.quarantine) == 0, result.reason_counts
    assert result.valid[list(spec.key)].duplicated().sum() == 0


@pytest.mark.parametrize("case", FLIGHT_ROW_CASES, ids=lambda c: c.name)
def test_flight_row_case_is_quarantined_with_its_reason(case, january_flights, references):
    raw = case.mutate(january_flights.copy(), ROW)
    result = contracts.validate_flights(raw, MONTH, references["carriers"], references["airports"])
    assert len(result.quarantine) == 1, result.quarantine["reason"].tolist()
    row = result.quarantine.iloc[0]
    assert case.reason in row["reason"]
    # the quarantined row keeps every source column exactly as it arrived
    source_index = len(raw) - 1 if case.name == "duplicate row" else ROW
    for column in FLIGHTS.columns:
        assert row[column] == raw.at[source_index, column]
    # the accounting is exact
    assert len(result.valid) + len(result.quarantine) == len(raw)
    assert len(row["reason"]) < 500


@pytest.mark.parametrize("case", WEATHER_ROW_CASES, ids=lambda c: c.name)
def test_weather_row_case_is_quarantined_with_its_reason(case, january_weather, references):
    raw = case.mutate(january_weather.copy(), ROW)
    result = contracts.validate_weather(raw, MONTH, references["airports"])
    assert len(result.quarantine) == 1
    assert case.reason in result.quarantine.iloc[0]["reason"]
    assert len(result.valid) + len(result.quarantine) == len(raw)


def test_every_broken_rule_is_named_in_one_reason(january_flights, references):
    raw = january_flights.copy()
    raw.at[ROW, "carrier"] = "ZZ"
    raw.at[ROW, "dep_delay"] = "soon"
    raw.at[ROW, "distance"] = "-5"
    result = contracts.validate_flights(raw, MONTH, references["carriers"], references["airports"])
    reason = result.quarantine.iloc[0]["reason"]
    assert "carrier='ZZ' must be in airlines" in reason
    assert "dep_delay='soon' is not a number" in reason
    assert "distance=-5.0 must be within [1, 6000] miles" in reason
    # a value that is not a number is not also reported as a null
    assert "dep_delay is missing" not in reason


def test_all_corpus_cases_at_once_keep_exact_accounting(january_flights, references):
    raw = january_flights.copy()
    for offset, case in enumerate(FLIGHT_ROW_CASES):
        raw = case.mutate(raw, 100 + 10 * offset)
    result = contracts.validate_flights(raw, MONTH, references["carriers"], references["airports"])
    assert len(result.quarantine) == len(FLIGHT_ROW_CASES)
    assert len(result.valid) + len(result.quarantine) == len(raw)
    assert sum(result.reason_counts.values()) >= len(FLIGHT_ROW_CASES)


def test_validated_output_is_sorted_and_deterministic(january_flights, references):
    shuffled = january_flights.sample(frac=1.0, random_state=7).reset_index(drop=True)
    a = contracts.validate_flights(january_flights, MONTH, references["carriers"], references["airports"]).valid
    b = contracts.validate_flights(shuffled, MONTH, references["carriers"], references["airports"]).valid
    pd.testing.assert_frame_equal(a, b)


def test_parquet_text_form_round_trips_to_the_same_typed_rows(january_flights, references):
    from openclaw_assets.data.landing import parquet_to_text

    typed = pd.read_csv(pd.io.common.StringIO(january_flights.head(500).to_csv(index=False))).assign(
        time_hour=lambda f: pd.to_datetime(f["time_hour"], utc=True)
    )
    text = parquet_to_text(typed)
    a = contracts.validate_flights(january_flights.head(500), MONTH, references["carriers"], references["airports"])
    b = contracts.validate_flights(text, MONTH, references["carriers"], references["airports"])
    assert len(b.quarantine) == 0
    pd.testing.assert_frame_equal(a.valid, b.valid)
