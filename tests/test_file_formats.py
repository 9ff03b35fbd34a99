"""RecBole atomic files and one-user-per-line sequence files: the readers, on hand-made, synthetic
and real (ML-100K rendered as RecBole, ML-1M chrono-all) data; their config fields, errors and
dataset label; and a run of each from the command line alone."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

from experiments.configs import default
from recall_jax.data import readers
from recall_jax.data.dataset import SequenceDataset
from recall_jax.data.readers import DataFormatError
from recall_jax.data.registry import load_dataset
from recall_jax.data.synthetic import make_synthetic
from recall_jax.errors import ConfigError, DataNotFoundError
from recall_jax.train.config_validation import validate_config

REPO = pathlib.Path(__file__).resolve().parents[1]
INTER_HEADER = "item_id:token\tuser_id:token\trating:float\ttimestamp:float"


def histories(dataset: SequenceDataset) -> dict[str, list[str]]:
    """user raw id -> its items' raw ids in time order."""
    raw = dataset.catalogue.raw_ids
    return {str(user): raw[dataset.sequence(row)].tolist()
            for row, user in enumerate(dataset.user_raw_ids)}


def user_timestamps(dataset: SequenceDataset) -> dict[str, list[int]]:
    offsets = dataset.offsets
    return {str(user): dataset.timestamps[offsets[row]:offsets[row + 1]].tolist()
            for row, user in enumerate(dataset.user_raw_ids)}


def write(path: pathlib.Path, text: str) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def data_config(**fields):
    config = default.get_config()
    config.data.update(fields)
    return config.data


# ---------------------------------------------------------------------------------------------
# Renderings of a SequenceDataset in the two formats.


def recbole_text(dataset: SequenceDataset, seed: int = 0) -> str:
    """An .inter file of the dataset's events in a shuffled order (columns not in user, item
    order), so only the timestamps can restore each history."""
    users = np.repeat(dataset.user_raw_ids, dataset.lengths)
    items = dataset.catalogue.raw_ids[dataset.items]
    order = np.random.default_rng(seed).permutation(dataset.num_events)
    rows = [f"{items[i]}\t{users[i]}\t{1 + i % 5}\t{dataset.timestamps[i]}" for i in order]
    return "\n".join([INTER_HEADER, *rows]) + "\n"


def recbole_item_text(dataset: SequenceDataset) -> str:
    fields = dataset.catalogue.text_fields
    header = "\t".join(["item_id:token"] + [f"{name}:token_seq" for name in fields])
    rows = ["\t".join([dataset.catalogue.raw_ids[i]] + [str(fields[name][i]) for name in fields])
            for i in range(1, dataset.num_items + 1)]
    return "\n".join([header, *rows]) + "\n"


def sequence_text(dataset: SequenceDataset) -> str:
    return "".join(f"{user} {' '.join(items)}\n" for user, items in histories(dataset).items())


@pytest.fixture(scope="module")
def synthetic() -> SequenceDataset:
    return make_synthetic(num_users=60, num_items=40, num_topics=4, mean_length=8, seed=3)


# ---------------------------------------------------------------------------------------------
# RecBole atomic files.


def test_recbole_restores_synthetic_histories_from_shuffled_events(tmp_path, synthetic):
    inter = write(tmp_path / "toy.inter", recbole_text(synthetic))
    dataset = readers.read_recbole(inter)
    assert dataset.name == "toy"
    assert histories(dataset) == histories(synthetic)
    assert user_timestamps(dataset) == user_timestamps(synthetic)


def test_recbole_item_file_gives_item_ids_and_text(tmp_path, synthetic):
    inter = write(tmp_path / "toy.inter", recbole_text(synthetic))
    item = write(tmp_path / "toy.item", recbole_item_text(synthetic))
    dataset = readers.read_recbole(inter, item)
    np.testing.assert_array_equal(dataset.catalogue.raw_ids, synthetic.catalogue.raw_ids)
    assert histories(dataset) == histories(synthetic)
    assert set(dataset.catalogue.text_fields) == set(synthetic.catalogue.text_fields)
    for name, values in synthetic.catalogue.text_fields.items():
        np.testing.assert_array_equal(dataset.catalogue.text_fields[name], values)
    first = next(iter(synthetic.catalogue.text_fields))
    only = readers.read_recbole(inter, item, text_columns=(first,))
    assert list(only.catalogue.text_fields) == [first]


