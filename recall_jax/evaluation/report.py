"""Result tables: results.md (protocol, command, markdown table) and results.json, written atomically."""

from __future__ import annotations

import datetime
import json
import numbers
import os
import re
import tempfile
from typing import Any, Sequence

# Metric families in table order; for each cut-off k they appear in this order.
_METRICS_AT_K = ("HR", "Recall", "NDCG", "Precision", "Coverage")
_OVERALL_METRICS = ("MRR", "TargetTieShare", "num_users")


def _is_metric(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _metric_order(name: str) -> tuple:
    """Sort key: metrics at k grouped by increasing k, then overall metrics, then the rest."""
    match = re.fullmatch(r"(\w+)@(\d+)", name)
    if match and match.group(1) in _METRICS_AT_K:
        return (0, int(match.group(2)), _METRICS_AT_K.index(match.group(1)), "")
    if name in _OVERALL_METRICS:
        return (1, 0, _OVERALL_METRICS.index(name), "")
    return (2, 0, 0, name)


def table_columns(rows: Sequence[dict]) -> list[str]:
    """Label columns (non-numeric values) in first-seen order, then metric columns in a fixed order."""
    labels: list[str] = []
    metrics: set[str] = set()
    for row in rows:
        for name, value in row.items():
            if _is_metric(value):
                metrics.add(name)
            elif name not in labels:
                labels.append(name)
    return [name for name in labels if name not in metrics] + sorted(metrics, key=_metric_order)


def _format_cell(value: Any, float_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float_format.format(float(value))
    return str(value).replace("|", "\\|").replace("\n", " ")


def format_markdown_table(rows: Sequence[dict], columns: Sequence[str],
                          float_format: str = "{:.4f}") -> str:
    """A markdown table with one line per row; missing cells are left empty."""
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = (_format_cell(row.get(name), float_format) for name in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _json_value(value: Any) -> Any:
    """Numpy scalars and arrays to plain Python for json.dump."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary_path = tempfile.mkstemp(dir=directory, prefix=".tmp-",
                                              suffix=os.path.basename(path))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary_path, 0o644)  # mkstemp creates files readable by the owner only.
        os.replace(temporary_path, path)
    except BaseException:
        if os.path.exists(temporary_path):
            os.remove(temporary_path)
        raise


def write_report(rows: list[dict], out_dir: str, title: str, protocol_note: str,
                 command: str) -> tuple[str, str]:
    """Write out_dir/results.md and out_dir/results.json; return their paths.

    rows: one dict per table line, e.g. {"model": "popularity", "split": "test", "HR@10": 0.05}.
    String values become label columns, numbers metric columns (see table_columns).
    protocol_note: how the numbers were obtained, e.g. "full ranking over all 3706 items,
    user's history excluded". command: the command line that regenerates the files.
    """
    os.makedirs(out_dir, exist_ok=True)
    columns = table_columns(rows)
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    markdown = (f"# {title}\n\n"
                f"Protocol: {protocol_note}\n\n"
                f"Regenerate with:\n\n```\n{command}\n```\n\n"
                f"{format_markdown_table(rows, columns)}\n"
                f"Written {created}.\n")
    metadata = {"title": title, "protocol": protocol_note, "command": command,
                "created": created, "columns": columns, "rows": rows}
    markdown_path = os.path.join(out_dir, "results.md")
    json_path = os.path.join(out_dir, "results.json")
    _write_atomically(json_path, json.dumps(metadata, indent=2, default=_json_value) + "\n")
    _write_atomically(markdown_path, markdown)
    return markdown_path, json_path
