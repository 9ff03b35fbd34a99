"""Training throughput of recall_jax against a PyTorch reference of the same SASRec, in one run.

    RECALL_JAX_DATA=... python scripts/benchmark_train_throughput.py \
        [--cases a b c] [--epochs 5] [--warmup-epochs 1] [--users N] [--threads T] \
        [--same-model-epochs E] [--json OUT]

Both implementations train the same model (scripts/torch_sasrec.py: same parameters, copied
from the JAX model's initialisation, same losses, AdamW schedule and clipping) on the SAME
batches (recall_jax's NextItemBatches of each epoch, materialised once and fed to both). After
`--warmup-epochs` untimed epochs (JAX compiles every batch shape), the timed epochs alternate
implementations epoch by epoch (JAX epoch e, PyTorch epoch e, JAX epoch e + 1, ...), so a change
of load on the machine hits both alike. For each: sequences/s as median (min-max) over the timed
epochs, the ratio JAX/PyTorch of the medians (and the min-max of the per-epoch ratios), and the
achieved GFLOP/s against the fp32 matrix-product peak of numpy, JAX and PyTorch measured in the
same run. JAX runs as recall_jax.main does (one XLA CPU device per thread, data-parallel), PyTorch
eagerly with torch.set_num_threads(--threads) (default: every core for both).

Cases:
  a / original_fixed    SASRec at its original size (experiments/configs/sasrec_original.py: d=50,
                        2 blocks, 1 head, max_len 200, feed-forward 50 ReLU, dropout 0.2, BCE with
                        one uniform negative per position, batch 128, ml-1m.txt), fixed [128, 200]
                        batches;
  b / original_buckets  the same with the project's default batching (the config's
                        train.bucket_lengths, or the widths derived from the training lengths as
                        recall_jax.main does when it is empty); when (a) ran too, it also prints
                        JAX with these batches over PyTorch with (a)'s fixed batches, the way the
                        widely used PyTorch SASRec trains;
  c / chrono_softmax    the default job's model (experiments/configs/ml1m_chrono_sasrec.py: d=64,
                        feed-forward 256 GELU, full softmax over all items, its length buckets)
                        against PyTorch's full cross-entropy.
  --same-model-epochs E (case d) trains both implementations E epochs from the same initial
  parameters on the same batches (config of --same-model-case, default c), ranks the whole
  catalogue for the validation users with recall_jax's evaluation from each model's vectors, and
  prints NDCG@10 and HR@10 with 95% bootstrap intervals and the paired difference.

FLOPs (of the model, not of either implementation): for a batch fed as [B, L] (padding
included), embedding width d, feed-forward width h, n blocks and N items, the forward pass costs

    F(B, L) = n * (2*B*L*d*(3d + d + 2h) + 2 * 2*B*L*L*d) + S,

the qkv, out, expand and contract matrix products plus the attention scores Q K^T and the
weighted sum over values (the full L x L, no causal saving); output scores S = 2*B*L*d*2 for
BCE (target and negative dot products) or S = 2*B*L*d*N for the full softmax. Training counts
3 F (the backward pass takes two products per forward product: gradients of both operands).
Element-wise work (LayerNorm, softmax, dropout, activations, optimizer) is not counted. An
epoch's FLOPs are the sum of 3 F over its batches' actual shapes; GFLOP/s = that / seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import platform
import shlex
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # experiments.configs
sys.path.insert(0, str(REPO / "scripts"))  # torch_sasrec

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import torch_sasrec  # noqa: E402
from experiments.configs import ml1m_chrono_sasrec, sasrec_original  # noqa: E402
from recall_jax.core import sharding  # noqa: E402
from recall_jax.data.dataset import SequenceDataset  # noqa: E402
from recall_jax.data.pipeline import NextItemBatches  # noqa: E402
from recall_jax.data.registry import load_dataset, split_dataset  # noqa: E402
from recall_jax.data.splits import take_prefixes  # noqa: E402
from recall_jax.evaluation.bootstrap import Bootstrap  # noqa: E402
from recall_jax.evaluation.estimates import full_ranking_per_user  # noqa: E402
from recall_jax.evaluation.model_evaluation import (  # noqa: E402
    encode_users_and_items, rank_evaluation_set)
from recall_jax.models import build_model  # noqa: E402
from recall_jax.platform import split_cpu_into_core_devices  # noqa: E402
from recall_jax.train.losses import make_loss  # noqa: E402
from recall_jax.train.optimizer import make_optimizer  # noqa: E402
from recall_jax.train.trainer import create_train_state, make_train_step  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Case:
    letter: str
    title: str
    get_config: object  # () -> ml_collections.ConfigDict
    fixed_width: bool  # True: every batch [batch_size, max_len]; False: the config's buckets


CASES = {
    "original_fixed": Case("a", "original SASRec size, fixed [128, 200] batches",
                           sasrec_original.get_config, True),
    "original_buckets": Case("b", "original SASRec size, recall_jax's length buckets",
                             sasrec_original.get_config, False),
    "chrono_softmax": Case("c", "default job ml1m_chrono_sasrec (d=64, full softmax)",
                           ml1m_chrono_sasrec.get_config, False),
}
ALIASES = {case.letter: name for name, case in CASES.items()}
IMPLEMENTATIONS = ("jax", "torch")
LABELS = {"jax": "JAX", "torch": "PyTorch"}


def case_name(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in CASES:
        raise argparse.ArgumentTypeError(f"unknown case {name!r}: choose from "
                                         f"{sorted(CASES) + sorted(ALIASES)}")
    return name


# ----------------------------------------------------------------------------------------------
# FLOPs and the matrix-product peak.
# ----------------------------------------------------------------------------------------------
def forward_flops(batch: int, length: int, model_config, num_items: int, loss_name: str
                  ) -> float:
    """F(B, L) of the module docstring."""
    d, n = model_config.embed_dim, model_config.num_blocks
    h = model_config.mlp_ratio * d
    tokens = batch * length
    blocks = n * (2 * tokens * d * (3 * d + d + 2 * h) + 2 * 2 * tokens * length * d)
    if loss_name == "binary_cross_entropy":
        scores = 2 * tokens * d * 2
    elif loss_name == "full_softmax":
        scores = 2 * tokens * d * num_items
    else:
        raise ValueError(f"no FLOP count for loss {loss_name!r}")
    return float(blocks + scores)


def train_flops(shapes, model_config, num_items: int, loss_name: str) -> float:
    """3 F summed over batch shapes [(B, L), ...]."""
    return sum(3 * forward_flops(b, length, model_config, num_items, loss_name)
               for b, length in shapes)


def matmul_peaks(size: int, repeats: int = 5) -> dict[str, float]:
    """Best fp32 GFLOP/s of a [size, size] x [size, size] product in numpy, JAX and PyTorch."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), np.float32)
    b = rng.standard_normal((size, size), np.float32)
    flops = 2.0 * size ** 3
    device = jax.devices()[0]
    ja, jb = jax.device_put(a, device), jax.device_put(b, device)
    jax_matmul = jax.jit(jnp.matmul)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    runs = {"numpy": lambda: np.matmul(a, b),
            "jax": lambda: jax_matmul(ja, jb).block_until_ready(),
            "torch": lambda: torch.mm(ta, tb)}
    peaks = {}
    for name, run in runs.items():
        run()  # warm-up (and compilation)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        peaks[name] = flops / best / 1e9
    return peaks


