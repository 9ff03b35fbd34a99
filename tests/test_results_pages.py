"""scripts/make_results_readme.py: the pages are computed from run folders.

The multi-seed section is built from two real tiny runs; the cold-start page from run folders
written here with the project's own row builders, so their format is the one runs write."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import numpy as np
import pytest

from experiments.configs import synthetic_tiny
from recall_jax.evaluation.bootstrap import Bootstrap
from recall_jax.evaluation.estimates import full_ranking_row
from recall_jax.evaluation.ranking import RankingResult
from recall_jax.train import seeds

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "make_results_readme.py"
KS = (10, 50, 200)
NUM_ITEMS = 300
USERS = {"test": np.arange(100), "test (warm targets)": np.arange(90),
         "test (cold targets)": np.arange(90, 100)}


@pytest.fixture(scope="module")
def pages():
    spec = importlib.util.spec_from_file_location("make_results_readme", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ranks(quality: float, users: int, seed: int) -> np.ndarray:
    """Target ranks of a model of some quality: geometric ranks, better for higher quality."""
    rng = np.random.default_rng(seed)
    return np.minimum(rng.geometric(quality, users) - 1, NUM_ITEMS - 1)


def _write_run(folder: pathlib.Path, encoder: str, tower: str, quality: float,
               id_dropout: float = 0.0, users_shift: int = 0,
               groups: dict[str, np.ndarray] = USERS) -> None:
    folder.mkdir(parents=True)
    label = encoder if tower == "id" else f"{encoder} ({tower})"
    models = [(label, quality, hash((encoder, tower, id_dropout)) % 1000),
              ("popularity", 0.01, 1)]
    if tower != "id":
        models.append(("text similarity (last 20, untrained)", 0.02, 2))
    rows, per_user = [], {}
    for split, users in groups.items():
        bootstrap = Bootstrap.draw(len(users), 200, seed=0)
        for name, model_quality, seed in models:
            ranks = _ranks(model_quality, len(users), seed)
            top = np.tile(np.arange(1, 201), (len(users), 1))
            rows.append(full_ranking_row({"model": name, "split": split},
                                         RankingResult(top, np.zeros(top.shape, np.float32),
                                                       ranks, np.zeros_like(ranks)),
                                         KS, NUM_ITEMS, bootstrap))
            per_user[f"{split}|{name}"] = ranks
        per_user[f"{split}|users"] = users + users_shift
    np.savez(folder / "per_user_ranks.npz", **per_user)
    (folder / "results.json").write_text(json.dumps(
        {"title": f"{encoder} on ml-1m-chrono-all", "rows": rows, "differences": [],
         "protocol": "leave-one-out, seen items excluded. Model at its best epoch (3)."}))
    (folder / "config.json").write_text(json.dumps({
        "model": {"name": encoder, "item_tower": tower, "item_id_dropout": id_dropout},
        "data": {"name": "ml-1m-chrono-all", "cold_start_share": 0.1, "cold_start_seed": 0},
        "eval": {"bootstrap_resamples": 200, "bootstrap_seed": 0},
        "train": {"num_epochs": 20}}))
    (folder / "history.json").write_text("[]")
    (folder / "run_summary.json").write_text(json.dumps({
        "epochs_run": 20, "scheduled_epochs": 20, "best_epoch": 18, "wall_seconds": 600.0,
        "invocation_seconds": 660.0, "truncated": False,
        "command": f"python -m recall_jax.main --config.model.item_tower={tower}"}))


def _table_lines(page: str, heading: str) -> list[str]:
    part = page.split(heading)[1].split("###")[0]
    return [line for line in part.splitlines() if line.startswith("| ")]


def test_cold_start_page_compares_towers_with_the_id_tower_on_the_same_users(pages, tmp_path):
    _write_run(tmp_path / "bert4rec_id", "bert4rec", "id", 0.05)
    _write_run(tmp_path / "sasrec_text", "sasrec", "text", 0.08)
    _write_run(tmp_path / "sasrec_id", "sasrec", "id", 0.1)
    _write_run(tmp_path / "sasrec_id_text", "sasrec", "id+text", 0.1)
    _write_run(tmp_path / "sasrec_id_text_drop", "sasrec", "id+text", 0.12, id_dropout=0.5)
    (tmp_path / "text_cache").mkdir()
    (tmp_path / "text_cache" / "text_vectors_abc.json").write_text(json.dumps(
        {"items": 3706, "items_per_second": 60.0, "seconds": 61.8,
         "checkpoint": "/x/all-MiniLM-L6-v2", "pooling": "mean", "max_length": 64}))
    page = pages.cold_start_section(tmp_path)
    lines = _table_lines(page, "### Warm targets (90 test users)")
    table, differences = lines[1:8], lines[9:]
    # SASRec first (id, id+text, id+text with dropout, text), then BERT4Rec, then baselines.
    assert [line.split("|")[1:3] for line in table] == [
        [" sasrec ", " id "], [" sasrec ", " id+text "],
        [" sasrec ", " id+text, id dropout 0.5 "], [" sasrec ", " text "],
        [" bert4rec ", " id "], [" popularity ", "  "],
        [" text similarity (last 20, untrained) ", "  "]]
    assert all("[" in cell for line in table for cell in line.split("|")[3:-1])  # intervals
    # Paired differences against the same encoder's id tower; bert4rec has no other tower.
    assert [line.split("|")[1:4] for line in differences] == [
        [" sasrec ", " id+text ", " sasrec / id "],
        [" sasrec ", " id+text, id dropout 0.5 ", " sasrec / id "],
        [" sasrec ", " text ", " sasrec / id "]]
    # id+text was written with the id tower's quality and seed offset only: compute it here.
    first = pages._per_user({"per_user": np.load(tmp_path / "sasrec_id_text" /
                                                 "per_user_ranks.npz")},
                            "test (warm targets)", "sasrec (id+text)")[1]["NDCG@10"]
    reference = pages._per_user({"per_user": np.load(tmp_path / "sasrec_id" /
                                                     "per_user_ranks.npz")},
                                "test (warm targets)", "sasrec")[1]["NDCG@10"]
    assert f"{first.mean() - reference.mean():+.4f} [" in differences[0]
    assert "### Cold targets (10 test users)" in page
    assert "3,706 item texts in 61.8 s (60 items/s, mean pooling, max 64 tokens, x/all-MiniLM" in page


def test_cold_start_page_refuses_runs_on_different_users(pages, tmp_path):
    _write_run(tmp_path / "sasrec_id", "sasrec", "id", 0.1)
    _write_run(tmp_path / "sasrec_text", "sasrec", "text", 0.08, users_shift=1)
    with pytest.raises(SystemExit, match="evaluated different users"):
        pages.cold_start_section(tmp_path)


def test_cold_start_page_refuses_a_folder_without_runs(pages, tmp_path):
    with pytest.raises(SystemExit, match="no finished runs"):
        pages.cold_start_section(tmp_path)


def test_multi_seed_section_from_real_runs(pages, tmp_path):
    config = synthetic_tiny.get_config()
    config.data.synthetic.num_users, config.data.synthetic.num_items = 150, 50
    config.train.num_epochs = 2
    config.command = "python -m recall_jax.main --seeds 0,1"
    summary = seeds.train_seeds(config, tmp_path, [0, 1])
    per_seed = [json.loads((tmp_path / f"seed_{s}" / "results.json").read_text())
                for s in (0, 1)]
    test_ndcg = [next(r["NDCG@10"] for r in run["rows"]
                      if (r["model"], r["split"]) == ("sasrec", "test")) for run in per_seed]
    assert test_ndcg[0] != test_ndcg[1]  # the seeds differ
    row = next(r for r in summary["rows"] if (r["model"], r["split"]) == ("sasrec", "test"))
    assert row["NDCG@10"] == pytest.approx([np.mean(test_ndcg), np.std(test_ndcg, ddof=1)])
    section = pages.run_section(tmp_path)
    assert "(2 seeds)" in section and "Across seeds 0, 1" in section
    assert f"{np.mean(test_ndcg):.4f} ± {np.std(test_ndcg, ddof=1):.4f}" in section
    assert "python -m recall_jax.main --seeds 0,1" in section
    assert (tmp_path / "seeds.md").read_text().count("±") >= 4


def test_recorded_commands_become_portable_single_seed_commands(pages):
    command = (f"python -m recall_jax.main --config experiments/configs/x.py --workdir "
               f"{pages.REPO}/runs/seeds --seeds 0,1,2 --config.train.progress_bar=False")
    single = pages.portable(pages.single_seed_command(command, 1))
    assert single == ("python -m recall_jax.main --config experiments/configs/x.py --workdir "
                      "runs/seeds/seed_1 --config.train.progress_bar=False --config.seed=1")
    assert pages.single_seed_command("m --seeds=0,2 --workdir=w", 2) == \
        "m --workdir=w/seed_2 --config.seed=2"
    assert pages.portable("m --workdir /data/x/runs/a --c=/y/runs/b") == \
        "m --workdir runs/a --c=runs/b"


def test_encoder_table_pairs_text_towers_with_their_id_tower_and_rows_with_sasrec(pages,
                                                                                  tmp_path):
    test_users = {"test": np.arange(100)}
    for name, quality in (("hstu_id_text", 0.12), ("bert4rec_id", 0.05), ("sasrec_id", 0.1),
                          ("hstu_id", 0.11), ("sasrec_id_text", 0.1)):
        encoder, tower = name.split("_", 1)
        _write_run(tmp_path / name, encoder, tower.replace("_", "+"), quality, groups=test_users)
    page = pages.encoder_table_section(tmp_path)
    lines = [line for line in page.splitlines() if line.startswith("| ")]
    table = lines[1:7]
    assert [line.split("|")[1:3] for line in table] == [
        [" sasrec ", " id "], [" sasrec ", " id+text "], [" hstu ", " id "],
        [" hstu ", " id+text "], [" bert4rec ", " id "], [" popularity ", "  "]]
    assert all("[" in cell for line in table for cell in line.split("|")[3:-1])
    text_vs_id = [line.split("|")[1:4] for line in lines[8:10]]
    assert text_vs_id == [[" sasrec ", " id+text ", " sasrec / id "],
                          [" hstu ", " id+text ", " hstu / id "]]
    against_sasrec = [line.split("|")[1:4] for line in lines[11:]]
    assert against_sasrec == [[" sasrec ", " id+text ", " sasrec / id "],
                              [" hstu ", " id ", " sasrec / id "],
                              [" hstu ", " id+text ", " sasrec / id "],
                              [" bert4rec ", " id ", " sasrec / id "]]
    hstu = pages._per_user({"per_user": np.load(tmp_path / "hstu_id" / "per_user_ranks.npz")},
                           "test", "hstu")[1]["NDCG@10"]
    sasrec = pages._per_user({"per_user": np.load(tmp_path / "sasrec_id" /
                                                  "per_user_ranks.npz")}, "test",
                             "sasrec")[1]["NDCG@10"]
    assert f"{hstu.mean() - sasrec.mean():+.4f} [" in lines[12]
    assert "hstu (next_item) / id: 20 of 20 epochs, best 18" in page
    assert "bert4rec (cloze) / id" in page
    assert "bash scripts/run_encoder_table.sh runs/" in page


def test_reproduction_table_lists_every_script_with_ours_and_the_published_figure(pages,
                                                                                 tmp_path):
    for name, ours, published in (("genrec_sasrec", 0.29, 0.2853), ("kang_sampled", 0.80, 0.8245)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "reproduction.json").write_text(json.dumps({
            "name": name, "source": f"paper of {name}", "published_protocol": "their protocol",
            "protocol": "our protocol.", "epochs_run": 30, "best_epoch": 27,
            "wall_seconds": 1800.0, "truncated": False, "command": "python -m recall_jax.main",
            "script": f"python scripts/reproduce/{name}.py",
            "comparison": [{"metric": "HR@10", "ours": ours, "low": ours - 0.01,
                            "high": ours + 0.01, "published": published,
                            "inside": ours - 0.01 <= published <= ours + 0.01}]}))
    page = pages.reproduction_section(tmp_path)
    rows = [line for line in page.splitlines() if line.startswith("| `python")]
    assert rows[0].startswith("| `python scripts/reproduce/genrec_sasrec.py` | paper of "
                              "genrec_sasrec | HR@10 | 0.2900 [0.2800, 0.3000] | 0.2853 | yes |")
    assert "| 0.8245 | NO |" in rows[1] and "| 30 (27) |" in rows[1]
    assert "- `kang_sampled`: ours: our protocol. Published: their protocol." in page
    # Every script without a record is listed with its published figure, marked not run.
    not_run = [line for line in page.splitlines() if "not run here yet" in line]
    scripts = sorted(p.stem for p in (pages.REPO / "scripts" / "reproduce").glob("[!_]*.py"))
    assert "| `python scripts/reproduce/klenitskiy_sasrec_ce.py` |" in page
    assert "| HR@10 | not run here yet | 0.3152 |" in page
    assert sum(line.startswith("| `python") for line in not_run) == len(
        [name for name in scripts if name != "genrec_sasrec"])
    with pytest.raises(SystemExit, match="no reproduction.json"):
        pages.reproduction_section(tmp_path / "genrec_sasrec")


def test_pairs_section_compares_two_runs_on_the_same_users(pages, tmp_path):
    test_users = {"test": np.arange(100)}
    _write_run(tmp_path / "text", "sasrec", "id+text", 0.12, groups=test_users)
    _write_run(tmp_path / "ids", "sasrec", "id", 0.1, groups=test_users)
    _write_run(tmp_path / "shifted", "sasrec", "id", 0.1, users_shift=1, groups=test_users)
    page = pages.pairs_section([f"{tmp_path / 'text'}:{tmp_path / 'ids'}"])
    line = next(line for line in page.splitlines() if line.startswith("| sasrec (id+text)"))
    assert "| sasrec (id+text) (text) | sasrec (ids) |" in line
    text = pages._per_user({"per_user": np.load(tmp_path / "text" / "per_user_ranks.npz")},
                           "test", "sasrec (id+text)")[1]["NDCG@10"]
    ids = pages._per_user({"per_user": np.load(tmp_path / "ids" / "per_user_ranks.npz")},
                          "test", "sasrec")[1]["NDCG@10"]
    assert f"{text.mean() - ids.mean():+.4f} [" in line
    with pytest.raises(SystemExit, match="evaluated different users"):
        pages.pairs_section([f"{tmp_path / 'text'}:{tmp_path / 'shifted'}"])
    with pytest.raises(SystemExit, match="expected RUN:REFERENCE"):
        pages.pairs_section([str(tmp_path / "text")])


def test_ann_scale_section_shows_each_method_at_each_target_and_the_thresholds(pages, tmp_path):
    chosen = {"setting": "efSearch 32", "ann_recall": 0.961, "ann_recall_ci95": [0.95, 0.97],
              "queries_per_second": 12345.6, "speedup": 3.0}
    new = {"items": 100_000, "queries": 1000, "k": 10, "targets": [0.95, 0.99],
           "command": f"python {pages.REPO}/scripts/benchmark_ann_scale.py --sizes 100000",
           "numpy_qps": 800.0, "jax_qps": 1200.4, "numpy_excluded_qps": 700.0,
           "jax_excluded_qps": 900.0,
           "history_lengths": {"median": 96.0, "p90": 400.0, "max": 2314},
           "methods": {
               "FAISS HNSW": {"build_seconds": 30.04, "index_mib": 40.2, "settings": "M 32",
                              "targets": {"0.95": chosen, "0.99": None},
                              "exclusions": {"queries_per_second_with": 5000.2,
                                             "ann_recall_with": 0.93}}},
           "threshold": {"tau": 0.3, "mean_size_target": 200, "range_build_seconds": 20.0,
                         "range_index_mib": 40.0,
                         "exact_sizes": {"mean": 199.0, "p50": 198.0, "p95": 260.0, "max": 400},
                         "rows": [{"method": "FAISS HNSW range search", "note": "efSearch 1024",
                                   "set_recall": 0.998, "queries_per_second": 420.0,
                                   "mean_size": 199.0}]}}
    old = {"items": 1_000_000, "queries": 1000, "k": 10, "target_recall": 0.95,
           "command": "python scripts/benchmark_ann_scale.py --sizes 1000000",
           "numpy_qps": 80.0, "jax_qps": 120.0, "scann_build_seconds": 60.0,
           "scann_index_mib": 300.0,
           "best": {"leaves_to_search": 50, "reorder": 100, "ann_recall": 0.96,
                    "ann_recall_ci95": [0.95, 0.97], "queries_per_second": 4000.0}}
    (tmp_path / "ann.json").write_text(json.dumps([new, old]))
    text = pages.ann_scale_section([tmp_path / "ann.json"])
    assert "### 100,000 items, 1,000 queries" in text and "### 1,000,000 items" in text
    assert "python scripts/benchmark_ann_scale.py --sizes 100000" in text  # portable
    assert ("| FAISS HNSW | M 32 | 30 | 40.2 | efSearch 32 | 0.961 [0.95, 0.97] | 12346 | "
            "not reached |  |  | 5000 | 0.93 |") in text
    assert "| exact JAX |  |  |  |  | 1 | 1200 |  | 1 | 1200 | 900 | 1 |" in text
    assert "| FAISS HNSW range search | efSearch 1024 | 0.998 | 420 | 199 |" in text
    assert "| ScaNN |  | 60 | 300 | leaves 50, reorder 100 | 0.96 [0.95, 0.97] | 4000 |" in text


def test_archived_seed_is_read_not_trained_again(tmp_path):
    """A seed folder kept without checkpoints (scripts/archive_runs.py) joins a --seeds summary
    as recorded; one recorded under another config is refused, naming the field."""
    config = synthetic_tiny.get_config()
    config.data.synthetic.num_users, config.data.synthetic.num_items = 150, 50
    config.train.num_epochs = 2
    config.command = "python -m recall_jax.main --seeds 0,1"
    first = seeds.train_seeds(config, tmp_path / "trained", [0, 1])
    archived = tmp_path / "archived"
    for seed in (0, 1):
        source, target = tmp_path / "trained" / f"seed_{seed}", archived / f"seed_{seed}"
        target.mkdir(parents=True)
        for name in seeds.RECORD_FILES:
            (target / name).write_text((source / name).read_text())
    mtime = (archived / "seed_0" / "results.json").stat().st_mtime_ns
    again = seeds.train_seeds(config, archived, [0, 1])
    assert again["rows"] == first["rows"]
    assert (archived / "seed_0" / "results.json").stat().st_mtime_ns == mtime  # not retrained
    assert not (archived / "seed_0" / "checkpoints").exists()
    config.train.num_epochs = 3
    with pytest.raises(seeds.UsageError, match="train.num_epochs: saved 2, now 3"):
        seeds.train_seeds(config, archived, [0])
