"""Bad input for every reader: each error is a RecallJaxError naming the file, the line where
there is one and what was expected; and the input the readers used to get wrong now reads
correctly (tiny files only, no real data, no training)."""

from __future__ import annotations

import dataclasses
import logging
import tracemalloc
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from experiments.configs import default
from recall_jax.data import readers
from recall_jax.data.registry import load_dataset
from recall_jax.errors import RecallJaxError

BOM = b"\xef\xbb\xbf"
BIG = 2**40
GENRE_FLAGS = "|".join(["0"] * 18 + ["1"])  # 19 flags: the standard ML-100K genres, Western.
RATINGS = b"1::10::5::100\n1::20::4::200\n"
MOVIES = b"10::Alpha (1990)::Drama\n20::Beta (1991)::Comedy\n"
U_DATA = b"1\t1\t5\t100\n1\t2\t4\t90\n"


def _u_item(*rows: str) -> bytes:
    return "".join(f"{row}|01-Jan-1995||http://x|{GENRE_FLAGS}\n" for row in rows).encode()


@dataclasses.dataclass(frozen=True)
class Case:
    """Files to write, how to read them, and what the error must say."""

    name: str
    files: dict[str, bytes]
    read: Callable[[Path], object]
    culprit: str  # The file the message must name.
    line: int | None  # The 1-based line the message must name, None where no line applies.
    fragments: tuple[str, ...]  # Text the message must contain besides file, line, "expected".


def _ratings(folder: Path):
    movies = folder / "movies.dat"
    return readers.read_movielens_ratings(folder / "ratings.dat",
                                          movies if movies.exists() else None)


def _movies(folder: Path):
    return readers.read_movies_dat(folder / "movies.dat")


def _sasrec(folder: Path):
    def optional(name: str) -> Path | None:
        return folder / name if (folder / name).exists() else None
    return readers.read_sasrec_file(folder / "ml-1m.txt", optional("items.map"),
                                    optional("movies.dat"), optional("users.map"))


def _chrono(folder: Path):
    movies = folder / "movies.dat"
    return readers.read_chrono_user_lines(folder / "chrono.txt",
                                          movies if movies.exists() else None)


def _ml100k(folder: Path):
    u_item = folder / "u.item"
    return readers.read_ml100k(folder / "u.data", u_item if u_item.exists() else None)


def _generic(folder: Path, **kwargs):
    items = folder / "items.csv"
    return readers.read_generic(folder / "events.csv", items if items.exists() else None,
                                **kwargs)


def _generic_no_header(folder: Path):
    return _generic(folder, has_header=False)


def _items_table(folder: Path):
    return readers.read_items_table(folder / "items.csv")


def _recbole(folder: Path):
    item = folder / "toy.item"
    return readers.read_recbole(folder / "toy.inter", item if item.exists() else None)


def _sequence(folder: Path):
    items = folder / "items.csv"
    return readers.read_user_sequences(folder / "seq.txt", items if items.exists() else None)