# ----------------------------------------------------------------------------------------------
# Data and the two trainers.
# ----------------------------------------------------------------------------------------------
def subsample_users(dataset: SequenceDataset, users: int | None, seed: int = 0
                    ) -> SequenceDataset:
    """`users` users drawn at random (kept in their order; the whole catalogue stays)."""
    if not users or users >= dataset.num_users:
        return dataset
    rows = np.sort(np.random.default_rng(seed).choice(dataset.num_users, users, replace=False))
    return take_prefixes(dataset, rows, dataset.lengths[rows])


class JaxTrainer:
    """recall_jax's train step (as recall_jax.main builds it) on a data-parallel mesh."""

    def __init__(self, config: ml_collections.ConfigDict, num_items: int, total_steps: int,
                 mesh):
        self.mesh = mesh
        self.model = build_model(config.model, num_items)
        optimizer = make_optimizer(config.optimizer, total_steps)
        example = np.zeros((config.train.batch_size, config.model.max_len), np.int32)
        self.state, shardings = create_train_state(self.model, optimizer, config, mesh, example)
        self.step = make_train_step(self.model, make_loss(config.loss), optimizer, shardings,
                                    mesh, prng_impl=config.train.prng_impl)

    def params(self):
        return jax.device_get(self.state.params)

    def train_epoch(self, batches: list[dict[str, np.ndarray]]) -> torch_sasrec.EpochResult:
        start = time.perf_counter()
        losses = []
        with jax.set_mesh(self.mesh):
            for batch in batches:
                self.state, metrics = self.step(self.state,
                                                sharding.global_batch(batch, self.mesh))
                losses.append(metrics["loss"])
            jax.block_until_ready(self.state)
        seconds = time.perf_counter() - start
        loss = float(np.mean(jax.device_get(losses)))
        if not np.isfinite(loss):
            raise FloatingPointError(f"JAX training diverged (loss {loss})")
        sequences = sum(int(np.count_nonzero(np.any(b["targets"] != 0, axis=1)))
                        for b in batches)
        return torch_sasrec.EpochResult(seconds, sequences, len(batches), loss)


