"""Result tables: results.md (protocol, command, markdown tables) and results.json, written atomically.

Metric cells show the value and, when the row carries one (`estimates.INTERVAL_KEY`), its 95%
interval: "0.2993 [0.2878, 0.3108]". Difference tables show "+0.0120 [+0.0051, +0.0190]" and mark
with "≈" every difference whose interval contains 0.
"""

from __future__ import annotations

import datetime
import json
import numbers
import re
from typing import Any, Sequence

from etils import epath

from recall_jax import paths
from recall_jax.evaluation.estimates import INTERVAL_KEY

# Metric families in table order; for each cut-off k they appear in this order.
_METRICS_AT_K = ("HR", "Recall", "NDCG", "Precision", "MRR", "Coverage")
_OVERALL_METRICS = ("MRR", "TargetTieShare", "num_users")
NO_DIFFERENCE_MARK = "≈"


def _is_metric(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def _is_label(value: Any) -> bool:
    return not _is_metric(value) and not isinstance(value, (dict, list, tuple))


def _metric_order(name: str) -> tuple:
    """Sort key: metrics at k grouped by increasing k, then overall metrics, then the rest."""
    match = re.fullmatch(r"(\w+)@(\d+)", name)
    if match and match.group(1) in _METRICS_AT_K:
        return (0, int(match.group(2)), _METRICS_AT_K.index(match.group(1)), "")
    if name in _OVERALL_METRICS:
        return (1, 0, _OVERALL_METRICS.index(name), "")
    return (2, 0, 0, name)


def table_columns(rows: Sequence[dict]) -> list[str]:
    """Label columns (strings) in first-seen order, then metric columns in a fixed order;
    interval dicts and other structured values are not columns."""
    labels: list[str] = []
    metrics: set[str] = set()
    for row in rows:
        for name, value in row.items():
            if _is_metric(value):
                metrics.add(name)
            elif _is_label(value) and name not in labels:
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


def _format_estimate(row: dict, name: str, float_format: str) -> str:
    cell = _format_cell(row.get(name), float_format)
    interval = row.get(INTERVAL_KEY, {}).get(name)
    if interval is None or not cell:
        return cell
    low, high = (float_format.format(float(bound)) for bound in interval)
    return f"{cell} [{low}, {high}]"


def format_markdown_table(rows: Sequence[dict], columns: Sequence[str],
                          float_format: str = "{:.4f}") -> str:
    """A markdown table with one line per row; missing cells are left empty; metrics with an
    interval in the row show it in brackets."""
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = (_format_estimate(row, name, float_format) for name in columns)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def format_difference(difference: Sequence[float] | None, float_format: str = "{:+.4f}") -> str:
    """"+0.0120 [+0.0051, +0.0190]", with NO_DIFFERENCE_MARK when the interval holds 0."""
    if difference is None:
        return ""
    value, low, high = (float_format.format(float(x)) for x in difference)
    mark = f" {NO_DIFFERENCE_MARK}" if difference[1] <= 0.0 <= difference[2] else ""
    return f"{value} [{low}, {high}]{mark}"


def format_difference_table(differences: Sequence[dict], label_columns: Sequence[str],
                            metrics: Sequence[str], float_format: str = "{:+.4f}") -> str:
    """Paired differences (row - reference) as a markdown table, one line per difference row."""
    columns = [*label_columns, "reference", *metrics]
    lines = ["| " + " | ".join(columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in differences:
        cells = [_format_cell(row.get(name), float_format) for name in (*label_columns,
                                                                        "reference")]
        cells += [format_difference(row.get(name), float_format) for name in metrics]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


DIFFERENCE_NOTE = (f"Paired bootstrap over the same users; {NO_DIFFERENCE_MARK} marks a difference "
                   "whose 95% interval contains 0.")


def _json_value(value: Any) -> Any:
    """Numpy scalars and arrays to plain Python for json.dump."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def headline_columns(ks: Sequence[int]) -> list[str]:
    """The metrics a results table shows (results.json keeps every metric): HR and NDCG at each
    k, MRR, coverage at the smallest k, the target tie share and the user count."""
    return ([f"{metric}@{k}" for k in ks for metric in ("HR", "NDCG")]
            + ["MRR", f"Coverage@{min(ks)}", "TargetTieShare", "num_users"])


def write_report(rows: list[dict], out_dir: epath.PathLike, title: str, protocol_note: str,
                 command: str, columns: Sequence[str] | None = None,
                 differences: Sequence[dict] = (), difference_metrics: Sequence[str] = (),
                 notes: Sequence[str] = ()) -> tuple[str, str]:
    """Write out_dir/results.md and out_dir/results.json; return their paths.

    rows: one dict per table line, e.g. {"model": "popularity", "split": "test", "HR@10": 0.05,
    "ci95": {"HR@10": [0.04, 0.06]}}. String values become label columns, numbers metric
    columns (all of them unless `columns` picks some; see table_columns).
    differences: paired difference rows (estimates.paired_difference_row), shown for
    `difference_metrics`. protocol_note: how the numbers were obtained; notes: extra lines under
    the tables. command: the command line that regenerates the files.
    """
    out_dir = paths.as_path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    all_columns = table_columns(rows)
    labels = [name for name in all_columns if rows and _is_label(rows[0].get(name, ""))]
    shown = list(columns) if columns is not None else all_columns
    shown = labels + [name for name in shown if name in all_columns and name not in labels]
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    sections = [f"# {title}", f"Protocol: {protocol_note}",
                f"Regenerate with:\n\n```\n{command}\n```",
                "Each metric with its 95% bootstrap interval over users.",
                format_markdown_table(rows, shown)]
    if differences:
        sections += [DIFFERENCE_NOTE,
                     format_difference_table(differences, labels, difference_metrics)]
    sections += [*notes, f"Written {created}."]
    metadata = {"title": title, "protocol": protocol_note, "command": command,
                "created": created, "columns": all_columns, "rows": rows,
                "differences": list(differences), "notes": list(notes)}
    markdown_path, json_path = out_dir / "results.md", out_dir / "results.json"
    paths.write_text_atomically(json_path,
                                json.dumps(metadata, indent=2, default=_json_value) + "\n")
    paths.write_text_atomically(markdown_path, "\n\n".join(section.rstrip("\n")
                                                           for section in sections) + "\n")
    return str(markdown_path), str(json_path)
