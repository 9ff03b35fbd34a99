"""FAISS approximate top-K (maximum inner product): build, search, range search, save/load,
auto-tune.

Two ANN kinds, beside ScaNN (`scann_index`):
* "hnsw": a graph (`IndexHNSWFlat`, inner product; M links per node, efConstruction when
  built), searched with efSearch candidates kept per query;
* "ivf_pq": an inverted file over an inner-product k-means quantizer with 4-bit product
  quantization searched by fast scan (`IndexIVFPQFastScan`; `pq_dimensions_per_block`
  dimensions per sub-quantizer, as ScaNN's asymmetric hashing), the k_factor * k best then
  re-ranked by exact inner products (`IndexRefineFlat`); searched with nprobe lists.
A third kind, "flat" (`IndexFlatIP`, brute force), is the exact reference (tests, range search).

Builder knobs come from config.compare.faiss (`FaissSettings`); the index lives in a folder
(faiss.write_index plus our settings JSON) and reloads to identical results. Searches honour
`FaissSettings.threads` (faiss.omp_set_num_threads; 0: all cores) and remove excluded items by
the batched over-fetch of `exclusion_search`. `autotune` tries a grid of search-time settings
(efSearch; nprobe x k_factor) and returns the fastest reaching a target ANN-recall@k.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import pathlib
import time
from typing import Sequence

import numpy as np

from recall_jax.core.candidates import Candidates
from recall_jax.core.csr import offsets_from_owners, owner_of_entries
from recall_jax.evaluation.metrics import ann_recall_at_k
from recall_jax.evaluation.protocol import Exclusions
from recall_jax.retrieval.exclusion_search import ExcludedPairs, drop_excluded, search_excluding
from recall_jax.core.settings import settings_from_mapping

KINDS = ("hnsw", "ivf_pq", "flat")
PQ_BITS = 4  # fast scan works on 4-bit codes


@dataclasses.dataclass(frozen=True)
class FaissSettings:
    hnsw_m: int = 32  # graph links per node
    hnsw_ef_construction: int = 200  # candidates kept while linking (build quality)
    hnsw_ef_search: int = 64  # candidates kept per query (search-time default)
    ivf_num_lists: int = 0  # k-means lists; 0: 4 sqrt(N), at most N / 39
    ivf_num_probes: int = 16  # lists searched per query (search-time default)
    pq_dimensions_per_block: int = 2  # dimensions per 4-bit sub-quantizer
    refine_k_factor: float = 4.0  # k_factor * k fast-scan candidates re-ranked exactly
    training_sample_size: int = 100_000  # items the quantizers are trained on
    threads: int = 0  # 0: all cores

    @classmethod
    def from_config(cls, faiss_config) -> "FaissSettings":
        return settings_from_mapping(cls, faiss_config, "FAISS settings")


@dataclasses.dataclass(frozen=True)
class SearchSetting:
    """Search-time knobs: ef_search (hnsw), num_probes and k_factor (ivf_pq); None: the
    index's FaissSettings default."""

    ef_search: int | None = None
    num_probes: int | None = None
    k_factor: float | None = None


_DEFAULT_THREADS: list[int] = []  # OpenMP's thread count when faiss was first imported


def _import_faiss():
    try:
        import faiss  # noqa: PLC0415  (only imported when an index is used)
    except ImportError as error:  # pragma: no cover - faiss-cpu is a declared dependency
        raise ImportError("FAISS is needed for this strategy: pip install faiss-cpu") from error
    if not _DEFAULT_THREADS:
        _DEFAULT_THREADS.append(faiss.omp_get_max_threads())
    return faiss


@contextlib.contextmanager
def _threads(count: int):
    """faiss.omp_set_num_threads(count) inside the block (0: all cores), restored after."""
    faiss = _import_faiss()
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(count if count > 0 else _DEFAULT_THREADS[0])
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


