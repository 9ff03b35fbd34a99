"""The seen-item policy: which items are removed from a user's ranking, decided in one place.

A filter may use the user's history only, never the label:

* "exclude" (default): every item of the user's history is removed, a repeated target included,
  which is then a miss at every cut-off (the generative-recommenders rule);
* "keep": nothing is removed; already-seen items compete with the rest;
* "exclude_keep_target": the history is removed except the target itself. OPTIMISTIC: it
  removes every competitor the user has seen and keeps the answer, which no deployed system
  could do. Only for comparing with papers that used it; every table says so.

Exclusions are CSR item lists per user; the ranking core (`evaluation.ranking`), the baselines
and every recall strategy in the comparison take them from `seen_item_exclusions`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recall_jax.core.csr import offsets_from_owners, owner_of_entries

SEEN_ITEM_POLICIES = ("exclude", "keep", "exclude_keep_target")
OPTIMISTIC_POLICIES = ("exclude_keep_target",)

_DESCRIPTIONS = {
    "exclude": "seen items excluded (the user's whole history is removed from the ranking; a "
               "target that repeats a history item counts as a miss)",
    "keep": "seen items kept (nothing is removed from the ranking)",
    "exclude_keep_target": "seen items excluded except the target (OPTIMISTIC: the target stays "
                           "rankable when it repeats a history item, so every seen competitor "
                           "is removed and the answer kept; for comparison with papers that "
                           "used this rule only)",
}


@dataclasses.dataclass(frozen=True)
class Exclusions:
    """Items removed from each user's ranking: user u's are items[offsets[u]:offsets[u + 1]].

    offsets: int64 [num_users + 1]; items: int32 [total] (ids 1..num_items, any order, repeats
    allowed)."""

    offsets: np.ndarray
    items: np.ndarray

    def __post_init__(self):
        offsets = np.asarray(self.offsets, np.int64)
        items = np.asarray(self.items, np.int32)
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or \
                offsets[-1] != len(items) or np.any(np.diff(offsets) < 0):
            raise ValueError("exclusion offsets must be non-decreasing [num_users + 1], from 0 "
                             "to len(items)")
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "items", items)

    @property
    def num_users(self) -> int:
        return len(self.offsets) - 1

    def max_length(self) -> int:
        return int(np.diff(self.offsets).max(initial=0))

    def rows(self, users: slice) -> "Exclusions":
        """The exclusions of the users in `users` (a slice with step 1), re-based to start at 0."""
        part = self.offsets[users.start:(users.stop if users.stop is not None
                                         else self.num_users) + 1]
        return Exclusions(part - part[0], self.items[part[0]:part[-1]])

    def padded(self, start: int, stop: int, rows: int, width: int) -> np.ndarray:
        """int32 [rows, width]: row i holds the exclusions of user start + i, then 0s."""
        offsets, items = self.offsets, self.items
        lengths = offsets[start + 1:stop + 1] - offsets[start:stop]
        if lengths.size and lengths.max() > width:
            raise ValueError(f"width {width} is less than the longest exclusion list "
                             f"({lengths.max()})")
        row_of_entry = np.repeat(np.arange(stop - start), lengths)
        column_of_entry = (np.arange(offsets[stop] - offsets[start])
                           - np.repeat(offsets[start:stop] - offsets[start], lengths))
        padded = np.zeros((rows, width), np.int32)
        padded[row_of_entry, column_of_entry] = items[offsets[start]:offsets[stop]]
        return padded


def check_policy(policy: str) -> str:
    if policy not in SEEN_ITEM_POLICIES:
        raise ValueError(f"eval.seen_items must be one of {list(SEEN_ITEM_POLICIES)}, got "
                         f"{policy!r}")
    return policy


def seen_item_exclusions(history_offsets: np.ndarray, history_items: np.ndarray,
                         targets: np.ndarray, policy: str) -> Exclusions | None:
    """The items each user's ranking loses under `policy`; None when nothing is removed.

    history_offsets: int [num_users + 1] and history_items: int [events], the CSR histories of
    the evaluated users; targets: int [num_users] (read by "exclude_keep_target" only).
    """
    check_policy(policy)
    if policy == "keep":
        return None
    offsets = np.asarray(history_offsets, np.int64)
    items = np.asarray(history_items)
    if policy == "exclude":
        return Exclusions(offsets, items)
    owner = owner_of_entries(offsets)
    keep = items != np.asarray(targets)[owner]
    return Exclusions(offsets_from_owners(owner[keep], len(offsets) - 1), items[keep])


def targets_in_history(history_offsets: np.ndarray, history_items: np.ndarray,
                       targets: np.ndarray) -> np.ndarray:
    """bool [num_users]: whether each user's target repeats an item of its history."""
    offsets = np.asarray(history_offsets, np.int64)
    owner = owner_of_entries(offsets)
    repeated = np.zeros(len(offsets) - 1, bool)
    repeated[owner[np.asarray(history_items) == np.asarray(targets)[owner]]] = True
    return repeated


def describe_policy(policy: str) -> str:
    """The policy as every protocol line states it."""
    return _DESCRIPTIONS[check_policy(policy)]
