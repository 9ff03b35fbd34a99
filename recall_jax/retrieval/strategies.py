"""Recall strategies and baselines: the named extension points compare.strategies and
compare.baselines.

A strategy returns candidates for a batch of users (`RetrievalStrategy`). A registered factory
builds it for one model from a `StrategyContext`, or returns None where it does not apply (exact
top-K by cosine on a cosine model; ScaNN or FAISS tuned when no setting reached the target).
Baselines (`BaselineStrategy`) need no model: built from a `BaselineContext`, they read the
users' histories. The comparison times `query` on all users at once and on single users. Adding one is
a factory plus one `STRATEGIES.register(...)` (or `BASELINES.register(...)`) line below.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from recall_jax.core.candidates import Candidates
from recall_jax.core.registry import Registry
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.retrieval import (baseline_strategies, exact_strategies, faiss_strategies,
                                  scann_strategies, threshold_strategies)
from recall_jax.retrieval.strategy_context import BaselineContext, StrategyContext


class RetrievalStrategy(Protocol):
    """One model's strategy, built (index, calibration) and ready to query."""

    name: str  # the row label in the tables, e.g. "ScaNN (tuned)"
    note: str  # settings shown in the cost table
    build_seconds: float
    memory_mb: float

    def query(self, user_vectors: np.ndarray, exclusions: Exclusions | None) -> Candidates:
        """user_vectors: [num_users, dim]; exclusions: those users' rows of the seen-item
        exclusions (never candidates). Each user's candidates, best first."""
        ...


class BaselineStrategy(Protocol):
    """A model-free strategy; it ranks from the evaluated users' histories."""

    name: str
    note: str
    build_seconds: float
    memory_mb: float

    def query(self, users: slice | None, exclusions: Exclusions | None) -> Candidates:
        """users: which evaluated users (None: all); exclusions: their rows."""
        ...


class StrategyFactory(Protocol):
    def __call__(self, context: StrategyContext) -> RetrievalStrategy | None: ...


class BaselineFactory(Protocol):
    def __call__(self, context: BaselineContext) -> BaselineStrategy | None: ...


REFERENCE = "exact"  # always in compare.strategies: every other strategy is compared with it

STRATEGIES: Registry[StrategyFactory] = Registry("recall strategy", "compare.strategies")
STRATEGIES.register(REFERENCE, exact_strategies.exact)
STRATEGIES.register("exact_cosine", exact_strategies.exact_cosine)
STRATEGIES.register("approx_max_k", exact_strategies.approx_max_k)
STRATEGIES.register("scann", scann_strategies.scann)
STRATEGIES.register("scann_tuned", scann_strategies.scann_tuned)
STRATEGIES.register("faiss_hnsw", faiss_strategies.faiss_hnsw)
STRATEGIES.register("faiss_ivf_pq", faiss_strategies.faiss_ivf_pq)
STRATEGIES.register("cosine_threshold", threshold_strategies.cosine_threshold)
STRATEGIES.register("cosine_threshold_per_user", threshold_strategies.cosine_threshold_per_user)
STRATEGIES.register("scann_then_threshold", scann_strategies.scann_then_threshold)
STRATEGIES.register("faiss_range_threshold", faiss_strategies.faiss_range_threshold)

BASELINES: Registry[BaselineFactory] = Registry("baseline", "compare.baselines")
BASELINES.register("popularity", baseline_strategies.popularity)
BASELINES.register("item_cf", baseline_strategies.item_cf)
BASELINES.register("item_cf_recent", baseline_strategies.item_cf_recent)
