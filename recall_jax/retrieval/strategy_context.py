"""What recall strategies are built from: one model's vectors, the evaluated users, the config.

`StrategyContext` (one per model) and `BaselineContext` (the model-free baselines) carry the
inputs and a `shared` dict: state several strategies reuse (a ScaNN index, the tuned settings,
the calibrated thresholds), computed once, by whichever strategy needs it first, through
`cached`. `Strategy` is the plain record the built-in factories return.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
from etils import epath

from recall_jax.core.candidates import Candidates
from recall_jax.evaluation.protocol import Exclusions

T = TypeVar("T")


@dataclasses.dataclass
class ModelVectors:
    """One trained model's vectors for the comparison's users."""

    name: str  # e.g. "dot" or "cosine", the model column of the tables
    user_vectors: np.ndarray  # [num_users, dim], the evaluated (test) users
    item_vectors: np.ndarray  # [num_items + 1, dim], row 0 padding
    tuning_user_vectors: np.ndarray  # other users (validation) to tune ScaNN and tau on
    normalized: bool  # vectors of a cosine model: dot products are cosines / temperature

    @property
    def num_items(self) -> int:
        return len(self.item_vectors) - 1


@dataclasses.dataclass
class EvaluatedUsers:
    """What the comparison knows of its users besides any model."""

    targets: np.ndarray  # [num_users]
    exclusions: Exclusions | None  # removed from every strategy's candidates (seen-item policy)
    history_offsets: np.ndarray  # the users' histories (item-CF)
    history_items: np.ndarray
    train_offsets: np.ndarray  # training sequences (popularity, item-CF)
    train_items: np.ndarray
    tuning_exclusions: Exclusions | None  # the tuning users' exclusions

    @property
    def num_users(self) -> int:
        return len(self.targets)


class _SharedState:
    """A `shared` dict of state computed once and reused by several strategies."""

    shared: dict[str, Any]

    def cached(self, key: str, compute: Callable[[], T]) -> T:
        """shared[key], computed by `compute()` on first use."""
        if key not in self.shared:
            self.shared[key] = compute()
        return self.shared[key]


@dataclasses.dataclass
class StrategyContext(_SharedState):
    """What a model-based strategy is built from; one per model."""

    model: ModelVectors
    users: EvaluatedUsers
    compare_config: Any  # config.compare
    out_dir: epath.Path  # the comparison's folder (saved indexes go here)
    mesh: Any = None  # with a mesh, exact top-K splits users over its devices
    shared: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def max_k(self) -> int:
        """The longest candidate list the metrics read: max(compare.ks)."""
        return max(self.compare_config.ks)

    @property
    def item_mb(self) -> float:
        """Memory of the item vectors, what brute-force strategies hold."""
        return self.model.item_vectors.nbytes / 2**20


@dataclasses.dataclass
class BaselineContext(_SharedState):
    """What a model-free baseline is built from."""

    users: EvaluatedUsers
    num_items: int
    compare_config: Any  # config.compare
    shared: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def max_k(self) -> int:
        return max(self.compare_config.ks)


@dataclasses.dataclass
class Strategy:
    """A built strategy: `search(users, exclusions) -> Candidates` with its label and costs.

    Follows `strategies.RetrievalStrategy` (users: user vectors) or `strategies.BaselineStrategy`
    (users: a slice of the evaluated users, None for all), depending on `search`.
    """

    name: str  # the row label in the tables
    search: Callable[[Any, Exclusions | None], Candidates]
    build_seconds: float = 0.0
    memory_mb: float = 0.0
    note: str = ""  # settings shown in the cost table

    def query(self, users, exclusions: Exclusions | None) -> Candidates:
        return self.search(users, exclusions)
