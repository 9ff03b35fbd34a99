"""Cold-start protocol: a share of items is held entirely out of training.

The held-out ("cold") items are drawn at random by seed among the items that occur in the data.
Their events are removed from the training sequences and from every evaluation history, so no
model sees them interact; evaluation targets are kept, and each target is labelled warm or cold
so metrics can be reported for the two groups separately.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recall_jax.core.csr import offsets_from_owners, owner_of_entries
from recall_jax.data.dataset import SequenceDataset
from recall_jax.data.splits import EvaluationSet, Split


@dataclasses.dataclass(frozen=True)
class ColdStartSplit:
    split: Split  # training and histories without held-out items; targets unchanged
    held_out: np.ndarray  # bool [num_items + 1]: the items drawn to be held out
    cold_items: np.ndarray  # bool [num_items + 1]: held out, or absent from training anyway

    def target_is_cold(self, evaluation_set: EvaluationSet) -> np.ndarray:
        return self.cold_items[evaluation_set.targets]


def choose_cold_items(dataset: SequenceDataset, share: float, seed: int) -> np.ndarray:
    """bool [num_items + 1]: a random `share` of the items that occur in the data."""
    if not 0.0 < share < 1.0:
        raise ValueError(f"cold-start share must lie in (0, 1), got {share}")
    present = np.flatnonzero(np.bincount(dataset.items, minlength=dataset.num_items + 1))
    present = present[present != 0]
    count = int(round(share * len(present)))
    chosen = np.random.default_rng(seed).choice(present, size=count, replace=False)
    cold = np.zeros(dataset.num_items + 1, bool)
    cold[chosen] = True
    return cold


def without_items(dataset: SequenceDataset, drop: np.ndarray) -> SequenceDataset:
    """The dataset with every event of the items where drop[item] removed (order kept)."""
    keep = ~drop[dataset.items]
    owner = owner_of_entries(dataset.offsets)
    return dataclasses.replace(
        dataset, offsets=offsets_from_owners(owner[keep], dataset.num_users),
        items=dataset.items[keep],
        timestamps=None if dataset.timestamps is None else dataset.timestamps[keep])


def cold_start_split(split: Split, share: float = 0.1, seed: int = 0) -> ColdStartSplit:
    """Hold `share` of the items out of `split`'s training data and evaluation histories."""
    cold = choose_cold_items(split.train, share, seed)
    # Items that occur only as evaluation targets are cold by nature too (never trained on).
    trained = np.bincount(split.train.items, minlength=split.train.num_items + 1) > 0

    def evaluation(evaluation_set: EvaluationSet) -> EvaluationSet:
        return dataclasses.replace(evaluation_set,
                                   histories=without_items(evaluation_set.histories, cold))

    new_split = Split(train=without_items(split.train, cold),
                      validation=evaluation(split.validation), test=evaluation(split.test),
                      protocol=f"{split.protocol}, cold start ({share:.0%} of items held out "
                               f"of training, seed {seed})")
    cold_or_untrained = cold | ~trained
    cold_or_untrained[0] = False
    return ColdStartSplit(new_split, cold, cold_or_untrained)