CASES = [
    # ML-1M ratings.dat.
    Case("ratings_single_colons", {"ratings.dat": RATINGS + b"2:10:4:50\n"}, _ratings,
         "ratings.dat", 3, ("2:10:4:50", "4 integers")),
    Case("ratings_decimal_rating", {"ratings.dat": b"1::10::4.5::100\n"}, _ratings,
         "ratings.dat", 1, ("4.5",)),
    Case("ratings_utf16", {"ratings.dat": RATINGS.decode().encode("utf-16")}, _ratings,
         "ratings.dat", 1, ("UTF-16", "UTF-8")),
    Case("ratings_bom_only", {"ratings.dat": BOM + b"\n"}, _ratings, "ratings.dat", 1,
         ("empty",)),
    Case("ratings_19_digit_timestamp", {"ratings.dat": b"1::10::5::1234567890123456789\n"},
         _ratings, "ratings.dat", 1, ("too large",)),
    Case("ratings_latin1_byte", {"ratings.dat": RATINGS + b"2::10::5::1\xe90\n"}, _ratings,
         "ratings.dat", 3, ("undecodable", "utf-8")),
    # ML-1M movies.dat.
    Case("movies_superscript_id", {"movies.dat": "1²::Alpha (1990)::Drama\n".encode("latin-1")},
         _movies, "movies.dat", 1, ("non-integer id", "MovieID::Title")),
    Case("movies_id_listed_twice", {"movies.dat": MOVIES + b"10::Again (1992)::Drama\n"},
         _movies, "movies.dat", 3, ("MovieID 10 listed again", "first listed at line 1")),
    Case("movies_four_fields", {"movies.dat": b"1::Alpha (1990)::Drama::extra\n"}, _movies,
         "movies.dat", 1, ("4 fields instead of 3",)),
    Case("movies_utf16", {"movies.dat": MOVIES.decode().encode("utf-16")}, _movies,
         "movies.dat", 1, ("UTF-16",)),
    Case("movies_lack_a_rated_item",
         {"ratings.dat": RATINGS, "movies.dat": b"10::Alpha (1990)::Drama\n"}, _ratings,
         "movies.dat", None, ("1 of the 2 items", "ratings.dat", "ids 20",
                              "allow_missing_item_text")),
    Case("movies_lack_many_rated_items",
         {"ratings.dat": b"".join(b"1::%d::5::%d\n" % (i, i) for i in range(1, 9)),
          "movies.dat": b"1::Alpha (1990)::Drama\n"}, _ratings,
         "movies.dat", None, ("7 of the 8 items", "ids 2, 3, 4, 5, 6, ...")),
    # ml-1m.txt (SASRec) and its id maps.
    Case("sasrec_19_digit_id", {"ml-1m.txt": b"1 1\n1 1234567890123456789\n"}, _sasrec,
         "ml-1m.txt", 2, ("too large", "'user item'")),
    Case("sasrec_comma_separated", {"ml-1m.txt": b"1,1\n"}, _sasrec, "ml-1m.txt", 1,
         ("non-integer", "1,1")),
    Case("sasrec_item_map_repeats_id", {"ml-1m.txt": b"1 1\n", "items.map": b"1 10\n1 20\n"},
         _sasrec, "items.map", 2, ("listed twice", "each benchmark id once")),
    Case("sasrec_item_map_three_columns", {"ml-1m.txt": b"1 1\n", "items.map": b"1 10 7\n"},
         _sasrec, "items.map", 1, ("3 columns instead of 2",)),
    Case("sasrec_user_map_lacks_user", {"ml-1m.txt": b"1 1\n2 1\n", "users.map": b"1 5\n"},
         _sasrec, "ml-1m.txt", 2, ("id 2 is absent", "users.map")),
    Case("sasrec_movies_lack_item",
         {"ml-1m.txt": b"1 1\n1 2\n", "items.map": b"1 10\n2 20\n",
          "movies.dat": b"10::Alpha (1990)::Drama\n"}, _sasrec,
         "movies.dat", None, ("1 of the 2 items", "ml-1m.txt", "ids 20")),
    # Chronological user lines.
    Case("chrono_negative_movie", {"chrono.txt": b"1 5 -6\n"}, _chrono, "chrono.txt", 1,
         ("1 5 -6", "UserID MovieID")),
    Case("chrono_utf16", {"chrono.txt": "1 5 6\n".encode("utf-16")}, _chrono, "chrono.txt", 1,
         ("UTF-16",)),
    Case("chrono_movies_lack_item",
         {"chrono.txt": b"1 10 20 30\n", "movies.dat": MOVIES}, _chrono,
         "movies.dat", None, ("1 of the 3 items", "chrono.txt", "ids 30")),
    # ML-100K u.data, u.item, u.genre.
    Case("udata_comma_separated", {"u.data": b"1,2,3,4\n"}, _ml100k, "u.data", 1,
         ("1,2,3,4", "4 integers")),
    Case("udata_five_columns", {"u.data": b"1\t2\t3\t4\t5\n"}, _ml100k, "u.data", 1,
         ("5 columns instead of 4",)),
    Case("uitem_genre_flag_2",
         {"u.data": U_DATA, "u.item": _u_item("1|A (1995)", "2|B (1995)").replace(
             b"0|1\n", b"0|2\n", 1)}, _ml100k, "u.item", 1, ("genre flag other than 0 or 1",)),
    Case("uitem_id_listed_twice",
         {"u.data": U_DATA, "u.item": _u_item("1|A (1995)", "2|B (1995)", "1|C (1995)")},
         _ml100k, "u.item", 3, ("item id 1 listed again",)),
    Case("uitem_superscript_id", {"u.data": U_DATA, "u.item": _u_item("1³|A (1995)").replace(
        "³".encode(), "³".encode("latin-1"))}, _ml100k, "u.item", 1, ("non-integer id",)),
    Case("uitem_lacks_rated_item", {"u.data": U_DATA, "u.item": _u_item("1|A (1995)")},
         _ml100k, "u.item", None, ("1 of the 2 items", "u.data", "ids 2")),
    Case("ugenre_without_index",
         {"u.data": U_DATA, "u.item": _u_item("1|A (1995)"), "u.genre": b"Action\n"},
         _ml100k, "u.genre", 1, ("malformed line", "'name|index'")),
    Case("ugenre_index_twice",
         {"u.data": U_DATA, "u.item": _u_item("1|A (1995)"), "u.genre": b"a|0\nb|0\n"},
         _ml100k, "u.genre", 2, ("genre index 0 listed again",)),
    Case("ugenre_index_gap",
         {"u.data": U_DATA, "u.item": _u_item("1|A (1995)"), "u.genre": b"a|0\nb|2\n"},
         _ml100k, "u.genre", None, ("genre index 1 is missing", "0..1")),
    # Generic interactions.
    Case("generic_header_but_has_header_false", {"events.csv": b"user,item,timestamp\nu,i,5\n"},
         _generic_no_header, "events.csv", 1, ("data.has_header=True",)),
    Case("generic_capitalised_header_but_has_header_false",
         {"events.csv": b"\n Item , User\nu,i\n"}, _generic_no_header, "events.csv", 2,
         ("data.has_header=True",)),
    Case("generic_column_named_twice", {"events.csv": b"user,item,user\nu,i,v\n"}, _generic,
         "events.csv", 1, ("['user'] named twice", "each column name once")),
    Case("generic_header_only", {"events.csv": b"user,item\n\n"}, _generic, "events.csv", 2,
         ("no interactions after the header",)),
    Case("generic_utf16", {"events.csv": "user,item\nu,i\n".encode("utf-16")}, _generic,
         "events.csv", 1, ("UTF-16",)),
    Case("generic_empty_user", {"events.csv": b"user,item\n ,i\n"}, _generic, "events.csv", 2,
         ("empty user or item id",)),
    # Generic items table.
    Case("items_only_commas", {"items.csv": b",,\n , ,\n"}, _items_table, "items.csv", 1,
         ("only blank or delimiter-only lines", "'item' column")),
    Case("items_header_only", {"items.csv": b"item,title\n,\n"}, _items_table, "items.csv", 2,
         ("no item rows after the header",)),
    Case("items_empty_item_id", {"items.csv": b"item,title\na,Alpha\n ,Beta\n"}, _items_table,
         "items.csv", 3, ("empty item id", "column 'item'")),
    Case("items_unclosed_quote", {"items.csv": b'item,title\na,"Alpha\nb,Beta\n'},
         _items_table, "items.csv", 2, ("bad CSV quoting", "quoted")),
    Case("items_stray_quote", {"items.csv": b'item,title\na,Alpha\nb,"Be"ta\n'}, _items_table,
         "items.csv", 3, ("bad CSV quoting",)),
    Case("items_lone_carriage_return", {"items.csv": b"item,title\na,Al\rpha\n"}, _items_table,
         "items.csv", 2, ("bad CSV quoting",)),
    Case("items_column_named_twice", {"items.csv": b"item,title,title\na,A,B\n"}, _items_table,
         "items.csv", 1, ("['title'] named twice",)),
    Case("items_utf16", {"items.csv": "item,title\na,A\n".encode("utf-16")}, _items_table,
         "items.csv", 1, ("UTF-16",)),
    # RecBole atomic files.
    Case("recbole_header_without_types", {"toy.inter": b"user_id\titem_id\nu\ti\n"},
         _recbole, "toy.inter", 1, ("header field 'user_id' has no type", "'name:type'")),
    Case("recbole_comma_separated",
         {"toy.inter": b"user_id:token,item_id:token\nu,i\n"}, _recbole, "toy.inter", 1,
         ("header lacks the field 'user_id'", "fields found: ['user_id:token,item_id']")),
    Case("recbole_lacks_item_field",
         {"toy.inter": b"user_id:token\tmovie_id:token\tts:float\nu\ti\t1\n"}, _recbole,
         "toy.inter", 1, ("'item_id'", "fields found: ['user_id', 'movie_id', 'ts']",
                          "config.data.item_field")),
    Case("recbole_field_named_twice",
         {"toy.inter": b"user_id:token\titem_id:token\tuser_id:float\nu\ti\t1\n"},
         _recbole, "toy.inter", 1, ("['user_id'] named twice",)),
    Case("recbole_extra_field_in_line",
         {"toy.inter": b"user_id:token\titem_id:token\nu\ti\n\nu\tj\t5\n"}, _recbole,
         "toy.inter", 4, ("3 columns in line", "2 tab-separated fields")),
    Case("recbole_timestamp_with_comma",
         {"toy.inter": b"user_id:token\titem_id:token\ttimestamp:float\nu\ti\t1,5\n"},
         _recbole, "toy.inter", 2, ("non-numeric timestamp", "'1,5'")),
    Case("recbole_bom_only", {"toy.inter": BOM + b"\n\n"}, _recbole, "toy.inter", 1,
         ("empty",)),
    Case("recbole_latin1_byte", {"toy.inter": b"user_id:token\titem_id:token\nu\t\xe9\n"},
         _recbole, "toy.inter", 2, ("undecodable", "utf-8")),
    Case("recbole_item_file_repeats_item",
         {"toy.inter": b"user_id:token\titem_id:token\nu\ti\n",
          "toy.item": b"item_id:token\ttitle:token_seq\ni\tA\nj\tB\ni\tC\n"}, _recbole,
         "toy.item", 4, ("item listed twice", "first at line 2")),
    Case("recbole_item_file_lacks_item",
         {"toy.inter": b"user_id:token\titem_id:token\nu\ti\nu\tj\n",
          "toy.item": b"item_id:token\ttitle:token_seq\ni\tA\n"}, _recbole,
         "toy.inter", 3, ("item absent from", "toy.item", "ids j")),
    # One user per line.
    Case("sequence_user_without_items", {"seq.txt": b"u1 a b\nu2\n"}, _sequence, "seq.txt",
         2, ("a user without items", "'user item item ...'")),
    Case("sequence_user_twice", {"seq.txt": b"u1 a b\nu2 c\n\nu1 d\n"}, _sequence,
         "seq.txt", 4, ("user 'u1' already has line 1", "one line per user")),
    Case("sequence_latin1_byte", {"seq.txt": b"u1 a b\nu2 caf\xe9\n"}, _sequence, "seq.txt",
         2, ("undecodable", "utf-8")),
    Case("sequence_empty", {"seq.txt": b" \n\t\n"}, _sequence, "seq.txt", 1, ("empty",)),
    Case("sequence_items_table_lacks_item",
         {"seq.txt": b"u1 a b\n", "items.csv": b"item,title\na,A\n"}, _sequence, "seq.txt",
         1, ("item absent from", "items.csv", "ids b")),
    Case("items_lack_interacted_items",
         {"events.csv": b"user,item\nu,a\nu,b\nu,c\nu,b\n", "items.csv": b"item,title\na,A\n"},
         _generic, "events.csv", 3, ("item absent from", "items.csv",
                                     "2 of the interacted items", "ids b, c",
                                     "allow_missing_item_text")),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_names_file_line_and_expectation(tmp_path, case):
    for name, content in case.files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(RecallJaxError) as caught:
        case.read(tmp_path)
    assert isinstance(caught.value, readers.DataFormatError)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / case.culprit}: "), message
    if case.line is not None:
        assert f"{tmp_path / case.culprit}: line {case.line}: " in message, message
    assert "expected" in message, message
    for fragment in case.fragments:
        assert fragment in message, (fragment, message)


