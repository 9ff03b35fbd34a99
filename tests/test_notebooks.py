"""Every notebook in notebooks/ runs top to bottom, and what it computes holds up.

After a notebook's own cells, one more cell prints the figures it produced as JSON; the test
checks them (a trained model beats popularity, thresholds land near their target size)."""

import json
import pathlib

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = sorted((pathlib.Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
MARK = "NOTEBOOK_FIGURES "

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
}


def run_notebook(path: pathlib.Path, workdir: pathlib.Path) -> tuple[str, dict]:
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        f"import json as _json\nprint({MARK!r} + _json.dumps({FIGURES[path.name]}))"))
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(workdir)}}).execute()
    outputs = "".join(output.get("text", "") + str(output.get("data", {}))
                      for cell in notebook.cells if cell.cell_type == "code"
                      for output in cell.get("outputs", []))
    figures = json.loads(outputs.split(MARK, 1)[1].splitlines()[0])
    return outputs, figures


def test_quickstart_trains_a_model_that_beats_popularity(tmp_path):
    outputs, figures = run_notebook(NOTEBOOKS[[p.name for p in NOTEBOOKS].index(
        "quickstart.ipynb")], tmp_path)
    assert "NDCG@10" in outputs and "seen items excluded" in outputs
    assert figures["model"] > figures["popularity"] + 0.05, figures
    assert figures["model_low"] > figures["popularity_high"], figures  # intervals apart


def test_threshold_notebook_compares_both_models(tmp_path):
    _, figures = run_notebook(NOTEBOOKS[[p.name for p in NOTEBOOKS].index(
        "threshold_vs_scann.ipynb")], tmp_path)
    for model, ndcg in figures["exact"].items():
        assert ndcg > figures["popularity"] + 0.1, (model, figures)
    assert len(figures["global_tau_sizes"]) == 2
    assert all(5 <= size <= 15 for size in figures["global_tau_sizes"]), figures
    assert figures["sweep_models"] == ["cosine", "dot"]


def test_every_notebook_is_checked():
    assert {p.name for p in NOTEBOOKS} == set(FIGURES)
