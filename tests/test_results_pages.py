"""scripts/make_results_readme.py: the cold-start page is computed from the run folders."""

from __future__ import annotations

import importlib.util
import json
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "make_results_readme.py"


@pytest.fixture(scope="module")
def pages():
    spec = importlib.util.spec_from_file_location("make_results_readme", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _metrics(ndcg10: float, users: int) -> dict:
    values = {"num_users": users}
    for k, scale in ((10, 1.0), (50, 1.5), (200, 2.0)):
        values[f"HR@{k}"] = min(1.0, 2 * ndcg10 * scale)
        values[f"NDCG@{k}"] = ndcg10 * scale
    return values


def _write_run(folder: pathlib.Path, encoder: str, tower: str, warm: float, cold: float,
               id_dropout: float = 0.0) -> None:
    folder.mkdir(parents=True)
    label = encoder if tower == "id" else f"{encoder} ({tower})"
    rows = []
    for split, model_value, popularity_value, users in (
            ("test", warm, 0.02, 100), ("test (warm targets)", warm, 0.02, 90),
            ("test (cold targets)", cold, 0.0, 10)):
        rows.append({"model": label, "split": split, **_metrics(model_value, users)})
        rows.append({"model": "popularity", "split": split, **_metrics(popularity_value, users)})
        if tower != "id":
            rows.append({"model": "text similarity (last 20, untrained)", "split": split,
                         **_metrics(0.03, users)})
    (folder / "results.json").write_text(json.dumps(
        {"title": f"{encoder} on ml-1m-chrono-all", "protocol": "leave-one-out.", "rows": rows}))
    (folder / "config.json").write_text(json.dumps({
        "model": {"name": encoder, "item_tower": tower, "item_id_dropout": id_dropout},
        "data": {"name": "ml-1m-chrono-all", "cold_start_share": 0.1, "cold_start_seed": 0},
        "train": {"num_epochs": 20, "max_train_minutes": 25.0}}))
    (folder / "run_summary.json").write_text(json.dumps({
        "epochs_run": 20, "best_epoch": 18, "wall_seconds": 600.0, "invocation_seconds": 660.0,
        "command": f"python -m recall_jax.main --config.model.item_tower={tower}"}))


def test_cold_start_page_compares_towers_to_id_and_popularity(pages, tmp_path):
    _write_run(tmp_path / "bert4rec_id", "bert4rec", "id", warm=0.10, cold=0.0)
    _write_run(tmp_path / "sasrec_text", "sasrec", "text", warm=0.12, cold=0.05)
    _write_run(tmp_path / "sasrec_id", "sasrec", "id", warm=0.16, cold=0.001)
    _write_run(tmp_path / "sasrec_id_text", "sasrec", "id+text", warm=0.158, cold=0.04)
    _write_run(tmp_path / "sasrec_id_text_drop", "sasrec", "id+text", warm=0.164, cold=0.06,
               id_dropout=0.5)
    (tmp_path / "text_cache").mkdir()
    (tmp_path / "text_cache" / "text_vectors_abc.json").write_text(json.dumps(
        {"items": 3706, "items_per_second": 60.0, "seconds": 61.8,
         "checkpoint": "/x/all-MiniLM-L6-v2", "pooling": "mean", "max_length": 64}))
    page = pages.cold_start_section(tmp_path)
    warm_table = page.split("### Warm targets (90 test users)")[1].split("### Cold")[0]
    lines = [line for line in warm_table.splitlines() if line.startswith("| ")][1:]
    # SASRec first (id, id+text, text), then BERT4Rec, then popularity.
    assert [line.split("|")[1:3] for line in lines] == [
        [" sasrec ", " id "], [" sasrec ", " id+text "],
        [" sasrec ", " id+text, id dropout 0.5 "], [" sasrec ", " text "],
        [" bert4rec ", " id "], [" popularity ", "  "],
        [" text similarity (last 20, untrained) ", "  "]]
    assert "-1.2%" in lines[1] and "+2.5%" in lines[2] and "-25.0%" in lines[3]
    assert "### Cold targets (10 test users)" in page
    assert ("sasrec (id+text): cold NDCG@10 0.0400; popularity 0.0000; "
            "text similarity (last 20, untrained) 0.0300 (1.3x)") in page
    assert "3,706 item texts in 61.8 s (60 items/s, mean pooling, max 64 tokens, x/all-MiniLM" in page


def test_cold_start_page_refuses_a_folder_without_runs(pages, tmp_path):
    with pytest.raises(SystemExit, match="no finished runs"):
        pages.cold_start_section(tmp_path)
