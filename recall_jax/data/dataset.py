"""The in-memory form every reader produces: time-ordered user histories in CSR layout."""

from __future__ import annotations

import dataclasses

import numpy as np

from recall_jax.core.ids import PADDING_ITEM  # noqa: F401  (re-exported by recall_jax.data)


@dataclasses.dataclass(frozen=True)
class ItemCatalogue:
    """Item metadata aligned with internal ids (row 0 is the padding item).

    raw_ids: [num_items + 1] original item ids as strings ("" for padding).
    text_fields: column name -> [num_items + 1] strings (e.g. "title", "genres"); may be empty.
    """

    raw_ids: np.ndarray
    text_fields: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def num_items(self) -> int:
        return len(self.raw_ids) - 1

    def item_text(self, fields: tuple[str, ...] | None = None) -> list[str]:
        """One string per internal id (index 0 empty): the chosen fields joined by '. '."""
        names = tuple(self.text_fields) if fields is None else fields
        columns = [self.text_fields[name] for name in names]
        return ["" if i == 0 else ". ".join(str(c[i]) for c in columns if str(c[i]))
                for i in range(len(self.raw_ids))]


@dataclasses.dataclass(frozen=True)
class SequenceDataset:
    """Users' interaction histories, each in time order, stored flat.

    user u's items are items[offsets[u]:offsets[u + 1]] (internal ids in 1..num_items).
    offsets: int64 [num_users + 1]; items: int32 [num_events];
    timestamps: int64 [num_events] or None when the source has only the order;
    user_raw_ids: [num_users] original user ids as strings.
    """

    name: str
    offsets: np.ndarray
    items: np.ndarray
    num_items: int
    user_raw_ids: np.ndarray
    catalogue: ItemCatalogue
    timestamps: np.ndarray | None = None

    def __post_init__(self):
        if self.offsets.ndim != 1 or self.offsets[0] != 0 or self.offsets[-1] != len(self.items):
            raise ValueError(f"{self.name}: offsets must start at 0 and end at len(items)")
        if np.any(np.diff(self.offsets) < 0):
            raise ValueError(f"{self.name}: offsets must be non-decreasing")
        if len(self.items) and (self.items.min() < 1 or self.items.max() > self.num_items):
            raise ValueError(f"{self.name}: item ids must lie in 1..{self.num_items}")
        if self.catalogue.num_items != self.num_items:
            raise ValueError(f"{self.name}: catalogue has {self.catalogue.num_items} items, "
                             f"dataset has {self.num_items}")
        if self.timestamps is not None and len(self.timestamps) != len(self.items):
            raise ValueError(f"{self.name}: timestamps and items differ in length")

    @property
    def num_users(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_events(self) -> int:
        return len(self.items)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sequence(self, user: int) -> np.ndarray:
        return self.items[self.offsets[user]:self.offsets[user + 1]]


def from_user_lists(name: str, user_raw_ids, item_lists, catalogue: ItemCatalogue,
                    timestamp_lists=None) -> SequenceDataset:
    """Build a SequenceDataset from per-user arrays of internal item ids (already in time order)."""
    lengths = np.array([len(x) for x in item_lists], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    items = (np.concatenate(item_lists).astype(np.int32) if len(item_lists)
             else np.zeros(0, np.int32))
    timestamps = None
    if timestamp_lists is not None:
        timestamps = np.concatenate(timestamp_lists).astype(np.int64)
    return SequenceDataset(name=name, offsets=offsets, items=items,
                           num_items=catalogue.num_items,
                           user_raw_ids=np.asarray(user_raw_ids, dtype=str),
                           catalogue=catalogue, timestamps=timestamps)
