"""Training throughput (sequences/s) of SASRec under each compute option, against the default.

The same train step as `recall_jax.main` (the original SASRec size of
scripts/benchmark_train_throughput.py on ML-1M ml-1m.txt, fixed [128, 200] batches), built once
per configuration: the defaults, then one option changed at a time (attention einsum vs
jax.nn.dot_product_attention, dropout bytes vs bernoulli, PRNG threefry vs rbg, compute float32
vs bfloat16). Every configuration is compiled and warmed up first; the timed steps are then run
in interleaved chunks, so a load change on the machine hits every configuration alike. Ratios
are against the default configuration measured in the same run.

    RECALL_JAX_DATA=... python scripts/benchmark_compute_options.py [--steps 30] [--chunks 3]

One run on the 2-core CPU (niced, beside another training, so noisy), seq/s and x default:
default 257 (1.00); attention einsum 246 (0.96); dropout bernoulli 235 (0.91); prng rbg 257
(1.00); compute bfloat16 228 (0.89). Hence the defaults: dot_product_attention, bytes dropout,
threefry2x32, float32 (rbg and bfloat16 are for accelerators).
"""

from __future__ import annotations

import argparse
import time

from recall_jax.platform import split_cpu_into_core_devices

split_cpu_into_core_devices()

import jax  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from experiments.configs import sasrec_original  # noqa: E402
from recall_jax.data.pipeline import NextItemBatches  # noqa: E402
from recall_jax.data.registry import load_dataset, split_dataset  # noqa: E402
from recall_jax.models import build_model  # noqa: E402
from recall_jax.core import sharding  # noqa: E402
from recall_jax.train.losses import make_loss  # noqa: E402
from recall_jax.train.optimizer import make_optimizer  # noqa: E402
from recall_jax.train.trainer import create_train_state, make_train_step  # noqa: E402

# (label, config field, value): one option changed from the defaults per row.
VARIANTS = (
    ("default", None, None),
    ("attention einsum", "model.attention_implementation", "einsum"),
    ("dropout bernoulli", "model.dropout_impl", "bernoulli"),
    ("prng rbg", "train.prng_impl", "rbg"),
    ("compute bfloat16", "model.compute_dtype", "bfloat16"),
)


def with_option(config: ml_collections.ConfigDict, field: str | None,
                value: str | None) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict(config.to_dict())
    if field is not None:
        section, name = field.split(".")
        config[section][name] = value
    return config


class TimedStep:
    """One configuration's compiled train step and state, advanced `count` steps at a time."""

    def __init__(self, config: ml_collections.ConfigDict, num_items: int, total_steps: int,
                 mesh):
        self.mesh = mesh
        model = build_model(config.model, num_items)
        optimizer = make_optimizer(config.optimizer, total_steps)
        example = np.zeros((config.train.batch_size, config.model.max_len), np.int32)
        self.state, shardings = create_train_state(model, optimizer, config, mesh, example)
        self.step = make_train_step(model, make_loss(config.loss), optimizer, shardings, mesh,
                                    prng_impl=config.train.prng_impl)
        self.seconds = 0.0
        self.sequences = 0
        self.loss = float("nan")

    def run(self, batches: list[dict[str, jax.Array]], timed: bool) -> None:
        start = time.perf_counter()
        with jax.set_mesh(self.mesh):
            for batch in batches:
                self.state, metrics = self.step(self.state, batch)
            self.loss = float(jax.block_until_ready(metrics["loss"]))
        if timed:
            self.seconds += time.perf_counter() - start
            self.sequences += sum(len(batch["inputs"]) for batch in batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30, help="timed steps per configuration")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps after compiling")
    parser.add_argument("--chunks", type=int, default=3,
                        help="the timed steps run in this many interleaved chunks")
    args = parser.parse_args()
    base = sasrec_original.get_config()
    dataset = load_dataset(base.data)
    train = split_dataset(dataset, base.data).train
    mesh = sharding.make_mesh(1)
    batches = NextItemBatches(train, base.model.max_len, base.train.batch_size, base.seed, None)
    needed = args.warmup + args.steps
    host = []
    while len(host) < needed:
        host.extend(batches.epoch(len(host)))
    device = [sharding.global_batch(batch, mesh) for batch in host[:needed]]
    warmup, timed = device[: args.warmup], device[args.warmup:]
    print(f"JAX {jax.__version__} on {jax.default_backend()} ({jax.device_count()} device(s)); "
          f"ML-1M ml-1m.txt; {args.steps} timed steps of "
          f"[{base.train.batch_size}, {base.model.max_len}] after {args.warmup} warm-up steps")

    steps = {}
    for label, field, value in VARIANTS:
        steps[label] = TimedStep(with_option(base, field, value), train.num_items, needed, mesh)
        steps[label].run(warmup, timed=False)  # compiles
    chunk = -(-len(timed) // args.chunks)
    for start in range(0, len(timed), chunk):
        for step in steps.values():
            step.run(timed[start:start + chunk], timed=True)

    reference = steps["default"].sequences / steps["default"].seconds
    print(f"{'configuration':<20}{'setting':<38}{'seq/s':>8}{'x default':>11}{'loss':>9}")
    for label, field, value in VARIANTS:
        step = steps[label]
        rate = step.sequences / step.seconds
        setting = f"{field}={value}" if field else "(all defaults)"
        print(f"{label:<20}{setting:<38}{rate:>8.0f}{rate / reference:>11.2f}{step.loss:>9.4f}")
        if not np.isfinite(step.loss):
            raise FloatingPointError(f"{label}: the benchmark training diverged")


if __name__ == "__main__":
    main()
