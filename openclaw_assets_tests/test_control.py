"""The control plane end to end: the ledger a pipeline leaves, lineage, and each decision point denying.

A home with a champion (January trained, February held out) is built once per module from the
session's two-month pipeline; each test works on it or on a copy.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from openclaw_assets.compute.gateway.predlog import find_request
from openclaw_assets.control import subjects
from openclaw_assets.control.ledger import Ledger
from openclaw_assets.control.lineage import describe, resolve, trace
from openclaw_assets.models.registry import CHALLENGER, CHAMPION, MlflowStore
from openclaw_assets_tests.conftest import FAST_TRAINING, run_job
from openclaw_assets_tests.test_rollout import Gateway, alias, failures, flights, rollout, train

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def governed(feature_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the two-month pipeline with a champion promoted through every policy."""
    home = tmp_path_factory.mktemp("control") / "home"
    shutil.copytree(feature_home, home)
    assert run_job(home, selection=["feast_registry"]).success
    trained, version = train(home)
    assert trained.success, failures(trained)
    promoted = rollout(home)
    assert promoted.success, failures(promoted)
    assert alias(home, CHAMPION) == version
    return home


def ledger_of(home: Path) -> Ledger:
    return Ledger.open(home)


def test_the_pipeline_leaves_a_ledger_that_verifies(governed: Path):
    ledger = ledger_of(governed)
    report = ledger.verify()
    assert report.ok, report.message
    kinds = {entry.kind for entry in ledger.entries()}
    assert {"drop", "table", "registry", "training_set", "model", "evaluation", "decision", "deployment"} <= kinds
    points = {e.facts["point"] for e in ledger.find(kind="decision")}
    assert points == {"publish_partition", "feast_apply", "register_model", "promote_model"}
    assert all(e.facts["allowed"] for e in ledger.find(kind="decision"))
    assert report.files_checked >= len(ledger.find(kind="drop"))


def test_every_entry_is_also_an_openlineage_run_event(governed: Path):
    import json

    from openclaw_assets.control.openlineage import events_file

    events = [json.loads(line) for line in events_file(governed).read_text().splitlines()]
    ledger = ledger_of(governed)
    built = {e.subject for e in ledger.entries() if e.kind not in ("decision", "approval", "attestation")}
    assert built <= {e["outputs"][0]["name"] for e in events}
    assert {e["eventType"] for e in events} == {"COMPLETE"}
    champion = subjects.model("flight_delay", alias(governed, CHAMPION))
    (trained,) = [e for e in events if e["outputs"][0]["name"] == champion]
    assert trained["job"] == {"namespace": "openclaw", "name": "trained_model", "facets": {}}
    assert [i["name"] for i in trained["inputs"]] == [subjects.table("features", "training_set", None)]


def test_a_tampered_copy_of_the_home_is_rejected(governed: Path, tmp_path: Path):
    copy = tmp_path / "copy"
    shutil.copytree(governed, copy)
    target = copy / "warehouse" / "validated" / "flights" / "2013-01.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    report = ledger_of(copy).verify()
    assert not report.ok
    bad = ledger_of(copy).entry(report.first_bad)
    assert bad.subject == subjects.table("validated", "flights", "2013-01")


def test_lineage_traces_the_champion_back_to_its_drops(governed: Path):
    ledger = ledger_of(governed)
    target = resolve(ledger, governed, "champion")
    assert target.entry.subject == subjects.model("flight_delay", alias(governed, CHAMPION))
    _, reached = trace(ledger, target)
    drops = {d.removeprefix("drop:") for d in reached["drop"]}
    # the champion saw January's and February's flights and weather, and the three reference tables
    for month in ("2013-01", "2013-02"):
        assert f"landing/flights/flights_{month}.csv" in drops
        assert f"landing/weather/weather_{month}.csv" in drops
    assert {"landing/airlines/airlines.csv", "landing/airports/airports.csv", "landing/planes/planes.csv"} <= drops
    text = describe(ledger, target)
    assert "table:features/training_set/all" in text and "registry:feast" in text


