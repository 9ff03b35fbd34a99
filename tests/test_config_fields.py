"""Config hygiene: every config field the code reads is declared in experiments/configs/default.py.

The code names experiment configs consistently (`config` for the whole, `data_config`,
`model_config`, ... for sections), so reading `<name>.<field>...` can be checked against the
declared defaults by walking the source. `.get(...)` fallbacks, which would put a second default
in the code, are refused outright.
"""

from __future__ import annotations

import ast
import pathlib

import ml_collections
import pytest

from experiments.configs import default

REPO = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted([*(REPO / "recall_jax").rglob("*.py"), *(REPO / "scripts").glob("*.py")])

# Variable name -> the path of the config section it holds.
ROOTS = {
    "config": (), "run_config": (), "seed_config": (), "kind_config": (),
    "data_config": ("data",), "synthetic_config": ("data", "synthetic"),
    "model_config": ("model",), "loss_config": ("loss",), "optimizer_config": ("optimizer",),
    "train_config": ("train",), "eval_config": ("eval",), "mesh_config": ("mesh",),
    "compare_config": ("compare",), "scann_config": ("compare", "scann"),
}
CONFIG_METHODS = {"unlocked", "copy_and_resolve_references", "to_json_best_effort", "to_dict",
                  "update", "items", "keys", "values", "lock", "get"}


def attribute_chain(node: ast.Attribute) -> tuple[str, list[str]] | None:
    """("config", ["train", "num_epochs"]) for config.train.num_epochs, else None."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in ROOTS:
        return node.id, names[::-1]
    return None


def config_reads(path: pathlib.Path) -> list[tuple[int, str, list[str]]]:
    """(line, root name, fields) of every outermost attribute chain on a config variable."""
    tree = ast.parse(path.read_text(), filename=str(path))
    inner = {id(child.value) for child in ast.walk(tree) if isinstance(child, ast.Attribute)}
    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            chain = attribute_chain(node)
            if chain is not None:
                reads.append((node.lineno, *chain))
    return reads


def declared(path: tuple[str, ...]) -> bool:
    node = default.get_config()
    for name in path:
        if not isinstance(node, ml_collections.ConfigDict) or name not in node:
            return False
        node = node[name]
    return True


def test_the_scan_sees_the_code_reading_configs():
    reads = {(path.relative_to(REPO).as_posix(), root, tuple(fields))
             for path in SOURCES for _, root, fields in config_reads(path)}
    assert ("recall_jax/train/trainer.py", "config", ("train", "num_epochs")) in reads
    assert ("recall_jax/data/registry.py", "data_config", ("min_user_events",)) in reads
    assert ("recall_jax/retrieval/comparison.py", "compare_config", ("timing_repeats",)) in reads
    assert len(reads) > 100


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_config_field_read_is_declared_in_default(path):
    missing, fallbacks = [], []
    for line, root, fields in config_reads(path):
        if fields and fields[-1] == "get":
            fallbacks.append(f"line {line}: {root}.{'.'.join(fields)}(...)")
        fields = [name for name in fields if name not in CONFIG_METHODS]
        if fields and not declared(ROOTS[root] + tuple(fields)):
            missing.append(f"line {line}: {root}.{'.'.join(fields)} "
                           f"(config.{'.'.join(ROOTS[root] + tuple(fields))})")
    assert not missing, f"{path.name} reads fields that default.py does not declare: {missing}"
    assert not fallbacks, f"{path.name} reads config fields with a default fallback: {fallbacks}"


def test_every_declared_field_can_be_set_from_a_flag_string():
    """Fields are plain values (numbers, strings, tuples), as `--config.a.b=...` can set."""
    def leaves(node, prefix=()):
        for name, value in node.items():
            if isinstance(value, ml_collections.ConfigDict):
                yield from leaves(value, prefix + (name,))
            else:
                yield prefix + (name,), value
    for path, value in leaves(default.get_config()):
        assert isinstance(value, (bool, int, float, str, tuple)), (path, value)


def test_run_folders_from_before_a_field_existed_keep_their_behaviour(tmp_path):
    from recall_jax.train import trainer  # noqa: PLC0415

    saved = default.get_config().to_dict()
    del saved["model"]["attention_implementation"]
    (tmp_path / "config.json").write_text(ml_collections.ConfigDict(saved).to_json())
    assert trainer.load_run_config(tmp_path).model.attention_implementation == "einsum"
    saved["model"]["attention_implementation"] = "dot_product_attention"
    (tmp_path / "config.json").write_text(ml_collections.ConfigDict(saved).to_json())
    loaded = trainer.load_run_config(tmp_path)
    assert loaded.model.attention_implementation == "dot_product_attention"
    assert loaded.model.compute_dtype == default.get_config().model.compute_dtype


def test_recorded_commands_paste_into_bash_unchanged():
    """The "Regenerate with" command is shell-quoted: bash hands every argument back as given."""
    import subprocess

    from recall_jax.cli import command_line
    argv = ["--config", "experiments/configs/synthetic_tiny.py", "--workdir", "runs/a b",
            "--config.train.bucket_lengths=(4,8)", "--config.data.text_columns=('title',)"]
    command = command_line("recall_jax.main", argv)
    echoed = subprocess.run(["bash", "-c", command.replace("python -m recall_jax.main",
                                                           "printf '%s\\n'", 1)],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert echoed == argv
    assert command.startswith("python -m recall_jax.main ")
