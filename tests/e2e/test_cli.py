"""The `modiste` command line as a user drives it: tokens, and `modiste up` in local mode."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import psutil
import pytest

from infrastructure.local import LocalNats, LocalPostgres
from interfaces.cli.supervisor import ProcessSpec, Supervisor
from tests.conftest import JWT_SECRET

REPO_ROOT = Path(__file__).resolve().parents[2]
MODISTE = [sys.executable, "-m", "interfaces.cli.main"]
UP_READY_SECONDS = 120  # initdb and every child starting on a busy 2-core machine
STOP_SECONDS = 45


def clean_env(**overrides: str) -> dict[str, str]:
    """Our environment without any MODISTE_* variable, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODISTE_")}
    env["MODISTE_LOG_FORMAT"] = "console"
    env.update(overrides)
    return env


def modiste(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MODISTE, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- modiste token ------------------------------------------------------------------------


async def test_token_is_a_jwt_the_api_accepts(api: Any, tmp_path: Path) -> None:
    env = clean_env(MODISTE_JWT_SECRET=JWT_SECRET, MODISTE_DATA_DIR=str(tmp_path))
    done = modiste("token", "--role", "merchant", "--sub", "m-1", "--ttl", "120", env=env)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()

    claims = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    assert claims["sub"] == "m-1"
    assert claims["extras"]["role"] == "merchant"
    assert 100 <= claims["exp"] - claims["iat"] <= 120

    response = await api.post(
        "/products",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "title": "Linen shirt",
            "category": "Shirts",
            "brand": "Atelier Nord",
            "price": 8900,
            "currency": "EUR",
        },
    )
    assert response.status_code == 201, response.text


def test_token_without_a_secret_uses_the_local_secret_file(tmp_path: Path) -> None:
    env = clean_env(MODISTE_DATA_DIR=str(tmp_path))
    first = modiste("token", "--role", "customer", "--sub", "alice", env=env)
    again = modiste("token", "--role", "customer", "--sub", "alice", env=env)
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr

    secret_file = tmp_path / "jwt-secret"
    assert secret_file.stat().st_mode & 0o077 == 0, "the secret file must be private"
    secret = secret_file.read_text().strip()
    for done in (first, again):  # the same secret signs both: it was kept, not regenerated
        claims = jwt.decode(done.stdout.strip(), secret, algorithms=["HS256"])
        assert (claims["sub"], claims["extras"]["role"]) == ("alice", "customer")


def test_token_refuses_an_unknown_role(tmp_path: Path) -> None:
    done = modiste(
        "token", "--role", "admin", "--sub", "x", env=clean_env(MODISTE_DATA_DIR=str(tmp_path))
    )
    assert done.returncode == 2
    assert "customer" in done.stderr  # the error lists the valid roles
    assert done.stdout == ""


def test_api_without_server_urls_says_what_is_missing(tmp_path: Path) -> None:
    done = modiste("api", env=clean_env(MODISTE_DATA_DIR=str(tmp_path)))
    assert done.returncode == 2
    assert "MODISTE_DATABASE_URL" in done.stderr
    assert "modiste up" in done.stderr


# -- modiste up ---------------------------------------------------------------------------


