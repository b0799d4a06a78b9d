"""Write-path benchmark: commands through our Applications against raw psycopg inserts.

    python tests/bench/bench_write.py [--seconds 5] [--clients 32]

Measured side by side in one run, on one PostgreSQL database:

* ``adjust_stock`` commands (load the Product from its snapshot and events, run the command,
  save one StockAdjusted) through CatalogApplication, on distinct products so that no two
  clients touch one stream: 1 client thread, then ``--clients`` threads;
* the same command on products whose streams start at 10 events and at 10,000 events
  (snapshots every MODISTE_SNAPSHOT_INTERVAL = 50 events keep a load to one snapshot plus
  fewer than 50 events);
* raw psycopg baselines writing rows of the same shape as ``modiste_events`` rows (a real
  StockAdjusted row's topic and state) into a same-shaped scratch table: one row per
  transaction on 1 and on ``--clients`` connections; the same with the library's
  ``LOCK TABLE ... IN EXCLUSIVE MODE`` + ``NOTIFY`` per transaction (what our event store
  does to keep notification ids in commit order); and COPY batches of 100 rows.

Printed: operations (commands or rows) per second, p50 / p99 latency per operation, and each
rate as a ratio to the raw one-row-per-transaction baseline on one connection.

The database is a fresh PostgreSQL started in a temporary directory (the local-mode code),
or, with MODISTE_BENCH_DATABASE_URL, a scratch database created on that server and dropped
afterwards (needs CREATEDB). Not collected by pytest (``--ignore=tests/bench``); no timing
is asserted anywhere. One to two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from application.catalog import CatalogApplication, ListProduct
from domain.catalog.aggregates import Product
from domain.shared.money import Money
from infrastructure.bootstrap import Container, bootstrap
from infrastructure.settings import Settings

SHORT_STREAM = 10
LONG_STREAM = 10_000
SHORT_PRODUCTS = 200
LONG_PRODUCTS = 2
BUILD_CHUNK = 500  # events saved per transaction while building long streams (a multiple of 50)
COPY_BATCH = 100
PRODUCTS_PER_CLIENT = 4
RAW_TABLE = "bench_raw_events"

console = Console() if sys.stdout.isatty() else Console(width=150)


@dataclass(frozen=True)
class Result:
    name: str
    unit: str
    operations: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.operations / self.seconds if self.seconds else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run_timed(
    name: str,
    unit: str,
    clients: int,
    seconds: float,
    make_worker: Callable[[int], Callable[[], int]],
) -> Result:
    """Run ``clients`` threads for ``seconds``; each calls its worker op in a loop.

    ``make_worker(i)`` runs before the clock starts (connections, ids); the op it returns
    performs one timed operation and returns how many units (commands or rows) it wrote.
    """
    ops = [make_worker(i) for i in range(clients)]
    counts = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]
    errors: list[BaseException] = []

    def loop(index: int) -> None:
        op = ops[index]
        start.wait()
        try:
            while (began := time.perf_counter()) < stop_at[0]:
                counts[index] += op()
                latencies[index].append(time.perf_counter() - began)
        except BaseException as exc:  # report, don't hang the barrier
            errors.append(exc)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{name}: {errors[0]!r}") from errors[0]
    flat = [value for per_thread in latencies for value in per_thread]
    result = Result(name, unit, sum(counts), elapsed, flat)
    console.print(
        f"  {name:<52} {result.rate:>9,.0f} {unit}/s  "
        f"p50 {result.percentile_ms(0.5):6.2f} ms  p99 {result.percentile_ms(0.99):6.2f} ms"
    )
    return result


# -- the database ---------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database() -> Iterator[tuple[str, str]]:
    """(database URL, where it runs): a scratch database on the given server, or a new
    local PostgreSQL in a temporary directory."""
    given = os.environ.get("MODISTE_BENCH_DATABASE_URL")
    if given:
        name = f"modiste_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(given, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield (
                urlunparse(urlparse(given)._replace(path=f"/{name}")),
                "MODISTE_BENCH_DATABASE_URL",
            )
        finally:
            with psycopg.connect(given, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
        return

    from infrastructure.local import LocalPostgres

    with tempfile.TemporaryDirectory(prefix="modiste-bench-") as tmp:
        postgres = LocalPostgres(Path(tmp) / "postgres")
        try:
            yield postgres.start(timeout=120), "local PostgreSQL in a temporary directory"
        finally:
            postgres.stop()


# -- through the Applications ---------------------------------------------------------------


def list_products(catalog: CatalogApplication, count: int, events_each: int) -> list[uuid.UUID]:
    """``count`` products whose streams hold ``events_each`` events (listed + adjustments),
    saved in chunks of BUILD_CHUNK events per transaction (snapshots taken as usual)."""
    ids: list[uuid.UUID] = []
    for index in range(count):
        result = catalog.list_product(
            ListProduct(
                title=f"Bench jacket {index}",
                description="",
                category="Jackets",
                brand="Bench",
                price=Money(19900, "EUR"),
            )
        )
        product = result.aggregate
        while product.version < events_each:
            for _ in range(min(BUILD_CHUNK, events_each - product.version)):
                product.adjust_stock(1, "bench build")
            catalog.save(product)
        ids.append(product.id)
    return ids


def command_worker(catalog: CatalogApplication, product_ids: list[uuid.UUID]) -> Callable[[], int]:
    """One adjust_stock command per call, cycling over ``product_ids``."""
    position = [0]

    def op() -> int:
        product_id = product_ids[position[0] % len(product_ids)]
        position[0] += 1
        catalog.adjust_stock(product_id, 1, "bench")
        return 1

    return op


def stream_lengths(database_url: str, product_ids: list[uuid.UUID]) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT min(v), max(v) FROM (SELECT max(originator_version) AS v "
            "FROM modiste_events WHERE originator_id = ANY(%s) GROUP BY originator_id) s",
            (product_ids,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def bench_applications(
    container: Container, database_url: str, seconds: float, clients: int
) -> list[Result]:
    catalog = container.catalog
    results: list[Result] = []
    console.print("[bold]Through CatalogApplication.adjust_stock[/bold]")

    distinct = list_products(catalog, clients * PRODUCTS_PER_CLIENT, 1)
    warmup = command_worker(catalog, distinct)
    for _ in range(100):
        warmup()

    def own_products(index: int) -> Callable[[], int]:
        share = distinct[index * PRODUCTS_PER_CLIENT : (index + 1) * PRODUCTS_PER_CLIENT]
        return command_worker(catalog, share)

    results.append(run_timed("app: 1 client, distinct products", "cmd", 1, seconds, own_products))
    results.append(
        run_timed(
            f"app: {clients} clients, distinct products", "cmd", clients, seconds, own_products
        )
    )

    began = time.perf_counter()
    short = list_products(catalog, SHORT_PRODUCTS, SHORT_STREAM)
    long = list_products(catalog, LONG_PRODUCTS, LONG_STREAM)
    console.print(
        f"  (built {SHORT_PRODUCTS} streams of {SHORT_STREAM} and {LONG_PRODUCTS} of "
        f"{LONG_STREAM:,} events in {time.perf_counter() - began:.1f} s)"
    )
    for label, ids in ((f"{SHORT_STREAM}", short), (f"{LONG_STREAM:,}", long)):
        before = stream_lengths(database_url, ids)
        result = run_timed(
            f"app: 1 client, streams of {label} events",
            "cmd",
            1,
            seconds,
            lambda _i, ids=ids: command_worker(catalog, ids),
        )
        after = stream_lengths(database_url, ids)
        console.print(
            f"    stream lengths {before[0]:,}-{before[1]:,} -> {after[0]:,}-{after[1]:,}"
        )
        results.append(result)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM modiste_snapshots WHERE originator_id = ANY(%s)", (long,)
        ).fetchone()
    console.print(f"    snapshots of the long streams: {row[0] if row else 0:,}")
    product = catalog.get_product(long[0])
    assert isinstance(product, Product) and product.version >= LONG_STREAM
    return results


# -- raw psycopg ----------------------------------------------------------------------------


def create_raw_table(database_url: str) -> tuple[str, bytes]:
    """A scratch table shaped like modiste_events; returns a real StockAdjusted (topic, state)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
        conn.execute(
            f"CREATE TABLE {RAW_TABLE} ("
            "originator_id uuid NOT NULL, "
            "originator_version bigint NOT NULL, "
            "topic text, "
            "state bytea, "
            "notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        )
        conn.execute(
            f"CREATE UNIQUE INDEX {RAW_TABLE}_notification_id_idx "
            f"ON {RAW_TABLE} (notification_id ASC)"
        )
        row = conn.execute(
            "SELECT topic, state FROM modiste_events WHERE topic LIKE %s "
            "ORDER BY notification_id DESC LIMIT 1",
            ("%StockAdjusted",),
        ).fetchone()
    if row is None:
        raise RuntimeError("no StockAdjusted event recorded to copy the shape of")
    return str(row[0]), bytes(row[1])


_connections: list[psycopg.Connection[tuple[object, ...]]] = []


def connect(database_url: str, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
    """A connection closed by close_connections() after the measurement."""
    conn = psycopg.connect(database_url, **kwargs)  # type: ignore[arg-type]
    _connections.append(conn)
    return conn


def close_connections() -> None:
    while _connections:
        _connections.pop().close()


INSERT = sql.SQL(
    f"INSERT INTO {RAW_TABLE} (originator_id, originator_version, topic, state) "
    "VALUES (%s, %s, %s, %s) RETURNING notification_id"
)


def raw_insert_worker(
    database_url: str, topic: str, state: bytes, *, library_style: bool
) -> Callable[[], int]:
    """One row per transaction; ``library_style`` adds the event store's LOCK TABLE + NOTIFY."""
    conn = connect(database_url, prepare_threshold=0)
    originator = uuid.uuid4()
    version = [0]

    def op() -> int:
        version[0] += 1
        with conn.transaction():
            if library_style:
                conn.execute(f"LOCK TABLE {RAW_TABLE} IN EXCLUSIVE MODE")
                conn.execute(f"NOTIFY {RAW_TABLE}")
            conn.execute(INSERT, (originator, version[0], topic, state))
        return 1

    return op


def raw_copy_worker(database_url: str, topic: str, state: bytes) -> Callable[[], int]:
    """COPY of COPY_BATCH rows per transaction."""
    conn = connect(database_url)
    originator = uuid.uuid4()
    version = [0]
    statement = f"COPY {RAW_TABLE} (originator_id, originator_version, topic, state) FROM STDIN"

    def op() -> int:
        with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
            for _ in range(COPY_BATCH):
                version[0] += 1
                copy.write_row((originator, version[0], topic, state))
        return COPY_BATCH

    return op


def bench_raw(database_url: str, seconds: float, clients: int) -> list[Result]:
    topic, state = create_raw_table(database_url)
    console.print(
        f"[bold]Raw psycopg into {RAW_TABLE}[/bold] (rows shaped like modiste_events: "
        f"topic {topic.rsplit('.', 1)[-1]}, state {len(state)} bytes)"
    )
    results = []
    for library_style, label in ((False, "INSERT"), (True, "LOCK TABLE + NOTIFY + INSERT")):
        for n in (1, clients):
            results.append(
                run_timed(
                    f"raw: {label}, 1 row/txn, {n} conn{'s' if n > 1 else ''}",
                    "row",
                    n,
                    seconds,
                    lambda _i, ls=library_style: raw_insert_worker(
                        database_url, topic, state, library_style=ls
                    ),
                )
            )
            close_connections()
    results.append(
        run_timed(
            f"raw: COPY, {COPY_BATCH} rows/txn, 1 conn",
            "row",
            1,
            seconds,
            lambda _i: raw_copy_worker(database_url, topic, state),
        )
    )
    close_connections()
    return results


# -- report ---------------------------------------------------------------------------------


def report(results: list[Result], baseline: Result, environment: str, clients: int) -> None:
    table = Table(title=f"Write path ({environment})", title_justify="left")
    table.add_column("measurement")
    table.add_column("ops", justify="right")
    table.add_column("per second", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    table.add_column("vs raw 1-row/txn", justify="right")
    for result in results:
        table.add_row(
            result.name,
            f"{result.operations:,}",
            f"{result.rate:,.0f} {result.unit}/s",
            f"{result.percentile_ms(0.5):.2f}",
            f"{result.percentile_ms(0.99):.2f}",
            f"{result.rate / baseline.rate:.2f}x",
        )
    console.print(table)
    by_name = {result.name: result for result in results}
    short = next(r for n, r in by_name.items() if f"streams of {SHORT_STREAM} " in n)
    long = next(r for n, r in by_name.items() if f"streams of {LONG_STREAM:,} " in n)
    console.print(
        f"stream length {LONG_STREAM:,} vs {SHORT_STREAM}: "
        f"{long.rate / short.rate:.2f}x the command rate"
    )
    scaling = []
    for prefix in ("app: ", "raw: INSERT, ", "raw: LOCK TABLE + NOTIFY + INSERT, "):
        rows = [r for n, r in by_name.items() if n.startswith(prefix) and "distinct" in n] or [
            r for n, r in by_name.items() if n.startswith(prefix) and "1 row/txn" in n
        ]
        if len(rows) == 2:
            scaling.append(f"{prefix.rstrip(', :')} {rows[1].rate / rows[0].rate:.2f}x")
    console.print(f"1 -> {clients} clients: " + ", ".join(scaling))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--clients", type=int, default=32, help="concurrent threads")
    args = parser.parse_args(argv)

    with bench_database() as (database_url, where):
        settings = replace(
            Settings.from_env(),
            db_pool_size=args.clients + 2,
            db_pool_max_overflow=8,
            log_level="WARNING",
        )
        container = bootstrap(settings, database_url)
        try:
            with psycopg.connect(database_url) as conn:
                version = conn.execute("SHOW server_version").fetchone()
            environment = (
                f"PostgreSQL {version[0] if version else '?'}, {where}, "
                f"{os.cpu_count()} CPUs, Product snapshots every "
                f"{container.catalog.snapshotting_intervals.get(Product)} events"
            )
            console.print(f"[bold]bench_write[/bold]: {environment}")
            results = bench_applications(container, database_url, args.seconds, args.clients)
            results += bench_raw(database_url, args.seconds, args.clients)
        finally:
            container.close()
    baseline = next(r for r in results if r.name == "raw: INSERT, 1 row/txn, 1 conn")
    report(results, baseline, environment, args.clients)


if __name__ == "__main__":
    main()
