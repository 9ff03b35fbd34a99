"""Named datasets and splits, chosen from an ml_collections config.

`data_config` fields:
  name: one of DATASET_NAMES.
  root: data root (default: RECALL_JAX_DATA; when both are unset the official archives are
        downloaded into `cache_dir`, default ~/.cache/recall_jax).
  ml-1m-ratings: min_rating (optional).
  synthetic: num_users, num_items, num_topics, mean_length, seed (all optional).
  generic: interactions_path, items_path, delimiter, text_columns, has_header (relative paths
           are taken from `root` when one is configured).
  split: "leave_one_out" (default; min_events, default 3) or "temporal"
         (validation_quantile 0.8, test_quantile 0.9).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import ml_collections

from recall_jax.data import readers, splits
from recall_jax.data.dataset import SequenceDataset
from recall_jax.data.download import ensure_dataset, resolve_data_root
from recall_jax.data.synthetic import make_synthetic

SPLIT_NAMES = ("leave_one_out", "temporal")


def _get(config: ml_collections.ConfigDict, field: str, default: Any = None) -> Any:
    value = config.get(field, default)
    return default if value is None else value


def _folder(config: ml_collections.ConfigDict, dataset: str, required: tuple[str, ...]) -> Path:
    return ensure_dataset(dataset, data_root=config.get("root") or None,
                          cache_dir=config.get("cache_dir") or None, required_files=required)


def _optional(folder: Path, file_name: str) -> Path | None:
    return folder / file_name if (folder / file_name).is_file() else None


def _load_ml1m_sasrec(config: ml_collections.ConfigDict) -> SequenceDataset:
    folder = _folder(config, "ml-1m", ("ml-1m.txt",))
    item_map = _optional(folder, "sas_to_original_items.txt")
    return readers.read_sasrec_file(
        folder / "ml-1m.txt", item_map_path=item_map,
        movies_path=_optional(folder, "movies.dat") if item_map else None,
        user_map_path=_optional(folder, "sas_to_original_users.txt"))


def _load_ml1m_chrono_all(config: ml_collections.ConfigDict) -> SequenceDataset:
    folder = _folder(config, "ml-1m", ("ml-1m-chrono-all.txt",))
    return readers.read_chrono_user_lines(folder / "ml-1m-chrono-all.txt",
                                          movies_path=_optional(folder, "movies.dat"))


def _load_ml1m_ratings(config: ml_collections.ConfigDict) -> SequenceDataset:
    folder = _folder(config, "ml-1m", ("ratings.dat",))
    return readers.read_movielens_ratings(folder / "ratings.dat",
                                          movies_path=_optional(folder, "movies.dat"),
                                          min_rating=config.get("min_rating"))


def _load_ml100k(config: ml_collections.ConfigDict) -> SequenceDataset:
    folder = _folder(config, "ml-100k", ("u.data",))
    return readers.read_ml100k(folder / "u.data", u_item_path=_optional(folder, "u.item"))


def _resolve_path(config: ml_collections.ConfigDict, path: str | None) -> Path | None:
    if path is None:
        return None
    root = config.get("root") or resolve_data_root()
    return Path(root) / path if root is not None and not Path(path).is_absolute() else Path(path)


def _load_generic(config: ml_collections.ConfigDict) -> SequenceDataset:
    if not config.get("interactions_path"):
        raise ValueError("data.name='generic' needs data.interactions_path")
    text_columns = config.get("text_columns")
    return readers.read_generic(
        _resolve_path(config, config.interactions_path),
        items_path=_resolve_path(config, config.get("items_path")),
        delimiter=_get(config, "delimiter", ","),
        text_columns=None if text_columns is None else tuple(text_columns),
        has_header=_get(config, "has_header", True))


def _load_synthetic(config: ml_collections.ConfigDict) -> SequenceDataset:
    return make_synthetic(num_users=_get(config, "num_users", 500),
                          num_items=_get(config, "num_items", 200),
                          num_topics=_get(config, "num_topics", 8),
                          mean_length=_get(config, "mean_length", 30),
                          seed=_get(config, "seed", 0))


LOADERS: dict[str, Callable[[ml_collections.ConfigDict], SequenceDataset]] = {
    "ml-1m-sasrec": _load_ml1m_sasrec,
    "ml-1m-chrono-all": _load_ml1m_chrono_all,
    "ml-1m-ratings": _load_ml1m_ratings,
    "ml-100k": _load_ml100k,
    "generic": _load_generic,
    "synthetic": _load_synthetic,
}
DATASET_NAMES = tuple(LOADERS)


def load_dataset(data_config: ml_collections.ConfigDict) -> SequenceDataset:
    """The dataset named by data_config.name (see module docstring for the fields)."""
    name = data_config.get("name")
    if name not in LOADERS:
        raise ValueError(f"unknown dataset name {name!r}; valid names: {list(DATASET_NAMES)}")
    dataset = LOADERS[name](data_config)
    return dataset if dataset.name == name else dataclasses.replace(dataset, name=name)


def split_dataset(dataset: SequenceDataset, data_config: ml_collections.ConfigDict
                  ) -> splits.Split:
    """Split chosen by data_config.split: "leave_one_out" (default) or "temporal"."""
    split = _get(data_config, "split", "leave_one_out")
    if split == "leave_one_out":
        return splits.leave_one_out_split(dataset, min_events=_get(data_config, "min_events", 3))
    if split == "temporal":
        return splits.temporal_split(
            dataset, validation_quantile=_get(data_config, "validation_quantile", 0.8),
            test_quantile=_get(data_config, "test_quantile", 0.9))
    raise ValueError(f"unknown split {split!r}; valid splits: {list(SPLIT_NAMES)}")