class Up:
    """`modiste up` in a subprocess, its output in a file (shown when an assertion fails)."""

    def __init__(self, data_dir: Path, port: int, log: Path) -> None:
        self.base_url = f"http://127.0.0.1:{port}"
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            [*MODISTE, "up"],
            cwd=REPO_ROOT,
            env=clean_env(MODISTE_DATA_DIR=str(data_dir), MODISTE_PORT=str(port)),
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self, timeout: float = UP_READY_SECONDS) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"modiste up exited early:\n{self.output()}"
            try:
                status, body = self.request("GET", "/api/system/health")
                if status == 200:
                    return body
                last = f"{status} {body}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.25)
        raise AssertionError(f"not healthy within {timeout}s ({last}):\n{self.output()}")

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(
            self.base_url + path,
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; returns the exit code."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"modiste up ignored SIGINT:\n{self.output()}") from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._out.close()


@contextlib.contextmanager
def modiste_up(data_dir: Path, port: int, log: Path) -> Iterator[Up]:
    up = Up(data_dir, port, log)
    try:
        yield up
    finally:
        up.kill()
        # Never leave servers behind, whatever happened above.
        LocalNats(data_dir / "nats").stop()
        LocalPostgres(data_dir / "postgres").stop()


@pytest.fixture
def server_data_dir() -> Iterator[Path]:
    """A data dir outside pytest's tmp_path: as root, PostgreSQL runs as another user that
    must traverse every parent, and each new pytest session resets /tmp/pytest-of-<user>
    to 0700 (another session running beside this one would cut the server off)."""
    path = Path(tempfile.mkdtemp(prefix="modiste-cli-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_up_serves_the_api_stops_on_ctrl_c_and_keeps_events(
    tmp_path: Path, server_data_dir: Path
) -> None:
    data_dir = server_data_dir
    port = free_port()
    log = tmp_path / "up.log"

    with modiste_up(data_dir, port, log) as up:
        health = up.wait_healthy()
        assert health["dependencies"]["postgres"]["ok"] is True
        assert health["dependencies"]["nats"]["ok"] is True

        merchant = modiste(
            "token",
            "--role",
            "merchant",
            "--sub",
            "m-1",
            env=clean_env(MODISTE_DATA_DIR=str(data_dir)),
        ).stdout.strip()
        assert (data_dir / "jwt-secret").exists()
        status, product = up.request(
            "POST",
            "/products",
            {
                "title": "Wool coat",
                "category": "Coats",
                "brand": "Maison Lune",
                "price": 45000,
                "currency": "EUR",
            },
            token=merchant,
        )
        assert status == 201, product

        assert up.interrupt() == 0, up.output()
        assert not LocalPostgres(data_dir / "postgres").is_running(), up.output()
        assert not LocalNats(data_dir / "nats").is_running(), up.output()
        assert "local servers stopped" in up.output()

    with modiste_up(data_dir, port, log) as again:
        again.wait_healthy()
        status, body = again.request("GET", f"/products/{product['id']}", token=merchant)
        assert status == 200, body
        assert body["title"] == "Wool coat"
        assert body["version"] == product["version"]
        assert again.interrupt() == 0, again.output()


def test_up_refuses_a_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = modiste("up", env=clean_env(MODISTE_DATA_DIR=str(tmp_path), MODISTE_PORT=str(port)))
    assert done.returncode == 2
    assert "already in use" in done.stderr
    assert not (tmp_path / "postgres").exists(), "no server may start when the API cannot"


# -- the supervisor behind `modiste up` ---------------------------------------------------


def python_child(name: str, code: str) -> ProcessSpec:
    return ProcessSpec(name, [sys.executable, "-c", code])


SLEEPER = "import time; print('ready', flush=True); time.sleep(60)"


def test_supervisor_prefixes_output_and_stops_every_child_on_request() -> None:
    out = io.StringIO()
    supervisor = Supervisor(
        [python_child("first", SLEEPER), python_child("second", SLEEPER)],
        output=out,
        grace_seconds=10,
    )
    supervisor.start()
    children = [child.proc for child in supervisor._children]
    assert len({os.getpgid(proc.pid) for proc in children}) == 1, "one process group"
    assert os.getpgid(children[0].pid) != os.getpgrp(), "not the terminal's group"
    deadline = time.monotonic() + 20
    while out.getvalue().count("ready") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    supervisor.request_stop("test")
    assert supervisor.wait() == 0
    assert all(proc.poll() is not None for proc in children)
    lines = out.getvalue().splitlines()
    assert "first  | ready" in lines and "second | ready" in lines, lines


def test_supervisor_fails_when_a_child_dies_and_stops_the_others() -> None:
    out = io.StringIO()
    supervisor = Supervisor(
        [python_child("sleeper", SLEEPER), python_child("crasher", "raise SystemExit(3)")],
        output=out,
        grace_seconds=10,
    )
    supervisor.start()
    sleeper = supervisor._children[0].proc
    started = time.monotonic()
    assert supervisor.wait() == 1
    assert time.monotonic() - started < 30
    assert sleeper.poll() is not None, "the surviving child was stopped"
    assert "crasher exited unexpectedly with code 3" in out.getvalue()


def test_supervisor_stops_started_children_when_a_later_one_cannot_spawn() -> None:
    supervisor = Supervisor(
        [python_child("sleeper", SLEEPER), ProcessSpec("ghost", ["/nonexistent/modiste-ghost"])],
        output=io.StringIO(),
        grace_seconds=10,
    )
    with pytest.raises(FileNotFoundError):
        supervisor.start()
    assert not supervisor._children
    sleepers = [
        child
        for child in psutil.Process().children()
        if child.is_running()
        and child.status() != psutil.STATUS_ZOMBIE
        and SLEEPER in " ".join(child.cmdline())
    ]
    assert not sleepers, "the child started before the failure was stopped"