def test_recbole_stable_time_order_ties_in_file_order_and_fractional_times(tmp_path):
    inter = write(tmp_path / "events.inter",
                  "rating:float\tts:float\tiid:token\tuid:token\tgenre:token_seq\n"
                  "5\t30\ta\tu1\tx y\n4\t10\tb\tu1\t\n3\t5.5\tc\tu2\tz\n"
                  "1\t5.25\ta\tu2\tz\n2\t10\td\tu1\t\n\n")
    dataset = readers.read_recbole(inter, user_field="uid", item_field="iid", time_field="ts")
    assert histories(dataset) == {"u1": ["b", "d", "a"], "u2": ["a", "c"]}
    assert user_timestamps(dataset) == {"u1": [10, 10, 30], "u2": [5, 5]}
    assert dataset.catalogue.raw_ids.tolist() == ["", "a", "b", "c", "d"]


def test_recbole_without_the_time_field_keeps_file_order(tmp_path):
    inter = write(tmp_path / "events.inter",
                  "user_id:token\titem_id:token\nu1\tb\nu2\ta\nu1\ta\nu1\tc\n")
    dataset = readers.read_recbole(inter)
    assert dataset.timestamps is None
    assert histories(dataset) == {"u1": ["b", "a", "c"], "u2": ["a"]}


def test_recbole_folder_layout_label_and_item_file_through_the_registry(tmp_path, synthetic):
    folder = tmp_path / "toy-set"
    write(folder / "toy-set.inter", recbole_text(synthetic))
    write(folder / "toy-set.item", recbole_item_text(synthetic))
    by_folder = load_dataset(data_config(name="recbole", root=str(tmp_path), path="toy-set"))
    assert by_folder.name == "toy-set" and by_folder.catalogue.text_fields
    assert histories(by_folder) == histories(synthetic)
    by_file = load_dataset(data_config(name="recbole", path=str(folder / "toy-set.inter"),
                                       label="Toy (RecBole)"))
    assert by_file.name == "Toy (RecBole)" and by_file.catalogue.text_fields
    other = write(tmp_path / "other.item", "item_id:token\tname:token\n"
                  + "".join(f"{i}\tn{i}\n" for i in range(1, synthetic.num_items + 1)))
    overridden = load_dataset(data_config(name="recbole", path=str(folder),
                                          items_path=str(other)))
    assert list(overridden.catalogue.text_fields) == ["name"]


# ---------------------------------------------------------------------------------------------
# RecBole rendering of the real ML-100K: the same histories as read_ml100k.


def render_ml100k_recbole(data_root: pathlib.Path, folder: pathlib.Path) -> pathlib.Path:
    """ml-100k.inter (columns reordered, typed header) and ml-100k.item from u.data / u.item."""
    source = data_root / "ml-100k"
    rows = [line.split("\t") for line in (source / "u.data").read_text().splitlines()]
    inter = ["timestamp:float\tuser_id:token\trating:float\titem_id:token"]
    inter += [f"{ts}\t{user}\t{rating}\t{item}" for user, item, rating, ts in rows]
    genres = readers.ML100K_GENRES
    items = ["item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq"]
    for line in (source / "u.item").read_text(encoding="latin-1").splitlines():
        fields = line.split("|")
        title, year = readers.split_title_and_year(fields[1])
        flags = " ".join(name for name, flag in zip(genres, fields[5:]) if flag == "1")
        items.append(f"{fields[0]}\t{title}\t{year}\t{flags}")
    write(folder / "ml-100k.inter", "\n".join(inter) + "\n")
    write(folder / "ml-100k.item", "\n".join(items) + "\n")
    return folder


@pytest.fixture(scope="module")
def ml100k_recbole(data_root, tmp_path_factory) -> pathlib.Path:
    return render_ml100k_recbole(data_root, tmp_path_factory.mktemp("recbole") / "ml-100k")


