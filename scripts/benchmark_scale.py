"""Training and full-ranking evaluation at large catalogues, per item-table split.

    python scripts/benchmark_scale.py [--sizes 100000 1000000] [--model-parallelism 1 2 4 8]
        [--steps 20] [--eval-users 6040] [--full-softmax-max-items 200000] [--eval-only]
        [--json out.json]

One cell per (catalogue size, model_parallelism), each in its own process, so that the peak
RSS (the child's ru_maxrss) belongs to that cell alone. A cell builds the synthetic data of
experiments/configs/synthetic_large.py at that size (eval-users users), the SASRec model with its
item table split by rows over the mesh's "model" axis (the split is checked on the live array),
and measures:
  * the train step with sampled softmax (the config's: shared popularity negatives, logQ) and
    with full softmax (skipped above --full-softmax-max-items): median step time over --steps
    steps after --warmup steps, and sequences/s (fixed [batch, max_len] batches);
  * full-ranking evaluation (evaluate_model on the mesh: users over "data", items over
    "model") of every user over the whole catalogue: the first call (compiles) and, with
    --eval-repeats 2, a warm one;
  * peak process RSS (with full softmax, its logits chunks dominate; --full-softmax-max-items 0
    measures sampled softmax alone) and, where the device reports it, peak device memory.
With --eval-only a cell skips training and evaluates freshly initialised parameters (no
optimizer state), so its peak RSS is the memory full-ranking evaluation needs.
On CPU the devices are XLA host devices (--xla_force_host_platform_device_count=8 unless
XLA_FLAGS sets a count); cells whose model_parallelism does not divide the device count are
skipped. Run the 10^6-item cells on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from recall_jax.platform import split_cpu_into_core_devices

CPU_DEVICES = 8
split_cpu_into_core_devices(CPU_DEVICES)  # no-op when XLA_FLAGS already sets a count

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from experiments.configs import synthetic_large  # noqa: E402
from recall_jax.data.pipeline import NextItemBatches  # noqa: E402
from recall_jax.data.registry import load_dataset, split_dataset  # noqa: E402
from recall_jax.evaluation.model_evaluation import evaluate_model  # noqa: E402
from recall_jax.models import build_model  # noqa: E402
from recall_jax.core import sharding  # noqa: E402
from recall_jax.train.losses import make_loss  # noqa: E402
from recall_jax.train.optimizer import make_optimizer  # noqa: E402
from recall_jax.train.trainer import (create_train_state, item_log_probability,  # noqa: E402
                                      make_train_step)

REPO = pathlib.Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------------------------
# One cell (runs in a child process).
# ----------------------------------------------------------------------------------------------
def cell_config(num_items: int, model_parallelism: int, args: argparse.Namespace
                ) -> ml_collections.ConfigDict:
    config = synthetic_large.get_config()
    config.data.synthetic.num_items = num_items
    config.data.synthetic.num_users = args.eval_users
    config.mesh.model_parallelism = model_parallelism
    config.train.batch_size = args.batch_size
    return config


def table_split(table: jax.Array, model_parallelism: int) -> dict:
    """Rows per device of the live item table; raises unless it is split model_parallelism ways."""
    shard_rows = sorted({shard.data.shape[0] for shard in table.addressable_shards})
    row_ranges = {shard.index[0].indices(table.shape[0])[:2] for shard in table.global_shards}
    split = len(row_ranges)
    if split != model_parallelism or shard_rows != [table.shape[0] // model_parallelism]:
        raise RuntimeError(f"item table {table.shape} lies in {split} row ranges of {shard_rows} "
                           f"rows, expected a split into {model_parallelism}")
    return {"table_rows": int(table.shape[0]), "rows_per_device": int(shard_rows[0]),
            "row_ranges": split}


def time_train_steps(config: ml_collections.ConfigDict, split, mesh, host_batches: list,
                     warmup: int) -> dict:
    """Median train step seconds after `warmup` steps, plus the item table's split."""
    num_items = split.train.num_items
    model = build_model(config.model, num_items,
                        table_rows_multiple=config.mesh.model_parallelism)
    optimizer = make_optimizer(config.optimizer, len(host_batches))
    loss_fn = make_loss(config.loss, jnp.asarray(item_log_probability(split.train.items,
                                                                      num_items)))
    example = np.zeros((config.train.batch_size, config.model.max_len), np.int32)
    state, shardings = create_train_state(model, optimizer, config, mesh, example)
    layout = table_split(state.params["item_embedding"]["embedding"],
                         config.mesh.model_parallelism)
    step = make_train_step(model, loss_fn, optimizer, shardings, mesh,
                           prng_impl=config.train.prng_impl)
    seconds = []
    with jax.set_mesh(mesh):
        for index, batch in enumerate(host_batches):
            started = time.perf_counter()
            state, metrics = step(state, sharding.global_batch(batch, mesh))
            loss = float(jax.block_until_ready(metrics["loss"]))
            if index >= warmup:
                seconds.append(time.perf_counter() - started)
    if not np.isfinite(loss):
        raise FloatingPointError(f"{config.loss.name}: the benchmark training diverged")
    median = statistics.median(seconds)
    return {"step_s": median, "seq_per_s": config.train.batch_size / median, "loss": loss,
            "state": state, "model": model, **layout}


