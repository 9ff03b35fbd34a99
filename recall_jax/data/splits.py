"""Train / validation / test splits of a SequenceDataset, all vectorised over users.

* Leave-one-out (SASRec, generative-recommenders): train = seq[:-2]; validation predicts seq[-2]
  from seq[:-2]; test predicts seq[-1] from seq[:-1].
* Temporal: global cutoffs at timestamp quantiles. Train = events before the validation cutoff;
  validation predicts each user's first event in [validation cutoff, test cutoff) from all earlier
  events; test predicts the first event at or after the test cutoff from all earlier events.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recall_jax.data.dataset import SequenceDataset
from recall_jax.data.readers import DataFormatError
from recall_jax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class EvaluationSet:
    """histories: one row per evaluated user; targets: int32 [num_eval_users] next item;
    user_index: int64 [num_eval_users] row of each evaluated user in the source dataset."""

    histories: SequenceDataset
    targets: np.ndarray
    user_index: np.ndarray

    @property
    def num_users(self) -> int:
        return len(self.targets)


@dataclasses.dataclass(frozen=True)
class Split:
    """train keeps one row per source user (possibly empty); protocol names the split rule."""

    train: SequenceDataset
    validation: EvaluationSet
    test: EvaluationSet
    protocol: str


def take_prefixes(dataset: SequenceDataset, rows: np.ndarray, prefix_lengths: np.ndarray,
                  name: str | None = None) -> SequenceDataset:
    """Dataset of the first prefix_lengths[k] events of user rows[k] (both int [k])."""
    rows = np.asarray(rows, dtype=np.int64)
    prefix_lengths = np.asarray(prefix_lengths, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(prefix_lengths)]).astype(np.int64)
    within_user = np.arange(offsets[-1]) - np.repeat(offsets[:-1], prefix_lengths)
    source = np.repeat(dataset.offsets[rows], prefix_lengths) + within_user
    return SequenceDataset(
        name=dataset.name if name is None else name,
        offsets=offsets,
        items=dataset.items[source],
        num_items=dataset.num_items,
        user_raw_ids=dataset.user_raw_ids[rows],
        catalogue=dataset.catalogue,
        timestamps=None if dataset.timestamps is None else dataset.timestamps[source])


def _evaluation_set(dataset: SequenceDataset, rows: np.ndarray, target_positions: np.ndarray,
                    name: str) -> EvaluationSet:
    """Targets at target_positions (within each user) with every earlier event as history."""
    rows = np.asarray(rows, dtype=np.int64)
    targets = dataset.items[dataset.offsets[rows] + target_positions].astype(np.int32)
    return EvaluationSet(histories=take_prefixes(dataset, rows, target_positions, name),
                         targets=targets, user_index=rows)


def filter_short_users(dataset: SequenceDataset, min_events: int) -> SequenceDataset:
    """The dataset restricted to users with at least `min_events` events."""
    rows = np.flatnonzero(dataset.lengths >= min_events)
    return take_prefixes(dataset, rows, dataset.lengths[rows])


def leave_one_out_split(dataset: SequenceDataset, min_events: int = 3) -> Split:
    """SASRec leave-one-out; every user needs >= min_events (>= 3) events."""
    if min_events < 3:
        raise ValueError(f"leave-one-out needs min_events >= 3 (one training event, one "
                         f"validation target, one test target), got {min_events}")
    lengths = dataset.lengths
    short = np.flatnonzero(lengths < min_events)
    if len(short):
        row = int(short[0])
        raise ValueError(
            f"{dataset.name}: user {dataset.user_raw_ids[row]!r} (row {row}) has "
            f"{int(lengths[row])} events, fewer than min_events={min_events} "
            f"({len(short)} users are this short); drop them first with "
            f"filter_short_users(dataset, min_events={min_events})")
    rows = np.arange(dataset.num_users)
    return Split(train=take_prefixes(dataset, rows, lengths - 2, f"{dataset.name}/train"),
                 validation=_evaluation_set(dataset, rows, lengths - 2,
                                            f"{dataset.name}/validation"),
                 test=_evaluation_set(dataset, rows, lengths - 1, f"{dataset.name}/test"),
                 protocol="leave-one-out")


def _check_time_ordered(dataset: SequenceDataset) -> None:
    """Raise unless timestamps exist and never decrease within a user."""
    if dataset.timestamps is None:
        raise ConfigError(f"{dataset.name}: temporal_split (config.data.split='temporal') needs "
                          "timestamps, but this dataset has only the event order ; read a source "
                          "with timestamps (e.g. read_movielens_ratings, read_ml100k, "
                          "read_generic with a timestamp column) or use leave_one_out_split")
    decreasing = np.flatnonzero(np.diff(dataset.timestamps) < 0) + 1
    # A decrease at a user's first event is just the boundary between two users.
    decreasing = decreasing[~np.isin(decreasing, dataset.offsets)]
    if len(decreasing):
        row = int(np.searchsorted(dataset.offsets, decreasing[0], side="right") - 1)
        raise DataFormatError(f"{dataset.name}: user {dataset.user_raw_ids[row]!r} (row {row}) "
                              "has timestamps out of order ; sequences must be sorted by time")


def temporal_cutoffs(dataset: SequenceDataset, validation_quantile: float = 0.8,
                     test_quantile: float = 0.9) -> tuple[int, int]:
    """(validation cutoff, test cutoff): event timestamps at the two global quantiles."""
    if not 0.0 < validation_quantile <= test_quantile <= 1.0:
        raise ValueError(f"need 0 < validation_quantile <= test_quantile <= 1, got "
                         f"{validation_quantile} and {test_quantile}")
    _check_time_ordered(dataset)
    cutoffs = np.quantile(dataset.timestamps, [validation_quantile, test_quantile],
                          method="lower")
    return int(cutoffs[0]), int(cutoffs[1])


def _events_before(dataset: SequenceDataset, user_of_event: np.ndarray, cutoff: int
                   ) -> np.ndarray:
    """int64 [num_users]: how many of each user's events are strictly before `cutoff`."""
    return np.bincount(user_of_event[dataset.timestamps < cutoff],
                       minlength=dataset.num_users).astype(np.int64)


