"""A workdir that is not on the local filesystem (gs://bucket/run on a cluster) goes through
etils.epath everywhere. No bucket is reachable here, so the tests register an in-memory
`memory://` path class (fsspec's memory filesystem behind epath, like gcsfs behind gs://) and
run the workdir I/O against it, from an empty current folder: a module that bypassed epath
(pathlib.Path, open, os) would write `memory:/...` files into that folder, or fail to find what
it wrote, and the tests check both."""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid

import fsspec
import numpy as np
import pytest
from etils import epath
from etils.epath import backend, gpath

from experiments.configs import synthetic_tiny
from recall_jax import paths
from recall_jax.evaluation.report import write_report
from recall_jax.text import item_text_vectors
from recall_jax.train import checkpoints, metric_writer, run_report, seeds, trainer, workdir

PREFIX = "memory://"


class _MemoryBackend(backend._FileSystemSpecBackend):  # noqa: SLF001  (epath's fsspec backend)
    def fs(self, path):
        return fsspec.filesystem("memory")


_BACKEND = _MemoryBackend()


def _parts(*parts):
    full = "/".join(os.fspath(part) for part in parts)
    return ("/memory/" + full[len(PREFIX):],) if full.startswith(PREFIX) else parts


@epath.register_path_cls(PREFIX)
class MemoryPath(gpath.PosixGPath):
    """memory://... as epath registers gs://...: `/memory/...` parts, the fsspec backend."""

    if sys.version_info < (3, 12):
        def __new__(cls, *parts):
            return super().__new__(cls, *_parts(*parts))
    else:
        def __init__(self, *parts):
            super().__init__(*_parts(*parts))

    @property
    def _uri_scheme(self):
        parts = self.parts
        return "memory" if len(parts) >= 2 and parts[0] == "/" and parts[1] == "memory" else None

    @property
    def _backend(self):
        return _BACKEND


@pytest.fixture
def remote(tmp_path, monkeypatch):
    """A fresh memory:// workdir; the test runs in an empty local folder that must stay empty."""
    monkeypatch.chdir(tmp_path)
    name = f"bucket-{uuid.uuid4().hex[:8]}"
    root = epath.Path(f"{PREFIX}{name}/run")
    assert isinstance(root, MemoryPath) and not paths.is_local(root)
    yield root
    fsspec.filesystem("memory").rm(f"/{name}", recursive=True)
    assert list(tmp_path.iterdir()) == [], "workdir files went to the local filesystem"