def initial_params(config: ml_collections.ConfigDict, num_items: int, mesh):
    """(model, freshly initialised parameters placed by the mesh rules): no optimizer state, so
    the process holds what evaluation needs and nothing else."""
    model = build_model(config.model, num_items,
                        table_rows_multiple=config.mesh.model_parallelism)
    example = jnp.zeros((config.train.batch_size, config.model.max_len), jnp.int32)

    def init(rng):
        return model.init(rng, example)["params"]

    rng = jax.random.PRNGKey(config.seed)
    placement = sharding.tree_shardings(jax.eval_shape(init, rng), mesh,
                                        config.mesh.parameter_rules,
                                        config.mesh.replicate_unsplittable)
    with jax.set_mesh(mesh):
        return model, jax.jit(init, out_shardings=placement)(rng)


def device_peak_gib() -> float | None:
    """Peak bytes in use on the first device, where the backend reports it (GPU, TPU)."""
    stats = jax.devices()[0].memory_stats()
    return None if not stats or "peak_bytes_in_use" not in stats else \
        stats["peak_bytes_in_use"] / 2**30


def run_cell(num_items: int, model_parallelism: int, args: argparse.Namespace) -> dict:
    result = {"items": num_items, "model_parallelism": model_parallelism,
              "jax": jax.__version__, "backend": jax.default_backend(),
              "devices": jax.device_count(), "device_kind": jax.devices()[0].device_kind}
    if jax.device_count() % model_parallelism:
        return {**result, "skipped": f"{jax.device_count()} devices"}
    config = cell_config(num_items, model_parallelism, args)
    started = time.perf_counter()
    dataset = load_dataset(config.data)
    split = split_dataset(dataset, config.data)
    result["data_s"] = time.perf_counter() - started
    mesh = sharding.make_mesh(model_parallelism)
    result["mesh"] = dict(mesh.shape)
    batches = NextItemBatches(split.train, config.model.max_len, config.train.batch_size,
                              config.seed, (config.model.max_len,))
    needed = args.warmup + args.steps
    host_batches = []
    while len(host_batches) < needed:
        host_batches.extend(batches.epoch(len(host_batches)))
    host_batches = host_batches[:needed]

    if args.eval_only:
        model, params = initial_params(config, num_items, mesh)
        result["eval_only"] = table_split(params["item_embedding"]["embedding"],
                                          model_parallelism)
    else:
        sampled = time_train_steps(config, split, mesh, host_batches, args.warmup)
        state, model = sampled.pop("state"), sampled.pop("model")
        params = state.params
        result["sampled"] = sampled
    if not args.eval_only and num_items <= args.full_softmax_max_items:
        full_config = ml_collections.ConfigDict(config.to_dict())
        full_config.loss.name = "full_softmax"
        full = time_train_steps(full_config, split, mesh, host_batches, args.warmup)
        del full["state"], full["model"]
        result["full"] = full

    evaluation = split.test
    result["eval_s"] = []
    for _ in range(args.eval_repeats):
        started = time.perf_counter()
        metrics, ranking = evaluate_model(model, params, evaluation, config.eval,
                                          config.train.bucket_lengths, mesh)
        result["eval_s"].append(time.perf_counter() - started)
    ranks = ranking.target_ranks
    if ranking.num_users != evaluation.num_users or ranks.max() >= num_items:
        raise RuntimeError(f"ranked {ranking.num_users} of {evaluation.num_users} users")
    result.update(eval_users=int(evaluation.num_users), ranked_users=int(ranking.num_users),
                  targets_ranked=int(np.sum(ranks >= 0)), ndcg_at_10=metrics["NDCG@10"],
                  device_peak_gib=device_peak_gib())
    return result


