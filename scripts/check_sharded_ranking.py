"""Full ranking on the default devices' mesh against the same ranking on the CPU.

    python scripts/check_sharded_ranking.py [--users 6040] [--items 100000] [--dim 64]
        [--model-parallelism 0] [--json out.json]

The same random user and item vectors, targets and seen-item exclusions are ranked with
recall_jax.evaluation.ranking.rank_all_items twice: on a ("data", "model") mesh of the default
devices (the accelerator, when there is one; items split over all of them by default) and on a one-device CPU mesh. With audit=True
(fixed-order dot products) the target ranks and top-k ids must be identical: the script exits
with status 1 otherwise. In the default mode (matrix products at HIGHEST precision) it reports
the largest gap between the two top-score lists (position by position: a bound on how far the
backends' scores of the leading items are apart) and how many users' ranks or top lists differ.
On a machine without an accelerator both sides run on the CPU: a smoke test only.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import numpy as np

from recall_jax.evaluation.protocol import seen_item_exclusions
from recall_jax.evaluation.ranking import RankingResult, rank_all_items
from recall_jax.core import sharding


def random_problem(users: int, items: int, dim: int, history: int, seed: int):
    """(user vectors, item vectors [items + 1, dim], targets, exclusions) with exact ties."""
    rng = np.random.default_rng(seed)
    user_vectors = rng.normal(size=(users, dim)).astype(np.float32)
    item_vectors = rng.normal(size=(items + 1, dim)).astype(np.float32)
    item_vectors[items] = item_vectors[1]  # a tie between the first and the last item
    targets = rng.integers(1, items + 1, users)
    lengths = rng.integers(0, history + 1, users)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    exclusions = seen_item_exclusions(offsets, rng.integers(1, items + 1, offsets[-1]), targets,
                                      "exclude")
    return user_vectors, item_vectors, targets, exclusions


def rank_on(devices: list, model_parallelism: int, problem, max_k: int, item_chunk: int,
            audit: bool) -> tuple[RankingResult, float]:
    mesh = sharding.make_mesh(model_parallelism, devices)
    user_vectors, item_vectors, targets, exclusions = problem
    started = time.perf_counter()
    result = rank_all_items(user_vectors, item_vectors, targets, exclusions, max_k=max_k,
                            item_chunk=item_chunk, audit=audit, mesh=mesh)
    return result, time.perf_counter() - started


def differing_users(first: RankingResult, second: RankingResult) -> int:
    differs = ((first.target_ranks != second.target_ranks)
               | np.any(first.top_items != second.top_items, axis=1))
    return int(np.sum(differs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6040)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--max-k", type=int, default=200)
    parser.add_argument("--item-chunk", type=int, default=32768)
    parser.add_argument("--model-parallelism", type=int, default=0,
                        help="items split over this many devices; 0: all of them")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=pathlib.Path, default=None)
    args = parser.parse_args()
    problem = random_problem(args.users, args.items, args.dim, 50, args.seed)
    devices, cpu = jax.devices(), jax.devices("cpu")[:1]
    model_parallelism = args.model_parallelism or len(devices)
    print(f"JAX {jax.__version__}; mesh of {len(devices)} x {devices[0].device_kind} "
          f"(model axis {model_parallelism}) against 1 CPU device; {args.users:,} users x "
          f"{args.items:,} items, dim {args.dim}, top {args.max_k}, item chunk {args.item_chunk}")
    rows, report = [], {}
    for mode, audit in (("audit", True), ("default", False)):
        mesh_result, mesh_s = rank_on(devices, model_parallelism, problem, args.max_k,
                                      args.item_chunk, audit)
        cpu_result, cpu_s = rank_on(cpu, 1, problem, args.max_k, args.item_chunk, audit)
        both = np.isfinite(mesh_result.top_scores) & np.isfinite(cpu_result.top_scores)
        gap = float(np.max(np.abs(mesh_result.top_scores - cpu_result.top_scores), initial=0.0,
                           where=both))
        report[mode] = {"differing_users": differing_users(mesh_result, cpu_result),
                        "max_top_score_gap": gap, "mesh_s": mesh_s, "cpu_s": cpu_s,
                        "targets_ranked": int(np.sum(mesh_result.target_ranks >= 0))}
        rows.append(f"| {mode} | {report[mode]['differing_users']:,} / {args.users:,} | "
                    f"{gap:.3g} | {mesh_s:.2f} | {cpu_s:.2f} |")
    print("| scores | users whose ranks or top-k ids differ | max top-score gap | mesh s (1st) "
          "| CPU s (1st) |\n|---|---|---|---|---|")
    print("\n".join(rows))
    identical = report["audit"]["differing_users"] == 0 and report["audit"]["max_top_score_gap"] == 0
    print(f"RESULT: audit ranks and top-k ids identical: {'yes' if identical else 'NO'}; "
          f"default-mode max top-score gap {report['default']['max_top_score_gap']:.3g}")
    if args.json is not None:
        args.json.write_text(json.dumps({**report, "audit_identical": identical}, indent=2))
    if not identical:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
