"""Locating datasets: a configured local copy first, else a verified download of the official files.

The data root comes from the environment variable RECALL_JAX_DATA (a folder holding `ml-1m/` and
`ml-100k/`). When it is set, nothing is ever downloaded: missing files are an error. When it is
unset, the official GroupLens archives are fetched into a cache folder, checked against their
published checksums and extracted. Every write is atomic: files are written under a temporary
name in the destination folder and moved into place with os.replace only once complete and
verified, so an interrupted or corrupt download leaves nothing half-written behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable, Sequence

from recall_jax.data.readers import DATA_ROOT_VARIABLE, read_movielens_ratings
from recall_jax.errors import RecallJaxError

Fetch = Callable[[str, Path], None]  # (url, destination file) -> None


class DownloadError(RecallJaxError, RuntimeError):
    """A dataset could not be fetched (no network, unreachable host, HTTP error)."""


class DownloadVerificationError(DownloadError):
    """A downloaded file does not match its published size or checksum."""


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """A published file: where it lives, its byte size and sha256 (md5 where also published)."""

    url: str
    sha256: str
    size: int
    md5: str | None = None


@dataclasses.dataclass(frozen=True)
class RemoteArchive:
    """A zip archive whose single top-level folder `folder` holds the dataset."""

    file: RemoteFile
    folder: str


# GroupLens publishes only md5 sidecars (e.g. ml-1m.zip.md5); the sha256 values and sizes are
# those recorded for the same URLs in TensorFlow Datasets' url_checksums/movielens.txt. Both
# digests are checked.
ARCHIVES = {
    "ml-1m": RemoteArchive(
        RemoteFile(url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
                   sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
                   size=5917549, md5="c4d9eecfca2ab87c1945afe126590906"),
        folder="ml-1m"),
    "ml-100k": RemoteArchive(
        RemoteFile(url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
                   sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
                   size=4924029, md5="0e33842e24a9c977be4e0107933c0723"),
        folder="ml-100k"),
}

# Single files fetched next to an archive's contents. The SASRec benchmark file is the one in
# the SASRec authors' repository; its sha256 is that of the reference copy used by the tests.
EXTRA_FILES = {
    "ml-1m": {
        "ml-1m.txt": RemoteFile(
            url="https://raw.githubusercontent.com/kang205/SASRec/master/data/ml-1m.txt",
            sha256="b725f3acb3986fe3130bffd1e77a74d182a1f51799567a236dbd60270f95b0a2",
            size=9053831),
    },
}

DEFAULT_REQUIRED_FILES = {"ml-1m": ("ratings.dat", "movies.dat"), "ml-100k": ("u.data", "u.item")}


def resolve_data_root() -> Path | None:
    """The folder named by RECALL_JAX_DATA, or None when the variable is unset or empty."""
    value = os.environ.get(DATA_ROOT_VARIABLE, "").strip()
    return Path(value).expanduser() if value else None


def default_cache_dir() -> Path:
    """Where downloads go when no data root is configured: $XDG_CACHE_HOME/recall_jax."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "recall_jax"


def fetch_url(url: str, destination: Path) -> None:
    """Stream `url` (http(s):// or file://) into `destination`."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response, \
                open(destination, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(
            f"{url}: download failed ({reason}). Without network access, set "
            f"{DATA_ROOT_VARIABLE} to a folder that already holds the data.") from error


def file_digests(path: Path) -> tuple[str, str]:
    """(sha256, md5) hex digests of the file at `path`."""
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            sha256.update(block)
            md5.update(block)
    return sha256.hexdigest(), md5.hexdigest()


def verify_file(path: Path, remote: RemoteFile) -> None:
    """Raise DownloadVerificationError unless `path` has the published size and digests."""
    size = path.stat().st_size
    if size != remote.size:
        raise DownloadVerificationError(
            f"{remote.url}: downloaded {size} bytes, expected {remote.size}")
    sha256, md5 = file_digests(path)
    if sha256 != remote.sha256:
        raise DownloadVerificationError(
            f"{remote.url}: sha256 {sha256} does not match the published {remote.sha256}")
    if remote.md5 is not None and md5 != remote.md5:
        raise DownloadVerificationError(
            f"{remote.url}: md5 {md5} does not match the published {remote.md5}")


def _temporary_path(folder: Path, name: str) -> Path:
    """A fresh, closed, empty file in `folder` to write `name` into before moving it in place."""
    handle, path = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
    os.close(handle)
    return Path(path)


def download_file(remote: RemoteFile, destination: Path, fetch: Fetch | None = None) -> Path:
    """Fetch `remote` into `destination` (verified, atomic); returns `destination`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = _temporary_path(destination.parent, destination.name)
    try:
        (fetch or fetch_url)(remote.url, partial)
        verify_file(partial, remote)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    return destination


def _safe_extract(archive_path: Path, into: Path) -> None:
    """Extract a zip, refusing members that would land outside `into`."""
    root = into.resolve()
    with zipfile.ZipFile(archive_path) as archive:
        for member in archive.namelist():
            target = (root / member).resolve()
            if target != root and root not in target.parents:
                raise DownloadVerificationError(f"{archive_path}: member {member!r} escapes "
                                                f"the extraction folder")
        archive.extractall(root)


