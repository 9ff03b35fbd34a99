"""Training batches from user histories: padded windows, length buckets, seeded shuffling.

Each user's most recent `max_len + 1` training items form one window; inputs are window[:-1] and
next-item targets window[1:], left-padded with 0. Windows are grouped into length buckets so short
histories are not padded to `max_len` (the encoder's positions count from the right, so a shorter
tensor gives exactly the same outputs as a left-padded long one). All of it is vectorised numpy.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from recall_jax.data.dataset import PADDING_ITEM, SequenceDataset
from recall_jax.errors import ConfigError


def _last_events(offsets: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(event index [num_users, width] of each user's last `width` events, left-aligned so the
    last event is in the last column; whether each cell holds one of the user's events)."""
    ends = offsets[1:].astype(np.int64)
    starts = np.maximum(offsets[:-1].astype(np.int64), ends - width)
    index = ends[:, None] - width + np.arange(width)[None, :]
    return index, index >= starts[:, None]


def last_items_matrix(offsets: np.ndarray, items: np.ndarray, width: int) -> np.ndarray:
    """[num_users, width] int32: each user's last `width` items, left-padded with 0."""
    index, valid = _last_events(offsets, width)
    if len(items) == 0:
        return np.zeros(index.shape, np.int32)
    values = items[np.clip(index, 0, len(items) - 1)]
    return np.where(valid, values, PADDING_ITEM).astype(np.int32)


def relative_times_matrix(offsets: np.ndarray, timestamps: np.ndarray, width: int
                          ) -> np.ndarray:
    """[num_users, width] int32: the times of each user's last `width` events minus the time of
    its last event (so <= 0 and small), left-padded with 0. Models use only differences of
    times within a row, which this shift leaves unchanged."""
    index, valid = _last_events(offsets, width)
    if len(timestamps) == 0:
        return np.zeros(index.shape, np.int32)
    values = timestamps[np.clip(index, 0, len(timestamps) - 1)].astype(np.int64)
    relative = np.where(valid, values - values[:, -1:], 0)
    if relative.min(initial=0) < np.iinfo(np.int32).min:
        raise ValueError("a user's events span more than 2^31 time units; store timestamps in "
                         "seconds")
    return relative.astype(np.int32)


def require_timestamps(dataset: SequenceDataset, needed_by: str) -> np.ndarray:
    if dataset.timestamps is None:
        raise ConfigError(f"{needed_by} needs event timestamps, but dataset {dataset.name!r} has "
                         "only the event order ; use a source with timestamps (e.g. "
                         "ml-1m-chrono-all) or set model.time_buckets=0")
    return dataset.timestamps


BUCKET_QUANTILES = (0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99, 1.0)


