"""Downloads: verification, atomicity and the local-copy-first rule, all without the network."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from experiments.configs import default
from recall_jax.data import download, readers, registry
from recall_jax.data.download import DownloadVerificationError, RemoteArchive, RemoteFile

RATINGS = ("2::20::5::300\n"
           "1::10::3::100\n"
           "2::10::4::50\n"
           "1::30::1::100\n"   # Tie with line 2: must stay after it.
           "1::40::4::50\n")
MOVIES = "10::Alpha (1990)::Drama\n20::Beta (1991)::Comedy\n30::Gamma (1992)::War\n" \
         "40::Delta (1993)::Horror\n"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any real fetch fails the test; each test passes its own `fetch` or file:// URLs."""
    original = download.fetch_url

    def local_only(url, destination):
        if not url.startswith("file://"):
            raise AssertionError(f"test tried to reach the network: {url}")
        original(url, destination)

    monkeypatch.setattr(download, "fetch_url", local_only)
    monkeypatch.delenv("RECALL_JAX_DATA", raising=False)


def _zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _published(path: Path, **overrides) -> RemoteFile:
    data = path.read_bytes()
    fields = dict(url=path.as_uri(), sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                  md5=hashlib.md5(data).hexdigest())
    fields.update(overrides)
    return RemoteFile(**fields)


def _fake_archive(tmp_path: Path, folder: str, files: dict[str, str], **overrides
                  ) -> RemoteArchive:
    zip_path = tmp_path / "server" / f"{folder}.zip"
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    zip_path.write_bytes(_zip_bytes({f"{folder}/{name}": text for name, text in files.items()}))
    return RemoteArchive(_published(zip_path, **overrides), folder=folder)


