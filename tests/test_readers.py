"""Readers on the real MovieLens files and on small malformed files."""

from __future__ import annotations

import time

import numpy as np
import pytest

from recall_jax.data import readers
from recall_jax.data.readers import DataFormatError


def _internal_id(dataset, raw_id: str) -> int:
    matches = np.flatnonzero(dataset.catalogue.raw_ids == raw_id)
    assert len(matches) == 1, f"raw id {raw_id!r} appears {len(matches)} times"
    return int(matches[0])


def _assert_toy_story(dataset) -> None:
    toy_story = _internal_id(dataset, "1")
    fields = dataset.catalogue.text_fields
    assert fields["title"][toy_story] == "Toy Story"
    assert fields["year"][toy_story] == "1995"
    assert "Animation" in fields["genres"][toy_story].split(", ")


# ---------------------------------------------------------------------------------------------
# Real files.


def test_sasrec_file_published_counts(sasrec_ml1m):
    assert (sasrec_ml1m.num_users, sasrec_ml1m.num_items, sasrec_ml1m.num_events) == (
        6040, 3416, 999611)
    assert sasrec_ml1m.timestamps is None
    assert sasrec_ml1m.items.dtype == np.int32 and sasrec_ml1m.offsets.dtype == np.int64
    assert sasrec_ml1m.lengths.min() >= 1


def test_sasrec_file_keeps_benchmark_ids_and_file_order(data_root, sasrec_ml1m):
    text = (data_root / "ml-1m" / "ml-1m.txt").read_text()
    table = np.array([int(token) for token in text.split()], dtype=np.int64).reshape(-1, 2)
    order = np.argsort(table[:, 0], kind="stable")
    np.testing.assert_array_equal(sasrec_ml1m.items, table[order, 1])
    np.testing.assert_array_equal(sasrec_ml1m.lengths, np.bincount(table[:, 0])[1:])


def test_sasrec_file_joins_original_ids_and_titles(sasrec_ml1m):
    # Benchmark item 1 is MovieID 1198; benchmark user 1 is UserID 5988 (first lines of the maps).
    assert sasrec_ml1m.catalogue.raw_ids[1] == "1198"
    assert sasrec_ml1m.catalogue.text_fields["title"][1] == "Raiders of the Lost Ark"
    assert sasrec_ml1m.catalogue.text_fields["year"][1] == "1981"
    assert sasrec_ml1m.user_raw_ids[0] == "5988"
    _assert_toy_story(sasrec_ml1m)
    assert np.all(sasrec_ml1m.catalogue.text_fields["title"][1:] != "")


def test_sasrec_sequences_are_chrono_all_without_rare_items(sasrec_ml1m, chrono_ml1m):
    """The benchmark file is the chronological file with rare items removed, user by user."""
    chrono_row = {raw: row for row, raw in enumerate(chrono_ml1m.user_raw_ids.tolist())}
    rows = np.array([chrono_row[raw] for raw in sasrec_ml1m.user_raw_ids.tolist()])
    kept_movies = sasrec_ml1m.catalogue.raw_ids[1:].astype(np.int64)
    chrono_movies = chrono_ml1m.catalogue.raw_ids[chrono_ml1m.items].astype(np.int64)
    lengths = chrono_ml1m.lengths[rows]
    source = (np.repeat(chrono_ml1m.offsets[rows], lengths) + np.arange(lengths.sum())
              - np.repeat(np.cumsum(lengths) - lengths, lengths))
    reordered = chrono_movies[source]
    kept = np.isin(reordered, kept_movies)
    sasrec_movies = sasrec_ml1m.catalogue.raw_ids[sasrec_ml1m.items].astype(np.int64)
    np.testing.assert_array_equal(sasrec_movies, reordered[kept])
    user_of_event = np.repeat(np.arange(len(rows)), lengths)
    np.testing.assert_array_equal(np.bincount(user_of_event[kept], minlength=len(rows)),
                                  sasrec_ml1m.lengths)


