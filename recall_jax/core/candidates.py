"""Candidate sets: what every recall strategy returns, fixed-size (top-K) or ragged (thresholds).

Stored ragged, in CSR form: user u's candidates are items[offsets[u]:offsets[u + 1]], best first,
with their scores. Item ids are catalogue ids 1..num_items; 0 (padding) never appears.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recall_jax.core.csr import offsets_from_counts, offsets_from_owners, owner_of_entries
from recall_jax.core.ids import PADDING_ITEM



@dataclasses.dataclass(frozen=True)
class Candidates:
    offsets: np.ndarray  # int64 [num_users + 1]
    items: np.ndarray  # int32 [total]
    scores: np.ndarray  # float32 [total]

    def __post_init__(self):
        if self.offsets.ndim != 1 or self.offsets[0] != 0 or np.any(np.diff(self.offsets) < 0):
            raise ValueError("offsets must be non-decreasing and start at 0")
        if len(self.items) != self.offsets[-1] or len(self.scores) != len(self.items):
            raise ValueError("items and scores must have offsets[-1] entries")

    @property
    def num_users(self) -> int:
        return len(self.offsets) - 1

    def sizes(self) -> np.ndarray:
        """int64 [num_users]: candidate count per user."""
        return np.diff(self.offsets)

    def for_user(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        start, stop = self.offsets[user], self.offsets[user + 1]
        return self.items[start:stop], self.scores[start:stop]

    def positions_of(self, targets: np.ndarray) -> np.ndarray:
        """int64 [num_users]: index of each user's target in its list, -1 when absent."""
        targets = np.asarray(targets)
        if len(targets) != self.num_users:
            raise ValueError(f"{len(targets)} targets for {self.num_users} users")
        owner = owner_of_entries(self.offsets)
        hits = np.nonzero(self.items == targets[owner])[0]
        positions = np.full(self.num_users, np.iinfo(np.int64).max, np.int64)
        np.minimum.at(positions, owner[hits], hits - self.offsets[owner[hits]])
        return np.where(positions == np.iinfo(np.int64).max, -1, positions)

    def padded(self, width: int) -> np.ndarray:
        """int32 [num_users, width]: the first `width` candidates per user, 0-padded."""
        out = np.zeros((self.num_users, width), np.int32)
        sizes = np.minimum(self.sizes(), width)
        rows = np.repeat(np.arange(self.num_users), sizes)
        columns = np.arange(len(rows)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        starts = np.repeat(self.offsets[:-1], sizes)
        out[rows, columns] = self.items[starts + columns]
        return out

    @classmethod
    def from_dense(cls, items: np.ndarray, scores: np.ndarray) -> "Candidates":
        """From [num_users, k] top lists, best first; padding entries (id 0) are dropped."""
        items, scores = np.asarray(items), np.asarray(scores, np.float32)
        keep = items != PADDING_ITEM
        return cls(offsets_from_counts(keep.sum(axis=1)), items[keep].astype(np.int32),
                   scores[keep])

    @classmethod
    def from_mask(cls, mask: np.ndarray, scores: np.ndarray, item_ids: np.ndarray | None = None
                  ) -> "Candidates":
        """Keep scores[u, j] where mask[u, j], each user's kept items sorted best first.

        mask, scores: [num_users, num_columns]; item_ids: [num_columns] catalogue ids of the
        columns (default 0..num_columns-1). Equal scores keep increasing column order.
        """
        num_users, num_columns = mask.shape
        item_ids = np.arange(num_columns) if item_ids is None else np.asarray(item_ids)
        rows, columns = np.nonzero(mask)
        kept_scores = scores[rows, columns].astype(np.float32)
        order = np.lexsort((columns, -kept_scores, rows))
        return cls(offsets_from_owners(rows, num_users), item_ids[columns[order]].astype(np.int32), kept_scores[order])

    @classmethod
    def concatenate(cls, parts: list["Candidates"]) -> "Candidates":
        """Users of `parts` one after another (e.g. chunks of users)."""
        offsets = [np.zeros(1, np.int64)]
        total = 0
        for part in parts:
            offsets.append(part.offsets[1:] + total)
            total += part.offsets[-1]
        return cls(np.concatenate(offsets),
                   np.concatenate([p.items for p in parts]).astype(np.int32),
                   np.concatenate([p.scores for p in parts]).astype(np.float32))
