"""orbax checkpoints in the workdir: the latest few for resuming, and the best by validation.

Layout: <workdir>/checkpoints/latest/<epoch>/ and <workdir>/checkpoints/best/<epoch>/, each with
the train state and a JSON record of training progress (epoch, best metric, history), so a
restarted run continues exactly where the last saved epoch ended.

Integrity. orbax (0.12) checks no file contents: flipped bytes in a saved array restore without
complaint. So once a save has finished, every step folder gets `recall_jax_manifest.json`, written
last and atomically, with the size and sha256 of each file in the folder (and the flattened
config that saved it). A step folder without a manifest is an unfinished save. Before a restore
the manifest is checked; a missing manifest, a missing file, or a size or sha256 mismatch makes
that checkpoint invalid:

- `restore_latest` then falls back to the next older valid step, logs a warning naming the
  skipped folder and why, records the same line in `fallback_notes`, and moves the invalid
  folders to <workdir>/checkpoints/invalid/ so the resumed run can save those epochs again.
  When no step is valid it raises `CheckpointError` naming every folder and its reason.
- `restore_best` never falls back (other parameters would be reported as the best epoch's): an
  invalid best checkpoint raises `CheckpointError` naming the folder and the file.

A checkpoint whose arrays have other shapes than the current model's (another model size or
data) is not corrupt and every checkpoint in the workdir has those shapes, so it raises
`CheckpointError` at once, naming the config fields that differ from the run that saved it.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath

from recall_jax import paths
from recall_jax.errors import RecallJaxError

MANIFEST_NAME = "recall_jax_manifest.json"
MANIFEST_FORMAT = "recall_jax checkpoint manifest"
MANIFEST_VERSION = 1
INVALID_FOLDER = "invalid"  # under <workdir>/checkpoints/
_HASH_CHUNK = 1 << 20
# How orbax words a restore into arrays of other shapes (checked as well as the metadata).
_SHAPE_ERROR = re.compile(r"not compatible with the stored shape|shape mismatch", re.IGNORECASE)


class CheckpointError(RecallJaxError, RuntimeError):
    """A checkpoint exists but cannot be read back (corrupt, truncated or from another model)."""


class _InvalidCheckpoint(Exception):
    """This step folder cannot be used; `kind` is 'corrupt', 'incomplete' or 'unreadable'."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


# ----------------------------------------------------------------------------------------------
# The manifest.
# ----------------------------------------------------------------------------------------------
def file_sha256(path: epath.PathLike) -> str:
    digest = hashlib.sha256()
    with paths.as_path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _step_files(folder: epath.Path) -> list[tuple[str, epath.Path]]:
    """(path relative to `folder`, path) of every file under `folder` but the manifest, by
    listing folder by folder (epath has no recursive glob on object stores)."""
    found = []

    def visit(directory: epath.Path, prefix: str) -> None:
        for path in directory.iterdir():
            if path.is_dir():
                visit(path, f"{prefix}{path.name}/")
            elif not path.name.startswith(MANIFEST_NAME):
                found.append((prefix + path.name, path))

    visit(folder, "")
    return sorted(found)


def write_manifest(folder: epath.PathLike, config: dict | None = None) -> epath.Path:
    """Writes `folder`/recall_jax_manifest.json (relative path, size, sha256 of every file),
    through a temporary file and a replace, so the manifest exists only complete."""
    folder = paths.as_path(folder)
    files = {}
    for relative, path in _step_files(folder):
        files[relative] = {"size": paths.file_size(path), "sha256": file_sha256(path)}
    manifest = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "files": files,
                "config": config}
    return paths.write_text_atomically(folder / MANIFEST_NAME,
                                       json.dumps(manifest, indent=1, sort_keys=True))


def _written_before_manifests(folder: epath.Path) -> bool:
    """A folder of checkpoints none of which has a manifest was saved by an earlier version
    (an unfinished save, by contrast, sits beside steps that have theirs)."""
    steps = [path for path in folder.parent.iterdir() if path.is_dir() and path.name.isdigit()]
    return not any((step / MANIFEST_NAME).is_file() for step in steps)


def verify_manifest(folder: epath.PathLike) -> dict:
    """The manifest of `folder` once every file it lists matches; raises _InvalidCheckpoint."""
    folder = paths.as_path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise _InvalidCheckpoint(
            "incomplete", f"it has no {MANIFEST_NAME} (its save did not finish, or it was saved "
            "before checkpoints carried integrity manifests)")
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(files, dict) or not files:
            raise ValueError("not a recall_jax checkpoint manifest")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _InvalidCheckpoint("corrupt", f"{MANIFEST_NAME} is unreadable ({error})") from error
    for relative, expected in sorted(files.items()):
        member = folder / relative
        if not member.is_file():
            raise _InvalidCheckpoint("corrupt", f"{relative} is missing")
        size = paths.file_size(member)
        if size != expected["size"]:
            raise _InvalidCheckpoint("corrupt", f"{relative} size mismatch ({size} bytes, "
                                                f"{expected['size']} when saved)")
        if file_sha256(member) != expected["sha256"]:
            raise _InvalidCheckpoint("corrupt", f"{relative} sha256 mismatch")
    return manifest