def test_lineage_from_a_drop_reaches_everything_built_from_it(governed: Path):
    ledger = ledger_of(governed)
    target = resolve(ledger, governed, "flights_2013-01.csv")
    assert target.forward
    _, reached = trace(ledger, target)
    built = {s for subjects_ in reached.values() for s in subjects_}
    assert subjects.table("validated", "flights", "2013-01") in built
    assert subjects.table("features", "carrier_stats", "2013-03") not in built  # no March here
    assert subjects.table("features", "carrier_stats", "2013-02") in built  # February's windows read January
    assert subjects.model("flight_delay", alias(governed, CHAMPION)) in built


def test_lineage_of_a_gateway_request_reaches_the_model_that_answered(governed: Path):
    gateway = Gateway(governed)
    try:
        answer = gateway.predict(flights(governed, 3))
        assert answer.status_code == 200, answer.text
        request_id = answer.json()["request_id"]
    finally:
        gateway.stop()  # closes its log segment, which the gateway records in the ledger
    from openclaw_assets.control.policy import load_policies

    _, lines = find_request(governed, request_id)
    # the allowed access decision is kept in each log line: the role and the policy bundle
    assert {(line["role"], line["policy_bundle"]) for line in lines} == {("predict", load_policies().bundle_hash)}
    ledger = ledger_of(governed)
    target = resolve(ledger, governed, request_id, find_request=find_request)
    assert target.entry.kind == "prediction_log" and request_id[:8] not in target.entry.subject
    _, reached = trace(ledger, target)
    assert any(d.startswith("drop:landing/flights/") for d in reached["drop"])
    assert ledger.verify().ok


def test_promotion_waits_for_a_recorded_approval_when_one_is_required(governed: Path, tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(governed, home)
    champion = alias(home, CHAMPION)
    trained, version = train(home, seed=21)
    assert trained.success, failures(trained)
    denied = rollout(home, require_approval=True)
    assert not denied.success
    assert any("approval" in message and "promote_model" in message for message in failures(denied))
    assert alias(home, CHAMPION) == champion
    decision = ledger_of(home).latest(subjects.decision("promote_model", f"flight_delay/{version}"))
    assert decision is not None and not decision.facts["allowed"] and decision.facts["reasons"]

    from openclaw_assets.cli import main

    assert main(["--home", str(home), "ledger", "approve", "v999", "--by", "release-manager"]) == 2  # no such version
    assert main(["--home", str(home), "ledger", "approve", f"v{version}", "--by", "release-manager"]) == 0
    allowed = rollout(home, require_approval=True)
    assert allowed.success, failures(allowed)
    assert alias(home, CHAMPION) == version


def test_a_version_once_rolled_back_is_denied_promotion(governed: Path, tmp_path: Path):
    from openclaw_assets.compute.deployment import ROLLED_BACK_TAG

    home = tmp_path / "home"
    shutil.copytree(governed, home)
    store = MlflowStore.at(home, "embedded")
    trained, version = train(home, seed=23)
    assert trained.success, failures(trained)
    store.client().set_model_version_tag(store.model_name, version, ROLLED_BACK_TAG, "error rate 0.5")
    denied = run_job(home, selection=["production_deployment"])
    assert not denied.success
    assert any("rolled back" in message for message in failures(denied))
    assert alias(home, CHALLENGER) == version and alias(home, CHAMPION) != version


def test_registration_is_denied_when_the_training_set_is_not_in_the_ledger(governed: Path, tmp_path: Path):
    home = tmp_path / "home"
    shutil.copytree(governed, home)
    shutil.rmtree(home / "ledger")  # a training set the ledger never saw
    before = alias(home, CHALLENGER)
    config = {"ops": {"trained_model": {"config": {**FAST_TRAINING, "seed": 31}}}}
    trained = run_job(home, selection=["trained_model"], run_config=config)
    assert not trained.success
    assert any("register_model" in m and "ledger" in m for m in failures(trained))
    assert alias(home, CHALLENGER) == before


def test_feast_apply_is_denied_for_personal_data_served_online(governed: Path, tmp_path: Path, monkeypatch):
    from openclaw_assets.features import repo

    home = tmp_path / "home"
    shutil.copytree(governed, home)
    views = tuple(
        dataclasses.replace(v, personal=("tail_last_dep_delay",)) if v.name == "tail_recent" else v for v in repo.VIEWS
    )
    monkeypatch.setattr(repo, "VIEWS", views)
    applied = run_job(home, selection=["feast_registry"])
    assert not applied.success
    message = " ".join(failures(applied))
    assert "feast_apply" in message and "tail_last_dep_delay" in message and "personal" in message
