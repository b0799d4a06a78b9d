"""Fan-out benchmark: relay throughput, commit-to-read-model latency, rebuild rate.

    python tests/bench/bench_fanout.py [--relay-events 50000] [--rebuild-events 200000]
                                       [--rate 200] [--seconds 20]

Measured side by side in one run, on one PostgreSQL and one NATS server:

* **relay**: a backlog of ``--relay-events`` catalog events in the event store, relayed to
  JetStream by the Relay (the library's LISTEN/NOTIFY subscription, decode, msgspec
  encode, pipelined ``publish_async`` in batches of 500, position saved after the acks),
  beside a raw nats-py baseline that publishes the same payloads and headers with
  ``publish_async`` in windows of 500 to a stream of the same settings (nothing read from
  PostgreSQL, nothing decoded);
* **latency**: ``modiste relay`` and ``modiste worker --group projections`` as processes
  (every projector, then ``--only catalog``), while ``--rate`` stock adjustments per second
  are committed for ``--seconds`` by 40 threads: the time from a command's commit to the
  catalog read model's position reaching it (rows and position are written in one
  transaction), p50 / p99 / max at a 2 ms poll, and the part of it until JetStream had
  acknowledged the event (the relay's saved position);
* **rebuild**: ``rebuild_projection`` of the catalog read model (shadow tables, swap)
  over ``--rebuild-events`` events, beside a raw baseline on the same rows in the same
  database: COPY of the event rows out of ``modiste_events`` to this client and COPY back
  into a plain table of the same shape.

Events are real aggregates' events (a listing, price changes and stock adjustments per
product) encoded by the library's mapper and COPYed into ``modiste_events`` under the
library's table lock, so the rows are exactly what ``save`` would have written.

The servers are a fresh PostgreSQL and NATS in a temporary directory (the local-mode code),
or MODISTE_BENCH_DATABASE_URL (scratch databases are created there and dropped; needs
CREATEDB) and MODISTE_BENCH_NATS_URL (a scratch server: the bench deletes and recreates the
MODISTE_EVENTS streams). Not collected by pytest; no timing is asserted anywhere. About
five minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import asyncpg
import nats
import psycopg
from nats.js.errors import NotFoundError
from psycopg import sql
from rich.console import Console
from rich.table import Table

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from application.catalog import ListProduct  # noqa: E402
from domain.catalog.aggregates import Product  # noqa: E402
from domain.shared.money import Money  # noqa: E402
from infrastructure.bootstrap import Container, bootstrap  # noqa: E402
from infrastructure.eventstore.log import EventLog  # noqa: E402
from infrastructure.messaging.codec import encode_envelope  # noqa: E402
from infrastructure.messaging.relay import Relay, RelayPositionStore, message_headers  # noqa: E402
from infrastructure.messaging.stream import StreamSettings  # noqa: E402
from infrastructure.settings import Settings  # noqa: E402
from projections.catalog import CatalogProjector  # noqa: E402
from projections.rebuild import rebuild_projection  # noqa: E402
from projections.runner import ensure_projection_tables  # noqa: E402

EVENTS_PER_PRODUCT = 10  # ProductListed, 2 PriceChanged, 7 StockAdjusted
PUBLISH_WINDOW = 500  # the relay's batch size
RAW_STREAM = "BENCH_RAW"
POLL_SECONDS = 0.002
CLIENTS = 40  # writer threads: a command waits ~30 ms on its commit here, so 200/s needs many

console = Console() if sys.stdout.isatty() else Console(width=150)


@dataclass(frozen=True)
class Rate:
    name: str
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


# -- servers --------------------------------------------------------------------------------


@dataclass
class Servers:
    admin_url: str
    nats_url: str
    where: str
    created: list[str]

    def database(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return urlunparse(urlparse(self.admin_url)._replace(path=f"/{name}"))

    def drop_databases(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            for name in self.created:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


@contextlib.contextmanager
def bench_servers() -> Iterator[Servers]:
    given_db = os.environ.get("MODISTE_BENCH_DATABASE_URL")
    given_nats = os.environ.get("MODISTE_BENCH_NATS_URL")
    with tempfile.TemporaryDirectory(prefix="modiste-bench-") as tmp:
        from infrastructure.local import LocalNats, LocalPostgres

        postgres = None if given_db else LocalPostgres(Path(tmp) / "postgres")
        server = None if given_nats else LocalNats(Path(tmp) / "nats")
        try:
            admin_url = given_db or postgres.start(timeout=120)  # type: ignore[union-attr]
            nats_url = given_nats or server.start()  # type: ignore[union-attr]
            where = (
                ("MODISTE_BENCH_DATABASE_URL" if given_db else "local PostgreSQL")
                + " and "
                + ("MODISTE_BENCH_NATS_URL" if given_nats else "local NATS")
                + (" in a temporary directory" if not (given_db and given_nats) else "")
            )
            servers = Servers(admin_url, nats_url, where, [])
            try:
                yield servers
            finally:
                if given_db:
                    servers.drop_databases()
        finally:
            if server is not None:
                server.stop()
            if postgres is not None:
                postgres.stop()


async def reset_streams(nats_url: str, *names: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for name in names:
            with contextlib.suppress(NotFoundError):
                await js.delete_stream(name)
    finally:
        await nc.drain()


def quiet_settings() -> Settings:
    return replace(
        Settings.from_env(), db_pool_size=CLIENTS + 4, db_pool_max_overflow=8, log_level="WARNING"
    )


# -- generating events ----------------------------------------------------------------------


def generate_catalog_events(container: Container, database_url: str, total: int) -> int:
    """About ``total`` catalog events: real aggregates' events, encoded by the library's
    mapper, COPYed into ``modiste_events`` under the library's table lock (notification ids
    in order). Much faster than ``save`` for hundreds of thousands of events, same rows.
    Returns the event store's head."""
    mapper = container.catalog.mapper
    with psycopg.connect(database_url) as conn:
        with conn.transaction():
            conn.execute("LOCK TABLE modiste_events IN EXCLUSIVE MODE")
            with conn.cursor().copy(
                "COPY modiste_events (originator_id, originator_version, topic, state) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for n in range(max(1, total // EVENTS_PER_PRODUCT)):
                    product = Product.list(
                        title=f"Bench product {n}",
                        description="generated by bench_fanout",
                        category=("dresses", "shirts", "shoes", "bags")[n % 4],
                        brand=("Nord", "Sud", "Est", "Ouest")[n % 4],
                        price=Money(1000 + n % 50_000, "EUR"),
                    )
                    product.change_price(Money(2000 + n % 40_000, "EUR"))
                    for k in range(EVENTS_PER_PRODUCT - 3):
                        product.adjust_stock(1 + k % 5, "bench")
                    product.change_price(Money(3000 + n % 30_000, "EUR"))
                    for event in product.collect_events():
                        stored = mapper.to_stored_event(event)
                        copy.write_row(
                            (
                                stored.originator_id,
                                stored.originator_version,
                                stored.topic,
                                stored.state,
                            )
                        )
        conn.execute("ANALYZE modiste_events")
        conn.commit()
    return EventLog(container.catalog).head()


# -- relay throughput -----------------------------------------------------------------------


async def relay_backlog(container: Container, database_url: str, nats_url: str) -> Rate:
    """Time the Relay from start until its position reaches the head of the store."""
    event_log = EventLog(container.catalog)
    head = event_log.head()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    relay = Relay(event_log, RelayPositionStore(pool), nats_url, StreamSettings())
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    try:
        while relay.position < head:
            if task.done():
                task.result()
                raise RuntimeError("the relay stopped early")
            await asyncio.sleep(0.005)
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        await task
        await pool.close()
    return Rate("relay: event store -> JetStream", relay.stats.published, seconds)


async def raw_publish(container: Container, nats_url: str) -> Rate:
    """The same payloads and headers published straight from memory (no PostgreSQL)."""
    from nats.js.api import StreamConfig

    from infrastructure.messaging.stream import stream_config

    envelopes = list(EventLog(container.catalog).iterate(0))
    messages = []
    for envelope in envelopes:
        headers = message_headers(envelope)
        headers["Nats-Msg-Id"] = f"raw:{headers['Nats-Msg-Id']}"
        messages.append(
            (f"bench.raw.{envelope.context}.{envelope.type}", encode_envelope(envelope), headers)
        )
    config: StreamConfig = stream_config(StreamSettings())
    config.name = RAW_STREAM
    config.subjects = ["bench.raw.>"]
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream(timeout=30)
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(RAW_STREAM)
        await js.add_stream(config)
        started = time.perf_counter()
        for start in range(0, len(messages), PUBLISH_WINDOW):
            futures = [
                await js.publish_async(subject, payload, headers=headers, wait_stall=30)
                for subject, payload, headers in messages[start : start + PUBLISH_WINDOW]
            ]
            await asyncio.gather(*futures)
        seconds = time.perf_counter() - started
        await js.delete_stream(RAW_STREAM)
    finally:
        await nc.drain()
    return Rate("raw: publish_async of the same payloads", len(messages), seconds)


def bench_relay(servers: Servers, events: int) -> tuple[Rate, Rate]:
    database_url = servers.database("bench_relay")
    container = bootstrap(quiet_settings(), database_url)
    try:
        console.print(f"relay: generating {events:,} events ...")
        generate_catalog_events(container, database_url, events)
        asyncio.run(reset_streams(servers.nats_url, "MODISTE_EVENTS", "MODISTE_EVENTS_DLQ"))
        raw = asyncio.run(raw_publish(container, servers.nats_url))
        relayed = asyncio.run(relay_backlog(container, database_url, servers.nats_url))
    finally:
        container.close()
    return relayed, raw


# -- end-to-end latency ---------------------------------------------------------------------


@dataclass
class Latency:
    label: str
    rate_asked: float
    commands: int
    seconds: float
    latencies: list[float]  # commit -> visible in the catalog read model
    relayed: list[float]  # commit -> acknowledged by JetStream (the relay's saved position)

    @staticmethod
    def percentile_ms(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    def summary(self) -> str:
        p = self.percentile_ms
        return (
            f"{self.label}: {self.commands:,} commands in {self.seconds:.1f} s "
            f"({self.commands / self.seconds:.0f}/s achieved, {self.rate_asked:.0f}/s asked); "
            f"commit -> visible in the catalog read model p50 {p(self.latencies, 0.5):.0f} ms, "
            f"p99 {p(self.latencies, 0.99):.0f} ms, max {p(self.latencies, 1.0):.0f} ms; "
            f"of which commit -> in JetStream p50 {p(self.relayed, 0.5):.0f} ms, "
            f"p99 {p(self.relayed, 0.99):.0f} ms ({len(self.latencies):,} measured, "
            f"{POLL_SECONDS * 1000:.0f} ms poll)"
        )


def spawn(args: list[str], database_url: str, nats_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODISTE_")}
    env.update(
        MODISTE_DATABASE_URL=database_url,
        MODISTE_NATS_URL=nats_url,
        MODISTE_LOG_LEVEL="WARNING",
        MODISTE_LOG_FORMAT="json",
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "interfaces.cli.main", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def positions(conn: psycopg.Connection[tuple[object, ...]]) -> tuple[int, int]:
    """(the relay's saved position, the catalog read model's position)."""
    try:
        row = conn.execute(
            "SELECT (SELECT position FROM relay_positions WHERE name = 'jetstream'), "
            "(SELECT position FROM read.projection_positions WHERE name = 'catalog')"
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        return 0, 0
    assert row is not None
    return int(row[0] or 0), int(row[1] or 0)  # type: ignore[call-overload]


def first_reaching(observed: list[tuple[float, int]], position: int) -> float | None:
    for seen, reached in observed:
        if reached >= position:
            return seen
    return None


def bench_latency(
    servers: Servers, rate: float, seconds: float, log_dir: Path, only: list[str]
) -> Latency:
    database_url = servers.database("bench_latency")
    asyncio.run(reset_streams(servers.nats_url, "MODISTE_EVENTS", "MODISTE_EVENTS_DLQ"))
    container = bootstrap(quiet_settings(), database_url)
    children = [
        spawn(["relay"], database_url, servers.nats_url, log_dir / "relay.log"),
        spawn(
            ["worker", "--group", "projections", *(f"--only={name}" for name in only)],
            database_url,
            servers.nats_url,
            log_dir / "worker.log",
        ),
    ]
    try:
        products = [
            container.catalog.list_product(
                ListProduct(
                    title=f"Latency {i}",
                    description="",
                    category="bags",
                    brand="Nord",
                    price=Money(5000, "EUR"),
                )
            ).aggregate.id
            for i in range(64)
        ]
        head = EventLog(container.catalog).head()
        with psycopg.connect(database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 120
            while positions(conn)[1] < head:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the pipeline did not start; see {log_dir}")
                time.sleep(0.05)
        label = "catalog projector only" if only else "every projector"
        console.print(f"latency ({label}): {rate:.0f} commands/s for {seconds:.0f} s ...")

        commits: list[tuple[float, int]] = []
        observed: list[tuple[float, int]] = []
        relayed: list[tuple[float, int]] = []
        done = threading.Event()

        def watch() -> None:
            with psycopg.connect(database_url, autocommit=True) as conn:
                last = last_relayed = 0
                while not done.is_set():
                    relay_position, position = positions(conn)
                    now = time.monotonic()
                    if position != last:
                        observed.append((now, position))
                        last = position
                    if relay_position != last_relayed:
                        relayed.append((now, relay_position))
                        last_relayed = relay_position
                    time.sleep(POLL_SECONDS)

        clients = CLIENTS
        lock = threading.Lock()

        def write(index: int) -> None:
            interval = clients / rate
            next_at = started + index * interval / clients
            n = index
            while next_at < started + seconds and time.monotonic() < started + seconds:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                result = container.catalog.adjust_stock(products[n % len(products)], 1, "bench")
                committed = time.monotonic()
                with lock:
                    commits.append((committed, result.position or 0))
                n += clients
                next_at += interval

        watcher = threading.Thread(target=watch)
        watcher.start()
        started = time.monotonic()
        writers = [threading.Thread(target=write, args=(i,)) for i in range(clients)]
        for thread in writers:
            thread.start()
        for thread in writers:
            thread.join()
        elapsed = time.monotonic() - started
        last_position = max(p for _, p in commits)
        deadline = time.monotonic() + 60
        while (not observed or observed[-1][1] < last_position) and time.monotonic() < deadline:
            time.sleep(0.01)
        done.set()
        watcher.join()
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
        container.close()
    latencies, in_stream = [], []
    for committed, position in commits:
        seen = first_reaching(observed, position)
        acked = first_reaching(relayed, position)
        if seen is not None:
            latencies.append(max(0.0, seen - committed))
        if acked is not None:
            in_stream.append(max(0.0, acked - committed))
    return Latency(label, rate, len(commits), elapsed, latencies, in_stream)


# -- rebuild --------------------------------------------------------------------------------


async def rebuild_catalog(database_url: str, container: Container, pipelined: bool) -> Rate:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        projector = CatalogProjector()
        await ensure_projection_tables(pool, projector)
        result = await rebuild_projection(
            pool,
            EventLog(container.catalog),
            projector,
            database_url=database_url if pipelined else None,
        )
    finally:
        await pool.close()
    how = "psycopg pipeline" if pipelined else "asyncpg, a round trip per statement"
    return Rate(f"rebuild: catalog read model ({how})", result.events, result.seconds)


def raw_copy(database_url: str) -> Rate:
    """COPY the event rows out to this client and back into a plain table."""
    with psycopg.connect(database_url) as source, psycopg.connect(database_url) as target:
        target.execute(
            "CREATE TABLE bench_copied_events (notification_id bigint, originator_id uuid, "
            "originator_version bigint, topic text, state bytea)"
        )
        target.commit()
        rows = 0
        started = time.perf_counter()
        with (
            source.cursor().copy(
                "COPY (SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM modiste_events ORDER BY notification_id) TO STDOUT (FORMAT BINARY)"
            ) as out,
            target.cursor().copy("COPY bench_copied_events FROM STDIN (FORMAT BINARY)") as into,
        ):
            for chunk in out:
                into.write(chunk)
        target.commit()
        seconds = time.perf_counter() - started
        rows = target.execute("SELECT count(*) FROM bench_copied_events").fetchone()[0]  # type: ignore[index]
        target.execute("DROP TABLE bench_copied_events")
        target.commit()
    return Rate("raw: COPY the same rows out and into a plain table", int(rows), seconds)


def bench_rebuild(servers: Servers, events: int, paths: list[str]) -> list[tuple[Rate, Rate]]:
    database_url = servers.database("bench_rebuild")
    container = bootstrap(quiet_settings(), database_url)
    try:
        console.print(f"rebuild: generating {events:,} events ...")
        started = time.perf_counter()
        generate_catalog_events(container, database_url, events)
        console.print(f"  generated in {time.perf_counter() - started:.1f} s")
        raw = raw_copy(database_url)
        rebuilt = [
            asyncio.run(rebuild_catalog(database_url, container, path == "pipelined"))
            for path in paths
        ]
    finally:
        container.close()
    return [(rate, raw) for rate in rebuilt]


# -- report ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--relay-events", type=int, default=50_000)
    parser.add_argument("--rebuild-events", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=200.0, help="commands per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="of steady writes")
    parser.add_argument("--only", choices=["relay", "latency", "rebuild"], action="append")
    parser.add_argument(
        "--rebuild-path",
        choices=["pipelined", "asyncpg"],
        action="append",
        help="how the rebuild applies statements (default: pipelined, what the CLI does)",
    )
    args = parser.parse_args(argv)
    only = set(args.only or ["relay", "latency", "rebuild"])

    with bench_servers() as servers, tempfile.TemporaryDirectory() as logs:
        with psycopg.connect(servers.admin_url) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        environment = (
            f"PostgreSQL {version[0] if version else '?'}, {servers.where}, {os.cpu_count()} CPUs"
        )
        console.print(f"[bold]bench_fanout[/bold]: {environment}")
        rates: list[tuple[Rate, Rate]] = []
        latencies: list[Latency] = []
        if "relay" in only:
            rates.append(bench_relay(servers, args.relay_events))
        if "latency" in only:
            for projectors in ([], ["catalog"]):
                latencies.append(
                    bench_latency(servers, args.rate, args.seconds, Path(logs), projectors)
                )
        if "rebuild" in only:
            rates += bench_rebuild(servers, args.rebuild_events, args.rebuild_path or ["pipelined"])

    table = Table(title=f"Fan-out ({environment})", title_justify="left")
    table.add_column("measurement")
    table.add_column("events", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("events/s", justify="right")
    table.add_column("vs raw", justify="right")
    for ours, raw in rates:
        for rate in (ours, raw):
            table.add_row(
                rate.name,
                f"{rate.events:,}",
                f"{rate.seconds:.2f}",
                f"{rate.per_second:,.0f}",
                f"{ours.per_second / raw.per_second:.2f}x" if rate is ours else "1.00x",
            )
    console.print(table)
    for latency in latencies:
        console.print(latency.summary())


if __name__ == "__main__":
    main()