def _move_into_place(extracted: Path, final: Path) -> None:
    """Move a complete extracted folder to `final`; into an existing one, file by file."""
    if not final.exists():
        os.replace(extracted, final)
        return
    for source in sorted(extracted.rglob("*")):
        target = final / source.relative_to(extracted)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            os.replace(source, target)


def download_archive(archive: RemoteArchive, target_dir: Path,
                     fetch: Fetch | None = None) -> Path:
    """Download, verify and extract `archive` into target_dir/archive.folder; returns that path."""
    target_dir.mkdir(parents=True, exist_ok=True)
    partial = _temporary_path(target_dir, Path(archive.file.url).name)
    staging = Path(tempfile.mkdtemp(dir=target_dir, prefix=f".{archive.folder}.extract."))
    try:
        (fetch or fetch_url)(archive.file.url, partial)
        verify_file(partial, archive.file)
        _safe_extract(partial, staging)
        extracted = staging / archive.folder
        if not extracted.is_dir():
            raise DownloadVerificationError(
                f"{archive.file.url}: the archive has no top-level folder {archive.folder!r}")
        _move_into_place(extracted, target_dir / archive.folder)
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    return target_dir / archive.folder


def write_text_atomically(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to a temporary file beside `path`, then move it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _temporary_path(path.parent, path.name)
    try:
        partial.write_text(text, encoding=encoding)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def derive_chrono_all(ratings_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """Write `UserID MovieID MovieID ...` lines (users ascending, events by time) from ratings.dat.

    Ties in timestamp keep the file order (stable sort), as in `read_movielens_ratings`.
    """
    dataset = read_movielens_ratings(ratings_path)
    movie_ids = dataset.catalogue.raw_ids[dataset.items]
    lines = [" ".join([str(dataset.user_raw_ids[user]),
                       *movie_ids[dataset.offsets[user]:dataset.offsets[user + 1]].tolist()])
             for user in range(dataset.num_users)]
    write_text_atomically(Path(out_path), "\n".join(lines) + "\n")
    return Path(out_path)


DERIVED_FILES = {"ml-1m": {"ml-1m-chrono-all.txt": ("ratings.dat", derive_chrono_all)}}


def _missing(folder: Path, files: Sequence[str]) -> list[str]:
    return [name for name in files if not (folder / name).is_file()]


def ensure_dataset(name: str, data_root: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike | None = None,
                   required_files: Sequence[str] | None = None,
                   fetch: Fetch | None = None) -> Path:
    """The folder holding dataset `name` ("ml-1m" or "ml-100k") with `required_files` present.

    With a data root (argument or RECALL_JAX_DATA) the files must already be there; otherwise
    they are downloaded (verified, atomically) into `cache_dir` (default: default_cache_dir()).
    """
    if name not in ARCHIVES:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(ARCHIVES)}")
    required = tuple(required_files or DEFAULT_REQUIRED_FILES[name])
    root = Path(data_root) if data_root is not None else resolve_data_root()
    if root is not None:
        return _local_dataset_folder(root / name, required)
    folder = Path(cache_dir or default_cache_dir()) / name
    if _missing(folder, required):
        _download_missing(name, folder, required, fetch)
    missing = _missing(folder, required)
    if missing:
        raise FileNotFoundError(f"{folder}: {missing} are neither in the official archive nor "
                                f"derivable from it; place them there or set "
                                f"{DATA_ROOT_VARIABLE} to a folder that has them")
    return folder


def _local_dataset_folder(folder: Path, required: Sequence[str]) -> Path:
    missing = _missing(folder, required)
    if missing:
        raise FileNotFoundError(
            f"{folder}: missing {missing}. A local data root is configured (argument or "
            f"{DATA_ROOT_VARIABLE}={os.environ.get(DATA_ROOT_VARIABLE, '')!r}), so nothing is "
            f"downloaded; copy the files there, or unset {DATA_ROOT_VARIABLE} to download the "
            f"official archive into the cache")
    return folder


def _download_missing(name: str, folder: Path, required: Sequence[str],
                      fetch: Fetch | None) -> None:
    """Fetch the archive, extra files and derived files that `required` still lacks."""
    extras = EXTRA_FILES.get(name, {})
    derived = DERIVED_FILES.get(name, {})
    needs_archive = [f for f in _missing(folder, required) if f not in extras]
    derived_sources = [derived[f][0] for f in needs_archive if f in derived]
    if _missing(folder, [f for f in needs_archive if f not in derived] + derived_sources):
        download_archive(ARCHIVES[name], folder.parent, fetch)
    for file_name in _missing(folder, required):
        if file_name in extras:
            download_file(extras[file_name], folder / file_name, fetch)
        elif file_name in derived and (folder / derived[file_name][0]).is_file():
            source, derive = derived[file_name]
            derive(folder / source, folder / file_name)