# ----------------------------------------------------------------------------------------------
# The driver: one child process per cell, then the table.
# ----------------------------------------------------------------------------------------------
def run_child(num_items: int, model_parallelism: int, argv: list[str]) -> dict:
    """Runs one cell in a child process; its report plus the child's peak RSS in GiB."""
    with tempfile.TemporaryDirectory() as folder:
        output = pathlib.Path(folder) / "cell.json"
        command = [sys.executable, str(pathlib.Path(__file__).resolve()), *argv,
                   "--cell", str(num_items), str(model_parallelism), "--cell-output", str(output)]
        path = os.environ.get("PYTHONPATH")
        env = {**os.environ, "PYTHONPATH": str(REPO) + (os.pathsep + path if path else "")}
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=sys.stderr)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if child.returncode != 0 or not output.is_file():
            return {"items": num_items, "model_parallelism": model_parallelism,
                    "failed": f"exit code {child.returncode}", "cell_s": wall}
        report = json.loads(output.read_text())
    return {**report, "peak_rss_gib": usage.ru_maxrss / 2**20, "cell_s": wall}


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


def table_rows(cells: list[dict]) -> list[str]:
    header = ("| items | mp | mesh data x model | item table rows / device | sampled ms/step "
              "| sampled seq/s | x mp=1 | full ms/step | full seq/s | full / sampled time "
              "| eval s (1st, compiles) | eval s (warm) | users ranked | data s | peak RSS GiB "
              "| device peak GiB |")
    lines = [header, "|" + "---|" * header.count(" | ") + "---|"]
    baseline = {cell["items"]: cell["sampled"]["seq_per_s"] for cell in cells
                if cell["model_parallelism"] == 1 and "sampled" in cell}
    for cell in cells:
        head = f"| {cell['items']:,} | {cell['model_parallelism']} |"
        if "eval_only" in cell:
            layout = cell["eval_only"]
            warm = f"{cell['eval_s'][1]:.2f}" if len(cell["eval_s"]) > 1 else "-"
            lines.append(
                f"{head} {cell['mesh']['data']} x {cell['mesh']['model']} | "
                f"{layout['rows_per_device']:,} of {layout['table_rows']:,} (evaluation only) |"
                + " - |" * 6 + f" {cell['eval_s'][0]:.2f} | {warm} | "
                f"{cell['ranked_users']:,} / {cell['eval_users']:,} | {cell['data_s']:.1f} | "
                f"{cell['peak_rss_gib']:.2f} | - |")
            continue
        if "sampled" not in cell:
            reason = cell["skipped"] if "skipped" in cell else cell["failed"]
            lines.append(f"{head} {reason} |" + " |" * 13)
            continue
        sampled = cell["sampled"]
        mesh = cell["mesh"]
        layout = f"{sampled['rows_per_device']:,} of {sampled['table_rows']:,} " + (
            "(whole)" if sampled["row_ranges"] == 1 else f"(split in {sampled['row_ranges']})")
        ratio = (f"{sampled['seq_per_s'] / baseline[cell['items']]:.2f}"
                 if cell["items"] in baseline else "-")
        if "full" in cell:
            full = cell["full"]
            full_cells = (f"{_ms(full['step_s'])} | {full['seq_per_s']:.0f} | "
                          f"{full['step_s'] / sampled['step_s']:.1f}")
        else:
            full_cells = "skipped | skipped | -"
        warm = f"{cell['eval_s'][1]:.2f}" if len(cell["eval_s"]) > 1 else "-"
        device_peak = ("-" if cell["device_peak_gib"] is None
                       else f"{cell['device_peak_gib']:.2f}")
        lines.append(
            f"{head} {mesh['data']} x {mesh['model']} | {layout} | {_ms(sampled['step_s'])} | "
            f"{sampled['seq_per_s']:.0f} | {ratio} | {full_cells} | {cell['eval_s'][0]:.2f} | "
            f"{warm} | {cell['ranked_users']:,} / {cell['eval_users']:,} | "
            f"{cell['data_s']:.1f} | {cell['peak_rss_gib']:.2f} | {device_peak} |")
    return lines


