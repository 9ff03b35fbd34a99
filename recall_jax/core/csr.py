"""Compressed sparse rows (CSR): variable-length rows (histories, candidate sets) as one
values array and int64 offsets, row r owning values[offsets[r]:offsets[r + 1]]."""

from __future__ import annotations

import numpy as np


def offsets_from_counts(counts: np.ndarray) -> np.ndarray:
    """int64 [len(counts) + 1] CSR offsets: row r owns entries offsets[r]:offsets[r + 1]."""
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def offsets_from_owners(sorted_owners: np.ndarray, num_rows: int) -> np.ndarray:
    """CSR offsets for entries already grouped by owning row (sorted_owners: int [entries])."""
    return offsets_from_counts(np.bincount(sorted_owners, minlength=num_rows))


def owner_of_entries(offsets: np.ndarray) -> np.ndarray:
    """int [offsets[-1]]: the row owning each CSR entry."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def last_entries(offsets: np.ndarray, values: np.ndarray,
                 keep: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, values) of the CSR rows cut to their last `keep` entries (e.g. recent history)."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    offsets = np.asarray(offsets, np.int64)
    starts = np.maximum(offsets[:-1], offsets[1:] - keep)
    lengths = offsets[1:] - starts
    new_offsets = offsets_from_counts(lengths)
    rows = owner_of_entries(new_offsets)
    positions = starts[rows] + np.arange(new_offsets[-1]) - new_offsets[rows]
    return new_offsets, np.asarray(values)[positions]
