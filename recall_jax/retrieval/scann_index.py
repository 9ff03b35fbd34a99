"""ScaNN approximate top-K (maximum inner product): build, search, save/load, auto-tune.

Builder knobs come from a ConfigDict-like mapping (see `ScannSettings`); the index lives in a
folder (serialised by ScaNN itself plus our settings JSON) and reloads to identical results.
`autotune` tries a grid of search-time settings (leaves to search, reorder size) on one built
tree + asymmetric-hashing index and returns the fastest that reaches a target ANN-recall@k
against exact top-k.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from typing import Sequence

import numpy as np

from recall_jax.evaluation.metrics import ann_recall_at_k
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.core.candidates import Candidates
from recall_jax.retrieval.exclusion_search import search_excluding
from recall_jax.core.settings import settings_from_mapping


@dataclasses.dataclass(frozen=True)
class ScannSettings:
    num_leaves: int = 100
    num_leaves_to_search: int = 10
    training_sample_size: int = 100_000
    dimensions_per_block: int = 2
    anisotropic_quantization_threshold: float = 0.2
    reorder: int = 100
    spherical: bool = False
    training_threads: int = 0  # 0: all cores

    @classmethod
    def from_config(cls, scann_config) -> "ScannSettings":
        return settings_from_mapping(cls, scann_config, "ScaNN settings")


def _import_scann():
    try:
        import scann  # noqa: PLC0415  (heavy; only imported when an index is used)
    except ImportError as error:  # pragma: no cover - scann is a declared dependency
        raise ImportError("ScaNN is needed for this strategy: pip install scann") from error
    return scann


class ScannIndex:
    """Maximum-inner-product ANN over item vectors 1..N (row 0 of item_vectors is padding)."""

    SETTINGS_FILE = "recall_jax_scann.json"

    def __init__(self, searcher, settings: ScannSettings, num_items: int, build_seconds: float):
        self.searcher = searcher
        self.settings = settings
        self.num_items = num_items
        self.build_seconds = build_seconds

    @classmethod
    def build(cls, item_vectors: np.ndarray, settings: ScannSettings, k: int = 10) -> "ScannIndex":
        scann = _import_scann()
        database = np.ascontiguousarray(np.asarray(item_vectors, np.float32)[1:])
        num_leaves = max(1, min(settings.num_leaves, len(database) // 2))
        started = time.perf_counter()
        builder = scann.scann_ops_pybind.builder(database, k, "dot_product")
        builder = builder.tree(
            num_leaves=num_leaves, num_leaves_to_search=min(settings.num_leaves_to_search,
                                                            num_leaves),
            training_sample_size=min(settings.training_sample_size, len(database)),
            spherical=settings.spherical)
        builder = builder.score_ah(
            settings.dimensions_per_block,
            anisotropic_quantization_threshold=settings.anisotropic_quantization_threshold,
            training_sample_size=min(settings.training_sample_size, len(database)))
        builder = builder.reorder(settings.reorder)
        searcher = builder.set_n_training_threads(settings.training_threads).build()
        return cls(searcher, settings, len(database), time.perf_counter() - started)

    def search(self, user_vectors: np.ndarray, k: int, leaves_to_search: int | None = None,
               reorder: int | None = None, exclusions: Exclusions | None = None,
               parallel: bool = True) -> Candidates:
        """Top-k per user; with exclusions, the top-k non-excluded items, over-fetched in few
        batched searches (`exclusion_search.search_excluding`)."""
        users = np.ascontiguousarray(np.asarray(user_vectors, np.float32))
        if exclusions is None:
            return self._search_block(users, k, leaves_to_search, reorder, parallel)
        base_reorder = reorder if reorder is not None else self.settings.reorder
        return search_excluding(
            lambda part, fetch: self._search_block(part, fetch, leaves_to_search,
                                                   max(base_reorder, fetch), parallel),
            users, k, exclusions, self.num_items)

    def _search_block(self, users, k, leaves_to_search, reorder, parallel) -> Candidates:
        search = (self.searcher.search_batched_parallel if parallel
                  else self.searcher.search_batched)
        reorder = max(reorder if reorder is not None else self.settings.reorder, k)
        indices, distances = search(users, final_num_neighbors=k,
                                    pre_reorder_num_neighbors=reorder,
                                    leaves_to_search=leaves_to_search)
        return Candidates.from_dense(np.asarray(indices, np.int32) + 1,
                                     np.asarray(distances, np.float32))

    def save(self, folder: str | pathlib.Path) -> None:
        folder = pathlib.Path(folder).absolute()  # ScaNN records the paths it is given
        folder.mkdir(parents=True, exist_ok=True)
        self.searcher.serialize(str(folder), relative_path=True)  # relocatable folder
        (folder / self.SETTINGS_FILE).write_text(json.dumps(
            {"settings": dataclasses.asdict(self.settings), "num_items": self.num_items,
             "build_seconds": self.build_seconds}, indent=1))

    @classmethod
    def load(cls, folder: str | pathlib.Path) -> "ScannIndex":
        folder = pathlib.Path(folder).absolute()
        meta_path = folder / cls.SETTINGS_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{folder} holds no saved ScaNN index ({cls.SETTINGS_FILE} "
                                    "missing)")
        meta = json.loads(meta_path.read_text())
        searcher = _import_scann().scann_ops_pybind.load_searcher(str(folder))
        return cls(searcher, ScannSettings(**meta["settings"]), meta["num_items"],
                   meta["build_seconds"])

    def memory_bytes(self, folder: str | pathlib.Path) -> int:
        """Size of the serialised index (a proxy for its memory), after `save(folder)`."""
        return sum(p.stat().st_size for p in pathlib.Path(folder).rglob("*") if p.is_file())


@dataclasses.dataclass(frozen=True)
class TuningTrial:
    leaves_to_search: int
    reorder: int
    ann_recall: float
    queries_per_second: float


def autotune(index: ScannIndex, queries: np.ndarray, exact_top_items: np.ndarray, k: int,
             target_recall: float, leaves_grid: Sequence[int] | None = None,
             reorder_grid: Sequence[int] | None = None, repeats: int = 1
             ) -> tuple[TuningTrial | None, list[TuningTrial]]:
    """Fastest (leaves_to_search, reorder) reaching ANN-recall@k >= target_recall.

    Returns (best or None when no setting reaches the target, every trial measured).
    """
    num_leaves = max(1, min(index.settings.num_leaves, index.num_items // 2))
    leaves_grid = sorted({max(1, min(num_leaves, v)) for v in (
        leaves_grid or [1, 2, 4, 8, 16, 32, 64, 128, 256, 512])})
    reorder_grid = sorted(set(reorder_grid or [k, 2 * k, 5 * k, 10 * k, 20 * k]))
    trials = []
    for leaves in leaves_grid:
        for reorder in reorder_grid:
            seconds = []
            for _ in range(repeats + 1):  # the first pass warms caches and threads
                started = time.perf_counter()
                found = index.search(queries, k, leaves_to_search=leaves, reorder=reorder)
                seconds.append(time.perf_counter() - started)
            trials.append(TuningTrial(leaves, reorder,
                                      ann_recall_at_k(found.padded(k), exact_top_items, k),
                                      len(queries) / min(seconds[1:])))
    reaching = [t for t in trials if t.ann_recall >= target_recall]
    best = max(reaching, key=lambda t: t.queries_per_second) if reaching else None
    return best, trials
