"""Scalars to a JSON-lines file (always) and TensorBoard event files (tensorboardX)."""

from __future__ import annotations

import json
import pathlib


class MetricWriter:
    def __init__(self, workdir: str | pathlib.Path, enabled: bool = True):
        self.path = pathlib.Path(workdir) / "metrics.jsonl"
        self.enabled = enabled
        self._tensorboard = None
        if enabled:
            from tensorboardX import SummaryWriter
            self._tensorboard = SummaryWriter(str(pathlib.Path(workdir) / "tensorboard"))

    def write(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as stream:
            stream.write(json.dumps({"step": int(step), **{k: float(v) for k, v in scalars.items()}})
                         + "\n")
        for name, value in scalars.items():
            # TensorBoard tag names allow [A-Za-z0-9_./-]: "HR@10" is written as "HR_at_10".
            self._tensorboard.add_scalar(name.replace("@", "_at_"), float(value), int(step))

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