def test_case_names_are_distinct_and_many():
    assert len({case.name for case in CASES}) == len(CASES) >= 30


# ---------------------------------------------------------------------------------------------
# What the readers used to get wrong.


@pytest.mark.parametrize("byte", [0x85, 0x1C, 0x1D, 0x1E, 0x0B, 0x0C])
def test_latin1_title_with_a_splitlines_break_character(tmp_path, byte):
    title = b"Caf\xe9" + bytes([byte]) + b"Society"
    (tmp_path / "movies.dat").write_bytes(b"10::" + title + b" (1999)::Drama\r\n"
                                          b"20::Beta (1991)::Comedy\r\n")
    movies = readers.read_movies_dat(tmp_path / "movies.dat")
    assert movies[10] == (title.decode("latin-1"), "1999", "Drama")
    assert movies[20] == ("Beta", "1991", "Comedy")


def test_u_item_and_u_genre_keep_0x85_inside_a_line(tmp_path):
    (tmp_path / "u.genre").write_bytes(b"Wes\x85tern|0\n")
    (tmp_path / "u.item").write_bytes(b"1|Caf\xe9\x85 (1995)|01-Jan-1995||http://x|1\n")
    dataset = readers.read_ml100k(_write(tmp_path / "u.data", b"7\t1\t5\t100\n"),
                                  tmp_path / "u.item")
    assert dataset.catalogue.text_fields["title"][1] == "Caf\xe9\x85"
    assert dataset.catalogue.text_fields["genres"][1] == "Wes\x85tern"


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def test_files_starting_with_a_utf8_bom_read_as_without_it(tmp_path):
    events = "user,item,timestamp\nu1,a,2\nu1,b,1\n".encode()
    items = 'item,title\na,"Hello, World"\nb,Zwei\n'.encode()
    plain = readers.read_generic(_write(tmp_path / "events.csv", events),
                                 _write(tmp_path / "items.csv", items))
    with_bom = readers.read_generic(_write(tmp_path / "bom_events.csv", BOM + events),
                                    _write(tmp_path / "bom_items.csv", BOM + items))
    assert with_bom.catalogue.raw_ids.tolist() == plain.catalogue.raw_ids.tolist()
    assert with_bom.items.tolist() == plain.items.tolist() == [2, 1]
    assert with_bom.catalogue.text_fields["title"][1] == "Hello, World"
    ratings = readers.read_movielens_ratings(_write(tmp_path / "ratings.dat", BOM + RATINGS),
                                             _write(tmp_path / "movies.dat", BOM + MOVIES))
    assert ratings.catalogue.text_fields["title"].tolist() == ["", "Alpha", "Beta"]
    sasrec = readers.read_sasrec_file(_write(tmp_path / "ml-1m.txt", BOM + b"1 1\n1 2\n"))
    assert sasrec.items.tolist() == [1, 2]