def test_chrono_all_published_counts_and_order(data_root, chrono_ml1m):
    assert (chrono_ml1m.num_users, chrono_ml1m.num_items, chrono_ml1m.num_events) == (
        6040, 3706, 1000209)
    first_line = (data_root / "ml-1m" / "ml-1m-chrono-all.txt").open().readline().split()
    assert chrono_ml1m.user_raw_ids[0] == first_line[0]
    assert chrono_ml1m.catalogue.raw_ids[chrono_ml1m.sequence(0)].tolist() == first_line[1:]
    movie_ids = chrono_ml1m.catalogue.raw_ids[1:].astype(np.int64)
    assert np.all(np.diff(movie_ids) > 0), "internal ids must follow sorted MovieID"
    _assert_toy_story(chrono_ml1m)


def test_ml100k_published_counts_titles_and_genres(ml100k):
    assert (ml100k.num_users, ml100k.num_items, ml100k.num_events) == (943, 1682, 100000)
    _assert_toy_story(ml100k)
    golden_eye = _internal_id(ml100k, "2")
    assert ml100k.catalogue.text_fields["genres"][golden_eye] == "Action, Adventure, Thriller"


def test_ml100k_stable_sort_by_timestamp(data_root, ml100k):
    rows = [line.split("\t") for line in
            (data_root / "ml-100k" / "u.data").read_text().splitlines()]
    users, items, timestamps = (np.array([int(r[c]) for r in rows]) for c in (0, 1, 3))
    expected = sorted(range(len(rows)), key=lambda i: (users[i], timestamps[i]))  # Stable.
    np.testing.assert_array_equal(ml100k.catalogue.raw_ids[ml100k.items].astype(np.int64),
                                  items[expected])
    np.testing.assert_array_equal(ml100k.timestamps, timestamps[expected])
    pairs = {(u, t) for u, t in zip(users.tolist(), timestamps.tolist())}
    assert len(pairs) < len(rows), "u.data should contain timestamp ties to exercise stability"


def test_ml100k_standard_genres_without_u_genre(data_root, tmp_path):
    (tmp_path / "u.item").write_bytes((data_root / "ml-100k" / "u.item").read_bytes())
    (tmp_path / "u.data").write_text("1\t1\t5\t100\n1\t2\t4\t90\n")
    dataset = readers.read_ml100k(tmp_path / "u.data", tmp_path / "u.item")
    assert dataset.catalogue.raw_ids.tolist() == ["", "1", "2"]
    assert dataset.sequence(0).tolist() == [2, 1]
    assert dataset.catalogue.text_fields["genres"][1] == "Animation, Children's, Comedy"


def test_reading_ml1m_is_fast(data_root):
    started = time.perf_counter()
    readers.read_sasrec_file(data_root / "ml-1m" / "ml-1m.txt")
    readers.read_chrono_user_lines(data_root / "ml-1m" / "ml-1m-chrono-all.txt")
    assert time.perf_counter() - started < 5.0


# ---------------------------------------------------------------------------------------------
# Official ratings.dat format (no real copy available: small files).


RATINGS = ("1::20::5::300\n"
           "1::10::3::100\n"
           "2::10::4::50\n"
           "1::30::1::300\n"   # Tie with the first line: must stay after it.
           "1::40::4::200\n")
MOVIES = ("10::Alpha (1990)::Drama\n"
          "20::Café Society, The (1999)::Comedy|Romance\n"
          "30::No Year::Documentary\n"
          "40::Delta (2001)::Action|Sci-Fi\n")


