"""Running the gateway: in the foreground, in the background, or as a child for staging.

The process first claims its endpoint file (``$OPENCLAW_HOME/gateway/endpoint.json`` by
default) with a lock held for its life, so that a second gateway on the same file refuses;
then it binds its socket and records ``{"url", "pid"}`` there so that callers, the rollback
sensor and staging validation find it; ``/readyz`` says when it can answer. It removes the
file when it exits. A gateway started with ``start_child`` exits with the process that started
it; one started with ``start_background`` is detached and stays until ``openclaw serve --stop``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from openclaw_assets.kernel.atomic import pid_alive

if TYPE_CHECKING:
    from openclaw_assets.compute.gateway.settings import GatewaySettings

DEFAULT_PORT = 8765
GATEWAY_SERVICE = "openclaw-gateway"
"""The gateway's ``service.name`` in its spans, unless ``OTEL_SERVICE_NAME`` names another."""
log = logging.getLogger("openclaw.gateway")


def gateway_dir(home: Path) -> Path:
    return home / "gateway"


def default_endpoint_file(home: Path) -> Path:
    return gateway_dir(home) / "endpoint.json"


def read_endpoint(path: Path) -> dict[str, Any] | None:
    """The endpoint of the live gateway recorded at ``path``, or None (no file, or its process is gone).

    A file left by a gateway that was killed is removed, once its claim shows no gateway holds it.
    """
    found = _read(path)
    if found is not None and pid_alive(int(found.get("pid", 0))):
        return found
    if path.exists():
        _remove_if_unclaimed(path)
    return None


def _remove_if_unclaimed(endpoint_file: Path) -> None:
    import fcntl

    lock = EndpointClaim(endpoint_file).path
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)  # a gateway holds it (starting, or about to rewrite the file): leave it be
        return
    try:
        endpoint_file.unlink(missing_ok=True)
    finally:
        os.close(fd)


class GatewayRunning(Exception):
    """Another live gateway already holds this endpoint file; the message says which and what to do."""


class EndpointClaim:
    """An exclusive lock beside the endpoint file, held for the gateway's whole life.

    The kernel drops the lock when the process ends, however it ends, so a lock that cannot be
    taken means a live gateway owns the file, and one that can means any file there is stale.
    """

    def __init__(self, endpoint_file: Path) -> None:
        self.endpoint_file = endpoint_file
        self.path = endpoint_file.with_name(endpoint_file.name + ".lock")
        self._fd: int | None = None

    def acquire(self, wait: float = 1.0) -> EndpointClaim:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait  # a reader may hold it for an instant (``read_endpoint``)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise GatewayRunning(running_message(self.endpoint_file)) from None
                time.sleep(0.05)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def running_message(endpoint_file: Path) -> str:
    """One line: which gateway holds ``endpoint_file``, and how to stop it or run another beside it."""
    found = _read(endpoint_file) or {}
    who = f"at {found['url']} (pid {found['pid']})" if found.get("url") else "starting"
    return (
        f"a gateway is already running {who} with endpoint file {endpoint_file}; stop it with "
        "`openclaw serve --stop`, or serve another with `openclaw serve --port N --endpoint-file OTHER.json`"
    )


