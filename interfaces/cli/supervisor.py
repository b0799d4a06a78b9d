"""A small process supervisor for `modiste up`: children in one process group, output
prefixed with each child's name, everything stopped together.

Children run in a process group of their own (not the terminal's), so a Ctrl-C reaches
only the supervisor, which then stops the children in order: SIGTERM to the group, a
grace period, SIGKILL for whatever is left. A child that exits while nothing asked it to
is a failure: the others are stopped and :meth:`Supervisor.wait` returns non-zero.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, TextIO

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_COLOURS = ("36", "35", "33", "32", "34", "31")  # cyan, magenta, yellow, green, blue, red
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcessSpec:
    """One child process: a short name (the output prefix) and its argv."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    """Variables added to the supervisor's environment for this child."""


@dataclass
class _Child:
    spec: ProcessSpec
    proc: subprocess.Popen[bytes]
    reader: threading.Thread


class ChildFailedError(RuntimeError):
    """A child exited although nothing asked it to stop."""


def _parent_death_signal() -> Callable[[], None] | None:
    """Linux: a pre-exec hook making the kernel SIGTERM a child whose supervisor died
    (even by SIGKILL), so no orphan keeps the API port. Resolved in the parent, so the
    forked child only makes one system call."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:  # pragma: no cover - runs in the forked child
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))

    return hook


class Supervisor:
    """Start children, forward their output, stop them all on a signal or a failure."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        output: TextIO | None = None,
        grace_seconds: float = 15.0,
        colour: bool | None = None,
    ) -> None:
        if not specs:
            raise ValueError("nothing to supervise")
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique: {names}")
        self.specs = list(specs)
        self.grace_seconds = grace_seconds
        self._out = output or sys.stdout
        self._colour = self._out.isatty() if colour is None else colour
        self._width = max(len(name) for name in [*names, "up"])
        self._children: list[_Child] = []
        self._pgid: int | None = None
        self._write_lock = threading.Lock()
        self._stop_requested = threading.Event()
        self._stop_reason = ""
        self._failure: str | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Spawn every child, in order, into one new process group.

        If one cannot be spawned, those already running are stopped before the error rises.
        """
        try:
            self._spawn_all()
        except BaseException:
            self.stop()
            raise

    def _spawn_all(self) -> None:
        pre_exec = _parent_death_signal()
        for index, spec in enumerate(self.specs):
            env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
            proc = subprocess.Popen(  # noqa: S603 - argv comes from our own process table
                list(spec.argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                process_group=0 if self._pgid is None else self._pgid,
                preexec_fn=pre_exec,
            )
            if self._pgid is None:
                self._pgid = proc.pid
            reader = threading.Thread(
                target=self._forward,
                args=(spec.name, index, proc.stdout),
                name=f"output-{spec.name}",
                daemon=True,
            )
            reader.start()
            self._children.append(_Child(spec, proc, reader))
            self.note(f"started {spec.name} (pid {proc.pid})")

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask :meth:`wait` to stop every child (safe from a signal handler or a thread)."""
        if not self._stop_requested.is_set():
            self._stop_reason = reason
            self._stop_requested.set()

    @property
    def stopping(self) -> bool:
        """True once a stop was requested (a signal, or request_stop())."""
        return self._stop_requested.is_set()

    @property
    def failed(self) -> bool:
        """True once check() or wait() saw a child exit unexpectedly."""
        return self._failure is not None

    def check(self) -> None:
        """Raise ChildFailedError if a child has exited unexpectedly."""
        if self._failure is None and not self.stopping:
            for child in self._children:
                code = child.proc.poll()
                if code is not None:
                    self._failure = f"{child.spec.name} exited unexpectedly with code {code}"
                    break
        if self._failure is not None:
            raise ChildFailedError(self._failure)

    def wait(self, poll_seconds: float = 0.2) -> int:
        """Block until a stop is requested or a child dies; stop all; return the exit code.

        0 after a requested stop, non-zero when a child died on its own.
        """
        while not self._stop_requested.wait(poll_seconds):
            try:
                self.check()
            except ChildFailedError as exc:
                self.note(str(exc) + "; stopping the others")
                break
        else:
            self.note(f"{self._stop_reason}; stopping {len(self._children)} process(es)")
        self.stop()
        return 1 if self._failure is not None else 0

    def stop(self) -> None:
        """SIGTERM the group, wait up to the grace period, then SIGKILL what is left."""
        if not self._children:
            return
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_seconds
        for child in self._children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        if any(child.proc.poll() is None for child in self._children):
            self.note(f"still running after {self.grace_seconds:g}s; killing")
            self._signal_group(signal.SIGKILL)
            for child in self._children:
                child.proc.wait()
        for child in self._children:
            child.reader.join(timeout=2)
            code = child.proc.returncode
            if code not in (0, -signal.SIGTERM):
                self.note(f"{child.spec.name} stopped with code {code}")
        self._children = []

    def run(self) -> int:
        """start() + wait() with SIGINT / SIGTERM turned into a clean stop."""
        with self.handling_signals():
            self.start()
            return self.wait()

    @contextlib.contextmanager
    def handling_signals(self) -> Iterator[None]:
        """While inside, SIGINT and SIGTERM request a stop instead of raising."""

        def handler(signum: int, _frame: FrameType | None) -> None:
            self.request_stop(f"received {signal.Signals(signum).name}")

        previous: dict[signal.Signals, Callable[[int, FrameType | None], object] | int | None]
        previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    # -- output ------------------------------------------------------------------------

    def note(self, message: str) -> None:
        """A line from the supervisor itself."""
        self._write("up", -1, message)

    def print_block(self, lines: Sequence[str]) -> None:
        """Unprefixed lines (a banner), never interleaved with the children's output."""
        with self._write_lock, contextlib.suppress(OSError, ValueError):
            self._out.write("".join(f"{line}\n" for line in lines))
            self._out.flush()

    def _forward(self, name: str, index: int, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                self._write(name, index, raw.decode("utf-8", errors="replace").rstrip("\r\n"))

    def _write(self, name: str, index: int, line: str) -> None:
        prefix = f"{name:<{self._width}} |"
        if self._colour:
            colour = "1" if index < 0 else _COLOURS[index % len(_COLOURS)]
            prefix = f"\x1b[{colour}m{prefix}\x1b[0m"
        with self._write_lock:
            try:
                self._out.write(f"{prefix} {line}\n")
                self._out.flush()
            except (OSError, ValueError):  # closed or broken stdout: drop the line
                pass

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pgid, sig)
        for child in self._children:  # one that left the group (or never joined it)
            if child.proc.poll() is None and _pgid_of(child.proc.pid) != self._pgid:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(sig)


def _pgid_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
