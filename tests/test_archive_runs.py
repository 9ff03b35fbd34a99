"""scripts/archive_runs.py keeps a run's record and leaves out checkpoints, vectors and indexes."""

from __future__ import annotations

import importlib.util
import pathlib

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "archive_runs.py"


def load_script():
    spec = importlib.util.spec_from_file_location("archive_runs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_archive_keeps_records_and_text_cache_notes_only(tmp_path):
    study = tmp_path / "cold_start"
    (study / "text_cache").mkdir(parents=True)
    (study / "text_cache" / "text_vectors_ab.npy").write_bytes(b"\0" * 64)
    (study / "text_cache" / "text_vectors_ab.json").write_text("{}")
    run = study / "sasrec_id"
    for folder in ("checkpoints/best/3", "tensorboard", "scann_index_dot"):
        (run / folder).mkdir(parents=True)
        (run / folder / "file").write_text("x")
    (run / "text_cache").symlink_to("../text_cache")
    for name in ("results.json", "per_user_ranks.npz", "config.json", ".lock", "a.tmp"):
        (run / name).write_text("x")
    left_out = load_script().archive(study, tmp_path / "archive", max_bytes=10**6)
    kept = sorted(str(path.relative_to(tmp_path / "archive"))
                  for path in (tmp_path / "archive").rglob("*") if path.is_file())
    assert left_out == []
    assert kept == ["cold_start/sasrec_id/config.json", "cold_start/sasrec_id/per_user_ranks.npz",
                    "cold_start/sasrec_id/results.json",
                    "cold_start/text_cache/text_vectors_ab.json"]
