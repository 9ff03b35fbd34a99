"""Data layer: readers, synthetic data, downloads, splits and the named-dataset registry."""

from recall_jax.data.dataset import (PADDING_ITEM, ItemCatalogue, SequenceDataset,
                                     from_user_lists)
from recall_jax.data.download import (DownloadVerificationError, derive_chrono_all,
                                      ensure_dataset, resolve_data_root)
from recall_jax.data.readers import (DataFormatError, read_chrono_user_lines, read_generic,
                                     read_ml100k, read_movielens_ratings, read_recbole,
                                     read_sasrec_file, read_user_sequences)
from recall_jax.data.registry import DATASET_NAMES, FILE_FORMATS, load_dataset, split_dataset
from recall_jax.data.splits import (EvaluationSet, Split, filter_short_users,
                                    leave_one_out_split, take_prefixes, temporal_cutoffs,
                                    temporal_split)
from recall_jax.data.synthetic import make_synthetic

__all__ = [
    "PADDING_ITEM", "ItemCatalogue", "SequenceDataset", "from_user_lists",
    "DownloadVerificationError", "derive_chrono_all", "ensure_dataset", "resolve_data_root",
    "DataFormatError", "read_chrono_user_lines", "read_generic", "read_ml100k",
    "read_movielens_ratings", "read_recbole", "read_sasrec_file", "read_user_sequences",
    "DATASET_NAMES", "FILE_FORMATS", "load_dataset", "split_dataset",
    "EvaluationSet", "Split", "filter_short_users", "leave_one_out_split", "take_prefixes",
    "temporal_cutoffs", "temporal_split",
    "make_synthetic",
]
