"""A small synthetic dataset with planted sequential structure, for tests and quick experiments.

Each item belongs to one topic and has a popularity (Zipf-like). Each user has a sparse
(Dirichlet) taste over topics. A user's next item is, in order of precedence:
  * with `successor_probability`, the fixed successor of the previous item (a cycle through each
    topic's items, so item-to-item transitions carry signal);
  * otherwise, with `stay_probability`, a popular item of the previous item's topic;
  * otherwise, a popular item of a topic drawn from the user's taste.
A next-item model that reads the history can therefore beat global popularity.
"""

from __future__ import annotations

import numpy as np

from recall_jax.data.dataset import ItemCatalogue, SequenceDataset

TOPIC_WORDS = ("space", "western", "noir", "romance", "horror", "fantasy", "heist", "sports",
               "musical", "war", "mystery", "comedy")
ADJECTIVES = ("silent", "golden", "broken", "hidden", "last", "crimson", "endless", "lonely",
              "wild", "frozen", "electric", "distant")
NOUNS = ("frontier", "city", "promise", "garden", "signal", "river", "empire", "dream",
         "machine", "harbor", "orchard", "voyage")
MINIMUM_LENGTH = 3  # Enough for a leave-one-out split.


def _topic_names(num_topics: int) -> list[str]:
    return [TOPIC_WORDS[k] if k < len(TOPIC_WORDS) else f"topic-{k}" for k in range(num_topics)]


def _topic_members(item_topics: np.ndarray, num_topics: int) -> list[np.ndarray]:
    """Per topic, its 0-based items in increasing order (one stable sort: O(items log items))."""
    order = np.argsort(item_topics, kind="stable")
    bounds = np.searchsorted(item_topics[order], np.arange(num_topics + 1))
    return [order[bounds[topic]:bounds[topic + 1]] for topic in range(num_topics)]


def _successors(topic_members: list[np.ndarray], num_items: int,
                rng: np.random.Generator) -> np.ndarray:
    """int64 [num_items]: 0-based successor of each item, a random cycle within its topic."""
    successors = np.arange(num_items)
    for items in topic_members:
        if len(items) == 0:
            continue
        members = rng.permutation(items)
        successors[members] = np.roll(members, -1)
    return successors


