"""PyTorch reference implementation of recall_jax's SASRec, its losses and its optimizer.

The same model as `recall_jax.models` builds for `model.name="sasrec"` with the id item tower:

* a tied item table of num_items + 2 rows (row 0 padding, never ranked; the last row the unused
  [MASK] token), item vectors = rows 0..num_items;
* item rows x sqrt(d) plus learned absolute positions counted from the END of the window
  (positions max_len - L .. max_len - 1 for a width-L batch, so left padding shifts nothing),
  input dropout, zero at padding;
* pre-LayerNorm blocks (eps 1e-6): x + Dropout(Attention(LN(x))), then
  x + Dropout(Contract(Dropout(act(Expand(LN(x)))))), zeroed at padding after each block;
  attention has one fused qkv Linear (output laid out [3, heads, head_dim], as the Flax Dense
  reshape) and an out Linear; a query sees the non-padding keys at or before it, and itself;
* a final LayerNorm, zero at padding; a user vector at every position.

Dropout: with `model.dropout_impl="bytes"` recall_jax drops with probability round(256 p)/256
(0.2 -> 51/256); the reference uses that exact rate, so both drop in the same distribution.

Initialisation as Flax's: embeddings N(0, 0.02); Linear weights lecun-normal (a normal of
variance 1/fan_in truncated at two standard deviations, rescaled as jax's variance_scaling);
biases 0; LayerNorm scale 1, bias 0. `load_jax_parameters` copies a JAX model's parameters in
(the parity test and the benchmarks start both implementations from the same values).

Losses (the mean over positions whose target is not padding): binary cross-entropy of the
target against one item drawn uniformly from 1..num_items minus the target (as
recall_jax.train.losses.uniform_negatives, in distribution), and the full softmax
cross-entropy over items 1..num_items (computed for every position fed, padding included, and
masked, as recall_jax does). Optimizer: global-norm clipping, then torch.optim.AdamW with the
learning rate of recall_jax's schedule at each step (linear warm-up, cosine decay; the first
step at rate 0, as optax) and weight decay on matrices only.

Batches are recall_jax's own: `TorchTrainer.train_epoch` takes NextItemBatches' numpy dicts.
This file lives in scripts/ because recall_jax itself never imports torch.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recall_jax.core.ids import PADDING_ITEM
from recall_jax.data.pipeline import evaluation_inputs
from recall_jax.evaluation.model_evaluation import encode_histories
from recall_jax.models.dropout import byte_threshold

ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}
LOSS_NAMES = ("binary_cross_entropy", "full_softmax")
LAYER_NORM_EPSILON = 1e-6
EMBEDDING_STDDEV = 0.02
# The standard deviation of a unit normal truncated to [-2, 2] (jax's variance_scaling divides
# by it so that the truncated draw keeps the requested variance).
TRUNCATED_NORMAL_STDDEV = 0.87962566103423978


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_threads(threads: int | None = None) -> int:
    """torch.set_num_threads(threads), default every core this process may use; returns it."""
    threads = threads or available_cores()
    torch.set_num_threads(threads)
    return threads


def dropout_probability(rate: float, impl: str) -> float:
    """The drop probability recall_jax's dropout really applies ("bytes": round(256 rate)/256)."""
    if impl == "bytes":
        return byte_threshold(rate) / 256
    if impl == "bernoulli":
        return float(rate)
    raise ValueError(f"unknown dropout implementation {impl!r}")


def lecun_normal_(weight: torch.Tensor) -> torch.Tensor:
    """Flax's default Dense kernel initialiser on a torch [out, in] weight."""
    stddev = math.sqrt(1.0 / weight.shape[1]) / TRUNCATED_NORMAL_STDDEV
    return nn.init.trunc_normal_(weight, 0.0, stddev, -2 * stddev, 2 * stddev)


def dense(inputs: int, outputs: int) -> nn.Linear:
    layer = nn.Linear(inputs, outputs)
    with torch.no_grad():
        lecun_normal_(layer.weight)
        layer.bias.zero_()
    return layer


def layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=LAYER_NORM_EPSILON)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, attention_dropout: float):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        self.qkv = dense(dim, 3 * dim)
        self.out = dense(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x [batch, L, dim]; mask bool [batch, 1, L, L] (True = may attend)."""
        batch, length, dim = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.num_heads, dim // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # [batch, heads, L, head_dim]
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=mask,
            dropout_p=self.attention_dropout if self.training else 0.0)
        return self.out(context.transpose(1, 2).reshape(batch, length, dim))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int, activation: str, dropout: float):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        self.activation = ACTIVATIONS[activation]
        self.dropout = dropout
        self.expand = dense(dim, hidden)
        self.contract = dense(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.dropout(self.activation(self.expand(x)), self.dropout, self.training)
        return self.contract(x)


class TransformerBlock(nn.Module):
    """x + Dropout(Attention(LN(x))); x + Dropout(FeedForward(LN(x)))."""

    def __init__(self, dim: int, num_heads: int, hidden: int, activation: str, dropout: float,
                 attention_dropout: float):
        super().__init__()
        self.dropout = dropout
        self.attention_norm = layer_norm(dim)
        self.attention = SelfAttention(dim, num_heads, attention_dropout)
        self.mlp_norm = layer_norm(dim)
        self.mlp = FeedForward(dim, hidden, activation, dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + F.dropout(self.attention(self.attention_norm(x), mask), self.dropout,
                          self.training)
        return x + F.dropout(self.mlp(self.mlp_norm(x)), self.dropout, self.training)


class SASRecEncoder(nn.Module):
    def __init__(self, max_len: int, dim: int, num_blocks: int, num_heads: int, hidden: int,
                 activation: str, dropout: float, attention_dropout: float):
        super().__init__()
        self.max_len = max_len
        self.dropout = dropout
        self.position_embedding = nn.Embedding(max_len, dim)
        nn.init.normal_(self.position_embedding.weight, 0.0, EMBEDDING_STDDEV)
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, num_heads, hidden, activation, dropout, attention_dropout)
            for _ in range(num_blocks))
        self.final_norm = layer_norm(dim)

    def forward(self, x: torch.Tensor, is_item: torch.Tensor) -> torch.Tensor:
        """x [batch, L, dim] item rows; is_item bool [batch, L] -> user vectors [batch, L, dim]."""
        length, dim = x.shape[1], x.shape[2]
        x = x * math.sqrt(dim)
        x = x + self.position_embedding.weight[self.max_len - length:]
        x = F.dropout(x, self.dropout, self.training)
        keep = is_item.unsqueeze(-1).to(x.dtype)
        x = x * keep
        mask = attention_mask(is_item)
        for block in self.blocks:
            x = block(x, mask) * keep
        return self.final_norm(x) * keep


def attention_mask(is_item: torch.Tensor) -> torch.Tensor:
    """bool [batch, 1, L, L]: query i may attend key j when j <= i and j is an item, or j == i."""
    length = is_item.shape[1]
    lower = torch.ones(length, length, dtype=torch.bool, device=is_item.device).tril()
    diagonal = torch.eye(length, dtype=torch.bool, device=is_item.device)
    return (lower & is_item[:, None, None, :]) | diagonal


class TorchSASRec(nn.Module):
    """SASRec with a tied item table, as recall_jax's SequentialRecommender + TransformerEncoder."""

    def __init__(self, model_config, num_items: int):
        super().__init__()
        check_supported(model_config)
        self.num_items = num_items
        self.max_len = model_config.max_len
        dim = model_config.embed_dim
        self.item_embedding = nn.Embedding(num_items + 2, dim)
        nn.init.normal_(self.item_embedding.weight, 0.0, EMBEDDING_STDDEV)
        self.encoder = SASRecEncoder(
            model_config.max_len, dim, model_config.num_blocks, model_config.num_heads,
            model_config.mlp_ratio * dim, model_config.activation,
            dropout_probability(model_config.dropout_rate, model_config.dropout_impl),
            dropout_probability(model_config.attention_dropout_rate, model_config.dropout_impl))

    def encode_users(self, item_ids: torch.Tensor) -> torch.Tensor:
        """[batch, L] ids (left-padded with 0) -> [batch, L, dim] user vectors."""
        return self.encoder(self.item_embedding(item_ids), item_ids != PADDING_ITEM)

    def item_vectors(self) -> torch.Tensor:
        """[num_items + 1, dim]: rows 0..num_items of the item table (0 = padding)."""
        return self.item_embedding.weight[: self.num_items + 1]

    def forward(self, item_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encode_users(item_ids), self.item_vectors()


def check_supported(model_config) -> None:
    """ValueError for settings the reference does not implement."""
    expected = {"name": "sasrec", "objective": "next_item", "item_tower": "id",
                "tie_item_embeddings": True, "normalize": False, "compute_dtype": "float32"}
    wrong = {key: model_config[key] for key, value in expected.items()
             if model_config[key] != value}
    if wrong or model_config.item_id_dropout:
        raise ValueError(f"the PyTorch reference implements {expected} only, got {wrong}")


# ----------------------------------------------------------------------------------------------
# Parameters: counts and the copy from a JAX model.
# ----------------------------------------------------------------------------------------------
def parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def flat_jax_parameters(params, prefix: str = "") -> dict[str, np.ndarray]:
    """{"encoder/block_0/attention/qkv/kernel": array, ...} of a (nested dict) Flax tree."""
    flat = {}
    for name, value in params.items():
        path = f"{prefix}/{name}" if prefix else name
        if isinstance(value, dict) or hasattr(value, "items"):
            flat.update(flat_jax_parameters(value, path))
        else:
            flat[path] = np.asarray(value)
    return flat


def jax_parameter_count(params) -> int:
    return sum(value.size for value in flat_jax_parameters(params).values())


def torch_name(jax_path: str) -> str:
    """The torch parameter name of a Flax parameter path."""
    parts = jax_path.split("/")
    if parts[-1] in ("kernel", "embedding", "scale"):
        parts[-1] = "weight"
    parts = [f"blocks.{part.split('_')[1]}" if part.startswith("block_") else part
             for part in parts]
    return ".".join(parts)


def load_jax_parameters(model: TorchSASRec, params) -> None:
    """Copy a JAX SASRec's parameters (a Flax params tree) into `model`; every parameter of
    each side must find its counterpart with the same number of values."""
    flat = flat_jax_parameters(params)
    own = dict(model.named_parameters())
    names = {torch_name(path): path for path in flat}
    if set(names) != set(own):
        raise ValueError(f"parameters differ: only in JAX {sorted(set(names) - set(own))}, "
                         f"only in torch {sorted(set(own) - set(names))}")
    with torch.no_grad():
        for name, path in names.items():
            value = flat[path]
            if path.endswith("kernel"):
                value = value.T  # Flax [in, out]; torch [out, in]
            if tuple(value.shape) != tuple(own[name].shape):
                raise ValueError(f"{path} {value.shape} does not fit {name} {own[name].shape}")
            own[name].copy_(torch.from_numpy(np.array(value, np.float32)))


# ----------------------------------------------------------------------------------------------
# Losses.
# ----------------------------------------------------------------------------------------------
def _masked_mean(losses: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    weights = (targets != PADDING_ITEM).to(losses.dtype)
    return (losses * weights).sum() / weights.sum().clamp(min=1.0)


def uniform_negatives(targets: torch.Tensor, num_items: int,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """One item per position, uniform over 1..num_items excluding that position's target."""
    negatives = torch.randint(1, num_items, targets.shape, generator=generator,
                              dtype=targets.dtype)  # 1..num_items-1
    return torch.where(negatives >= targets, negatives + 1, negatives)


def binary_cross_entropy_with_negatives(users: torch.Tensor, items: torch.Tensor,
                                        targets: torch.Tensor,
                                        negatives: torch.Tensor) -> torch.Tensor:
    """-log sigmoid(target score) - log sigmoid(-negative score), mean over target positions."""
    positive = (users * items[targets]).sum(-1)
    negative = (users * items[negatives]).sum(-1)
    return _masked_mean(-F.logsigmoid(positive) - F.logsigmoid(-negative), targets)


def full_softmax_loss(users: torch.Tensor, items: torch.Tensor,
                      targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over items 1..num_items (padding excluded) at every position, masked."""
    dim = users.shape[-1]
    logits = users.reshape(-1, dim) @ items[1:].T  # candidate row i = item i + 1
    losses = F.cross_entropy(logits, (targets.reshape(-1) - 1).clamp(min=0), reduction="none")
    return _masked_mean(losses, targets.reshape(-1))


def compute_loss(name: str, users: torch.Tensor, items: torch.Tensor, targets: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    if name == "binary_cross_entropy":
        negatives = uniform_negatives(targets, items.shape[0] - 1, generator)
        return binary_cross_entropy_with_negatives(users, items, targets, negatives)
    if name == "full_softmax":
        return full_softmax_loss(users, items, targets)
    raise ValueError(f"the PyTorch reference has the losses {LOSS_NAMES}, not {name!r}")


# ----------------------------------------------------------------------------------------------
# Optimizer and training.
# ----------------------------------------------------------------------------------------------
def learning_rates(optimizer_config, total_steps: int) -> np.ndarray:
    """float64 [total_steps]: recall_jax's schedule (learning_rate_schedule) at each step."""
    from recall_jax.train.optimizer import learning_rate_schedule  # noqa: PLC0415

    schedule = learning_rate_schedule(optimizer_config, total_steps)
    return np.asarray(schedule(np.arange(max(total_steps, 1))), np.float64)


def make_optimizer(model: nn.Module, optimizer_config) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not biases, LayerNorms), as recall_jax's."""
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    others = [p for p in model.parameters() if p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": matrices, "weight_decay": optimizer_config.weight_decay},
         {"params": others, "weight_decay": 0.0}],
        lr=0.0, betas=(optimizer_config.beta1, optimizer_config.beta2), eps=1e-8)


@dataclasses.dataclass
class EpochResult:
    seconds: float
    sequences: int  # rows with at least one target
    batches: int
    loss: float  # mean of the batches' losses


class TorchTrainer:
    """Model, AdamW and schedule; train_step / train_epoch on recall_jax's numpy batches.

    Dropout draws from torch's global generator, seeded here; negatives from an own generator.
    """

    def __init__(self, model: TorchSASRec, optimizer_config, loss_name: str, total_steps: int,
                 seed: int = 0, threads: int | None = None):
        if loss_name not in LOSS_NAMES:
            raise ValueError(f"the PyTorch reference has the losses {LOSS_NAMES}, "
                             f"not {loss_name!r}")
        self.threads = set_threads(threads)
        torch.manual_seed(seed)
        self.generator = torch.Generator().manual_seed(seed + 1)
        self.model = model
        self.loss_name = loss_name
        self.clip_norm = optimizer_config.gradient_clip_norm
        self.optimizer = make_optimizer(model, optimizer_config)
        self.rates = learning_rates(optimizer_config, total_steps)
        self.step = 0

    def train_step(self, inputs: np.ndarray, targets: np.ndarray) -> torch.Tensor:
        """One update on a [batch, L] batch; the loss (a detached scalar tensor)."""
        self.model.train()
        inputs = torch.from_numpy(np.asarray(inputs)).long()
        targets = torch.from_numpy(np.asarray(targets)).long()
        rate = float(self.rates[min(self.step, len(self.rates) - 1)])
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        self.optimizer.zero_grad(set_to_none=True)
        users, items = self.model(inputs)
        loss = compute_loss(self.loss_name, users, items, targets, self.generator)
        loss.backward()
        nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_norm)
        self.optimizer.step()
        self.step += 1
        return loss.detach()

    def train_epoch(self, batches: Iterable[dict[str, np.ndarray]]) -> EpochResult:
        """Every batch once (e.g. NextItemBatches.epoch(e), or a list of its batches)."""
        start = time.perf_counter()
        losses, sequences = [], 0
        for batch in batches:
            losses.append(self.train_step(batch["inputs"], batch["targets"]))
            sequences += int(np.count_nonzero(np.any(batch["targets"] != PADDING_ITEM, axis=1)))
        seconds = time.perf_counter() - start
        loss = float(torch.stack(losses).mean()) if losses else float("nan")
        if not math.isfinite(loss):
            raise FloatingPointError(f"PyTorch training diverged (loss {loss})")
        return EpochResult(seconds, sequences, len(losses), loss)


# ----------------------------------------------------------------------------------------------
# Vectors for recall_jax's evaluation.
# ----------------------------------------------------------------------------------------------
@torch.no_grad()
def last_position_vectors(model: TorchSASRec, item_ids: np.ndarray) -> np.ndarray:
    """[batch, L] ids -> float32 [batch, dim] user vectors at the last position."""
    model.eval()
    return model.encode_users(torch.from_numpy(np.asarray(item_ids)).long())[:, -1].numpy()


@torch.no_grad()
def item_vectors(model: TorchSASRec) -> np.ndarray:
    """float32 [num_items + 1, dim] (row 0 = padding, never ranked)."""
    return model.item_vectors().detach().numpy().copy()


def user_and_item_vectors(model: TorchSASRec, evaluation_set, batch_size: int,
                          bucket_lengths: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """(user vectors [num_eval_users, dim] at each history's last position, item vectors
    [num_items + 1, dim]), encoded as recall_jax encodes its own model's (length buckets)."""
    inputs = evaluation_inputs(evaluation_set.histories, model.max_len)
    users = encode_histories(lambda ids: last_position_vectors(model, ids), inputs, batch_size,
                             bucket_lengths)
    return users, item_vectors(model)
