"""Paths under a run's workdir, local or remote (e.g. gs://bucket/run), as `etils.epath.Path`.

Every module that reads or writes a workdir builds its paths with `as_path`, so the same code
serves a local folder and a bucket. What only a local filesystem offers stays local-only:

- local: a file is written to `<name>.tmp` beside it, fsync-ed, moved over the target with
  os.replace (atomic) and the folder fsync-ed, so the rename itself survives a crash;
- remote (a path with a `scheme://`): the file is written to `<name>.tmp` and moved with
  epath's `replace`. Readers never see a partly written file, but on object stores the move is
  a copy and a delete, not an atomic rename.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import tempfile
from collections.abc import Iterator

from etils import epath

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def as_path(path: epath.PathLike) -> epath.Path:
    """`path` as an epath.Path (gs://, s3://, ... or a local path)."""
    return epath.Path(path)


def is_local(path: epath.PathLike) -> bool:
    """Whether `path` is on the local filesystem (has no `scheme://` prefix)."""
    return _SCHEME.match(os.fspath(path)) is None


def absolute(path: epath.PathLike, expand_user: bool = False) -> epath.Path:
    """A local path made absolute (as pathlib.Path.absolute, `~` expanded on request); a
    remote path as it is."""
    if not is_local(path):
        return as_path(path)
    local = pathlib.Path(os.fspath(path))
    return as_path((local.expanduser() if expand_user else local).absolute())


def _temporary(path: epath.Path) -> epath.Path:
    return path.parent / (path.name + ".tmp")


def _fsync_directory(folder: epath.Path) -> None:
    try:
        directory = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError:
        pass


def write_bytes_atomically(path: epath.PathLike, data: bytes) -> epath.Path:
    """Writes `data` to `path` through `<name>.tmp` so `path` exists only complete (see the
    module doc for local and remote guarantees). Returns the path."""
    path = as_path(path)
    temporary = _temporary(path)
    try:
        if is_local(path):
            with open(temporary, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        else:
            with temporary.open("wb") as handle:
                handle.write(data)
            temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if is_local(path):
        _fsync_directory(path.parent)
    return path


def write_text_atomically(path: epath.PathLike, text: str) -> epath.Path:
    """`write_bytes_atomically` of `text` in UTF-8."""
    return write_bytes_atomically(path, text.encode("utf-8"))


def append_text(path: epath.PathLike, text: str) -> None:
    """Appends `text` to `path` (created if missing). Object stores cannot append: a remote
    file is read and written again whole, so keep remote appends small and few."""
    path = as_path(path)
    if is_local(path):
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(text)
        return
    before = path.read_text() if path.exists() else ""
    write_text_atomically(path, before + text)


def file_size(path: epath.PathLike) -> int:
    """Size of a file in bytes."""
    if is_local(path):
        return os.path.getsize(path)
    return int(as_path(path).stat().length)


def move(source: epath.PathLike, target: epath.PathLike) -> epath.Path:
    """Moves a file or folder over `target` (a missing target or a file): os.replace locally,
    epath's replace remotely."""
    source, target = as_path(source), as_path(target)
    if is_local(source) and is_local(target):
        os.replace(source, target)
    else:
        source.replace(target)
    return target


@contextlib.contextmanager
def local_folder(target: epath.PathLike) -> Iterator[pathlib.Path]:
    """A local folder for tools that write only to local paths: `target` itself when local;
    for a remote target, a temporary folder whose files are copied to `target` on exit."""
    target = as_path(target)
    if is_local(target):
        yield pathlib.Path(os.fspath(target))
        return
    with tempfile.TemporaryDirectory() as temporary:
        local = pathlib.Path(temporary)
        yield local
        for path in sorted(local.rglob("*")):
            if path.is_file():
                destination = target / path.relative_to(local).as_posix()
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(path.read_bytes())