def machine_line(cells: list[dict]) -> str:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    known = next((cell for cell in cells if "backend" in cell), None)
    load = " / ".join(f"{value:.1f}" for value in os.getloadavg())
    if known is None:
        return f"JAX {jax.__version__}; {cpus} CPUs; load {load}"
    return (f"JAX {known['jax']} on {known['backend']} ({known['devices']} x "
            f"{known['device_kind']}); {cpus} CPUs; load average {load} (1/5/15 min)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--model-parallelism", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--steps", type=int, default=20, help="timed train steps per loss")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (compile) first")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--eval-users", type=int, default=6040,
                        help="users of the synthetic data, every one evaluated")
    parser.add_argument("--eval-repeats", type=int, default=2,
                        help="evaluation calls: the first compiles, the second is warm")
    parser.add_argument("--full-softmax-max-items", type=int, default=200_000,
                        help="full softmax only up to this catalogue size")
    parser.add_argument("--eval-only", action="store_true",
                        help="no training: initialised parameters only, so a cell's peak RSS is "
                        "what full-ranking evaluation needs")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also write the cells")
    parser.add_argument("--cell", type=int, nargs=2, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cell-output", type=pathlib.Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 1 or args.eval_repeats < 1:
        parser.error("--steps, --warmup and --eval-repeats must be at least 1")
    return args


def main() -> None:
    argv = sys.argv[1:]
    args = parse_args(argv)
    if args.cell is not None:
        report = run_cell(*args.cell, args)
        args.cell_output.write_text(json.dumps(report))
        return
    cells = [run_child(size, parallelism, argv)
             for size in args.sizes for parallelism in args.model_parallelism]
    command = shlex.join(["python", "scripts/benchmark_scale.py", *argv])
    print(f"`{command}`\n")
    print(f"{machine_line(cells)}; sampled softmax = "
          f"{synthetic_large.get_config().loss.num_sampled} shared popularity negatives + logQ; "
          f"batch {args.batch_size}, median of {args.steps} steps after {args.warmup}; "
          f"{args.eval_users:,} users ranked over the whole catalogue\n")
    print("\n".join(table_rows(cells)))
    if args.json is not None:
        args.json.write_text(json.dumps({"command": command, "machine": machine_line(cells),
                                         "cells": cells}, indent=2))
    if any("failed" in cell for cell in cells):
        sys.exit(1)


if __name__ == "__main__":
    main()