def _entries(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_published_checksums_are_well_formed():
    for archive in download.ARCHIVES.values():
        assert archive.file.url.startswith("https://files.grouplens.org/datasets/movielens/")
        assert len(archive.file.sha256) == 64 and len(archive.file.md5) == 32
        assert archive.file.size > 1_000_000


def test_resolve_data_root(monkeypatch, tmp_path):
    assert download.resolve_data_root() is None
    monkeypatch.setenv("RECALL_JAX_DATA", str(tmp_path))
    assert download.resolve_data_root() == tmp_path


def test_download_archive_verifies_and_extracts(tmp_path):
    archive = _fake_archive(tmp_path, "ml-100k", {"u.data": "1\t1\t5\t1\n", "u.item": "x\n"})
    cache = tmp_path / "cache"
    folder = download.download_archive(archive, cache)
    assert folder == cache / "ml-100k"
    assert _entries(cache) == ["ml-100k", "ml-100k/u.data", "ml-100k/u.item"]
    assert (folder / "u.data").read_text() == "1\t1\t5\t1\n"


@pytest.mark.parametrize("override", [{"sha256": "0" * 64}, {"md5": "0" * 32}, {"size": 7}])
def test_checksum_mismatch_leaves_nothing(tmp_path, override):
    archive = _fake_archive(tmp_path, "ml-100k", {"u.data": "1\t1\t5\t1\n"}, **override)
    cache = tmp_path / "cache"
    with pytest.raises(DownloadVerificationError, match="ml-100k.zip"):
        download.download_archive(archive, cache)
    assert _entries(cache) == []


def test_interrupted_fetch_leaves_nothing(tmp_path):
    archive = _fake_archive(tmp_path, "ml-100k", {"u.data": "1\t1\t5\t1\n"})

    def broken_fetch(url, destination):
        destination.write_bytes(b"PK\x03\x04 half of an archive")
        raise ConnectionError("connection reset")

    cache = tmp_path / "cache"
    with pytest.raises(ConnectionError):
        download.download_archive(archive, cache, fetch=broken_fetch)
    assert _entries(cache) == []


def test_archive_escaping_its_folder_is_refused(tmp_path):
    zip_path = tmp_path / "evil.zip"
    zip_path.write_bytes(_zip_bytes({"ml-100k/u.data": "x", "../outside.txt": "x"}))
    archive = RemoteArchive(_published(zip_path), folder="ml-100k")
    cache = tmp_path / "cache"
    with pytest.raises(DownloadVerificationError, match="escapes"):
        download.download_archive(archive, cache)
    assert _entries(cache) == [] and not (tmp_path / "outside.txt").exists()


def test_download_file_is_verified_and_atomic(tmp_path):
    source = tmp_path / "server" / "ml-1m.txt"
    source.parent.mkdir()
    source.write_text("1 1\n1 2\n")
    target = tmp_path / "cache" / "ml-1m" / "ml-1m.txt"
    download.download_file(_published(source), target)
    assert target.read_text() == "1 1\n1 2\n"
    target.unlink()
    with pytest.raises(DownloadVerificationError):
        download.download_file(_published(source, sha256="f" * 64), target)
    assert _entries(target.parent) == []


def test_derive_chrono_all(tmp_path):
    (tmp_path / "ratings.dat").write_text(RATINGS)
    out = download.derive_chrono_all(tmp_path / "ratings.dat", tmp_path / "chrono.txt")
    assert out.read_text() == "1 40 10 30\n2 10 20\n"
    assert _entries(tmp_path) == ["chrono.txt", "ratings.dat"]
    chrono = readers.read_chrono_user_lines(out)
    ratings = readers.read_movielens_ratings(tmp_path / "ratings.dat")
    assert (chrono.catalogue.raw_ids[chrono.items].tolist()
            == ratings.catalogue.raw_ids[ratings.items].tolist())


def test_ensure_dataset_downloads_once_and_derives_chrono_all(tmp_path, monkeypatch):
    archive = _fake_archive(tmp_path, "ml-1m", {"ratings.dat": RATINGS, "movies.dat": MOVIES})
    monkeypatch.setitem(download.ARCHIVES, "ml-1m", archive)
    fetched = []

    def counting_fetch(url, destination):
        fetched.append(url)
        download.fetch_url(url, destination)

    cache = tmp_path / "cache"
    folder = download.ensure_dataset("ml-1m", cache_dir=cache,
                                     required_files=("ml-1m-chrono-all.txt",),
                                     fetch=counting_fetch)
    assert folder == cache / "ml-1m"
    assert (folder / "ml-1m-chrono-all.txt").read_text() == "1 40 10 30\n2 10 20\n"
    again = download.ensure_dataset("ml-1m", cache_dir=cache,
                                    required_files=("ratings.dat", "movies.dat"),
                                    fetch=counting_fetch)
    assert again == folder and fetched == [archive.file.url]
    assert not [name for name in _entries(cache) if name.startswith(".")]


def test_ensure_dataset_never_downloads_with_a_data_root(tmp_path, monkeypatch):
    def refuse(url, destination):
        raise AssertionError("must not download")

    with pytest.raises(FileNotFoundError, match="u.data"):
        download.ensure_dataset("ml-100k", data_root=tmp_path, fetch=refuse)
    monkeypatch.setenv("RECALL_JAX_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="RECALL_JAX_DATA"):
        download.ensure_dataset("ml-100k", cache_dir=tmp_path / "cache", fetch=refuse)
    assert not (tmp_path / "cache").exists()


def test_ensure_dataset_uses_existing_local_copy(data_root):
    assert download.ensure_dataset("ml-100k", data_root=data_root) == data_root / "ml-100k"
    with pytest.raises(ValueError, match="ml-100k"):
        download.ensure_dataset("ml-42")


def test_registry_loads_from_the_download_cache(tmp_path, monkeypatch):
    u_data = "1\t10\t5\t200\n1\t20\t3\t100\n2\t10\t4\t50\n"
    u_item = ("10|Ten (1990)|01-Jan-1990||url" + "|0" * 18 + "|1\n"
              "20|Twenty (1991)|01-Jan-1991||url" + "|1" + "|0" * 18 + "\n")
    archive = _fake_archive(tmp_path, "ml-100k", {"u.data": u_data, "u.item": u_item})
    monkeypatch.setitem(download.ARCHIVES, "ml-100k", archive)
    config = default.get_config().data
    config.update({"name": "ml-100k", "cache_dir": str(tmp_path / "cache")})
    dataset = registry.load_dataset(config)
    assert dataset.catalogue.raw_ids[dataset.sequence(0)].tolist() == ["20", "10"]
    assert dataset.catalogue.text_fields["genres"].tolist() == ["", "Western", "unknown"]


def test_unreachable_url_raises_download_error_naming_url_and_remedy(tmp_path):
    missing = (tmp_path / "absent" / "ml-1m.zip").as_uri()
    with pytest.raises(download.DownloadError, match=r"absent/ml-1m\.zip.*RECALL_JAX_DATA"):
        download.fetch_url(missing, tmp_path / "out.zip")


def test_unreachable_archive_leaves_no_partial_files(tmp_path, monkeypatch):
    archive = _fake_archive(tmp_path, "ml-1m", {"ratings.dat": RATINGS, "movies.dat": MOVIES})
    unreachable = dataclasses.replace(
        archive, file=dataclasses.replace(archive.file, url=(tmp_path / "gone.zip").as_uri()))
    target = tmp_path / "cache"
    with pytest.raises(download.DownloadError):
        download.download_archive(unreachable, target)
    assert list(target.iterdir()) == []
