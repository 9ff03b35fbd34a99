"""A run's workdir: checked before use, and held by one run at a time.

`check_workdir` refuses a path that is a file or lies under an unwritable folder without
creating anything. `WorkdirLock` holds an advisory `fcntl` lock on `<workdir>/.lock` for the
whole run and records the holder (pid, host, start time) in it: a second run on the same
workdir fails at once naming the holder. The kernel drops the lock when its process dies, so
the lock of a killed run is taken over; the takeover is logged with the dead holder's pid.
Folders the lock created are removed again when the run leaves them empty.

A remote workdir (gs://bucket/run) has no advisory locks: it is used without one, and a warning
says that a concurrent run on the same workdir is not detected.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time

from absl import logging
from etils import epath

from recall_jax import paths
from recall_jax.errors import WorkdirError

LOCK_FILE = ".lock"


def check_workdir(workdir: epath.PathLike) -> epath.Path:
    """The workdir as an absolute path, if it is (or can become) a writable folder. A remote
    workdir is only checked not to be a file (its permissions show at the first write)."""
    path = paths.absolute(workdir, expand_user=True)
    if path.exists() and not path.is_dir():
        raise WorkdirError(f"--workdir {path} is a file, not a folder ; give a folder path")
    if not paths.is_local(path):
        return path
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise WorkdirError(f"--workdir {path}: {existing} is a file, so the folder cannot be "
                           "created ; give a path under a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WorkdirError(f"--workdir {path}: {existing} is not writable ; give a folder you "
                           "can write to")
    return path


def _describe(holder: dict) -> str:
    started = holder.get("started")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "?"
    return f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} (since {since})"


def _read_holder(path: epath.Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


class WorkdirLock:
    """Context manager: the exclusive lock on a workdir (created if missing). A remote workdir
    is only created: it gets no lock (see the module doc)."""

    def __init__(self, workdir: epath.PathLike):
        self.workdir = paths.as_path(workdir)
        self.path = self.workdir / LOCK_FILE
        self._handle = None
        self._created: list[epath.Path] = []

    def acquire(self) -> None:
        if not paths.is_local(self.workdir):
            logging.warning("workdir %s is not on a local filesystem: it is used without a "
                            "lock, so a concurrent run on the same workdir is not detected",
                            self.workdir)
            self.workdir.mkdir(parents=True, exist_ok=True)
            return
        missing = self.workdir
        while not missing.exists():
            self._created.append(missing)
            missing = missing.parent
        self.workdir.mkdir(parents=True, exist_ok=True)
        while True:
            handle = open(self.path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(self.path)
                handle.close()
                raise WorkdirError(
                    f"--workdir {self.workdir} is in use by another run: {_describe(holder)} "
                    "; wait for it to finish or use another --workdir") from None
            # The previous holder may have removed the file between open and lock: retry then.
            if os.path.exists(self.path) and os.path.samestat(os.fstat(handle.fileno()),
                                                               os.stat(self.path)):
                break
            handle.close()
        previous = _read_holder(self.path)
        if previous.get("pid"):
            logging.warning("workdir %s: taking over the lock of %s, which is no longer "
                            "running", self.workdir, _describe(previous))
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.time()}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is None:
            return
        self.path.unlink(missing_ok=True)
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None
        for folder in self._created:  # folders this run made and left empty (a failed run)
            try:
                os.rmdir(folder)
            except OSError:
                break

    def __enter__(self) -> WorkdirLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
