"""Exact brute force (numpy and JAX) against tuned ScaNN on large item sets, in one run.

    python scripts/benchmark_ann_scale.py --sizes 100000 1000000 [10000000]

Item vectors: clustered synthetic data of dimension 64 (a mixture of `--clusters` Gaussian
centres with per-cluster scales, plus a popularity-like norm spread), so the geometry resembles
trained item embeddings rather than isotropic noise; queries come from the same mixture.
For each size the script prints exact queries/s (numpy, JAX), ScaNN build time and index size,
the ScaNN auto-tuning trials (on one set of queries), and the fastest setting reaching the target
ANN-recall@10, measured again on other queries (ANN recall with its 95% bootstrap interval over
queries, queries/s, and the speed-up over the faster brute force measured in the same run).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from recall_jax.evaluation.bootstrap import Bootstrap  # noqa: E402
from recall_jax.evaluation.metrics import per_user_ann_recall  # noqa: E402
from recall_jax.retrieval.scann_index import ScannIndex, ScannSettings, autotune  # noqa: E402


def clustered_vectors(count: int, dim: int, clusters: int, rng: np.random.Generator,
                      centres: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    if centres is None:
        centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    assignment = rng.integers(0, len(centres), count)
    scales = 0.25 + 0.5 * rng.random(len(centres)).astype(np.float32)
    out = np.empty((count, dim), np.float32)
    for start in range(0, count, 1_000_000):  # bounded temporaries
        stop = min(start + 1_000_000, count)
        block = rng.standard_normal((stop - start, dim), dtype=np.float32)
        block *= scales[assignment[start:stop], None]
        block += centres[assignment[start:stop]]
        block *= rng.lognormal(0.0, 0.25, stop - start).astype(np.float32)[:, None]
        out[start:stop] = block
    return out, centres


def numpy_top_k(queries: np.ndarray, items: np.ndarray, k: int, chunk: int = 200_000):
    best_scores = np.full((len(queries), k), -np.inf, np.float32)
    best_ids = np.zeros((len(queries), k), np.int64)
    for start in range(0, len(items), chunk):
        scores = queries @ items[start:start + chunk].T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        merged_scores = np.concatenate([best_scores, np.take_along_axis(scores, part, 1)], 1)
        merged_ids = np.concatenate([best_ids, part + start], 1)
        keep = np.argsort(-merged_scores, axis=1, kind="stable")[:, :k]
        best_scores = np.take_along_axis(merged_scores, keep, 1)
        best_ids = np.take_along_axis(merged_ids, keep, 1)
    return best_ids


def jax_top_k_fn(items: jax.Array, k: int, chunk: int):
    num_chunks = -(-items.shape[0] // chunk)
    padded = jnp.pad(items, ((0, num_chunks * chunk - items.shape[0]), (0, 0)))
    blocks = padded.reshape(num_chunks, chunk, items.shape[1])
    valid_rows = items.shape[0]

    @jax.jit
    def search_blocks(blocks, queries):  # the table is an argument, not a baked-in constant
        def step(carry, block_and_start):
            scores_so_far, ids_so_far = carry
            block, start = block_and_start
            scores = queries @ block.T
            ids = start + jnp.arange(chunk)
            scores = jnp.where(ids[None] < valid_rows, scores, -jnp.inf)
            top_scores, top_pos = jax.lax.top_k(scores, k)
            merged = jnp.concatenate([scores_so_far, top_scores], 1)
            merged_ids = jnp.concatenate([ids_so_far, ids[top_pos]], 1)
            best, pos = jax.lax.top_k(merged, k)
            return (best, jnp.take_along_axis(merged_ids, pos, 1)), None
        initial = (jnp.full((queries.shape[0], k), -jnp.inf), jnp.zeros((queries.shape[0], k),
                                                                          jnp.int32))
        starts = jnp.arange(num_chunks, dtype=jnp.int32) * chunk
        (scores, ids), _ = jax.lax.scan(step, initial, (blocks, starts))
        return ids
    return lambda queries: search_blocks(blocks, queries)


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    k = exact.shape[1]
    return float(np.mean([len(set(f[:k]) & set(e)) / k for f, e in zip(found, exact)]))


def timed(function, repeats: int = 2) -> tuple[float, object]:
    result = function()  # warm-up (compilation, caches)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=1000,
                        help="queries measured; as many other queries tune ScaNN")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also write results here")
    args = parser.parse_args()

    print(f"JAX {jax.__version__} on {jax.devices()}; dim {args.dim}, {args.queries} queries, "
          f"k={args.k}, target ANN-recall@{args.k} >= {args.target_recall}")
    results = []
    for size in args.sizes:
        rng = np.random.default_rng(args.seed)
        items, centres = clustered_vectors(size, args.dim, args.clusters, rng)
        queries, _ = clustered_vectors(args.queries, args.dim, args.clusters, rng, centres)
        tuning_queries, _ = clustered_vectors(args.queries, args.dim, args.clusters, rng, centres)
        print(f"\n== {size:,} items ({items.nbytes / 2**20:.0f} MiB float32) ==")

        # The lambda runs before `del items` below (ruff reads the deletion as unbound).
        numpy_seconds, exact = timed(lambda: numpy_top_k(queries, items, args.k),  # noqa: F821
                                     repeats=1)
        numpy_qps = args.queries / numpy_seconds
        print(f"exact numpy      : {numpy_qps:10.1f} queries/s")
        search = jax_top_k_fn(jnp.asarray(items), args.k, chunk=min(size, 131_072))
        jax_seconds, jax_ids = timed(lambda: np.asarray(search(jnp.asarray(queries))), repeats=1)
        jax_qps = args.queries / jax_seconds
        print(f"exact JAX        : {jax_qps:10.1f} queries/s "
              f"(agrees with numpy on {recall_at_k(jax_ids, exact):.4f} of top-{args.k})")
        brute_qps = max(numpy_qps, jax_qps)
        tuning_exact = numpy_top_k(tuning_queries, items, args.k)

        num_leaves = int(np.sqrt(size))  # ScaNN guidance: about sqrt(n) partitions
        settings = ScannSettings(num_leaves=num_leaves, num_leaves_to_search=num_leaves // 20,
                                 training_sample_size=min(size, 250_000), dimensions_per_block=2,
                                 anisotropic_quantization_threshold=0.2, reorder=100)
        # Padding row 0, as in the project's item tables.
        table = np.concatenate([np.zeros((1, args.dim), np.float32), items])
        del items
        index = ScannIndex.build(table, settings, k=args.k)
        with tempfile.TemporaryDirectory() as folder:
            index.save(folder)
            index_mib = index.memory_bytes(folder) / 2**20
        print(f"ScaNN build      : {index.build_seconds:.1f} s, serialised index "
              f"{index_mib:.0f} MiB ({num_leaves} leaves, AH 2 dims/block, threshold 0.2)")
        exact_ids = exact + 1  # the index numbers items from 1
        best, trials = autotune(index, tuning_queries, tuning_exact + 1, args.k,
                                args.target_recall,
                                leaves_grid=[max(1, num_leaves // d) for d in
                                             (200, 100, 50, 25, 12, 6, 3)],
                                reorder_grid=[20, 50, 100, 200], repeats=2)
        for trial in trials:
            print(f"  leaves {trial.leaves_to_search:5d}  reorder {trial.reorder:4d}  "
                  f"ANN-recall@{args.k} {trial.ann_recall:.4f}  {trial.queries_per_second:10.1f} q/s")
        command = (f"python scripts/benchmark_ann_scale.py --sizes {size} --queries "
                   f"{args.queries} --seed {args.seed} --json <file>")
        row = {"items": size, "queries": args.queries, "k": args.k, "dim": args.dim,
               "command": command,
               "clusters": args.clusters, "target_recall": args.target_recall,
               "numpy_qps": numpy_qps, "jax_qps": jax_qps,
               "scann_build_seconds": index.build_seconds, "scann_index_mib": index_mib,
               "trials": [t.__dict__ for t in trials]}
        if best is None:
            print(f"ScaNN tuned      : no setting reached ANN-recall@{args.k} {args.target_recall}")
        else:
            # Measured on the other queries, so the tuning's choice does not flatter it.
            seconds, found = timed(lambda: index.search(queries, args.k, best.leaves_to_search,
                                                        best.reorder), repeats=2)
            per_query = per_user_ann_recall(found.padded(args.k), exact_ids, args.k)
            bootstrap = Bootstrap.draw(len(queries), 1000, seed=0)
            chosen = {"leaves_to_search": best.leaves_to_search, "reorder": best.reorder,
                      "ann_recall": float(per_query.mean()),
                      "ann_recall_ci95": list(bootstrap.interval(per_query)),
                      "queries_per_second": args.queries / seconds,
                      "tuning_ann_recall": best.ann_recall}
            speedup = chosen["queries_per_second"] / brute_qps
            low, high = chosen["ann_recall_ci95"]
            print(f"ScaNN tuned      : leaves {best.leaves_to_search}, reorder {best.reorder}: "
                  f"ANN-recall@{args.k} {chosen['ann_recall']:.4f} [{low:.4f}, {high:.4f}] on "
                  f"the measured queries at {chosen['queries_per_second']:.1f} queries/s = "
                  f"{speedup:.1f}x the faster brute force")
            row.update(best=chosen, speedup=speedup)
        results.append(row)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
