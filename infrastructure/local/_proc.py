"""Helpers shared by the local server managers: ports, locks, process control."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

LOCALHOST = "127.0.0.1"


def free_port(host: str = LOCALHOST) -> int:
    """Ask the kernel for a currently unused TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """True when a server could listen on ``host:port`` (SO_REUSEADDR, like real servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def pick_port(requested: int | None, remembered: int | None, host: str = LOCALHOST) -> int:
    """The requested port, else the remembered one if still free, else a fresh one."""
    if requested is not None:
        if not port_is_free(requested, host):
            raise RuntimeError(f"port {requested} on {host} is already in use")
        return requested
    if remembered is not None and port_is_free(remembered, host):
        return remembered
    return free_port(host)


def read_state(path: Path) -> dict[str, Any]:
    """Read a small JSON state file; an absent or unreadable file is empty state."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Atomically replace a small JSON state file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, sort_keys=True) + "\n")
    tmp.replace(path)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, so two processes never start one server twice."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def live_process(pid: int | None, name: str) -> psutil.Process | None:
    """The process ``pid`` if it is alive (not a zombie) and its name is ``name``."""
    if pid is None or pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.name() != name:
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return proc


def terminate(pid: int, sig: signal.Signals, timeout: float) -> None:
    """Send ``sig`` and wait for the process to exit; SIGKILL its tree after ``timeout``."""
    try:
        proc = psutil.Process(pid)
        proc.send_signal(sig)
        proc.wait(timeout)
    except psutil.NoSuchProcess:
        return
    except psutil.TimeoutExpired:
        kill_tree(pid)


def kill_tree(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL a process and all of its descendants (as a crash would), then wait for them."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(procs, timeout=timeout)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until ``pid`` no longer runs (zombies count as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.02)
    return False


def ensure_traversable(path: Path) -> None:
    """Give "others" search (x) permission on ``path`` and every ancestor that lacks it.

    Needed as root, where the servers run as an unprivileged user that must reach
    its data directory (pytest's ``/tmp/pytest-of-root`` is 0700, for instance).
    """
    for directory in [path, *path.parents]:
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def ensure_world_readable(root: Path) -> None:
    """Make an installed tree readable (and its executables runnable) by every user."""
    for dirpath, _dirnames, filenames in os.walk(root):
        directory = Path(dirpath)
        mode = directory.stat().st_mode
        want = stat.S_IROTH | stat.S_IXOTH
        if mode & want != want:
            directory.chmod(stat.S_IMODE(mode) | want)
        for name in filenames:
            file = directory / name
            mode = file.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            want = stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0)
            if mode & want != want:
                file.chmod(stat.S_IMODE(mode) | want)


def log_tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