def _read(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def serve(
    home: Path,
    host: str,
    port: int,
    endpoint_file: Path,
    settings: GatewaySettings,
    parent_pid: int | None = None,
) -> None:
    """Claim the endpoint file, bind, record the endpoint, serve until SIGTERM or SIGINT (graceful).

    Raises ``GatewayRunning`` if another live gateway holds the endpoint file, before binding, and
    ``TracingSettingError`` for an ``OTEL_PROPAGATORS`` that names no installed propagator.
    With ``parent_pid`` the gateway is that process's child and exits when it is gone.
    """
    from openclaw_assets.observability import logs, tracing

    tracing.propagators()  # before FastAPI is imported, which raises on an unknown one: TracingSettingError

    import uvicorn

    from openclaw_assets import __version__
    from openclaw_assets.compute.gateway.app import create_app
    from openclaw_assets.kernel.atomic import write_bytes_atomic

    logs.configure()  # OPENCLAW_LOG_FORMAT: JSON lines into a log file, text on a terminal
    tracing.configure(GATEWAY_SERVICE, __version__)  # from OTEL_*; nothing at all when they are unset
    claim = EndpointClaim(endpoint_file).acquire()
    try:
        if parent_pid is not None:
            exit_with_parent(parent_pid)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        bound = sock.getsockname()[1]
        app = create_app(home, settings)
        url = f"http://{host if family == socket.AF_INET else f'[{host}]'}:{bound}"
        write_bytes_atomic(endpoint_file, json.dumps({"url": url, "pid": os.getpid(), "pin": settings.pin}).encode())
        log.info("listening on %s", url)
        config = uvicorn.Config(  # log_config=None: uvicorn's lines go through the root handler above
            app, log_level="warning", log_config=None, access_log=False, lifespan="on", timeout_graceful_shutdown=10
        )
        server = uvicorn.Server(config)
        if parent_pid is not None:
            watch_parent(parent_pid, server, endpoint_file)
        # uvicorn re-raises the signal that stopped it once it has shut down; with the default
        # SIGTERM action that would end the process before the endpoint file is removed
        signal.signal(signal.SIGTERM, _exit_on_signal)
        server.run(sockets=[sock])
    finally:
        _forget(endpoint_file)
        claim.release()


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _forget(endpoint_file: Path) -> None:
    """Remove the endpoint file if it is this process's."""
    found = _read(endpoint_file)
    if found is not None and found.get("pid") == os.getpid():
        endpoint_file.unlink(missing_ok=True)


PR_SET_PDEATHSIG = 1
PARENT_POLL_SECONDS = 0.5
PARENT_GRACE_SECONDS = 15.0


def exit_with_parent(parent_pid: int) -> None:
    """Ask Linux for SIGTERM when the parent dies; exit now if it is already gone."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed (errno %s): relying on the parent watchdog", ctypes.get_errno())
    if os.getppid() != parent_pid:  # the parent died before the request above was in place
        log.warning("parent %s is gone before the gateway started: exiting", parent_pid)
        sys.exit(1)


def watch_parent(parent_pid: int, server: Any, endpoint_file: Path) -> threading.Thread:
    """A thread that stops the server when the parent is gone (portable), and ends the process if that stalls."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_SECONDS)
        log.warning("parent %s is gone: shutting down", parent_pid)
        server.should_exit = True
        time.sleep(PARENT_GRACE_SECONDS)
        log.error("still running %.0fs after the parent left: exiting now", PARENT_GRACE_SECONDS)
        _forget(endpoint_file)
        os._exit(1)

    thread = threading.Thread(target=watch, name="openclaw-parent-watch", daemon=True)
    thread.start()
    return thread


def wait_ready(endpoint_file: Path, process: subprocess.Popen | None, timeout: float) -> dict[str, Any]:
    """Wait for the endpoint file and a 200 from /readyz; raise RuntimeError with the reason otherwise."""
    import httpx

    deadline = time.monotonic() + timeout
    reason = "no endpoint file yet"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the gateway exited with code {process.returncode}")
        found = read_endpoint(endpoint_file)
        if found is not None and (process is None or found["pid"] == process.pid):
            try:
                answer = httpx.get(found["url"] + "/readyz", timeout=2)
                if answer.status_code == 200:
                    return found
                reason = answer.json().get("detail") or answer.text
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}"
        time.sleep(0.2)
    raise RuntimeError(f"the gateway was not ready after {timeout:.0f}s: {reason}")


def start_background(
    home: Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    endpoint_file: Path | None = None,
    pin: str | None = None,
    env: dict[str, str] | None = None,
    log_file: Path | None = None,
) -> subprocess.Popen:
    """Start ``openclaw serve`` detached, in its own session, to outlive this process; return it.

    For ``openclaw serve --background`` and the gateway ``openclaw run`` leaves serving.
    """
    return _spawn(home, host, port, endpoint_file, pin, env, log_file, parent_pid=None)


def start_child(
    home: Path,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    endpoint_file: Path | None = None,
    pin: str | None = None,
    env: dict[str, str] | None = None,
    log_file: Path | None = None,
) -> subprocess.Popen:
    """Start ``openclaw serve`` as a child that exits when this process does, however it ends; return it.

    In its own process group (``stop`` ends the group), but tied to this process: SIGTERM on its
    death where Linux offers it (``PR_SET_PDEATHSIG``), and a watchdog on the parent's pid in the
    gateway everywhere. Caveat: Linux signals the child when the *thread* that started it ends, so
    start it from a thread that lives as long as the gateway should.
    """
    return _spawn(home, host, port, endpoint_file, pin, env, log_file, parent_pid=os.getpid())


def _spawn(
    home: Path,
    host: str,
    port: int,
    endpoint_file: Path | None,
    pin: str | None,
    env: dict[str, str] | None,
    log_file: Path | None,
    parent_pid: int | None,
) -> subprocess.Popen:
    endpoint_file = endpoint_file or default_endpoint_file(home)
    log_file = log_file or gateway_dir(home) / "gateway.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "openclaw_assets.cli", "--home", str(home), "serve",
        "--host", host, "--port", str(port), "--endpoint-file", str(endpoint_file),
    ]  # fmt: skip
    if pin:
        command += ["--pin", pin]
    if parent_pid is not None:
        command += ["--parent-pid", str(parent_pid)]
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {}), "OPENCLAW_HOME": str(home)},
            start_new_session=True,
        )


def port_free(host: str, port: int) -> bool:
    """Whether a gateway could listen on ``host:port`` now (port 0 always can)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at the moment."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def stop(pid: int, timeout: float = 20.0) -> bool:
    """SIGTERM the gateway's process group, then SIGKILL after ``timeout``; True if it had been running."""
    if not pid_alive(pid):
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            if not pid_alive(pid):
                return True
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    return True