def build_pair(config, num_items: int, total_steps: int, mesh, threads: int):
    """(JaxTrainer, TorchTrainer) starting from the same parameters (the JAX initialisation)."""
    jax_trainer = JaxTrainer(config, num_items, total_steps, mesh)
    params = jax_trainer.params()
    torch_model = torch_sasrec.TorchSASRec(config.model, num_items)
    jax_count = torch_sasrec.jax_parameter_count(params)
    torch_count = torch_sasrec.parameter_count(torch_model)
    assert jax_count == torch_count, f"parameter counts differ: JAX {jax_count}, torch {torch_count}"
    torch_sasrec.load_jax_parameters(torch_model, params)
    torch_trainer = torch_sasrec.TorchTrainer(torch_model, config.optimizer, config.loss.name,
                                              total_steps, seed=config.seed, threads=threads)
    return jax_trainer, torch_trainer, jax_count


SYNTHETIC_USERS = 500


def case_config(case: Case, data: str, users: int | None) -> ml_collections.ConfigDict:
    """The case's config; with data="synthetic", its model on recall_jax's synthetic data
    (`users` users, 200 items, short histories) instead of ML-1M, for quick checks."""
    config = case.get_config()
    if data == "synthetic":
        config.data.name = "synthetic"
        config.data.synthetic.update(num_users=users or SYNTHETIC_USERS, num_items=200,
                                     mean_length=8, seed=0)
    return config


def case_data(case: Case, args, datasets: dict):
    """(config, dataset, split, NextItemBatches) of a case; datasets caches data by name."""
    config = case_config(case, args.data, args.users)
    if config.data.name not in datasets:
        datasets[config.data.name] = load_dataset(config.data)
    dataset = subsample_users(datasets[config.data.name], args.users)
    split = split_dataset(dataset, config.data)
    buckets = (config.model.max_len,) if case.fixed_width else config.train.bucket_lengths
    batches = NextItemBatches(split.train, config.model.max_len, config.train.batch_size,
                              config.seed, buckets)
    return config, dataset, split, batches


# ----------------------------------------------------------------------------------------------
# Timing.
# ----------------------------------------------------------------------------------------------
def summary(values: list[float]) -> dict[str, float]:
    return {"median": float(np.median(values)), "min": float(np.min(values)),
            "max": float(np.max(values))}