def test_recbole_ml100k_has_the_histories_of_read_ml100k(ml100k_recbole, ml100k):
    start = time.perf_counter()
    dataset = load_dataset(data_config(name="recbole", path=str(ml100k_recbole)))
    assert time.perf_counter() - start < 10
    assert dataset.name == "ml-100k"
    assert (dataset.num_users, dataset.num_items, dataset.num_events) == (943, 1682, 100_000)
    assert histories(dataset) == histories(ml100k)
    assert user_timestamps(dataset) == user_timestamps(ml100k)
    # The .item rows are u.item's order, i.e. sorted ids: the same internal ids.
    np.testing.assert_array_equal(dataset.catalogue.raw_ids, ml100k.catalogue.raw_ids)
    fields = dataset.catalogue.text_fields
    toy_story = 1
    assert (fields["movie_title"][toy_story], fields["release_year"][toy_story]) == \
        ("Toy Story", "1995")
    assert fields["class"][toy_story] == ml100k.catalogue.text_fields["genres"][toy_story] \
        .replace(", ", " ")
    np.testing.assert_array_equal(fields["movie_title"], ml100k.catalogue.text_fields["title"])


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _set_line(text: str, number: int, new: str) -> str:
    lines = _lines(text)
    lines[number - 1] = new
    return "\n".join(lines)


def _drop_last_field(text: str, number: int) -> str:
    return _set_line(text, number, _lines(text)[number - 1].rsplit("\t", 1)[0])


def _set_timestamp(text: str, number: int, value: str) -> str:
    return _set_line(text, number, value + "\t" + _lines(text)[number - 1].split("\t", 1)[1])


# (name, file to change, change, file named, line named, fragments of the message)
ML100K_VARIANTS = [
    ("header_without_types", "inter",
     lambda t: _set_line(t, 1, "timestamp\tuser_id\trating\titem_id"), "inter", 1,
     ("header field 'timestamp' has no type", "'name:type'", "token_seq")),
    ("unknown_type", "inter",
     lambda t: _set_line(t, 1, "timestamp:float\tuser_id:token\trating:int\titem_id:token"),
     "inter", 1, ("unknown type 'int'",)),
    ("user_field_renamed", "inter",
     lambda t: t.replace("user_id:token", "uid:token", 1), "inter", 1,
     ("header lacks the field 'user_id'",
      "fields found: ['timestamp', 'uid', 'rating', 'item_id']", "config.data.user_field")),
    ("item_field_renamed", "inter",
     lambda t: t.replace("item_id:token", "movie:token", 1), "inter", 1,
     ("header lacks the field 'item_id'", "config.data.item_field")),
    ("short_line_deep_in_the_file", "inter", lambda t: _drop_last_field(t, 50_001), "inter",
     50_001, ("3 columns in line", "4 tab-separated fields")),
    ("non_numeric_timestamp", "inter", lambda t: _set_timestamp(t, 777, "yesterday"), "inter",
     777, ("non-numeric timestamp", "'yesterday'", "a number")),
    ("infinite_timestamp", "inter", lambda t: _set_timestamp(t, 12, "inf"), "inter", 12,
     ("non-numeric timestamp", "'inf'")),
    ("empty_user_id", "inter",
     lambda t: _set_line(t, 9, "881250949\t\t3\t242"), "inter", 9, ("empty user or item id",)),
    ("empty_file", "inter", lambda t: "", "inter", 1, ("the file is empty",)),
    ("header_only", "inter", lambda t: _lines(t)[0] + "\n", "inter", 2,
     ("no interactions after the header",)),
    ("item_without_a_row", "item", lambda t: _set_line(t, 2, ""), "inter", None,
     ("item absent from", "ml-100k.item", "ids 1", "allow_missing_item_text")),
    ("item_listed_twice", "item", lambda t: _set_line(t, 3, _lines(t)[1]), "item", 3,
     ("item listed twice", "'1'", "first at line 2")),
    ("item_header_without_item_field", "item",
     lambda t: t.replace("item_id:token", "movie_id:token", 1), "item", 1,
     ("header lacks the field 'item_id'", "fields found: ['movie_id', 'movie_title',")),
]