# ----------------------------------------------------------------------------------------------
# Shapes and configs, for "saved by another model".
# ----------------------------------------------------------------------------------------------
def flat_config(config: Any) -> dict | None:
    """A config (ConfigDict or dict) as {"model.embed_dim": 64, ...} with JSON values."""
    if config is None:
        return None
    if hasattr(config, "to_dict"):
        config = config.to_dict()
    flat: dict = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key in value:
                walk(f"{prefix}.{key}" if prefix else str(key), value[key])
        else:
            flat[prefix] = value

    walk("", config)
    return json.loads(json.dumps(flat, default=str))


def _array_shapes(tree: Any) -> dict[str, tuple]:
    flat = ocp.tree.to_flat_dict(tree, sep=".")
    return {key: tuple(leaf.shape) for key, leaf in flat.items() if hasattr(leaf, "shape")}


def _shape_differences(folder: epath.Path, abstract_state: Any) -> list[str]:
    """'path: saved (a, b), now (c, d)' for each array whose saved shape differs from the
    current model's, plus arrays only one side has. Raises _InvalidCheckpoint when the saved
    metadata cannot be read."""
    handler = ocp.StandardCheckpointHandler()
    try:
        metadata = handler.metadata(folder / "state")
        saved = _array_shapes(getattr(metadata, "tree", metadata))
    except Exception as error:  # orbax raises many types; all mean "unreadable".
        raise _InvalidCheckpoint("unreadable", f"state metadata cannot be read "
                                               f"({type(error).__name__}: {error})") from error
    finally:
        handler.close()
    wanted = _array_shapes(ocp.tree.serialize_tree(abstract_state, keep_empty_nodes=True))

    def order(key: str):  # parameters before optimizer moments
        return (not key.startswith("params."), key)

    differences = [f"{key}: saved {saved[key]}, now {wanted[key]}"
                   for key in sorted(saved.keys() & wanted.keys(), key=order)
                   if saved[key] != wanted[key]]
    differences += [f"{key}: saved {saved[key]}, absent now"
                    for key in sorted(saved.keys() - wanted.keys(), key=order)]
    differences += [f"{key}: not saved, now {wanted[key]}"
                    for key in sorted(wanted.keys() - saved.keys(), key=order)]
    return differences


def config_differences(saved: dict, current: dict) -> list[str]:
    """'field: saved X, now Y' for each flattened config field that differs."""
    def order(key: str):  # fields that set shapes first
        return (0 if key.split(".")[0] in ("model", "data", "mesh") else 1, key)

    missing = object()
    keys = sorted(saved.keys() | current.keys(), key=order)
    lines = []
    for key in keys:
        before, now = saved.get(key, missing), current.get(key, missing)
        if before != now:
            lines.append(f"{key}: saved {'(absent)' if before is missing else json.dumps(before)}, "
                         f"now {'(absent)' if now is missing else json.dumps(now)}")
    return lines


# ----------------------------------------------------------------------------------------------
# The two managers.
# ----------------------------------------------------------------------------------------------
def _manager_options(keep: int, name: str) -> ocp.CheckpointManagerOptions:
    return ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True,
        multiprocessing_options=ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=name))