def derived_bucket_lengths(lengths: np.ndarray, max_len: int, multiple: int = 8
                           ) -> tuple[int, ...]:
    """Bucket widths from the data: the lengths' quantiles (BUCKET_QUANTILES) rounded up to a
    multiple of `multiple`, capped at max_len, plus max_len itself."""
    lengths = np.minimum(np.asarray(lengths, np.int64), max_len)
    if len(lengths) == 0:
        return (max_len,)
    quantiles = np.quantile(lengths, BUCKET_QUANTILES, method="higher")
    widths = {min(max_len, int(-(-max(int(q), 1) // multiple) * multiple)) for q in quantiles}
    return tuple(sorted(widths | {max_len}))


def padding_share(lengths: np.ndarray, bucket_lengths: Sequence[int]) -> float:
    """Share of the tokens of bucketed batches that are padding (full batches assumed)."""
    widths = np.asarray(sorted(bucket_lengths))
    lengths = np.minimum(np.asarray(lengths, np.int64), widths[-1])
    padded = widths[bucket_for_lengths(lengths, widths)]
    return float(1.0 - lengths.sum() / max(padded.sum(), 1))


def bucket_for_lengths(lengths: np.ndarray, bucket_lengths: Sequence[int]) -> np.ndarray:
    """Index of the smallest bucket that holds each length (lengths above the last bucket go there)."""
    buckets = np.asarray(sorted(bucket_lengths))
    return np.minimum(np.searchsorted(buckets, lengths, side="left"), len(buckets) - 1)


class NextItemBatches:
    """Seeded, length-bucketed next-item training batches, split across hosts.

    Without bucket_lengths, the widths come from the training lengths (derived_bucket_lengths).
    Every epoch visits every user with at least two training items exactly once. Batches are
    [batch_size, bucket_len]; the last batch of a bucket is filled with empty rows (all padding,
    which the losses ignore) so shapes stay fixed and nothing is dropped.
    """

    def __init__(self, dataset: SequenceDataset, max_len: int, batch_size: int, seed: int,
                 bucket_lengths: Sequence[int] | None = None, process_index: int = 0,
                 process_count: int = 1, with_times: bool = False):
        if batch_size % process_count:
            raise ValueError(f"batch_size {batch_size} is not divisible by {process_count} hosts")
        self.max_len = max_len
        self.batch_size = batch_size
        self.seed = seed
        self.process_index = process_index
        self.process_count = process_count
        trainable = np.flatnonzero(dataset.lengths >= 2)
        windows = last_items_matrix(dataset.offsets, dataset.items, max_len + 1)[trainable]
        self.windows = windows  # [num_trainable_users, max_len + 1]
        self.time_windows = None  # the same windows' relative event times (with_times)
        if with_times:
            timestamps = require_timestamps(dataset, "model.time_buckets > 0")
            self.time_windows = relative_times_matrix(dataset.offsets, timestamps,
                                                      max_len + 1)[trainable]
        input_lengths = np.minimum(dataset.lengths[trainable] - 1, max_len)
        if not bucket_lengths:  # none given: from the training lengths
            bucket_lengths = derived_bucket_lengths(input_lengths, max_len)
        self.bucket_lengths = tuple(sorted(set(bucket_lengths) | {max_len}))
        if self.bucket_lengths[0] < 1:
            raise ValueError(f"bucket lengths must be positive, got {self.bucket_lengths}")
        self.padding_share = padding_share(input_lengths, self.bucket_lengths)
        self.bucket_of_user = bucket_for_lengths(input_lengths, self.bucket_lengths)

    @property
    def num_sequences(self) -> int:
        return len(self.windows)

    def num_batches(self) -> int:
        counts = np.bincount(self.bucket_of_user, minlength=len(self.bucket_lengths))
        return int(np.sum(-(-counts // self.batch_size)))

    def epoch(self, epoch: int) -> Iterator[dict[str, np.ndarray]]:
        """Yields this host's share of each global batch: {"inputs", "targets"} [local_batch, len]
        (and "times", the inputs' relative event times, when built with_times)."""
        rng = np.random.default_rng([self.seed, epoch])
        plan = []  # (bucket, row indices of one global batch)
        for bucket in range(len(self.bucket_lengths)):
            users = rng.permutation(np.flatnonzero(self.bucket_of_user == bucket))
            for start in range(0, len(users), self.batch_size):
                plan.append((bucket, users[start:start + self.batch_size]))
        order = rng.permutation(len(plan))
        local = self.batch_size // self.process_count
        for index in order:
            bucket, rows = plan[index]
            length = self.bucket_lengths[bucket]
            window = np.zeros((self.batch_size, length + 1), np.int32)
            window[:len(rows)] = self.windows[rows, -(length + 1):]
            window = window[self.process_index * local:(self.process_index + 1) * local]
            inputs = window[:, :-1]
            # The first item of a short history has no input before it: nothing to predict there.
            targets = np.where(inputs != PADDING_ITEM, window[:, 1:], PADDING_ITEM)
            batch = {"inputs": inputs, "targets": targets}
            if self.time_windows is not None:
                times = np.zeros((self.batch_size, length + 1), np.int32)
                times[:len(rows)] = self.time_windows[rows, -(length + 1):]
                times = times[self.process_index * local:(self.process_index + 1) * local]
                batch["times"] = np.where(inputs != PADDING_ITEM, times[:, :-1], 0)
            yield batch


def evaluation_inputs(histories: SequenceDataset, max_len: int) -> np.ndarray:
    """[num_users, max_len] int32 model inputs: each history's last max_len items, left-padded."""
    return last_items_matrix(histories.offsets, histories.items, max_len)