@pytest.mark.parametrize("variant", ML100K_VARIANTS, ids=[v[0] for v in ML100K_VARIANTS])
def test_recbole_ml100k_malformed_variants(ml100k_recbole, tmp_path, variant):
    _, changed, change, culprit, line, fragments = variant
    folder = tmp_path / "ml-100k"
    for suffix in ("inter", "item"):
        text = (ml100k_recbole / f"ml-100k.{suffix}").read_text()
        write(folder / f"ml-100k.{suffix}", change(text) if suffix == changed else text)
    with pytest.raises(DataFormatError) as caught:
        load_dataset(data_config(name="recbole", path=str(folder)))
    message = str(caught.value)
    prefix = f"{folder / f'ml-100k.{culprit}'}: " + ("" if line is None else f"line {line}: ")
    assert message.startswith(prefix), message
    assert "expected" in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_recbole_ml100k_item_without_a_row_names_its_first_event(ml100k_recbole, tmp_path):
    folder = tmp_path / "ml-100k"
    write(folder / "ml-100k.inter", (ml100k_recbole / "ml-100k.inter").read_text())
    write(folder / "ml-100k.item", _set_line((ml100k_recbole / "ml-100k.item").read_text(),
                                             2, ""))
    first_event_of_item_1 = 1 + next(
        number for number, line in enumerate(_lines(
            (folder / "ml-100k.inter").read_text())[1:], start=1) if line.endswith("\t1"))
    with pytest.raises(DataFormatError, match=rf"ml-100k\.inter: line {first_event_of_item_1}:"):
        load_dataset(data_config(name="recbole", path=str(folder)))


# ---------------------------------------------------------------------------------------------
# One user per line.


def test_sequence_file_string_ids_blank_lines_and_items_table(tmp_path):
    path = write(tmp_path / "sessions.txt", "u1 a b c\nu2 c  d\n\n\tu3\tx a \r\n")
    dataset = readers.read_user_sequences(path)
    assert dataset.name == "sessions" and dataset.timestamps is None
    assert histories(dataset) == {"u1": ["a", "b", "c"], "u2": ["c", "d"], "u3": ["x", "a"]}
    assert dataset.catalogue.raw_ids.tolist() == ["", "a", "b", "c", "d", "x"]
    items = write(tmp_path / "items.csv", 'item,title\nx,"Ex, the"\nd,Dee\nc,See\nb,Bee\na,A\n')
    with_text = readers.read_user_sequences(path, items)
    assert histories(with_text) == histories(dataset)
    assert with_text.catalogue.raw_ids.tolist() == ["", "x", "d", "c", "b", "a"]
    assert with_text.catalogue.text_fields["title"][1] == "Ex, the"


def test_sequence_reads_chrono_all_like_read_chrono_user_lines(data_root, chrono_ml1m):
    start = time.perf_counter()
    dataset = load_dataset(data_config(name="sequence", root=str(data_root),
                                       path="ml-1m/ml-1m-chrono-all.txt"))
    assert time.perf_counter() - start < 20
    assert dataset.name == "ml-1m-chrono-all"
    assert (dataset.num_users, dataset.num_items, dataset.num_events) == \
        (6040, 3706, 1_000_209)
    assert histories(dataset) == histories(chrono_ml1m)


def test_sequence_items_path_and_label_through_the_registry(tmp_path, synthetic):
    write(tmp_path / "seq" / "toy.txt", sequence_text(synthetic))
    write(tmp_path / "seq" / "items.tsv", "item\ttitle\n" + "".join(
        f"{i}\tT{i}\n" for i in range(1, synthetic.num_items + 1)))
    dataset = load_dataset(data_config(name="sequence", root=str(tmp_path), path="seq/toy.txt",
                                       items_path="seq/items.tsv", delimiter="\t"))
    assert dataset.name == "toy"
    assert histories(dataset) == histories(synthetic)
    assert dataset.catalogue.text_fields["title"][5] == "T5"