def num_lists_for(settings: FaissSettings, num_items: int) -> int:
    """The IVF list count: ivf_num_lists, or 4 sqrt(N); at most N / 39 (k-means' minimum of
    39 training points per list), at least 1."""
    wanted = settings.ivf_num_lists or int(round(4 * np.sqrt(num_items)))
    return int(max(1, min(wanted, num_items // 39)))


class FaissIndex:
    """Maximum-inner-product search over item vectors 1..N (row 0 of item_vectors is padding)."""

    SETTINGS_FILE = "recall_jax_faiss.json"
    INDEX_FILE = "index.faiss"

    def __init__(self, index, kind: str, settings: FaissSettings, num_items: int,
                 padded_dim: int, build_seconds: float):
        self.index = index
        self.kind = kind
        self.settings = settings
        self.num_items = num_items
        self.padded_dim = padded_dim  # ivf_pq: dimensions padded with 0s to whole PQ blocks
        self.build_seconds = build_seconds

    @property
    def num_lists(self) -> int:
        return num_lists_for(self.settings, self.num_items)

    @classmethod
    def build(cls, item_vectors: np.ndarray, kind: str, settings: FaissSettings,
              seed: int = 0) -> "FaissIndex":
        if kind not in KINDS:
            raise ValueError(f"unknown FAISS index kind {kind!r}; expected one of {list(KINDS)}")
        faiss = _import_faiss()
        database = np.asarray(item_vectors, np.float32)[1:]
        num_items, dim = database.shape
        padded_dim = dim
        if kind == "ivf_pq":
            block = settings.pq_dimensions_per_block
            padded_dim = -(-dim // block) * block
        database = _pad(database, padded_dim)
        started = time.perf_counter()
        with _threads(settings.threads):
            if kind == "hnsw":
                index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, faiss.METRIC_INNER_PRODUCT)
                index.hnsw.efConstruction = settings.hnsw_ef_construction
                index.hnsw.efSearch = settings.hnsw_ef_search
                index.add(database)
            elif kind == "flat":
                index = faiss.IndexFlatIP(dim)
                index.add(database)
            else:
                index = _build_ivf_pq(faiss, database, settings, seed)
        return cls(index, kind, settings, num_items, padded_dim, time.perf_counter() - started)

    def search(self, user_vectors: np.ndarray, k: int, setting: SearchSetting | None = None,
               exclusions: Exclusions | None = None, parallel: bool = True) -> Candidates:
        """Top-k items per user, best first; with exclusions, the top-k non-excluded items
        (batched over-fetch). parallel=False: one thread (single-user latency)."""
        users = _pad(np.asarray(user_vectors, np.float32), self.padded_dim)
        setting = setting or SearchSetting()
        if exclusions is None:
            return self._search_block(users, k, setting, parallel)
        return search_excluding(
            lambda part, fetch: self._search_block(
                part, fetch, self.over_fetch_setting(setting, k, fetch), parallel),
            users, k, exclusions, self.num_items)

    def over_fetch_setting(self, setting: SearchSetting, k: int, fetch: int) -> SearchSetting:
        """The setting of a search for `fetch` items standing in for top-k with exclusions.

        ivf_pq: the exact re-ranking depth stays k_factor * k plus the extra fetch - k items
        (the excluded items take their own places), not k_factor * fetch, which would re-rank
        k_factor times every excluded item too. hnsw searches with max(efSearch, fetch)
        candidates anyway."""
        if self.kind != "ivf_pq" or fetch <= k:
            return setting
        k_factor = setting.k_factor or self.settings.refine_k_factor
        return dataclasses.replace(setting, k_factor=(k_factor * k + fetch - k) / fetch)

    def _search_block(self, users: np.ndarray, k: int, setting: SearchSetting,
                      parallel: bool) -> Candidates:
        k = min(k, self.num_items)
        with _threads(self.settings.threads if parallel else 1):
            scores, ids = self.index.search(users, k, params=self._parameters(setting))
        # FAISS pads missing results with id -1: +1 makes them the padding id 0, dropped.
        return Candidates.from_dense(ids.astype(np.int32) + 1, scores)

    def _parameters(self, setting: SearchSetting):
        faiss = _import_faiss()
        if self.kind == "hnsw":
            return faiss.SearchParametersHNSW(
                efSearch=int(setting.ef_search or self.settings.hnsw_ef_search))
        if self.kind == "ivf_pq":
            probes = int(min(setting.num_probes or self.settings.ivf_num_probes, self.num_lists))
            return faiss.IndexRefineSearchParameters(
                k_factor=float(setting.k_factor or self.settings.refine_k_factor),
                base_index_params=faiss.SearchParametersIVF(nprobe=probes))
        return None

    def range_search(self, user_vectors: np.ndarray, radius: float,
                     setting: SearchSetting | None = None,
                     exclusions: Exclusions | None = None, parallel: bool = True) -> Candidates:
        """Every item whose inner product with the user exceeds radius (strictly), best first,
        excluded items removed. hnsw: the items its graph search reaches with efSearch; flat:
        all of them. (ivf_pq: not supported by its re-ranking layer.)"""
        if self.kind == "ivf_pq":
            raise ValueError("range search needs a 'hnsw' or 'flat' FAISS index")
        users = _pad(np.asarray(user_vectors, np.float32), self.padded_dim)
        setting = setting or SearchSetting()
        parameters = self._parameters(setting)
        chunk = len(users) or 1
        if self.kind == "hnsw":
            # IndexHNSW searches queries in blocks of InterruptCallback::get_period_hint(
            # max_level * d * efSearch) = 1e8 / (that + 1) queries, and its range search
            # aborts the process (RangeSearchResult allocated twice) when there are several
            # blocks: one call per block.
            ef_search = int(setting.ef_search or self.settings.hnsw_ef_search)
            chunk = max(1, 10**8 // (self.index.hnsw.max_level * self.index.d * ef_search + 1))
        parts = []
        with _threads(self.settings.threads if parallel else 1):
            for start in range(0, len(users), chunk):
                block = users[start:start + chunk]
                limits, scores, ids = self.index.range_search(block, float(radius),
                                                              params=parameters)
                owner = owner_of_entries(np.asarray(limits, np.int64))
                items = ids.astype(np.int32) + 1
                order = np.lexsort((items, -scores, owner))
                parts.append(Candidates(offsets_from_owners(owner[order], len(block)),
                                        items[order], scores[order].astype(np.float32)))
        found = Candidates.concatenate(parts) if parts else Candidates(
            np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))
        if exclusions is None:
            return found
        return drop_excluded(found, ExcludedPairs(exclusions, self.num_items))

    def save(self, folder: str | pathlib.Path) -> None:
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        _import_faiss().write_index(self.index, str(folder / self.INDEX_FILE))
        (folder / self.SETTINGS_FILE).write_text(json.dumps(
            {"kind": self.kind, "settings": dataclasses.asdict(self.settings),
             "num_items": self.num_items, "padded_dim": self.padded_dim,
             "build_seconds": self.build_seconds}, indent=1))

    @classmethod
    def load(cls, folder: str | pathlib.Path) -> "FaissIndex":
        folder = pathlib.Path(folder)
        meta_path = folder / cls.SETTINGS_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"{folder} holds no saved FAISS index ({cls.SETTINGS_FILE} "
                                    "missing)")
        meta = json.loads(meta_path.read_text())
        index = _import_faiss().read_index(str(folder / cls.INDEX_FILE))
        return cls(index, meta["kind"], FaissSettings(**meta["settings"]), meta["num_items"],
                   meta["padded_dim"], meta["build_seconds"])

    def memory_bytes(self) -> int:
        """Size of the serialised index (faiss.serialize_index), a proxy for its memory."""
        return int(_import_faiss().serialize_index(self.index).nbytes)

    def describe(self, setting: SearchSetting | None = None) -> str:
        """The build and search settings, for notes and tables."""
        settings, setting = self.settings, setting or SearchSetting()
        if self.kind == "hnsw":
            return (f"HNSW M {settings.hnsw_m}, efConstruction {settings.hnsw_ef_construction}, "
                    f"efSearch {setting.ef_search or settings.hnsw_ef_search}")
        if self.kind == "ivf_pq":
            probes = min(setting.num_probes or settings.ivf_num_probes, self.num_lists)
            k_factor = setting.k_factor or settings.refine_k_factor
            return (f"lists {probes}/{self.num_lists}, PQ {self.padded_dim // settings.pq_dimensions_per_block}"
                    f"x{PQ_BITS} bits fast scan, re-rank {k_factor:g} k")
        return "flat (exact)"


def _pad(vectors: np.ndarray, dim: int) -> np.ndarray:
    """[n, dim] C-contiguous float32, zero columns appended (inner products unchanged)."""
    if vectors.shape[1] == dim:
        return np.ascontiguousarray(vectors, np.float32)
    out = np.zeros((len(vectors), dim), np.float32)
    out[:, :vectors.shape[1]] = vectors
    return out


def _build_ivf_pq(faiss, database: np.ndarray, settings: FaissSettings, seed: int):
    num_items, dim = database.shape
    num_lists = num_lists_for(settings, num_items)
    quantizer = faiss.IndexFlatIP(dim)
    base = faiss.IndexIVFPQFastScan(quantizer, dim, num_lists,
                                    dim // settings.pq_dimensions_per_block, PQ_BITS,
                                    faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(seed)
    sample = database
    if num_items > settings.training_sample_size:
        sample = database[np.sort(rng.choice(num_items, settings.training_sample_size,
                                             replace=False))]
    minimum = 2 ** PQ_BITS  # k-means needs as many training points as centroids
    if len(sample) < minimum:
        sample = np.resize(sample, (minimum, dim))
    base.by_residual = True  # PQ codes of the residuals to the list centroid: more accurate
    base.cp.seed = base.pq.cp.seed = seed
    base.train(sample)
    index = faiss.IndexRefineFlat(base)  # the Python wrappers keep base and quantizer alive
    index.add(database)
    return index


@dataclasses.dataclass(frozen=True)
class TuningTrial:
    ef_search: int | None
    num_probes: int | None
    k_factor: float | None
    ann_recall: float
    queries_per_second: float

    @property
    def setting(self) -> SearchSetting:
        return SearchSetting(self.ef_search, self.num_probes, self.k_factor)


def search_grid(index: FaissIndex, k: int, ef_grid: Sequence[int] | None = None,
                probes_grid: Sequence[int] | None = None,
                k_factor_grid: Sequence[float] | None = None) -> list[SearchSetting]:
    """The search-time settings `autotune` tries (defaults: efSearch 16..2048; nprobe
    1..num_lists in powers of two x k_factor 1..64)."""
    if index.kind == "hnsw":
        return [SearchSetting(ef_search=v) for v in sorted(set(
            ef_grid or [16, 32, 64, 128, 256, 512, 1024, 2048]))]
    if index.kind == "ivf_pq":
        lists = index.num_lists
        probes = sorted({max(1, min(lists, v)) for v in (
            probes_grid or [1 << i for i in range(int(np.log2(lists)) + 1)] + [lists])})
        factors = sorted(set(k_factor_grid or [1, 2, 4, 8, 16, 32, 64]))
        return [SearchSetting(num_probes=p, k_factor=float(f)) for p in probes for f in factors]
    return [SearchSetting()]


def fastest_reaching(trials: Sequence[TuningTrial], target_recall: float) -> TuningTrial | None:
    """The trial of most queries/s among those with ann_recall >= target_recall (None: none)."""
    reaching = [t for t in trials if t.ann_recall >= target_recall]
    return max(reaching, key=lambda t: t.queries_per_second) if reaching else None


def autotune(index: FaissIndex, queries: np.ndarray, exact_top_items: np.ndarray, k: int,
             target_recall: float, settings: Sequence[SearchSetting] | None = None,
             repeats: int = 1) -> tuple[TuningTrial | None, list[TuningTrial]]:
    """Fastest search setting reaching ANN-recall@k >= target_recall against exact_top_items
    ([queries, k] item ids). Returns (best or None when none reaches it, every trial measured).

    Settings that cannot be the fastest are skipped: once one reaches the target, the larger
    efSearch, or for its nprobe the larger k_factors, are slower; and once the smallest
    k_factor reaches it, so are the larger nprobes. (The fastest setting for any lower target
    is therefore measured too: see `fastest_reaching`.)"""
    trials: list[TuningTrial] = []
    grid = sorted(settings or search_grid(index, k),
                  key=lambda s: (s.num_probes or 0, s.k_factor or 0, s.ef_search or 0))
    smallest_factor = min((s.k_factor or 0) for s in grid) if grid else 0
    reached_probes: set[int | None] = set()
    for setting in grid:
        if setting.num_probes in reached_probes:
            continue
        if any(t.ann_recall >= target_recall and (
                index.kind == "hnsw" or (t.k_factor or 0) == smallest_factor) for t in trials):
            break
        seconds = []
        for _ in range(repeats + 1):  # the first pass warms caches and threads
            started = time.perf_counter()
            found = index.search(queries, k, setting)
            seconds.append(time.perf_counter() - started)
        trials.append(TuningTrial(setting.ef_search, setting.num_probes, setting.k_factor,
                                  ann_recall_at_k(found.padded(k), exact_top_items, k),
                                  len(queries) / min(seconds[1:])))
        if trials[-1].ann_recall >= target_recall and index.kind == "ivf_pq":
            reached_probes.add(setting.num_probes)
    return fastest_reaching(trials, target_recall), trials