def time_case(name: str, case: Case, args, mesh, datasets: dict, peak: float) -> dict:
    config, dataset, split, batches = case_data(case, args, datasets)
    num_items = dataset.num_items
    epochs = args.warmup_epochs + args.epochs
    jax_trainer, torch_trainer, count = build_pair(config, num_items,
                                                   batches.num_batches() * epochs, mesh,
                                                   args.threads)
    print(f"\n({case.letter}) {case.title} [{name}]", flush=True)
    print(f"    {dataset.name}: {batches.num_sequences:,} sequences/epoch in "
          f"{batches.num_batches()} batches of widths {list(batches.bucket_lengths)} "
          f"({100 * batches.padding_share:.1f}% padding); {num_items:,} items; "
          f"{count:,} parameters in each implementation", flush=True)
    results = {implementation: [] for implementation in IMPLEMENTATIONS}
    flops = None
    for epoch in range(epochs):
        epoch_batches = list(batches.epoch(epoch))
        if flops is None:  # every epoch holds the same shapes
            flops = train_flops([b["inputs"].shape for b in epoch_batches], config.model,
                                num_items, config.loss.name)
        timed = epoch >= args.warmup_epochs
        for implementation, trainer in (("jax", jax_trainer), ("torch", torch_trainer)):
            result = trainer.train_epoch(epoch_batches)
            if timed:
                results[implementation].append(result)
            print(f"    epoch {epoch} {'(warm-up) ' if not timed else ''}"
                  f"{LABELS[implementation]:<8}{result.seconds:8.2f} s "
                  f"{result.sequences / result.seconds:9.1f} seq/s  loss {result.loss:.4f}",
                  flush=True)
    row = {"case": name, "letter": case.letter, "title": case.title, "dataset": dataset.name,
           "users": dataset.num_users, "num_items": num_items,
           "sequences_per_epoch": batches.num_sequences, "batches_per_epoch": batches.num_batches(),
           "bucket_lengths": list(batches.bucket_lengths), "padding_share": batches.padding_share,
           "parameters": count, "loss": config.loss.name, "flops_per_epoch": flops,
           "model": {key: config.model[key] for key in
                     ("embed_dim", "num_blocks", "num_heads", "max_len", "mlp_ratio",
                      "activation", "dropout_rate", "attention_implementation")},
           "batch_size": config.train.batch_size}
    for implementation in IMPLEMENTATIONS:
        epochs_run = results[implementation]
        seconds = [r.seconds for r in epochs_run]
        rates = [r.sequences / s for r, s in zip(epochs_run, seconds)]
        gflops = [flops / s / 1e9 for s in seconds]
        row[implementation] = {"seconds": seconds, "sequences_per_second": summary(rates),
                               "gflops_per_second": summary(gflops),
                               "share_of_peak": float(np.median(gflops)) / peak,
                               "losses": [r.loss for r in epochs_run]}
    jax_rates = [r.sequences / r.seconds for r in results["jax"]]
    torch_rates = [r.sequences / r.seconds for r in results["torch"]]
    per_epoch = [j / t for j, t in zip(jax_rates, torch_rates)]
    row["ratio_jax_over_torch"] = {"of_medians": float(np.median(jax_rates) / np.median(torch_rates)),
                                   "per_epoch": summary(per_epoch)}
    print_case(row)
    return row


def print_case(row: dict) -> None:
    print(f"    {'':<9}{'seq/s median':>13}  {'(min-max)':<19}{'GFLOP/s':>8}{'of peak':>9}",
          flush=True)
    for implementation in IMPLEMENTATIONS:
        result = row[implementation]
        rate = result["sequences_per_second"]
        spread = f"({rate['min']:.1f}-{rate['max']:.1f})"
        print(f"    {LABELS[implementation]:<9}{rate['median']:>13.1f}  {spread:<19}"
              f"{result['gflops_per_second']['median']:>8.2f}"
              f"{100 * result['share_of_peak']:>8.1f}%", flush=True)
    ratio = row["ratio_jax_over_torch"]
    print(f"    JAX/PyTorch {ratio['of_medians']:.2f} (per epoch "
          f"{ratio['per_epoch']['min']:.2f}-{ratio['per_epoch']['max']:.2f}); "
          f"{row['flops_per_epoch'] / 1e9:.1f} GFLOP per epoch", flush=True)