# ---------------------------------------------------------------------------------------------
# Config: fields, validation, missing files, the generic format's label.


@pytest.mark.parametrize("name, example", [("recbole", "ml-1m/ml-1m.inter"),
                                           ("sequence", "ml-1m/ml-1m-chrono-all.txt")])
def test_file_formats_need_data_path(name, example):
    with pytest.raises(ConfigError, match=rf"config.data.name='{name}' needs config.data.path "
                                          rf"; e.g. --config.data.path={example}"):
        load_dataset(data_config(name=name))
    config = default.get_config()
    config.data.name = name
    with pytest.raises(ConfigError) as caught:
        validate_config(config, num_devices=1)
    assert f"config.data.path='': data.name='{name}' needs its data file here, e.g. " \
           f"--config.data.path={example}" in str(caught.value)


def test_recbole_field_names_are_validated():
    config = default.get_config()
    config.data.update(dict(name="recbole", path="x.inter", user_field="", item_field=" "))
    with pytest.raises(ConfigError) as caught:
        validate_config(config, num_devices=1)
    message = str(caught.value)
    assert "config.data.user_field='': expected the name of a field" in message
    assert "config.data.item_field=' ': expected the name of a field" in message


@pytest.mark.parametrize("name", ["recbole", "sequence"])
def test_missing_data_file_names_the_path(tmp_path, name):
    with pytest.raises(DataNotFoundError) as caught:
        load_dataset(data_config(name=name, root=str(tmp_path), path="absent/file.txt"))
    assert str(caught.value).startswith(
        f"config.data.path='absent/file.txt': {tmp_path / 'absent' / 'file.txt'}: no such file "
        f"or folder")


def test_sequence_path_naming_a_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"is a folder ; expected a file with one "):
        load_dataset(data_config(name="sequence", path=str(tmp_path)))


def test_recbole_folder_without_its_inter_file(tmp_path):
    write(tmp_path / "shop" / "other.inter", "user_id:token\titem_id:token\nu\ti\n")
    with pytest.raises(DataNotFoundError, match=r"the folder .*shop has no shop\.inter ; "
                                                r"expected a RecBole folder"):
        load_dataset(data_config(name="recbole", path=str(tmp_path / "shop")))


def test_generic_dataset_is_named_after_its_file(tmp_path):
    path = write(tmp_path / "clicks-2024.csv", "user,item\nu,a\nu,b\nu,c\n")
    assert load_dataset(data_config(name="generic", interactions_path=str(path))).name == \
        "clicks-2024"
    assert load_dataset(data_config(name="generic", interactions_path=str(path),
                                    label="Clicks")).name == "Clicks"
    assert load_dataset(data_config(name="synthetic")).name == "synthetic"


# ---------------------------------------------------------------------------------------------
# The command line alone (no config file of one's own).


def run_main(tmp_path: pathlib.Path, *overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "RECALL_JAX_DATA": str(tmp_path),
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    command = [sys.executable, "-m", "recall_jax.main",
               "--config", "experiments/configs/synthetic_tiny.py",
               *overrides, "--config.train.num_epochs=2", "--config.train.bucket_lengths=(32,)",
               "--workdir", str(tmp_path / "run")]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=240)


@pytest.fixture(scope="module")
def learnable() -> SequenceDataset:
    return make_synthetic(num_users=300, num_items=120, num_topics=6, mean_length=25, seed=0)


@pytest.mark.parametrize("name, file_name", [("recbole", "toy.inter"), ("sequence", "toy.txt")])
def test_command_line_trains_on_a_file_format(tmp_path, learnable, name, file_name):
    render = recbole_text if name == "recbole" else sequence_text
    write(tmp_path / file_name, render(learnable))
    result = run_main(tmp_path, f"--config.data.name={name}",
                      f"--config.data.path={tmp_path / file_name}")
    assert result.returncode == 0, result.stderr[-3000:]
    results = (tmp_path / "run" / "results.md").read_text()
    assert "toy: leave-one-out" in results, results
    assert f"{name}:" not in results, results
    assert f"--config.data.path={tmp_path / file_name}" in results