def test_huge_ids_map_to_small_dense_ids_without_large_allocations(tmp_path):
    sasrec_path = _write(tmp_path / "ml-1m.txt", b"1 1\n1 %d\n%d 5\n%d 1\n" % (BIG, BIG, BIG))
    chrono_path = _write(tmp_path / "chrono.txt", b"%d 1 %d\n" % (BIG, BIG))
    ratings_path = _write(tmp_path / "ratings.dat", b"%d::%d::5::1\n" % (BIG, BIG))
    tracemalloc.start()
    try:
        sasrec = readers.read_sasrec_file(sasrec_path)
        chrono = readers.read_chrono_user_lines(chrono_path)
        ratings = readers.read_movielens_ratings(ratings_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20, f"reading three tiny files allocated {peak:,} bytes"
    assert sasrec.num_items == 3
    assert sasrec.catalogue.raw_ids.tolist() == ["", "1", "5", str(BIG)]
    assert sasrec.user_raw_ids.tolist() == ["1", str(BIG)]
    assert sasrec.sequence(0).tolist() == [1, 3] and sasrec.sequence(1).tolist() == [2, 1]
    assert chrono.catalogue.raw_ids[chrono.sequence(0)].tolist() == ["1", str(BIG)]
    assert ratings.user_raw_ids.tolist() == [str(BIG)] and ratings.num_items == 1


def test_sasrec_ids_without_gaps_stay_benchmark_ids(tmp_path):
    dataset = readers.read_sasrec_file(_write(tmp_path / "ml-1m.txt", b"2 3\n2 1\n1 2\n"))
    assert dataset.catalogue.raw_ids.tolist() == ["", "1", "2", "3"]
    assert dataset.items.tolist() == [2, 3, 1]


def test_utf8_movies_dat_is_decoded_as_utf8(tmp_path, caplog):
    movies = "10::Café Society, The (1999)::Drama\n20::Amélie (2001)::Comedy\n".encode()
    with caplog.at_level(logging.INFO):
        dataset = readers.read_movielens_ratings(_write(tmp_path / "ratings.dat", RATINGS),
                                                 _write(tmp_path / "movies.dat", movies))
    assert dataset.catalogue.text_fields["title"].tolist() == ["", "Café Society, The", "Amélie"]
    assert "decoded as UTF-8" in caplog.text and "movies.dat" in caplog.text


def test_utf8_u_item_is_decoded_as_utf8_and_latin1_stays_latin1(tmp_path):
    (tmp_path / "u.item").write_bytes(f"1|Café (1995)|01-Jan-1995||http://x|{GENRE_FLAGS}\n"
                                      .encode())
    assert readers.read_ml100k_items(tmp_path / "u.item")[1][0] == "Café"
    (tmp_path / "u.item").write_bytes(f"1|Café (1995)|01-Jan-1995||http://x|{GENRE_FLAGS}\n"
                                      .encode("latin-1"))
    assert readers.read_ml100k_items(tmp_path / "u.item")[1][0] == "Café"


def test_allow_missing_item_text_warns_and_gives_empty_text(tmp_path, caplog):
    ratings = _write(tmp_path / "ratings.dat", RATINGS + b"2::30::3::50\n")
    movies = _write(tmp_path / "movies.dat", b"10::Alpha (1990)::Drama\n")
    with caplog.at_level(logging.WARNING):
        dataset = readers.read_movielens_ratings(ratings, movies, allow_missing_item_text=True)
    assert dataset.catalogue.text_fields["title"].tolist() == ["", "Alpha", "", ""]
    assert "2 of the 3 items" in caplog.text and "ids 20, 30" in caplog.text


def test_allow_missing_item_text_appends_generic_items(tmp_path, caplog):
    events = _write(tmp_path / "events.csv", b"user,item\nu,c\nu,a\nu,b\n")
    items = _write(tmp_path / "items.csv", b"item,title\na,Alpha\nz,Zed\n")
    with caplog.at_level(logging.WARNING):
        dataset = readers.read_generic(events, items, allow_missing_item_text=True)
    assert dataset.catalogue.raw_ids.tolist() == ["", "a", "z", "c", "b"]
    assert dataset.catalogue.text_fields["title"].tolist() == ["", "Alpha", "Zed", "", ""]
    assert dataset.catalogue.raw_ids[dataset.sequence(0)].tolist() == ["c", "a", "b"]
    assert "2 of the interacted items" in caplog.text


def test_allow_missing_item_text_is_a_config_field_threaded_by_the_registry(tmp_path, caplog):
    config = default.get_config()
    config.data.name = "generic"
    config.data.interactions_path = str(_write(tmp_path / "events.csv", b"user,item\nu,a\nu,b\n"))
    config.data.items_path = str(_write(tmp_path / "items.csv", b"item,title\na,Alpha\n"))
    assert config.data.allow_missing_item_text is False
    with pytest.raises(readers.DataFormatError, match="allow_missing_item_text"):
        load_dataset(config.data)
    config.data.allow_missing_item_text = True
    with caplog.at_level(logging.WARNING):
        dataset = load_dataset(config.data)
    assert dataset.num_items == 2 and "1 of the interacted items" in caplog.text


def test_has_header_false_still_reads_ids_named_like_columns(tmp_path):
    dataset = readers.read_generic(_write(tmp_path / "events.csv", b"user,i1\nitem,i2\n"),
                                   has_header=False)
    assert dataset.user_raw_ids.tolist() == ["user", "item"]


def test_items_table_keeps_quoted_line_breaks_and_skips_delimiter_only_rows(tmp_path):
    items = _write(tmp_path / "items.csv",
                   b'item,title\r\na,"two\nlines"\r\n,\r\nb,"x\xc2\x85y"\r\n')
    item_ids, values = readers.read_items_table(items)
    assert item_ids == ["a", "b"]
    assert values["title"] == ["two\nlines", "x\x85y"]


def test_an_error_deep_in_a_large_file_names_its_line(tmp_path):
    big = b"".join(b"%d %d\n" % (user, item) for user in range(1, 2001)
                   for item in range(1, 51)) + b"1 x\n"
    with pytest.raises(readers.DataFormatError, match="line 100001"):
        readers.read_sasrec_file(_write(tmp_path / "ml-1m.txt", big))
    assert np.all(readers.read_sasrec_file(_write(tmp_path / "ok.txt", big[:-4])).lengths == 50)
