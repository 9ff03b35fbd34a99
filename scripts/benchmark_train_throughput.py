"""Training throughput (sequences/s) of SASRec at its original size on ML-1M.

Original SASRec size: hidden 50, 2 blocks, 1 head, max_len 200, batch 128, feed-forward width 50
with ReLU, dropout 0.2, binary cross-entropy with one sampled negative per position. One epoch
= every ML-1M user (ml-1m.txt) once. Measures the same train step as `recall_jax.main`, with
fixed-length [128, 200] batches and with length-bucketed batches, after one warm-up epoch that
compiles every shape. Data-parallel over one XLA CPU device per core (as `recall_jax.main`). The reference figure is a PyTorch SASRec at ~32 s/epoch (~190 seq/s) here.

    python scripts/benchmark_train_throughput.py [--epochs 2] [--reference 190]
"""

from __future__ import annotations

import argparse
import time

from recall_jax.platform import split_cpu_into_core_devices

split_cpu_into_core_devices()

import jax  # noqa: E402
import numpy as np

from experiments.configs import sasrec_original
from recall_jax.data.pipeline import NextItemBatches
from recall_jax.data.registry import load_dataset, split_dataset
from recall_jax.models import build_model
from recall_jax.core import sharding
from recall_jax.train.losses import make_loss
from recall_jax.train.optimizer import make_optimizer
from recall_jax.train.trainer import create_train_state, make_train_step


def time_epochs(config, train, buckets, epochs: int) -> tuple[float, int]:
    """Seconds per epoch (mean over `epochs` after one warm-up epoch) and sequences per epoch."""
    batches = NextItemBatches(train, config.model.max_len, config.train.batch_size, config.seed,
                              buckets)
    mesh = sharding.make_mesh(1)
    model = build_model(config.model, train.num_items)
    optimizer = make_optimizer(config.optimizer, batches.num_batches() * (epochs + 1))
    loss_fn = make_loss(config.loss)
    example = np.zeros((config.train.batch_size, config.model.max_len), np.int32)
    state, shardings = create_train_state(model, optimizer, config, mesh, example)
    step = make_train_step(model, loss_fn, optimizer, shardings, mesh)
    seconds = []
    with jax.set_mesh(mesh):
        for epoch in range(epochs + 1):
            start = time.perf_counter()
            for batch in batches.epoch(epoch):
                state, metrics = step(state, sharding.global_batch(batch, mesh))
            jax.block_until_ready(metrics["loss"])
            if epoch > 0:
                seconds.append(time.perf_counter() - start)
    if not np.isfinite(float(metrics["loss"])):
        raise FloatingPointError("benchmark training diverged")
    return float(np.mean(seconds)), batches.num_sequences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs after one warm-up")
    parser.add_argument("--reference", type=float, default=190.0,
                        help="reference sequences/s (PyTorch SASRec on this machine)")
    args = parser.parse_args()
    config = sasrec_original.get_config()
    dataset = load_dataset(config.data)
    train = split_dataset(dataset, config.data).train
    print(f"JAX {jax.__version__} on {jax.default_backend()} ({jax.device_count()} device(s)); "
          f"ML-1M ml-1m.txt: {dataset.num_users} users, {dataset.num_items} items")
    print(f"{'batching':<28}{'s/epoch':>10}{'seq/s':>10}{'x reference':>13}")
    for label, buckets in (("fixed [128, 200]", None),
                           ("length buckets (8 sizes)", (16, 32, 48, 64, 96, 128, 160, 200))):
        seconds, sequences = time_epochs(config, train, buckets, args.epochs)
        rate = sequences / seconds
        print(f"{label:<28}{seconds:>10.2f}{rate:>10.0f}{rate / args.reference:>13.2f}")


if __name__ == "__main__":
    main()
