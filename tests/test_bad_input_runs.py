"""Bad input through the entry points: configs, workdirs, text model folders, run folders, CLI.

Every case goes through `recall_jax.cli.guarded`, the error path of `python -m recall_jax.main`
and `python -m recall_jax.compare`, and asserts: the exit status (2 usage, 1 data/runtime), one
line on stderr naming the field/file, no traceback, and nothing new left in the workdir. The
last cases run the real command line in a subprocess.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from experiments.configs import synthetic_tiny
from recall_jax import cli, compare
from recall_jax.errors import WorkdirError
from recall_jax.train import seeds, trainer
from recall_jax.train.workdir import LOCK_FILE, WorkdirLock

REPO = pathlib.Path(__file__).resolve().parents[1]


def tree(folder: pathlib.Path) -> dict[str, bytes] | None:
    """Every file under `folder` with its bytes (None when the folder does not exist)."""
    if not folder.exists():
        return None
    return {str(path.relative_to(folder)): path.read_bytes() if path.is_file() else b"<dir>"
            for path in sorted(folder.rglob("*"))}


def expect_failure(capsys, body, status: int, *fragments: str) -> str:
    """Run body through the entry points' error path; check status, one line, no traceback."""
    with pytest.raises(SystemExit) as exit_info:
        cli.guarded(body)
    assert exit_info.value.code == status
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("recall_jax: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err


def tiny(**fields):
    config = synthetic_tiny.get_config()
    config.train.num_epochs = 1
    for dotted, value in fields.items():
        node = config
        *parents, name = dotted.split("__")
        for parent in parents:
            node = node[parent]
        node[name] = value
    return config


CONFIG_CASES = [
    ({"data__name": "ml-2m"}, "config.data.name='ml-2m'", "expected one of"),
    ({"data__split": "random"}, "config.data.split='random'", "leave_one_out"),
    ({"data__min_user_events": 2}, "config.data.min_user_events=2", ">= 3"),
    ({"data__split": "temporal", "data__validation_quantile": 0.0},
     "config.data.validation_quantile=0.0", "(0, 1]"),
    ({"data__split": "temporal", "data__validation_quantile": 0.95, "data__test_quantile": 0.9},
     "config.data.validation_quantile=0.95", "test_quantile=0.9"),
    ({"data__cold_start_share": 1.0}, "config.data.cold_start_share=1.0", "[0, 1)"),
    ({"data__delimiter": ""}, "config.data.delimiter=''", "one character"),
    ({"data__root": "/nonexistent/recall_jax_data"}, "config.data.root=", "no such folder"),
    ({"data__name": "generic"}, "config.data.interactions_path=''", "generic"),
    ({"data__min_rating": 4}, "config.data.min_rating=4", "ml-1m-ratings"),
    ({"data__synthetic__num_items": 0}, "config.data.synthetic.num_items=0", ">= 1"),
    ({"model__name": "gpt"}, "config.model.name='gpt'", "sasrec"),
    ({"model__max_len": 0}, "config.model.max_len=0", ">= 1"),
    ({"model__num_heads": 3}, "config.model.embed_dim=32", "num_heads=3"),
    ({"model__dropout_rate": 1.0}, "config.model.dropout_rate=1.0", "[0, 1)"),
    ({"model__attention_dropout_rate": -0.1}, "config.model.attention_dropout_rate=-0.1",
     "[0, 1)"),
    ({"model__activation": "swish"}, "config.model.activation='swish'", "gelu"),
    ({"model__attention_implementation": "flash"},
     "config.model.attention_implementation='flash'", "'dot_product_attention', 'einsum'"),
    ({"model__compute_dtype": "float16"}, "config.model.compute_dtype='float16'",
     "'float32', 'bfloat16'"),
    ({"model__dropout_impl": "bits"}, "config.model.dropout_impl='bits'",
     "'bytes', 'bernoulli'"),
    ({"model__temperature": 0.0}, "config.model.temperature=0.0", "(0, inf]"),
    ({"model__mask_rate": 0.0}, "config.model.mask_rate=0.0", "(0, 1)"),
    ({"model__item_tower": "image"}, "config.model.item_tower='image'", "id+text"),
    ({"model__item_id_dropout": 0.5}, "config.model.item_id_dropout=0.5", "id+text"),
    ({"model__text_pooling": "max"}, "config.model.text_pooling='max'", "cls"),
    ({"loss__name": "hinge"}, "config.loss.name='hinge'", "sampled_softmax"),
    ({"loss__num_sampled": 0}, "config.loss.num_sampled=0", ">= 1"),
    ({"loss__sampler": "zipf"}, "config.loss.sampler='zipf'", "popularity"),
    ({"optimizer__learning_rate": 0.0}, "config.optimizer.learning_rate=0.0", "(0, inf]"),
    ({"optimizer__beta2": 1.0}, "config.optimizer.beta2=1.0", "[0, 1)"),
    ({"train__batch_size": 0}, "config.train.batch_size=0", ">= 1"),
    ({"train__batch_size": -1}, "config.train.batch_size=-1", ">= 1"),
    ({"train__num_epochs": 0}, "config.train.num_epochs=0", ">= 1"),
    ({"train__bucket_lengths": (16, 0)}, "config.train.bucket_lengths=(16, 0)", ">= 1"),
    ({"train__prng_impl": "philox"}, "config.train.prng_impl='philox'",
     "'threefry2x32', 'rbg', 'unsafe_rbg'"),
    ({"eval__ks": (0, 10)}, "config.eval.ks=(0, 10)", ">= 1"),
    ({"eval__ks": (50,)}, "config.train.selection_metric='NDCG@10'", "(50,)"),
    ({"eval__seen_items": "hide"}, "config.eval.seen_items='hide'", "exclude_keep_target"),
    ({"eval__item_chunk": 0}, "config.eval.item_chunk=0", ">= 1"),
    ({"mesh__model_parallelism": 3}, "config.mesh.model_parallelism=3",
     "must divide the number of devices"),
    ({"mesh__parameter_rules": (("item_embedding/(", ("model", None)),)},
     "config.mesh.parameter_rules[0]", "regex"),
    ({"compare__models": ("dot", "euclid")}, "config.compare.models=", "cosine"),
    ({"compare__dot_model_workdir": "/nonexistent/run"}, "config.compare.dot_model_workdir=",
     "finished run"),
    ({"compare__scann__num_leaves_to_search": 100}, "num_leaves_to_search=100",
     "num_leaves=60"),
    ({"compare__faiss__hnsw_m": 0}, "config.compare.faiss.hnsw_m=0", "integer >= 1"),
]


@pytest.mark.parametrize("fields, names_field, says_expected", CONFIG_CASES,
                         ids=[next(iter(case[0])) for case in CONFIG_CASES])
def test_bad_config_is_refused_before_anything_is_written(tmp_path, capsys, fields,
                                                          names_field, says_expected):
    workdir = tmp_path / "run"
    expect_failure(capsys, lambda: trainer.train_and_evaluate(tiny(**fields), workdir), 2,
                   "ConfigError", names_field, says_expected)
    assert not workdir.exists()


def test_every_config_problem_is_listed_at_once(tmp_path, capsys):
    config = tiny(train__batch_size=0, model__name="gpt", eval__seen_items="hide")
    err = expect_failure(capsys, lambda: trainer.train_and_evaluate(config, tmp_path / "run"),
                         2, "config.train.batch_size=0", "config.model.name='gpt'",
                         "config.eval.seen_items='hide'")
    assert err.count("config.") >= 3


def test_a_bad_config_leaves_an_existing_run_untouched(tmp_path, capsys):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "config.json").write_text('{"seed": 0}')
    before = tree(workdir)
    expect_failure(capsys, lambda: trainer.train_and_evaluate(tiny(train__batch_size=0),
                                                              workdir), 2, "batch_size")
    assert tree(workdir) == before