def batching_ratio(cases: list[dict]) -> float | None:
    """JAX sequences/s with the project's default batching (case b) over PyTorch's with fixed
    [128, 200] batches (case a): the speed a user gains over training the PyTorch SASRec as it
    is usually trained. None unless both cases ran."""
    by_name = {case["case"]: case for case in cases}
    if not {"original_fixed", "original_buckets"} <= by_name.keys():
        return None
    return (by_name["original_buckets"]["jax"]["sequences_per_second"]["median"]
            / by_name["original_fixed"]["torch"]["sequences_per_second"]["median"])


# ----------------------------------------------------------------------------------------------
# (d) Same model: both implementations trained alike, ranked by recall_jax's evaluation.
# ----------------------------------------------------------------------------------------------
def same_model_check(name: str, epochs: int, args, mesh, datasets: dict) -> dict:
    case = CASES[name]
    config, dataset, split, batches = case_data(case, args, datasets)
    jax_trainer, torch_trainer, count = build_pair(
        config, dataset.num_items, batches.num_batches() * epochs, mesh, args.threads)
    print(f"\n(d) same model: {case.title} [{name}], {epochs} epoch(s) from the same "
          f"{count:,} initial parameters on the same batches", flush=True)
    losses = {"jax": [], "torch": []}
    for epoch in range(epochs):
        epoch_batches = list(batches.epoch(epoch))
        for implementation, trainer in (("jax", jax_trainer), ("torch", torch_trainer)):
            losses[implementation].append(trainer.train_epoch(epoch_batches).loss)
        print(f"    epoch {epoch}: loss JAX {losses['jax'][-1]:.4f}, "
              f"PyTorch {losses['torch'][-1]:.4f}", flush=True)
    validation = split.validation
    # One input width for encoding (the vectors do not depend on it): one JAX compilation.
    width = (config.model.max_len,)
    vectors = {
        "jax": encode_users_and_items(jax_trainer.model, jax_trainer.state.params, validation,
                                      config.eval.batch_size, width, mesh),
        "torch": torch_sasrec.user_and_item_vectors(torch_trainer.model, validation,
                                                    config.eval.batch_size, width)}
    per_user = {}
    for implementation, (users, items) in vectors.items():
        result = rank_evaluation_set(np.asarray(users), np.asarray(items), validation,
                                     config.eval)
        per_user[implementation] = full_ranking_per_user(result, config.eval.ks)
    bootstrap = Bootstrap.draw(validation.num_users, config.eval.bootstrap_resamples,
                               config.eval.bootstrap_seed)
    report = {"case": name, "epochs": epochs, "validation_users": validation.num_users,
              "losses": losses, "metrics": {}}
    print(f"    validation, {validation.num_users:,} users, full ranking of "
          f"{dataset.num_items:,} items (95% bootstrap intervals):", flush=True)
    for metric in ("NDCG@10", "HR@10"):
        entry = {}
        for implementation in IMPLEMENTATIONS:
            values = per_user[implementation][metric]
            entry[implementation] = {"value": float(np.mean(values)),
                                     "ci95": list(bootstrap.interval(values))}
        difference = bootstrap.paired_difference(per_user["torch"][metric],
                                                 per_user["jax"][metric])
        entry["difference_torch_minus_jax"] = list(difference)
        entry["difference_contains_zero"] = difference[1] <= 0.0 <= difference[2]
        report["metrics"][metric] = entry
        j, t = entry["jax"], entry["torch"]
        print(f"    {metric:<8} JAX {j['value']:.4f} [{j['ci95'][0]:.4f}, {j['ci95'][1]:.4f}]  "
              f"PyTorch {t['value']:.4f} [{t['ci95'][0]:.4f}, {t['ci95'][1]:.4f}]  "
              f"PyTorch-JAX {difference[0]:+.4f} [{difference[1]:+.4f}, {difference[2]:+.4f}]"
              f"{'' if entry['difference_contains_zero'] else '  (interval excludes 0)'}",
              flush=True)
    return report


