"""Vector search benchmark: usearch HNSW (the UsearchIndex adapter) against exact numpy search.

    python tests/bench/bench_search.py [--sizes 100000 1000000] [--data random lowrank]
                                       [--expansion-search 64 128 256] [--max-build-minutes 6]

For each size and data set, unit vectors (dim 512 by default) are indexed with the adapter's
multi-threaded bulk insert; then, side by side in the same run and on the same data,

* exact brute force in numpy (float32 dot products + argpartition), one query at a time on a
  subset of the queries (it is slow at 1M) and batched (blocked matrix products) on all of them;
* HNSW top-k through ``UsearchIndex.search`` one query at a time and ``search_many`` batched,
  for each ``expansion_search`` value.

Printed: QPS, p50 / p99 latency of single queries, recall@k of HNSW against the exact top-k,
and the HNSW / exact speed ratios.

Data sets: ``random`` (uniform on the sphere) is the worst case for any graph index: in 512
dimensions all points are almost equidistant and recall collapses. ``lowrank`` (a 32-dim
latent mixed into 512 dims plus noise) behaves like real embeddings, whose intrinsic dimension
is low. A build projected to overrun ``--max-build-minutes`` is skipped, and says so, so the
run stays bounded on small machines. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from infrastructure.search.usearch_index import UsearchIndex

Matrix = npt.NDArray[np.float32]
IdMatrix = npt.NDArray[np.int64]


def random_unit_vectors(n: int, dim: int, rng: np.random.Generator, chunk: int = 100_000) -> Matrix:
    """``n`` uniformly random unit vectors, generated in chunks to bound peak memory."""
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out


def lowrank_unit_vectors(
    n: int, dim: int, rng: np.random.Generator, rank: int = 32, chunk: int = 100_000
) -> Matrix:
    """Embedding-like unit vectors: a ``rank``-dimensional latent mixed into ``dim`` dimensions
    plus a little isotropic noise. Real CLIP embeddings have a low intrinsic dimension too;
    the mixing matrix is fixed (seed 1) so data and queries share one distribution.
    """
    mixing = np.random.default_rng(1).standard_normal((rank, dim), dtype=np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        block = rng.standard_normal((m, rank), dtype=np.float32) @ mixing
        block += 0.1 * np.sqrt(rank) * rng.standard_normal((m, dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + m] = block
    return out


GENERATORS = {"random": random_unit_vectors, "lowrank": lowrank_unit_vectors}


def exact_search(vectors: Matrix, query: Matrix, limit: int) -> IdMatrix:
    """Exact top-``limit`` by cosine for unit rows: row ids, most similar first.

    ``query`` is one vector (dim,) or a batch (m, dim); the result is (limit,) or (m, limit).
    """
    single = query.ndim == 1
    queries = query[np.newaxis, :] if single else query
    scores = queries @ vectors.T  # (m, n)
    limit = min(limit, vectors.shape[0])
    top = np.argpartition(-scores, limit - 1, axis=1)[:, :limit]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    result = np.take_along_axis(top, order, axis=1).astype(np.int64)
    return result[0] if single else result


def exact_search_blocked(vectors: Matrix, queries: Matrix, limit: int, block: int = 64) -> IdMatrix:
    """``exact_search`` over query blocks, so the score matrix stays small at 1M rows."""
    parts = [
        exact_search(vectors, queries[i : i + block], limit) for i in range(0, len(queries), block)
    ]
    return np.concatenate(parts, axis=0)


def recall_at_k(found: Sequence[Sequence[int]], truth: IdMatrix, k: int) -> float:
    """Share of the exact top-``k`` ids that ``found`` recovered."""
    hits = sum(len(set(f[:k]) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True))
    return hits / (k * len(truth))


@dataclass
class Row:
    method: str
    queries: int
    seconds: float
    latencies_ms: list[float] | None = None
    recall: float | None = None

    @property
    def qps(self) -> float:
        return self.queries / self.seconds

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else None


def time_single(
    fn: Callable[[Matrix], object], queries: Matrix
) -> tuple[float, list[float], list[object]]:
    latencies: list[float] = []
    results: list[object] = []
    start = time.perf_counter()
    for query in queries:
        t0 = time.perf_counter_ns()
        results.append(fn(query))
        latencies.append((time.perf_counter_ns() - t0) / 1e6)
    return time.perf_counter() - start, latencies, results


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'method':<34} {'queries':>7} {'QPS':>10} {'p50 ms':>9} {'p99 ms':>9} {'recall@k':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.method:<34} {row.queries:>7} {row.qps:>10.1f} "
            f"{fmt(row.percentile(50), '.3f'):>9} {fmt(row.percentile(99), '.3f'):>9} "
            f"{fmt(row.recall, '.4f'):>9}"
        )


def build_index(index: UsearchIndex, data: Matrix, args: argparse.Namespace) -> float | None:
    """Bulk-insert ``data`` in chunks; None (and a message) when the build would overrun
    ``--max-build-minutes``: the rate is re-measured after every chunk."""
    n = len(data)
    budget = args.max_build_minutes * 60
    start = time.perf_counter()
    done = 0
    while done < n:
        end = min(n, done + args.chunk)
        index.upsert_many([str(i) for i in range(done, end)], data[done:end], threads=args.threads)
        done = end
        elapsed = time.perf_counter() - start
        projected = elapsed * n / done
        print(
            f"  built {done:,}/{n:,} in {elapsed:.0f} s (projected {projected:.0f} s)",
            end="\r",
            flush=True,
        )
        if done < n and projected > budget:
            print(
                f"\n  SKIPPED: projected build {projected / 60:.1f} min exceeds "
                f"--max-build-minutes {args.max_build_minutes} "
                f"({done / elapsed:,.0f} vectors/s on {args.threads} threads)"
            )
            return None
    print()
    return time.perf_counter() - start


def bench_size(n: int, kind: str, args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    print(
        f"\n== {kind} data, n={n:,} dim={args.dim} k={args.k} threads={args.threads} "
        f"(connectivity={args.connectivity}, expansion_add={args.expansion_add}, f16, "
        f"cosine) ==",
        flush=True,
    )

    t0 = time.perf_counter()
    generate = GENERATORS[kind]
    data = generate(n, args.dim, rng)
    queries = generate(args.queries, args.dim, rng)
    print(f"data generated in {time.perf_counter() - t0:.1f} s", flush=True)

    index = UsearchIndex(args.dim, connectivity=args.connectivity, expansion_add=args.expansion_add)
    build = build_index(index, data, args)
    if build is None:
        return
    print(
        f"HNSW build: {build:.1f} s ({n / build:,.0f} vectors/s on {args.threads} threads)",
        flush=True,
    )

    # Exact ground truth (batched, blocked) for every query; also the batched exact timing.
    t0 = time.perf_counter()
    truth = exact_search_blocked(data, queries, args.k)
    exact_batch = Row("exact numpy, batched", len(queries), time.perf_counter() - t0)
    exact_batch.recall = 1.0

    n_exact = min(args.exact_queries, len(queries))
    seconds, latencies, found = time_single(
        lambda q: exact_search(data, q, args.k), queries[:n_exact]
    )
    exact_single = Row("exact numpy, 1 query", n_exact, seconds, latencies)
    exact_single.recall = recall_at_k(
        [np.asarray(f).tolist() for f in found], truth[:n_exact], args.k
    )

    rows = [exact_single, exact_batch]
    ratios: list[str] = []
    for ef in args.expansion_search:
        index.expansion_search = ef
        index.search(queries[0], args.k)  # warm-up
        seconds, latencies, found = time_single(lambda q: index.search(q, args.k), queries)
        single = Row(f"hnsw ef={ef}, 1 query", len(queries), seconds, latencies)
        single.recall = recall_at_k(
            [[int(m.key) for m in matches] for matches in found],  # type: ignore[attr-defined]
            truth,
            args.k,
        )
        t0 = time.perf_counter()
        batched = index.search_many(queries, args.k, threads=args.threads)
        batch = Row(f"hnsw ef={ef}, batched", len(queries), time.perf_counter() - t0)
        batch.recall = recall_at_k([[int(m.key) for m in ms] for ms in batched], truth, args.k)
        rows += [single, batch]
        p50_exact, p50_hnsw = exact_single.percentile(50), single.percentile(50)
        assert p50_exact is not None and p50_hnsw is not None
        ratios.append(
            f"ef={ef}: single-query QPS x{single.qps / exact_single.qps:,.1f}, "
            f"p50 latency /{p50_exact / p50_hnsw:,.1f}, "
            f"batched QPS x{batch.qps / exact_batch.qps:,.1f} (HNSW vs exact)"
        )
    print_table(rows)
    for line in ratios:
        print(line)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    parser.add_argument(
        "--data", nargs="+", choices=sorted(GENERATORS), default=["random", "lowrank"]
    )
    parser.add_argument("--connectivity", type=int, default=16)
    parser.add_argument("--expansion-add", type=int, default=128)
    parser.add_argument(
        "--max-build-minutes",
        type=float,
        default=6.0,
        help="skip a size whose build is projected to take longer",
    )
    parser.add_argument("--chunk", type=int, default=20_000, help="vectors per bulk insert")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", type=int, default=1000, help="HNSW queries (and recall set)")
    parser.add_argument(
        "--exact-queries",
        type=int,
        default=100,
        help="single-query brute-force timings (slow at 1M)",
    )
    parser.add_argument("--expansion-search", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs", flush=True)
    for n in args.sizes:
        for kind in args.data:
            bench_size(n, kind, args)


if __name__ == "__main__":
    main()