def _topic_sampling_tables(topic_members: list[np.ndarray], popularity: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
    """([num_topics, width] 0-based items, [num_topics, width] cumulative probabilities)."""
    num_topics = len(topic_members)
    width = max(max(len(items) for items in topic_members), 1)
    members = np.zeros((num_topics, width), dtype=np.int64)
    cumulative = np.ones((num_topics, width))
    for topic, topic_items in enumerate(topic_members):
        if len(topic_items) == 0:
            continue
        weights = popularity[topic_items] / popularity[topic_items].sum()
        members[topic, :len(topic_items)] = topic_items
        members[topic, len(topic_items):] = topic_items[-1]
        cumulative[topic, :len(topic_items)] = np.cumsum(weights)
        cumulative[topic, len(topic_items) - 1:] = 1.0
    return members, cumulative


def _sample_rows(cumulative: np.ndarray, rng: np.random.Generator,
                 rows: np.ndarray | None = None) -> np.ndarray:
    """int64 [len(rows)]: one categorical draw from each given row (default: every row once) of
    cumulative probabilities [num_rows, width] whose last entry is 1.

    The draw is the number of the row's entries below a uniform number, found by a vectorised
    binary search: O(draws x log width) time and O(draws) memory.
    """
    rows = np.arange(len(cumulative)) if rows is None else rows
    width = cumulative.shape[1]
    uniform = rng.random(len(rows))
    low = np.zeros(len(rows), dtype=np.int64)
    high = np.full(len(rows), width, dtype=np.int64)
    active = low < high
    while active.any():
        middle = (low + high) // 2
        below = cumulative[rows, np.minimum(middle, width - 1)] < uniform
        low = np.where(active & below, middle + 1, low)
        high = np.where(active & ~below, middle, high)
        active = low < high
    return np.minimum(low, width - 1)


def _item_text(item_topics: np.ndarray, topic_names: list[str],
               rng: np.random.Generator) -> dict[str, np.ndarray]:
    """title/genres columns for internal ids 0..num_items (row 0 is padding)."""
    adjectives = rng.choice(ADJECTIVES, size=len(item_topics))
    nouns = rng.choice(NOUNS, size=len(item_topics))
    titles = [f"{topic_names[topic]} {adjective} {noun} #{item + 1}" for item, (topic, adjective,
              noun) in enumerate(zip(item_topics.tolist(), adjectives, nouns))]
    genres = [topic_names[topic] for topic in item_topics.tolist()]
    return {"title": np.asarray([""] + titles, dtype=str),
            "genres": np.asarray([""] + genres, dtype=str)}


def make_synthetic(num_users: int = 500, num_items: int = 200, num_topics: int = 8,
                   mean_length: int = 30, seed: int = 0, stay_probability: float = 0.7,
                   successor_probability: float = 0.3,
                   taste_concentration: float = 0.3) -> SequenceDataset:
    """Deterministic (by seed) dataset of `num_users` histories over `num_items` items.

    Lengths are 3 + Poisson(mean_length - 3); timestamps are increasing per user (seconds).
    """
    if num_items < num_topics or num_topics < 1:
        raise ValueError(f"need 1 <= num_topics <= num_items, got {num_topics} topics and "
                         f"{num_items} items")
    rng = np.random.default_rng(seed)
    item_topics = rng.permutation(np.arange(num_items) % num_topics)
    popularity = 1.0 / (1.0 + rng.permutation(num_items)) ** 0.8
    topic_members = _topic_members(item_topics, num_topics)
    successors = _successors(topic_members, num_items, rng)
    members, cumulative = _topic_sampling_tables(topic_members, popularity)
    tastes = np.cumsum(rng.dirichlet(np.full(num_topics, taste_concentration), size=num_users),
                       axis=1)
    tastes[:, -1] = 1.0
    lengths = MINIMUM_LENGTH + rng.poisson(max(mean_length - MINIMUM_LENGTH, 0), size=num_users)
    sequences = np.zeros((num_users, int(lengths.max())), dtype=np.int64)
    topics = _sample_rows(tastes, rng)
    sequences[:, 0] = members[topics, _sample_rows(cumulative, rng, topics)]
    for step in range(1, sequences.shape[1]):
        previous = sequences[:, step - 1]
        choice = rng.random(num_users)
        follow = choice < successor_probability
        stay = choice < successor_probability + (1 - successor_probability) * stay_probability
        topics = np.where(stay, item_topics[previous], _sample_rows(tastes, rng))
        fresh = members[topics, _sample_rows(cumulative, rng, topics)]
        sequences[:, step] = np.where(follow, successors[previous], fresh)
    in_sequence = np.arange(sequences.shape[1])[None, :] < lengths[:, None]
    gaps = rng.exponential(43200.0, size=sequences.shape).astype(np.int64) + 1
    starts = rng.integers(1_600_000_000, 1_600_000_000 + 30 * 86400, size=num_users)
    timestamps = starts[:, None] + np.cumsum(gaps, axis=1)
    catalogue = ItemCatalogue(
        raw_ids=np.asarray([""] + [str(i) for i in range(1, num_items + 1)], dtype=str),
        text_fields=_item_text(item_topics, _topic_names(num_topics), rng))
    return SequenceDataset(
        name="synthetic",
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        items=(sequences[in_sequence] + 1).astype(np.int32),
        num_items=num_items,
        user_raw_ids=np.asarray([str(u) for u in range(1, num_users + 1)], dtype=str),
        catalogue=catalogue,
        timestamps=timestamps[in_sequence].astype(np.int64))