def names(folder: epath.Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_the_path_helpers_on_a_remote_folder(remote):
    assert paths.is_local("/tmp/run") and paths.is_local("run")
    assert not paths.is_local("gs://bucket/run")
    assert paths.absolute(remote) == remote
    remote.mkdir(parents=True)
    paths.write_text_atomically(remote / "a.json", "first")
    paths.write_text_atomically(remote / "a.json", "second")
    paths.append_text(remote / "log.jsonl", "1\n")
    paths.append_text(remote / "log.jsonl", "2\n")
    assert (remote / "a.json").read_text() == "second"
    assert (remote / "log.jsonl").read_text() == "1\n2\n"
    assert paths.file_size(remote / "a.json") == 6
    assert names(remote) == ["a.json", "log.jsonl"]  # no temporaries left
    (remote / "folder").mkdir()
    (remote / "folder" / "x.bin").write_bytes(b"x")
    paths.move(remote / "folder", remote / "moved")
    assert names(remote) == ["a.json", "log.jsonl", "moved"]
    with paths.local_folder(remote / "copied") as local:
        (local / "sub").mkdir()
        (local / "sub" / "y.bin").write_bytes(b"yy")
    assert (remote / "copied" / "sub" / "y.bin").read_bytes() == b"yy"


def test_workdir_config_results_and_metrics_on_a_remote_workdir(remote, caplog):
    assert workdir.check_workdir(remote) == remote
    with caplog.at_level(logging.WARNING):
        with workdir.WorkdirLock(remote):
            assert remote.is_dir()
            assert not (remote / workdir.LOCK_FILE).exists()
    assert "concurrent run on the same workdir is not detected" in caplog.text

    config = synthetic_tiny.get_config()
    trainer.write_run_config(config, remote)
    loaded = trainer.load_run_config(remote)
    assert loaded.model.to_dict() == config.model.to_dict()
    assert loaded.data.to_dict() == config.data.to_dict()

    rows = [{"model": "sasrec", "split": "test", "HR@10": 0.5}]
    write_report(rows, remote, "title", "protocol", "python -m recall_jax.main")
    assert "python -m recall_jax.main" in (remote / "results.md").read_text()
    assert json.loads((remote / "results.json").read_text())["rows"] == rows
    ranks = {"test|sasrec": np.arange(5, dtype=np.int32)}
    run_report._write_per_user(remote / run_report.PER_USER_FILE, ranks)  # noqa: SLF001
    with (remote / run_report.PER_USER_FILE).open("rb") as handle:
        np.testing.assert_array_equal(np.load(handle)["test|sasrec"], ranks["test|sasrec"])

    with caplog.at_level(logging.WARNING):
        writer = metric_writer.MetricWriter(remote)
    assert "TensorBoard events are skipped" in caplog.text
    writer.write(1, {"train/loss": 2.0})
    writer.write(2, {"validation/HR@10": 0.25})
    writer.close()
    lines = (remote / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"step": 1, "train/loss": 2.0},
                                                    {"step": 2, "validation/HR@10": 0.25}]
    # pathlib.Path(remote) would compare equal (same parts) but be a local /memory/... path.
    seed = seeds.seed_folder(remote, 3)
    assert isinstance(seed, MemoryPath) and str(seed) == f"{remote}/seed_3"
    assert names(remote) == ["config.json", "metrics.jsonl", run_report.PER_USER_FILE,
                             "results.json", "results.md"]


def test_checkpoint_manifests_on_a_remote_workdir(remote):
    step = remote / "checkpoints" / "latest" / "0"
    (step / "state" / "d").mkdir(parents=True)
    (step / "state" / "d" / "array").write_bytes(bytes(range(200)))
    (step / "progress.json").write_text('{"next_epoch": 1}')
    checkpoints.write_manifest(step, {"model.embed_dim": 4})
    manifest = checkpoints.verify_manifest(step)
    assert sorted(manifest["files"]) == ["progress.json", "state/d/array"]
    assert manifest["files"]["state/d/array"]["size"] == 200
    assert names(step) == ["progress.json", checkpoints.MANIFEST_NAME, "state"]

    (step / "state" / "d" / "array").write_bytes(bytes(reversed(range(200))))
    with pytest.raises(checkpoints._InvalidCheckpoint, match="state/d/array sha256 mismatch"):  # noqa: SLF001
        checkpoints.verify_manifest(step)
    (step / "progress.json").unlink()
    with pytest.raises(checkpoints._InvalidCheckpoint, match="progress.json is missing"):  # noqa: SLF001
        checkpoints.verify_manifest(step)


def test_text_vector_cache_on_a_remote_workdir(remote, monkeypatch):
    calls = []

    def encode(texts, *args, **kwargs):
        calls.append(list(texts))
        return np.ones((len(texts), 3), np.float32), 100.0

    monkeypatch.setattr(item_text_vectors, "encode_texts", encode)
    monkeypatch.setattr(item_text_vectors, "cache_key", lambda *args: "key")
    cache = remote / "text_cache"
    first = item_text_vectors.cached_item_text_vectors(["a", "b"], "unused", cache)
    again = item_text_vectors.cached_item_text_vectors(["a", "b"], "unused", cache)
    np.testing.assert_array_equal(first, again)
    assert len(calls) == 1  # read back from the remote cache
    assert names(cache) == ["text_vectors_key.json", "text_vectors_key.npy"]