def _first_events_in_window(dataset: SequenceDataset, start_positions: np.ndarray,
                            end_time: int | None, min_history: int) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """(rows, positions) of users whose event at start_positions exists, is before end_time
    (if given) and has at least min_history earlier events."""
    exists = start_positions < dataset.lengths
    positions = np.where(exists, start_positions, 0)
    event_time = dataset.timestamps[np.minimum(dataset.offsets[:-1] + positions,
                                               max(dataset.num_events - 1, 0))]
    keep = exists & (start_positions >= min_history)
    if end_time is not None:
        keep &= event_time < end_time
    rows = np.flatnonzero(keep)
    return rows, start_positions[rows]


def temporal_split(dataset: SequenceDataset, validation_quantile: float = 0.8,
                   test_quantile: float = 0.9, min_history: int = 1) -> Split:
    """Global-time split; users without an event in a window, or with fewer than `min_history`
    earlier events, are absent from that evaluation set."""
    validation_cutoff, test_cutoff = temporal_cutoffs(dataset, validation_quantile,
                                                      test_quantile)
    user_of_event = np.repeat(np.arange(dataset.num_users), dataset.lengths)
    before_validation = _events_before(dataset, user_of_event, validation_cutoff)
    before_test = _events_before(dataset, user_of_event, test_cutoff)
    validation_rows, validation_positions = _first_events_in_window(
        dataset, before_validation, test_cutoff, min_history)
    test_rows, test_positions = _first_events_in_window(dataset, before_test, None, min_history)
    all_rows = np.arange(dataset.num_users)
    return Split(
        train=take_prefixes(dataset, all_rows, before_validation, f"{dataset.name}/train"),
        validation=_evaluation_set(dataset, validation_rows, validation_positions,
                                   f"{dataset.name}/validation"),
        test=_evaluation_set(dataset, test_rows, test_positions, f"{dataset.name}/test"),
        protocol=f"temporal({validation_quantile:g},{test_quantile:g})")