class Checkpoints:
    def __init__(self, workdir: epath.PathLike, keep: int = 2, config: Any = None):
        """`config`, the current run's, is recorded in every manifest and named field by field
        when a checkpoint turns out to be from another model."""
        self.workdir = paths.absolute(workdir)
        root = self.workdir / "checkpoints"
        self.root = root
        self.config = flat_config(config)
        # One line per skipped checkpoint of the last restore_latest ("checkpoint ... is
        # corrupt: ...; falling back to ..."), for the run's own record.
        self.fallback_notes: list[str] = []
        # Each manager names its own barriers: in a multi-process run both save the same step.
        self.latest = ocp.CheckpointManager(root / "latest", options=_manager_options(keep, "latest"))
        self.best = ocp.CheckpointManager(root / "best", options=_manager_options(1, "best"))

    def save(self, epoch: int, state: Any, progress: dict, is_best: bool) -> None:
        """Saves the state after `epoch` (0-based) as latest, and as best when `is_best`; once
        both are written, gives each step folder its manifest."""
        managers = [self.latest] + ([self.best] if is_best else [])
        for manager in managers:
            if epoch in manager.all_steps():
                # Left by epochs a fallback discarded (a best checkpoint beyond the resumed
                # epoch): this run's epoch replaces it.
                logging.info("replacing %s/%d", manager.directory, epoch)
                manager.delete(epoch)
            manager.save(epoch, args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), progress=ocp.args.JsonSave(progress)))
            manager.wait_until_finished()
        if jax.process_index() == 0:
            for manager in managers:
                write_manifest(self._folder(manager, epoch), self.config)

    def restore_latest(self, abstract_state: Any) -> tuple[Any, dict] | None:
        """(state, progress) of the newest valid saved epoch, or None when there is none.

        Invalid steps (see the module doc) are skipped newest first, each with a warning and a
        line in `self.fallback_notes`, and moved to checkpoints/invalid/. Raises CheckpointError
        when every step is invalid, or when the checkpoints are from another model."""
        self.fallback_notes = []
        manager = self.latest
        steps = sorted(manager.all_steps(), reverse=True)
        if not steps:
            return None
        invalid: list[tuple[epath.Path, _InvalidCheckpoint]] = []
        for step in steps:
            folder = self._folder(manager, step)
            try:
                restored = self._restore_step(manager, step, abstract_state)
            except _InvalidCheckpoint as problem:
                invalid.append((folder, problem))
                continue
            if invalid:
                self._set_aside(manager, invalid, folder)
            return restored
        listing = "; ".join(f"{folder} is {problem.kind}: {problem.reason}"
                            for folder, problem in invalid)
        raise CheckpointError(
            f"no usable checkpoint to resume from in {manager.directory}: {listing} ; use a new "
            f"--workdir, or delete {self.root} to train this workdir afresh")

    def restore_best(self, abstract_state: Any) -> tuple[Any, dict] | None:
        """(state, progress) of the best epoch, or None when there is none. Never falls back:
        an invalid best checkpoint raises CheckpointError naming its folder and file."""
        manager = self.best
        step = manager.latest_step()
        if step is None:
            return None
        folder = self._folder(manager, step)
        try:
            return self._restore_step(manager, step, abstract_state)
        except _InvalidCheckpoint as problem:
            raise CheckpointError(
                f"best checkpoint {folder} is {problem.kind}: {problem.reason} ; its parameters "
                "cannot be trusted and no other checkpoint holds the best epoch: retrain in a "
                "new --workdir") from None

    def close(self) -> None:
        self.latest.close()
        self.best.close()

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _folder(manager: ocp.CheckpointManager, step: int) -> epath.Path:
        return paths.as_path(manager.directory) / str(step)

    def _restore_step(self, manager: ocp.CheckpointManager, step: int, abstract_state: Any):
        """Verify, compare shapes, restore. _InvalidCheckpoint for a bad step folder;
        CheckpointError for a good one from another model."""
        folder = self._folder(manager, step)
        if _written_before_manifests(folder):
            logging.warning("checkpoint %s predates integrity manifests: restored unverified",
                            folder)
            manifest = {}
        else:
            manifest = verify_manifest(folder)
        differences = _shape_differences(folder, abstract_state)
        if differences:
            raise self._mismatch_error(folder, manifest, differences)
        try:
            restored = manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), progress=ocp.args.JsonRestore()))
        except Exception as error:  # orbax raises many types; all mean "unreadable".
            if _SHAPE_ERROR.search(str(error)):
                raise self._mismatch_error(folder, manifest, [str(error)]) from error
            raise _InvalidCheckpoint("unreadable", f"{type(error).__name__}: {error}") from error
        return restored.state, dict(restored.progress)

    def _mismatch_error(self, folder: epath.Path, manifest: dict,
                        differences: list[str]) -> CheckpointError:
        saved, source = manifest.get("config"), f"the config recorded in {folder / MANIFEST_NAME}"
        if not saved:
            saved, source = self._saved_config_json(), str(self.workdir / "config.json")
        if saved is None or self.config is None:
            fields = "the config that saved it is unknown"
        else:
            lines = config_differences(saved, self.config)
            if not lines:
                fields = (f"no config field differs from {source}, so the data (its number of "
                          "items or text vectors) must have changed")
            else:
                shown = "; ".join(lines[:12]) + (f"; and {len(lines) - 12} more"
                                                 if len(lines) > 12 else "")
                fields = f"config fields that differ from {source}: {shown}"
        arrays = "; ".join(differences[:3]) + (f"; and {len(differences) - 3} more"
                                               if len(differences) > 3 else "")
        return CheckpointError(
            f"checkpoint {folder} was saved by a model of another shape ({arrays}); {fields} ; "
            f"every checkpoint in {self.root} has those shapes: use a new --workdir for this "
            "config, or rerun with the config that saved them")

    def _saved_config_json(self) -> dict | None:
        path = self.workdir / "config.json"
        try:
            return flat_config(json.loads(path.read_text()))
        except (OSError, ValueError):
            return None

    def _set_aside(self, manager: ocp.CheckpointManager,
                   invalid: list[tuple[epath.Path, _InvalidCheckpoint]],
                   restored_from: epath.Path) -> None:
        """Warns about, records and moves away the invalid steps newer than `restored_from`."""
        quarantine = self.root / INVALID_FOLDER
        for folder, problem in invalid:
            target = quarantine / f"{folder.parent.name}-{folder.name}"
            note = (f"checkpoint {folder} is {problem.kind}: {problem.reason}; falling back to "
                    f"{restored_from} (the invalid folder is moved to {target})")
            logging.warning("%s", note)
            self.fallback_notes.append(note)
            if jax.process_index() == 0:
                quarantine.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    target.rmtree()
                paths.move(folder, target)
        manager.reload()
