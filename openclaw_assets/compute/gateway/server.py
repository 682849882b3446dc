"""Running the gateway: in the foreground, in the background, or as a child for staging.

The process binds its socket first, then records ``{"url", "pid"}`` in an endpoint file
(``$OPENCLAW_HOME/gateway/endpoint.json`` by default) so that callers, the rollback sensor
and staging validation find it; ``/readyz`` says when it can answer.
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
import time
from pathlib import Path
from typing import Any

from openclaw_assets.kernel.atomic import pid_alive

DEFAULT_PORT = 8765


def gateway_dir(home: Path) -> Path:
    return home / "gateway"


def default_endpoint_file(home: Path) -> Path:
    return gateway_dir(home) / "endpoint.json"


def read_endpoint(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return found if pid_alive(int(found.get("pid", 0))) else None


def serve(home: Path, host: str, port: int, endpoint_file: Path, pin: str | None = None) -> None:
    """Bind, record the endpoint, serve until SIGTERM or SIGINT (graceful: in-flight requests finish)."""
    import uvicorn

    from openclaw_assets.compute.gateway.app import create_app
    from openclaw_assets.kernel.atomic import write_bytes_atomic

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    app = create_app(home, pin=pin)
    url = f"http://{host if family == socket.AF_INET else f'[{host}]'}:{bound}"
    endpoint_file.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(endpoint_file, json.dumps({"url": url, "pid": os.getpid(), "pin": pin}).encode())
    logging.getLogger("openclaw.gateway").info("listening on %s", url)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=10)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        found = read_endpoint(endpoint_file)
        if found is not None and found.get("pid") == os.getpid():
            endpoint_file.unlink(missing_ok=True)


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
    """Start ``openclaw serve`` as a detached child with its own session; return the process."""
    endpoint_file = endpoint_file or default_endpoint_file(home)
    log_file = log_file or gateway_dir(home) / "gateway.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "openclaw_assets.cli", "--home", str(home), "serve",
        "--host", host, "--port", str(port), "--endpoint-file", str(endpoint_file),
    ]  # fmt: skip
    if pin:
        command += ["--pin", pin]
    with open(log_file, "ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {}), "OPENCLAW_HOME": str(home)},
            start_new_session=True,
        )


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