# ----------------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", type=case_name, default=list(CASES),
                        help="a/original_fixed, b/original_buckets, c/chrono_softmax "
                             "(default: all; none: only the peak and --same-model-epochs)")
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs per implementation")
    parser.add_argument("--warmup-epochs", type=int, default=1,
                        help="untimed epochs first (JAX compiles every batch shape)")
    parser.add_argument("--users", type=int, default=0,
                        help="train on this many users drawn at random (0: all)")
    parser.add_argument("--data", choices=("real", "synthetic"), default="real",
                        help="real: each case's ML-1M file; synthetic: the case's model on "
                             "recall_jax's synthetic data (--users users, short histories), "
                             "for a quick check of the script")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch.set_num_threads and XLA CPU devices (0: every core)")
    parser.add_argument("--peak-size", type=int, default=2048,
                        help="side of the square fp32 matrix product timed for the peak")
    parser.add_argument("--same-model-epochs", type=int, default=0,
                        help="(d): train both this many epochs and compare NDCG@10 (0: skip)")
    parser.add_argument("--same-model-case", type=case_name, default="chrono_softmax")
    parser.add_argument("--json", type=pathlib.Path, help="write every figure here")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.warmup_epochs < 0 or args.same_model_epochs < 0:
        parser.error("need --epochs >= 1, --warmup-epochs >= 0, --same-model-epochs >= 0")
    args.threads = args.threads or torch_sasrec.available_cores()
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    # One XLA CPU device per thread, as recall_jax.main (before JAX creates its backend).
    split_cpu_into_core_devices(args.threads)
    torch_sasrec.set_threads(args.threads)
    mesh = sharding.make_mesh(1)
    print(f"JAX {jax.__version__} ({jax.default_backend()}, {jax.device_count()} devices, "
          f"data-parallel), PyTorch {torch.__version__} ({torch.get_num_threads()} threads, "
          f"eager), numpy {np.__version__}; {torch_sasrec.available_cores()} cores; "
          f"{platform.processor() or platform.machine()}", flush=True)
    peaks = matmul_peaks(args.peak_size)
    peak = max(peaks.values())
    print(f"fp32 matrix-product peak ({args.peak_size}^3, best of 5): "
          + ", ".join(f"{LABELS.get(k, k)} {v:.1f}" for k, v in peaks.items())
          + f" GFLOP/s; shares of peak below are of {peak:.1f}", flush=True)
    report = {"command": shlex.join(["python", "scripts/benchmark_train_throughput.py",
                                     *(sys.argv[1:] if argv is None else argv)]),
              "jax_version": jax.__version__, "torch_version": torch.__version__,
              "threads": args.threads, "jax_devices": jax.device_count(),
              "epochs": args.epochs, "warmup_epochs": args.warmup_epochs,
              "users": args.users or None, "data": args.data, "order": "alternating: JAX, PyTorch per epoch",
              "peak_gflops_per_second": {**peaks, "max": peak}, "cases": []}
    datasets: dict = {}
    for name in args.cases:
        report["cases"].append(time_case(name, CASES[name], args, mesh, datasets, peak))
    cross = batching_ratio(report["cases"])
    if cross is not None:
        report["default_batching_over_torch_fixed"] = cross
        print(f"\nrecall_jax with its default batching (b) over PyTorch with fixed [128, 200] "
              f"batches (a), as the widely used PyTorch SASRec trains: {cross:.2f} (medians; "
              f"(b) and (a) fed the same batches to both implementations)", flush=True)
    if args.same_model_epochs:
        report["same_model"] = same_model_check(args.same_model_case, args.same_model_epochs,
                                                args, mesh, datasets)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
        print(f"\nwrote {args.json}", flush=True)
    return report


if __name__ == "__main__":
    main()
