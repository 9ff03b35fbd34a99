"""Named datasets and splits, chosen from an ml_collections config (`config.data`).

Every field is declared, with its default and meaning, in experiments/configs/default.py:
  name: one of DATASET_NAMES; root / cache_dir: where the files are (default: RECALL_JAX_DATA;
  when both are unset the official archives are downloaded into cache_dir, default
  ~/.cache/recall_jax); min_rating (ml-1m-ratings, 0: all); synthetic.* (the synthetic data);
  interactions_path, items_path, delimiter, has_header, text_columns (generic); path,
  user_field, item_field, time_field, text_columns, items_path (recbole: the .inter file or a
  folder <name>/ holding <name>.inter and optionally <name>.item; items_path overrides the
  .item file); path, items_path, delimiter, text_columns (sequence: one `user item item ...`
  line per user); relative paths are taken from the data root; label (the dataset name on
  results pages and protocol lines; "": the data file's stem for the FILE_FORMATS, the
  dataset's name otherwise); split ("leave_one_out" or "temporal" with validation_quantile and
  test_quantile); min_user_events (users with fewer events are dropped before splitting);
  allow_missing_item_text (items without a metadata row get empty text and a warning instead
  of a DataFormatError).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import ml_collections

from recall_jax.data import readers, splits
from recall_jax.data.dataset import SequenceDataset
from recall_jax.data.readers import DataFormatError
from recall_jax.errors import ConfigError, DataNotFoundError
from recall_jax.data.download import ensure_dataset, resolve_data_root
from recall_jax.data.synthetic import make_synthetic

SPLIT_NAMES = ("leave_one_out", "temporal")
# Datasets read from files that the config names; their name is data.label or the file's stem.
FILE_FORMATS = ("generic", "recbole", "sequence")
PATH_EXAMPLES = {"recbole": "ml-1m/ml-1m.inter", "sequence": "ml-1m/ml-1m-chrono-all.txt"}


def _folder(data_config: ml_collections.ConfigDict, dataset: str, required: tuple[str, ...]) -> Path:
    return ensure_dataset(dataset, data_root=data_config.root or None,
                          cache_dir=data_config.cache_dir or None, required_files=required)


def _optional(folder: Path, file_name: str) -> Path | None:
    return folder / file_name if (folder / file_name).is_file() else None


def _load_ml1m_sasrec(data_config: ml_collections.ConfigDict) -> SequenceDataset:
    folder = _folder(data_config, "ml-1m", ("ml-1m.txt",))
    item_map = _optional(folder, "sas_to_original_items.txt")
    return readers.read_sasrec_file(
        folder / "ml-1m.txt", item_map_path=item_map,
        movies_path=_optional(folder, "movies.dat") if item_map else None,
        user_map_path=_optional(folder, "sas_to_original_users.txt"),
        allow_missing_item_text=data_config.allow_missing_item_text)


def _load_ml1m_chrono_all(data_config: ml_collections.ConfigDict) -> SequenceDataset:
    folder = _folder(data_config, "ml-1m", ("ml-1m-chrono-all.txt",))
    return readers.read_chrono_user_lines(
        folder / "ml-1m-chrono-all.txt", movies_path=_optional(folder, "movies.dat"),
        allow_missing_item_text=data_config.allow_missing_item_text)


def _load_ml1m_ratings(data_config: ml_collections.ConfigDict) -> SequenceDataset:
    folder = _folder(data_config, "ml-1m", ("ratings.dat",))
    return readers.read_movielens_ratings(
        folder / "ratings.dat", movies_path=_optional(folder, "movies.dat"),
        min_rating=data_config.min_rating or None,
        allow_missing_item_text=data_config.allow_missing_item_text)


def _load_ml100k(data_config: ml_collections.ConfigDict) -> SequenceDataset:
    folder = _folder(data_config, "ml-100k", ("u.data",))
    return readers.read_ml100k(folder / "u.data", u_item_path=_optional(folder, "u.item"),
                               allow_missing_item_text=data_config.allow_missing_item_text)


def _resolve_path(data_config: ml_collections.ConfigDict, path: str) -> Path | None:
    """None for "", else the path, under the data root when relative and a root is known."""
    if not path:
        return None
    root = data_config.root or resolve_data_root()
    return Path(root) / path if root is not None and not Path(path).is_absolute() else Path(path)


def _load_generic(data_config: ml_collections.ConfigDict) -> SequenceDataset:
    if not data_config.interactions_path:
        raise ConfigError("config.data.name='generic' needs config.data.interactions_path ; "
                          "give a user,item[,timestamp] file")
    return readers.read_generic(
        _resolve_path(data_config, data_config.interactions_path),
        items_path=_resolve_path(data_config, data_config.items_path),
        delimiter=data_config.delimiter,
        text_columns=tuple(data_config.text_columns) or None,
        has_header=data_config.has_header,
        allow_missing_item_text=data_config.allow_missing_item_text)


def _data_path(data_config: ml_collections.ConfigDict) -> Path:
    """data.path resolved under the data root; unset: ConfigError, absent: DataNotFoundError."""
    name = data_config.name
    if not data_config.path:
        raise ConfigError(f"config.data.name={name!r} needs config.data.path ; e.g. "
                          f"--config.data.path={PATH_EXAMPLES[name]} (relative paths are read "
                          f"under the data root)")
    path = _resolve_path(data_config, data_config.path)
    if not path.exists():
        raise DataNotFoundError(f"config.data.path={data_config.path!r}: {path}: no such file "
                                f"or folder ; expected e.g. {PATH_EXAMPLES[name]} (relative "
                                f"paths are read under the data root)")
    return path


def _recbole_files(data_config: ml_collections.ConfigDict) -> tuple[Path, Path | None]:
    """The .inter file and the .item file (data.items_path, else <stem>.item beside it if any)."""
    path = _data_path(data_config)
    inter = path / f"{path.name}.inter" if path.is_dir() else path
    if not inter.is_file():
        raise DataNotFoundError(f"config.data.path={data_config.path!r}: the folder {path} has "
                                f"no {inter.name} ; expected a RecBole folder <name>/ holding "
                                f"<name>.inter (and optionally <name>.item), or the .inter file")
    if data_config.items_path:
        return inter, _resolve_path(data_config, data_config.items_path)
    item = inter.with_suffix(".item")
    return inter, item if item.is_file() else None


def _load_recbole(data_config: ml_collections.ConfigDict) -> SequenceDataset:
    inter, item = _recbole_files(data_config)
    return readers.read_recbole(
        inter, item, user_field=data_config.user_field, item_field=data_config.item_field,
        time_field=data_config.time_field, text_columns=tuple(data_config.text_columns) or None,
        allow_missing_item_text=data_config.allow_missing_item_text)


def _load_sequence(data_config: ml_collections.ConfigDict) -> SequenceDataset:
    path = _data_path(data_config)
    if path.is_dir():
        raise DataNotFoundError(f"config.data.path={data_config.path!r}: {path} is a folder ; "
                                f"expected a file with one 'user item item ...' line per user")
    return readers.read_user_sequences(
        path, items_path=_resolve_path(data_config, data_config.items_path),
        delimiter=data_config.delimiter, text_columns=tuple(data_config.text_columns) or None,
        allow_missing_item_text=data_config.allow_missing_item_text)


def _load_synthetic(data_config: ml_collections.ConfigDict) -> SequenceDataset:
    synthetic_config = data_config.synthetic
    return make_synthetic(num_users=synthetic_config.num_users,
                          num_items=synthetic_config.num_items,
                          num_topics=synthetic_config.num_topics,
                          mean_length=synthetic_config.mean_length, seed=synthetic_config.seed)


LOADERS: dict[str, Callable[[ml_collections.ConfigDict], SequenceDataset]] = {
    "ml-1m-sasrec": _load_ml1m_sasrec,
    "ml-1m-chrono-all": _load_ml1m_chrono_all,
    "ml-1m-ratings": _load_ml1m_ratings,
    "ml-100k": _load_ml100k,
    "generic": _load_generic,
    "recbole": _load_recbole,
    "sequence": _load_sequence,
    "synthetic": _load_synthetic,
}
DATASET_NAMES = tuple(LOADERS)


def load_dataset(data_config: ml_collections.ConfigDict) -> SequenceDataset:
    """The dataset chosen by data_config.name (see module docstring for the fields), named
    data_config.label, else its file's stem (FILE_FORMATS) or data_config.name."""
    name = data_config.name
    if name not in LOADERS:
        raise ConfigError(f"config.data.name={name!r}: expected one of {list(DATASET_NAMES)}")
    dataset = LOADERS[name](data_config)
    label = data_config.label or (dataset.name if name in FILE_FORMATS else name)
    return dataset if dataset.name == label else dataclasses.replace(dataset, name=label)


