"""orbax checkpoints in the workdir: the latest few for resuming, and the best by validation.

Layout: <workdir>/checkpoints/latest/<epoch>/ and <workdir>/checkpoints/best/<epoch>/, each with
the train state and a JSON record of training progress (epoch, best metric, history), so a
restarted run continues exactly where the last saved epoch ended.
"""

from __future__ import annotations

import pathlib
from typing import Any

import orbax.checkpoint as ocp

from recall_jax.errors import RecallJaxError


class CheckpointError(RecallJaxError, RuntimeError):
    """A checkpoint exists but cannot be read back (corrupt, truncated or from another model)."""


class Checkpoints:
    def __init__(self, workdir: str | pathlib.Path, keep: int = 2):
        root = pathlib.Path(workdir).absolute() / "checkpoints"
        self.root = root
        self.latest = ocp.CheckpointManager(
            root / "latest", options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))
        self.best = ocp.CheckpointManager(
            root / "best", options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))

    def save(self, epoch: int, state: Any, progress: dict, is_best: bool) -> None:
        """Saves the state after `epoch` (0-based) as latest, and as best when `is_best`."""
        managers = [self.latest] + ([self.best] if is_best else [])
        for manager in managers:
            manager.save(epoch, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(progress)))
        for manager in managers:
            manager.wait_until_finished()

    def restore_latest(self, abstract_state: Any) -> tuple[Any, dict] | None:
        """(state, progress) of the newest saved epoch, or None when there is none."""
        return self._restore(self.latest, abstract_state)

    def restore_best(self, abstract_state: Any) -> tuple[Any, dict] | None:
        return self._restore(self.best, abstract_state)

    def _restore(self, manager: ocp.CheckpointManager, abstract_state: Any):
        step = manager.latest_step()
        if step is None:
            return None
        directory = pathlib.Path(manager.directory) / str(step)
        try:
            restored = manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), progress=ocp.args.JsonRestore()))
        except Exception as error:  # orbax raises many types; all mean "unreadable".
            raise CheckpointError(
                f"cannot restore checkpoint {directory}: {type(error).__name__}: {error}. "
                "Delete that folder to fall back to the previous checkpoint, or use a new "
                "--workdir to start afresh.") from error
        return restored.state, dict(restored.progress)

    def close(self) -> None:
        self.latest.close()
        self.best.close()
