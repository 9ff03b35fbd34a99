"""Shared fixtures: the real-data root and the real datasets, read once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recall_jax.data import readers

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """$RECALL_JAX_DATA, else ../shared/data beside the repository; fails (never skips) when the data is absent."""
    root = Path(os.environ.get("RECALL_JAX_DATA") or DEFAULT_DATA_ROOT)
    needed = [root / "ml-1m" / "ml-1m.txt", root / "ml-1m" / "ml-1m-chrono-all.txt",
              root / "ml-100k" / "u.data"]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        pytest.fail(f"real test data missing: {missing}. Set RECALL_JAX_DATA to the folder "
                    f"holding ml-1m/ and ml-100k/ (see ../shared/data/README.md).",
                    pytrace=False)
    return root


@pytest.fixture(scope="session")
def sasrec_ml1m(data_root):
    folder = data_root / "ml-1m"
    return readers.read_sasrec_file(folder / "ml-1m.txt",
                                    item_map_path=folder / "sas_to_original_items.txt",
                                    movies_path=folder / "movies.dat",
                                    user_map_path=folder / "sas_to_original_users.txt")


@pytest.fixture(scope="session")
def chrono_ml1m(data_root):
    folder = data_root / "ml-1m"
    return readers.read_chrono_user_lines(folder / "ml-1m-chrono-all.txt",
                                          movies_path=folder / "movies.dat")


@pytest.fixture(scope="session")
def ml100k(data_root):
    folder = data_root / "ml-100k"
    return readers.read_ml100k(folder / "u.data", u_item_path=folder / "u.item")