def split_dataset(dataset: SequenceDataset, data_config: ml_collections.ConfigDict
                  ) -> splits.Split:
    """Split chosen by data_config.split, after dropping users with fewer than
    data_config.min_user_events events (the protocol line says how many were dropped)."""
    split = data_config.split
    if split not in SPLIT_NAMES:
        raise ConfigError(f"config.data.split={split!r}: expected one of {list(SPLIT_NAMES)}")
    min_events = data_config.min_user_events
    if split == "leave_one_out" and min_events < 3:
        raise ConfigError(f"config.data.min_user_events={min_events}: leave-one-out needs at least 3 "
                         "events per user (one to train on, one validation and one test target)")
    kept = splits.filter_short_users(dataset, max(min_events, 1))
    dropped = dataset.num_users - kept.num_users
    if kept.num_users == 0:
        raise DataFormatError(f"{dataset.name}: no user has config.data.min_user_events="
                              f"{min_events} events ; lower it or check the data")
    if split == "leave_one_out":
        result = splits.leave_one_out_split(kept, min_events=max(min_events, 3))
    else:
        result = splits.temporal_split(kept, validation_quantile=data_config.validation_quantile,
                                       test_quantile=data_config.test_quantile)
    if dropped:
        result = dataclasses.replace(
            result, protocol=f"{result.protocol}, {dropped:,} of {dataset.num_users:,} users "
                             f"dropped for having fewer than {min_events} events")
    return result