def test_movielens_ratings_stable_sort_timestamps_and_titles(tmp_path):
    (tmp_path / "ratings.dat").write_text(RATINGS)
    (tmp_path / "movies.dat").write_bytes(MOVIES.encode("latin-1"))
    dataset = readers.read_movielens_ratings(tmp_path / "ratings.dat", tmp_path / "movies.dat")
    raw = dataset.catalogue.raw_ids
    assert dataset.user_raw_ids.tolist() == ["1", "2"]
    assert raw.tolist() == ["", "10", "20", "30", "40"]
    assert raw[dataset.sequence(0)].tolist() == ["10", "40", "20", "30"]
    assert raw[dataset.sequence(1)].tolist() == ["10"]
    assert dataset.timestamps.tolist() == [100, 200, 300, 300, 50]
    fields = dataset.catalogue.text_fields
    assert fields["title"][2] == "Café Society, The" and fields["year"][2] == "1999"
    assert fields["genres"][2] == "Comedy, Romance"
    assert fields["title"][3] == "No Year" and fields["year"][3] == ""


def test_movielens_ratings_min_rating(tmp_path):
    (tmp_path / "ratings.dat").write_text(RATINGS)
    dataset = readers.read_movielens_ratings(tmp_path / "ratings.dat", min_rating=4)
    assert dataset.catalogue.raw_ids.tolist() == ["", "10", "20", "40"]
    assert dataset.catalogue.raw_ids[dataset.items].tolist() == ["40", "20", "10"]


# ---------------------------------------------------------------------------------------------
# Generic format.


def test_generic_string_ids_header_timestamps_and_items(tmp_path):
    (tmp_path / "events.csv").write_text(
        "item,user,rating,timestamp\n"
        "b,alice,1,20\n"
        "a,bob,1,5\n"
        "c,alice,1,10\n"
        "a,alice,1,20\n")  # Tie with line 2: stays after it.
    (tmp_path / "items.csv").write_text(
        'item,title,genres\n'
        'a,"Hello, World",x\n'
        'b,Second,y\n'
        'c,Third,z\n'
        'd,Never seen,w\n')
    dataset = readers.read_generic(tmp_path / "events.csv", tmp_path / "items.csv")
    raw = dataset.catalogue.raw_ids
    assert raw.tolist() == ["", "a", "b", "c", "d"]
    assert dataset.user_raw_ids.tolist() == ["alice", "bob"]
    assert raw[dataset.sequence(0)].tolist() == ["c", "b", "a"]
    assert dataset.timestamps.tolist() == [10, 20, 20, 5]
    assert dataset.catalogue.text_fields["title"][1] == "Hello, World"
    assert dataset.catalogue.item_text(("title", "genres"))[2] == "Second. y"


def test_generic_positional_without_header_or_timestamps(tmp_path):
    (tmp_path / "events.tsv").write_text("u2\tx\nu1\ty\nu2\tz\n\n")
    dataset = readers.read_generic(tmp_path / "events.tsv", delimiter="\t", has_header=False)
    assert dataset.timestamps is None
    assert dataset.user_raw_ids.tolist() == ["u2", "u1"]
    assert dataset.catalogue.raw_ids[dataset.sequence(0)].tolist() == ["x", "z"]


def test_generic_selected_text_columns(tmp_path):
    (tmp_path / "events.csv").write_text("user,item\n1,a\n")
    (tmp_path / "items.csv").write_text("item,title,url\na,Alpha,http://a\n")
    dataset = readers.read_generic(tmp_path / "events.csv", tmp_path / "items.csv",
                                   text_columns=["title"])
    assert list(dataset.catalogue.text_fields) == ["title"]


# ---------------------------------------------------------------------------------------------
# Malformed input.


def _sasrec(path):
    return readers.read_sasrec_file(path)


def _chrono(path):
    return readers.read_chrono_user_lines(path)


def _ratings(path):
    return readers.read_movielens_ratings(path)


def _ml100k(path):
    return readers.read_ml100k(path)


def _generic(path):
    return readers.read_generic(path)


def _movies(path):
    return readers.read_movies_dat(path)


def _u_item(path):
    return readers.read_ml100k_items(path)


