"""Scalars to a JSON-lines file (always) and TensorBoard event files (tensorboardX).

TensorBoard events are written for a local workdir only: tensorboardX cannot write through
epath, so a remote workdir (gs://...) gets metrics.jsonl alone and a log line saying so.
"""

from __future__ import annotations

import json

from absl import logging
from etils import epath

from recall_jax import paths


class MetricWriter:
    def __init__(self, workdir: epath.PathLike, enabled: bool = True):
        workdir = paths.as_path(workdir)
        self.path = workdir / "metrics.jsonl"
        self.enabled = enabled
        self._tensorboard = None
        if enabled and not paths.is_local(workdir):
            logging.warning("workdir %s is not local: TensorBoard events are skipped, the "
                            "scalars go to %s only", workdir, self.path)
        elif enabled:
            from tensorboardX import SummaryWriter
            self._tensorboard = SummaryWriter(str(workdir / "tensorboard"))

    def write(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        paths.append_text(self.path, json.dumps(
            {"step": int(step), **{k: float(v) for k, v in scalars.items()}}) + "\n")
        if self._tensorboard is None:
            return
        for name, value in scalars.items():
            # TensorBoard tag names allow [A-Za-z0-9_./-]: "HR@10" is written as "HR_at_10".
            self._tensorboard.add_scalar(name.replace("@", "_at_"), float(value), int(step))

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
