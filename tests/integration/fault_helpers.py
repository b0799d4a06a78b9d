"""Helpers for the fault-tolerance tests: processes started as a user starts them, writer
processes, bounded waits, stream inspection and row-for-row read-model comparison.

Also runnable as a writer process (what the concurrent-writer test spawns)::

    python -m tests.integration.fault_helpers write --database-url URL --products 40 ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import psycopg

REPO_ROOT = Path(__file__).resolve().parents[2]
MODISTE = [sys.executable, "-m", "interfaces.cli.main"]
WRITER = [sys.executable, "-m", "tests.integration.fault_helpers", "write"]
STREAM = "MODISTE_EVENTS"
SUMMARY_PREFIX = "writer-summary: "

# Every read-model table, with the order that makes a row-for-row comparison meaningful.
READ_MODEL_TABLES = {
    "catalog": {
        "read.catalog_products": "product_id",
        "read.stock_movements": "position",
    },
    "orders": {"read.orders": "order_id"},
}


# -- waiting -------------------------------------------------------------------------------


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    *,
    interval: float = 0.1,
    diagnostics: Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f"\n{diagnostics()}" if diagnostics is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{extra}")
        time.sleep(interval)


# -- processes -----------------------------------------------------------------------------


def process_env(database_url: str, nats_url: str, **extra: str) -> dict[str, str]:
    """The environment a `modiste` process gets: our servers, quiet JSON logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODISTE_")}
    env.update(
        MODISTE_DATABASE_URL=database_url,
        MODISTE_NATS_URL=nats_url,
        MODISTE_LOG_FORMAT="json",
        MODISTE_LOG_LEVEL="INFO",
        MODISTE_DB_POOL_SIZE="4",
        MODISTE_DB_POOL_MAX_OVERFLOW="4",
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    env.update(extra)
    return env


@dataclass
class ManagedProcess:
    """One child process; its stdout and stderr go to a log file we can show on failure."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> ManagedProcess:
        assert self.proc is None or self.proc.poll() is not None, f"{self.name} is running"
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv,
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, not these
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: no cleanup runs in the child."""
        assert self.proc is not None and self.running(), f"{self.name} is not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(15)

    def terminate(self, timeout: float = 30) -> int | None:
        """SIGTERM (graceful: finish the batch, ack, drain), SIGKILL after ``timeout``."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(15)
            return None

    def log_text(self, tail: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no output)"
        return f"--- {self.name} (last {tail} lines)\n" + "\n".join(lines[-tail:])

    def log_contains(self, text: str) -> bool:
        try:
            return text in self.log_path.read_text(errors="replace")
        except OSError:
            return False


@dataclass
class ProcessGroup:
    """Every process a test started; whatever is still running is killed at the end."""

    database_url: str
    nats_url: str
    log_dir: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    processes: list[ManagedProcess] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return process_env(self.database_url, self.nats_url, **self.env_extra)

    def spawn(self, name: str, argv: list[str]) -> ManagedProcess:
        managed = ManagedProcess(name, argv, self.env(), self.log_dir / f"{name}.log")
        self.processes.append(managed)
        return managed.start()

    def relay(self) -> ManagedProcess:
        return self.spawn("relay", [*MODISTE, "relay"])

    def worker(self, group: str = "projections") -> ManagedProcess:
        return self.spawn(f"worker-{group}", [*MODISTE, "worker", "--group", group])

    def modiste(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run a one-shot `modiste ...` command to completion."""
        return subprocess.run(
            [*MODISTE, *args],
            cwd=REPO_ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def logs(self) -> str:
        return "\n".join(p.log_text() for p in self.processes)

    def stop_all(self) -> None:
        for managed in self.processes:
            managed.terminate(timeout=20)


@contextlib.contextmanager
def process_group(
    database_url: str, nats_url: str, log_dir: Path, **env_extra: str
) -> Iterator[ProcessGroup]:
    group = ProcessGroup(database_url, nats_url, log_dir, dict(env_extra))
    try:
        yield group
    finally:
        for managed in group.processes:
            if managed.running():
                with contextlib.suppress(Exception):
                    assert managed.proc is not None
                    managed.proc.kill()
                    managed.proc.wait(15)


# -- writer processes ----------------------------------------------------------------------


@dataclass
class WriterPlan:
    products: int = 40
    adjustments: int = 300
    orders: int = 0
    listing_batch: int = 4  # products listed per save (one transaction, several aggregates)
    rate: float = 0.0  # commands per second per writer; 0 = as fast as possible
    shared: Sequence[str] = ()  # products every writer also adjusts (version conflicts)
    stop_file: Path | None = None  # stop adjusting once this file exists (adjustments = cap)

    def argv(self, database_url: str, index: int, go_file: Path, ready_dir: Path) -> list[str]:
        argv = [
            *WRITER,
            "--database-url",
            database_url,
            "--seed",
            str(index),
            "--products",
            str(self.products),
            "--adjustments",
            str(self.adjustments),
            "--orders",
            str(self.orders),
            "--listing-batch",
            str(self.listing_batch),
            "--rate",
            str(self.rate),
            "--go-file",
            str(go_file),
            "--ready-file",
            str(ready_dir / f"writer-{index}.ready"),
        ]
        for product_id in self.shared:
            argv += ["--shared", product_id]
        if self.stop_file is not None:
            argv += ["--stop-file", str(self.stop_file)]
        return argv


@dataclass
class WriterProcesses:
    """N writer processes that start writing together once all of them are ready."""

    processes: list[ManagedProcess]
    go_file: Path
    ready_dir: Path

    def go(self, timeout: float = 90) -> None:
        wait_until(
            lambda: (
                all(
                    (self.ready_dir / f"writer-{i}.ready").exists()
                    for i in range(len(self.processes))
                )
                or any(
                    p.proc is not None and p.proc.poll() not in (None, 0) for p in self.processes
                )
            ),
            timeout,
            "the writer processes to be ready",
            diagnostics=self.logs,
        )
        self.go_file.touch()

    def wait(self, timeout: float = 120) -> list[dict[str, Any]]:
        """Wait for every writer to finish; returns their JSON summaries."""
        summaries = []
        deadline = time.monotonic() + timeout
        for managed in self.processes:
            assert managed.proc is not None
            try:
                managed.proc.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{managed.name} did not finish\n{self.logs()}") from None
            assert managed.proc.returncode == 0, f"{managed.name} failed\n{self.logs()}"
            lines = managed.log_path.read_text().splitlines()
            summary = next(ln for ln in reversed(lines) if ln.startswith(SUMMARY_PREFIX))
            summaries.append(json.loads(summary.removeprefix(SUMMARY_PREFIX)))
        return summaries

    def stop(self) -> None:
        """Ask writers that run until stopped to finish (see ``WriterPlan.stop_file``)."""
        (self.ready_dir / "stop").touch()

    def finished(self) -> bool:
        return all(p.proc is not None and p.proc.poll() is not None for p in self.processes)

    def logs(self) -> str:
        return "\n".join(p.log_text(20) for p in self.processes)


UNTIL_STOPPED = Path("until-stopped")
"""``WriterPlan(stop_file=UNTIL_STOPPED)``: the writers adjust stock until ``stop()``."""


def start_writers(
    group: ProcessGroup, count: int, plan: WriterPlan, *, auto_go: bool = True
) -> WriterProcesses:
    """Start ``count`` writer processes on ``group``'s database, all writing at once."""
    work = group.log_dir / f"writers-{uuid.uuid4().hex[:6]}"
    work.mkdir()
    go_file = work / "go"
    if plan.stop_file is not None:
        plan = replace(plan, stop_file=work / "stop")
    processes = [
        group.spawn(f"writer-{work.name}-{i}", plan.argv(group.database_url, i, go_file, work))
        for i in range(count)
    ]
    writers = WriterProcesses(processes, go_file, work)
    if auto_go:
        writers.go()
    return writers


@dataclass
class WriteSummary:
    commands: int = 0
    last_position: int = 0
    conflicts: int = 0
    seconds: float = 0.0


def write_commands(
    container: Any,
    plan: WriterPlan,
    seed: int = 0,
    *,
    ready: Callable[[], None] | None = None,
) -> WriteSummary:
    """Run ``plan``'s commands through the Applications of ``container``.

    Products are listed several per save (one transaction, several aggregates), then orders
    are placed on them and some paid or cancelled, then stock is adjusted (on
    ``plan.shared`` every third time: version races between writers).
    """
    from application.errors import ConcurrencyConflictError
    from application.orders import PlaceOrder, RecordPayment, RequestedLine
    from domain.catalog.aggregates import Product
    from domain.shared.money import Money

    rng = random.Random(seed)
    summary = WriteSummary()
    pace = 1.0 / plan.rate if plan.rate > 0 else 0.0
    if ready is not None:
        ready()
    started = next_at = time.monotonic()

    def record(position: int | None) -> None:
        nonlocal next_at
        if position is not None:
            summary.commands += 1
            summary.last_position = max(summary.last_position, position)
        if pace:
            next_at = max(next_at + pace, time.monotonic() - 1.0)
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    own: list[uuid.UUID] = []
    while len(own) < plan.products:
        batch = [
            Product.list(
                title=f"Writer {seed} product {len(own) + i}",
                description="made by a fault-test writer",
                category=rng.choice(["dresses", "shirts", "shoes", "bags"]),
                brand=rng.choice(["Nord", "Sud", "Est"]),
                price=Money(rng.randrange(1000, 90000), "EUR"),
            )
            for i in range(min(plan.listing_batch, plan.products - len(own)))
        ]
        recordings = container.catalog.save(*batch)
        own += [p.id for p in batch]
        record(max(r.notification.id for r in recordings))
    for n in range(plan.orders):
        placed = container.orders.place_order(
            PlaceOrder(
                customer_id=f"customer-{seed}-{n % 7}",
                currency="EUR",
                lines=[RequestedLine(rng.choice(own), rng.randrange(1, 3))],
            )
        )
        record(placed.position)
        order = placed.aggregate
        if n % 3 == 0:
            record(container.orders.cancel_order(order.id, "changed mind").position)
        elif n % 3 == 1:
            paid = container.orders.record_payment(
                RecordPayment(order.id, order.total, "card", f"psp-{n}")
            )
            record(paid.position)
    shared = [uuid.UUID(s) for s in plan.shared]
    for n in range(plan.adjustments):
        if plan.stop_file is not None and plan.stop_file.exists():
            break
        target = rng.choice(shared) if shared and n % 3 == 0 else rng.choice(own)
        try:
            result = container.catalog.adjust_stock(target, rng.randrange(1, 9), f"w{n}")
        except ConcurrencyConflictError:
            summary.conflicts += 1
            continue
        record(result.position)
    summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _writer_main(argv: Sequence[str]) -> int:
    """One writer process: bootstraps a Container and runs :func:`write_commands`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--products", type=int, default=40)
    parser.add_argument("--adjustments", type=int, default=300)
    parser.add_argument("--orders", type=int, default=0)
    parser.add_argument("--listing-batch", type=int, default=4)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--shared", action="append", default=[])
    parser.add_argument("--stop-file", type=Path, default=None)
    parser.add_argument("--go-file", required=True)
    parser.add_argument("--ready-file", required=True)
    args = parser.parse_args(argv)

    from dataclasses import asdict

    from infrastructure.bootstrap import bootstrap
    from infrastructure.settings import Settings

    plan = WriterPlan(
        products=args.products,
        adjustments=args.adjustments,
        orders=args.orders,
        listing_batch=args.listing_batch,
        rate=args.rate,
        shared=args.shared,
        stop_file=args.stop_file,
    )

    def ready() -> None:
        """Tell the test we are ready; start when it says go (all writers at once)."""
        Path(args.ready_file).touch()
        deadline = time.monotonic() + 120
        while not Path(args.go_file).exists():
            if time.monotonic() > deadline:
                raise SystemExit("writer: no go signal")
            time.sleep(0.01)

    settings = replace(Settings.from_env(), db_pool_size=2, db_pool_max_overflow=2)
    container = bootstrap(settings, args.database_url)
    try:
        summary = write_commands(container, plan, args.seed, ready=ready)
    finally:
        container.close()
    print(SUMMARY_PREFIX + json.dumps({"seed": args.seed, **asdict(summary)}), flush=True)
    return 0


# -- the database side ---------------------------------------------------------------------


def fetch(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return conn.execute(query, params or None).fetchall()  # type: ignore[arg-type]


def fetch_read_model(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Like :func:`fetch`, but a read model whose worker has not created it yet is empty."""
    try:
        return fetch(database_url, query, *params)
    except psycopg.errors.UndefinedTable:
        return []


def event_store_head(database_url: str) -> int:
    [(head,)] = fetch(database_url, "SELECT coalesce(max(notification_id), 0) FROM modiste_events")
    return int(head)


def projection_positions(database_url: str) -> dict[str, int]:
    try:
        rows = fetch(database_url, "SELECT name, position FROM read.projection_positions")
    except psycopg.errors.UndefinedTable:
        return {}
    return {name: int(position) for name, position in rows}


def caught_up(database_url: str, names: Sequence[str] = ("catalog", "orders")) -> bool:
    head = event_store_head(database_url)
    positions = projection_positions(database_url)
    return head > 0 and all(positions.get(name, 0) >= head for name in names)


def read_model_snapshot(
    database_url: str, names: Sequence[str] = ("catalog", "orders")
) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the named read models' tables, plus their per-aggregate versions."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in names:
            for table, order in READ_MODEL_TABLES[name].items():
                snapshot[table] = conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            snapshot[f"versions:{name}"] = conn.execute(
                "SELECT aggregate_id, version FROM read.projection_versions "
                "WHERE projection = %s ORDER BY aggregate_id",
                (name,),
            ).fetchall()
    return snapshot


def describe_difference(
    live: dict[str, list[tuple[Any, ...]]], rebuilt: dict[str, list[tuple[Any, ...]]]
) -> str:
    lines = []
    for table in live:
        a, b = live[table], rebuilt.get(table, [])
        if a == b:
            continue
        only_live = [row for row in a if row not in set(b)]
        only_rebuilt = [row for row in b if row not in set(a)]
        lines.append(
            f"{table}: {len(a)} live rows, {len(b)} rebuilt; "
            f"only live {only_live[:3]}; only rebuilt {only_rebuilt[:3]}"
        )
    return "\n".join(lines)


def expected_versions(database_url: str, context_module: str) -> dict[str, int]:
    """The latest version of every aggregate whose events come from ``context_module``."""
    rows = fetch(
        database_url,
        "SELECT originator_id::text, max(originator_version) FROM modiste_events "
        "WHERE topic LIKE %s GROUP BY originator_id",
        f"domain.{context_module}.%",
    )
    return {aggregate_id: int(version) for aggregate_id, version in rows}


def committed_events(database_url: str) -> list[tuple[int, str]]:
    """(notification id, '<aggregate id>:<version>') of every committed event, in order."""
    rows = fetch(
        database_url,
        "SELECT notification_id, originator_id::text || ':' || originator_version "
        "FROM modiste_events ORDER BY notification_id",
    )
    return [(int(position), msg_id) for position, msg_id in rows]


async def rebuild_in_process(database_url: str, names: Sequence[str]) -> None:
    """Rebuild read models from the event store (shadow tables, then swap)."""
    import asyncpg

    from infrastructure.bootstrap import bootstrap
    from infrastructure.eventstore.log import EventLog
    from infrastructure.settings import Settings
    from projections.rebuild import rebuild_projection
    from projections.registry import all_projectors

    container = await asyncio.to_thread(bootstrap, Settings.from_env(), database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        for name in names:
            await rebuild_projection(
                pool,
                EventLog(container.catalog),
                all_projectors()[name],
                database_url=database_url,
            )
    finally:
        await pool.close()
        container.close()


def assert_equals_rebuild(database_url: str, names: Sequence[str] = ("catalog", "orders")) -> None:
    """The live read models, row for row, equal a from-scratch rebuild from the event store.

    Call it once nothing writes to the read models any more (workers stopped or caught up
    with nothing left to write).
    """
    live = read_model_snapshot(database_url, names)
    asyncio.run(rebuild_in_process(database_url, names))
    rebuilt = read_model_snapshot(database_url, names)
    assert live == rebuilt, "live read models differ from a rebuild:\n" + describe_difference(
        live, rebuilt
    )
    assert all(rows for table, rows in live.items() if table.startswith("read.catalog")), live


# -- the stream side -----------------------------------------------------------------------


@dataclass(frozen=True)
class StreamMessage:
    seq: int
    subject: str
    msg_id: str
    position: int


async def stream_messages(nats_url: str, stream: str = STREAM) -> list[StreamMessage]:
    """Every message in ``stream`` in stream order (an ephemeral consumer, no acks)."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        total = info.state.messages
        out: list[StreamMessage] = []
        if not total:
            return out
        subscription = await js.pull_subscribe(
            "modiste.events.>",
            stream=stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=30,
            ),
        )
        deadline = time.monotonic() + 60
        while len(out) < total and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                for msg in await subscription.fetch(min(1000, total - len(out)), timeout=2):
                    headers = msg.headers or {}
                    out.append(
                        StreamMessage(
                            seq=msg.metadata.sequence.stream,
                            subject=msg.subject,
                            msg_id=headers.get("Nats-Msg-Id", ""),
                            position=int(headers.get("Modiste-Position", 0)),
                        )
                    )
        await subscription.unsubscribe()
        return out
    finally:
        await nc.drain()


def assert_stream_matches_store(database_url: str, nats_url: str) -> list[StreamMessage]:
    """Every committed event is in the stream exactly once, in notification-id order."""
    committed = committed_events(database_url)
    messages = asyncio.run(stream_messages(nats_url))
    msg_ids = [m.msg_id for m in messages]
    duplicates = len(msg_ids) - len(set(msg_ids))
    assert duplicates == 0, f"{duplicates} events are in the stream more than once"
    positions = [m.position for m in messages]
    assert positions == sorted(positions), "the stream is not in notification-id order"
    missing = sorted(set(committed) - {(m.position, m.msg_id) for m in messages})
    assert not missing, f"{len(missing)} committed events never reached the stream: {missing[:5]}"
    assert [(m.position, m.msg_id) for m in messages] == committed
    return messages


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "write":
        sys.exit(_writer_main(sys.argv[2:]))
    sys.exit(f"usage: {sys.argv[0]} write ...")