MALFORMED = [
    # (reader, content, line number, text expected in the message)
    (_sasrec, b"1 1\n1 x2\n", 2, "1 x2"),
    (_sasrec, b"1 1\n1 2 3\n", 2, "1 2 3"),
    (_sasrec, b"1 1\n1\n", 2, "columns"),
    (_sasrec, b"1 1\n1 -2\n", 2, "1 -2"),
    (_sasrec, b"1 1\n2 0\n", 2, "2 0"),
    (_sasrec, b"", 1, "empty"),
    (_sasrec, b"\n  \n", 1, "empty"),
    (_sasrec, b"1 1\n\xff\xfe 2\n", 2, "utf-8"),
    (_sasrec, b"1 1\n1\x002\n", 2, "non-integer"),
    (_chrono, b"1 5 6\n2\n", 2, "no MovieID"),
    (_chrono, b"1 5 6\n1 7\n", 2, "one line per user"),
    (_chrono, b"1 5 6\n2 7 8.5\n", 2, "2 7 8.5"),
    (_ratings, b"1::2::5::100\n1::2::5\n", 2, "1::2::5"),
    (_ratings, b"1::2::5::100\n1::3::five::100\n", 2, "five"),
    (_ratings, b"1::2::5::100\n\n1::3::5::100::7\n", 3, "5 columns"),
    (_ml100k, b"1\t2\t3\t4\n5\t6\t7\n", 2, r"5\t6\t7"),
    (_generic, b"user,item\nu1,i1\nu2\n", 3, "u2"),
    (_generic, b"user,item,timestamp\nu1,i1,3\nu1,i2,later\n", 3, "later"),
    (_generic, b"user,object\nu1,i1\n", 1, "item"),
    (_generic, b"user,item\nu1,\xff\n", 2, "utf-8"),
    (_movies, b"1::Toy Story (1995)::Animation\n2::Jumanji (1995)\n", 2, "Jumanji"),
    (_movies, b"x::Toy Story (1995)::Animation\n", 1, "x::Toy"),
    (_u_item, b"1|Toy Story (1995)|01-Jan-1995||url|0|0\n", 1, "Toy Story"),
]


@pytest.mark.parametrize("reader, content, line_number, fragment", MALFORMED)
def test_malformed_input_names_file_line_and_text(tmp_path, reader, content, line_number,
                                                  fragment):
    path = tmp_path / "broken_input.txt"
    path.write_bytes(content)
    with pytest.raises(DataFormatError) as caught:
        reader(path)
    message = str(caught.value)
    assert "broken_input.txt" in message
    assert f"line {line_number}:" in message
    assert fragment in message
    assert "expected" in message


def test_data_format_error_is_a_value_error():
    assert issubclass(DataFormatError, ValueError)


def test_generic_item_missing_from_items_table(tmp_path):
    (tmp_path / "events.csv").write_text("user,item\nu1,a\nu1,zzz\n")
    (tmp_path / "items.csv").write_text("item,title\na,Alpha\n")
    with pytest.raises(DataFormatError, match=r"events\.csv: line 3: .*zzz"):
        readers.read_generic(tmp_path / "events.csv", tmp_path / "items.csv")


def test_sasrec_item_missing_from_id_map(tmp_path):
    (tmp_path / "data.txt").write_text("1 1\n1 2\n")
    (tmp_path / "map.txt").write_text("1 100\n")
    with pytest.raises(DataFormatError, match=r"data\.txt: line 2: id 2 is absent"):
        readers.read_sasrec_file(tmp_path / "data.txt", item_map_path=tmp_path / "map.txt")


def test_missing_file_mentions_data_root_variable(tmp_path):
    with pytest.raises(FileNotFoundError, match="RECALL_JAX_DATA"):
        readers.read_sasrec_file(tmp_path / "absent.txt")


def test_title_and_year_parsing():
    assert readers.split_title_and_year("Toy Story (1995)") == ("Toy Story", "1995")
    assert readers.split_title_and_year("Shanghai Triad (Yao a yao yao dao waipo qiao) (1995)") \
        == ("Shanghai Triad (Yao a yao yao dao waipo qiao)", "1995")
    assert readers.split_title_and_year("unknown") == ("unknown", "")