@pytest.mark.parametrize("text, fragment", [("a,b", "comma-separated integers"),
                                            ("1,1", "each once"), ("", "at least one seed")])
def test_bad_seed_lists(capsys, text, fragment):
    expect_failure(capsys, lambda: seeds.parse_seeds(text), 2, "UsageError", "--seeds",
                   fragment)


# ----------------------------------------------------------------------------------------------
# Workdirs.
def test_workdir_that_is_a_file(tmp_path, capsys):
    workdir = tmp_path / "run"
    workdir.write_text("not a folder")
    expect_failure(capsys, lambda: trainer.train_and_evaluate(tiny(), workdir), 2,
                   "WorkdirError", str(workdir), "is a file")
    assert workdir.read_text() == "not a folder"


def test_workdir_under_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    expect_failure(capsys, lambda: trainer.train_and_evaluate(tiny(), tmp_path / "file" / "run"),
                   2, "WorkdirError", "is a file")


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder this process cannot write to (root writes everywhere but in /proc/1)."""
    if os.geteuid() == 0:
        yield pathlib.Path("/proc/1")
        return
    folder = tmp_path / "read_only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_workdir_in_an_unwritable_folder(unwritable_folder, capsys):
    workdir = unwritable_folder / "run"
    expect_failure(capsys, lambda: trainer.train_and_evaluate(tiny(), workdir), 2,
                   "WorkdirError", "not writable")
    assert not workdir.exists()


def test_workdir_held_by_another_run(tmp_path, capsys):
    workdir = tmp_path / "run"
    with WorkdirLock(workdir):
        before = tree(workdir)
        err = expect_failure(capsys, lambda: trainer.train_and_evaluate(tiny(), workdir), 2,
                             "WorkdirError", "in use by another run", f"pid {os.getpid()}")
        assert "host" in err
        assert tree(workdir) == before
    assert not (workdir / LOCK_FILE).exists()


def test_lock_of_a_dead_run_is_taken_over_with_a_warning(tmp_path, caplog):
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / LOCK_FILE).write_text(json.dumps({"pid": 999999, "host": "elsewhere",
                                                 "started": 0}))
    with WorkdirLock(workdir):
        holder = json.loads((workdir / LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid()
    assert "pid 999999" in caplog.text and "no longer running" in caplog.text


def test_a_second_lock_in_the_same_process_is_refused(tmp_path):
    with WorkdirLock(tmp_path / "run"):
        with pytest.raises(WorkdirError, match="in use"):
            WorkdirLock(tmp_path / "run").acquire()


# ----------------------------------------------------------------------------------------------
# Text model folders.
def text_folder(tmp_path, *, config=True, weights=True, tokenizer=True, weights_bytes=b"junk"):
    folder = tmp_path / "bert"
    folder.mkdir()
    if config:
        (folder / "config.json").write_text(json.dumps({"hidden_size": 8}))
    if weights:
        (folder / "model.safetensors").write_bytes(weights_bytes)
    if tokenizer:
        (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nmovie\n")
    return folder


@pytest.mark.parametrize("missing, fragment", [
    ({"config": False}, "missing config.json"),
    ({"weights": False}, "missing model.safetensors"),
    ({"tokenizer": False}, "tokenizer.json or vocab.txt"),
])
def test_incomplete_text_model_folder(tmp_path, capsys, missing, fragment):
    folder = text_folder(tmp_path, **missing)
    config = tiny(model__item_tower="id+text", model__text_checkpoint=str(folder))
    workdir = tmp_path / "run"
    expect_failure(capsys, lambda: trainer.train_and_evaluate(config, workdir), 2,
                   "config.model.text_checkpoint=", str(folder), fragment)
    assert not workdir.exists()


def test_text_model_folder_that_does_not_exist(tmp_path, capsys):
    config = tiny(model__item_tower="text", model__text_checkpoint=str(tmp_path / "nope"))
    expect_failure(capsys, lambda: trainer.train_and_evaluate(config, tmp_path / "run"), 2,
                   "config.model.text_checkpoint=", "no such folder")


def small_generic_file(tmp_path) -> pathlib.Path:
    """Six users with four events each, user,item only: no timestamps, no items table."""
    interactions = tmp_path / "events.csv"
    interactions.write_text("user,item\n" + "".join(f"u{u},i{(u + k) % 7}\n" for u in range(6)
                                                   for k in range(4)))
    return interactions


# Data reached through a run (readers have their own suite in test_bad_input_data.py).
GENERIC_RUN_CASES = [
    ({"model__item_tower": "id+text"}, 2, ("config.model.item_tower='id+text'", "no item text")),
    ({"data__split": "temporal"}, 2, ("config.data.split='temporal'", "timestamps")),
    ({"data__min_user_events": 50}, 1, ("DataFormatError", "config.data.min_user_events=50")),
    ({"data__interactions_path": "none.csv"}, 1, ("DataNotFoundError", "none.csv",
                                                  "no such file")),
]


@pytest.mark.parametrize("fields, status, fragments", GENERIC_RUN_CASES,
                         ids=["text_tower_without_text", "temporal_without_timestamps",
                              "no_user_long_enough", "missing_interactions_file"])
def test_generic_data_that_cannot_serve_the_config(tmp_path, capsys, fields, status, fragments):
    fields = {"data__interactions_path": str(small_generic_file(tmp_path)), **fields}
    if fields["data__interactions_path"] == "none.csv":
        fields["data__interactions_path"] = str(tmp_path / "none.csv")
    config = tiny(data__name="generic", **fields)
    workdir = tmp_path / "run"
    expect_failure(capsys, lambda: trainer.train_and_evaluate(config, workdir), status,
                   *fragments)
    assert not workdir.exists()


# ----------------------------------------------------------------------------------------------
# compare's model folders.
def compare_config(**folders):
    config = synthetic_tiny.get_compare_config()
    for kind, folder in folders.items():
        config.compare[f"{kind}_model_workdir"] = str(folder)
    config.compare.models = tuple(folders)
    return config


def test_compare_model_folder_without_a_run(tmp_path, capsys):
    folder = tmp_path / "empty_run"
    folder.mkdir()
    workdir = tmp_path / "comparison"
    expect_failure(capsys, lambda: compare.compare(compare_config(dot=folder), workdir), 2,
                   "RunFolderError", "config.compare.dot_model_workdir=", "no trained model")
    assert not workdir.exists()


def fake_run(folder: pathlib.Path, config_text: str) -> pathlib.Path:
    """A folder that looks finished (a best checkpoint step) with the given config.json."""
    (folder / "checkpoints" / "best" / "3").mkdir(parents=True)
    (folder / "config.json").write_text(config_text)
    return folder


def test_compare_model_folder_with_damaged_config(tmp_path, capsys):
    folder = fake_run(tmp_path / "run", "{not json")
    expect_failure(capsys, lambda: compare.compare(compare_config(dot=folder),
                                                   tmp_path / "comparison"), 2,
                   "RunFolderError", "config.json: not valid JSON")


def test_compare_model_folder_of_other_data(tmp_path, capsys):
    other = synthetic_tiny.get_config()
    other.data.synthetic.num_items = 99
    folder = fake_run(tmp_path / "run", other.to_json_best_effort())
    expect_failure(capsys, lambda: compare.compare(compare_config(dot=folder),
                                                   tmp_path / "comparison"), 2,
                   "RunFolderError", "other data", "data.synthetic")


def test_compare_model_folder_of_the_other_kind(tmp_path, capsys):
    folder = fake_run(tmp_path / "run", synthetic_tiny.get_config().to_json_best_effort())
    expect_failure(capsys, lambda: compare.compare(compare_config(cosine=folder),
                                                   tmp_path / "comparison"), 2,
                   "RunFolderError", "model.normalize=False", "not a cosine model")


def test_restore_from_a_folder_that_is_not_a_run(tmp_path, capsys):
    expect_failure(capsys, lambda: trainer.load_run_config(tmp_path), 2, "RunFolderError",
                   "config.json not found")


# ----------------------------------------------------------------------------------------------
# The real command line.
def run_cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=240)


TINY = "experiments/configs/synthetic_tiny.py"


def test_cli_config_error_is_one_line_with_status_2(tmp_path):
    workdir = tmp_path / "run"
    result = run_cli("-m", "recall_jax.main", f"--config={TINY}", f"--workdir={workdir}",
                     "--config.train.batch_size=0", "--config.eval.ks=(0,10)")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("recall_jax: ConfigError: config.train.batch_size=0")
    assert "config.eval.ks=(0, 10)" in last
    assert "Traceback" not in result.stderr
    assert not workdir.exists()


def test_cli_unknown_config_field_is_a_usage_error(tmp_path):
    result = run_cli("-m", "recall_jax.main", f"--config={TINY}", f"--workdir={tmp_path / 'r'}",
                     "--config.train.batch_sise=8")
    assert result.returncode == 2
    assert "recall_jax: UsageError:" in result.stderr and "batch_sise" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("argument, fragment", [
    ("--config=experiments/configs/no_such_config.py", "no_such_config.py"),
    ("--config.train.batch_size=abc", "--config.train.batch_size=abc"),
])
def test_cli_bad_config_file_or_value(tmp_path, argument, fragment):
    workdir = tmp_path / "r"
    result = run_cli("-m", "recall_jax.main", f"--config={TINY}", f"--workdir={workdir}",
                     argument)
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if "recall_jax:" in line]
    assert len(error_lines) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("recall_jax: UsageError:")
    assert fragment in error_lines[0] and "Traceback" not in result.stderr
    assert not workdir.exists()


def test_cli_debug_shows_the_traceback(tmp_path):
    result = run_cli("-m", "recall_jax.main", f"--config={TINY}", f"--workdir={tmp_path / 'r'}",
                     "--config.train.batch_size=0", "--debug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "ConfigError" in result.stderr


def test_cli_compare_with_a_missing_model_folder(tmp_path):
    folder = tmp_path / "no_model"
    folder.mkdir()
    result = run_cli("-m", "recall_jax.compare", f"--config={TINY}", f"--workdir={tmp_path / 'c'}",
                     f"--config.compare.dot_model_workdir={folder}",
                     "--config.compare.models=('dot',)")
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("recall_jax: RunFolderError: config.compare.dot_model_workdir=")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) < 30  # no pages of orbax shutdown noise


def test_cli_second_run_on_a_busy_workdir_stops_at_once(tmp_path):
    """Two real processes: the second names the first's pid and leaves its files alone."""
    workdir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first = subprocess.Popen([sys.executable, "-m", "recall_jax.main", f"--config={TINY}",
                              f"--workdir={workdir}", "--config.train.num_epochs=50"],
                             cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while not (workdir / LOCK_FILE).is_file() or not (workdir / LOCK_FILE).read_text():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        second = run_cli("-m", "recall_jax.main", f"--config={TINY}", f"--workdir={workdir}")
        assert second.returncode == 2
        assert f"recall_jax: WorkdirError: --workdir {workdir} is in use by another run: " \
               f"pid {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr
        assert first.poll() is None  # the first run carries on
    finally:
        first.kill()
        first.wait()
