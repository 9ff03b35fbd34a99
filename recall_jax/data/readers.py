"""Readers that turn interaction files into a `SequenceDataset`.

Every reader returns users' histories in time order with internal item ids 1..num_items
(0 is padding), `catalogue.raw_ids[i]` holding the original id of internal item i, and, where
a metadata file is given, `catalogue.text_fields` with item text (MovieLens: `title` without
the year, `year`, and `genres` joined by ", ").

Supported formats:

* `read_sasrec_file`: the SASRec benchmark file `ml-1m.txt` (`user item` per line, each user's
  lines in time order, ids from 1). Internal item ids number the distinct benchmark ids in
  increasing order, so internal id = benchmark id when the ids are 1..N without gaps (as in the
  published file); ids are never used as array sizes, so any id up to 18 digits is fine.
* `read_chrono_user_lines`: one line per user, `UserID MovieID MovieID ...` in time order.
* `read_movielens_ratings`: the official ML-1M/ML-10M `ratings.dat`
  (`UserID::MovieID::Rating::Timestamp`).
* `read_ml100k`: the official ML-100K `u.data` (tab-separated `user item rating timestamp`)
  with `u.item` / `u.genre` for titles and genres.
* `read_generic`: the project's generic format, described below.
* `read_recbole`: RecBole atomic files (`.inter`, optional `.item`), described below.
* `read_user_sequences`: one user per line, `user item item ...` (items in time order, ids any
  strings without whitespace), the format of many sequential-recommendation repositories. Users
  keep the file's line order; a user on two lines is an error naming both. An optional items
  table is read as in the generic format; without it items are numbered in order of first
  appearance.

Generic format
--------------
Interactions file: one interaction per line, fields separated by `delimiter` (default ","):
`user,item[,timestamp]`. With `has_header=True` the first line names the columns; it must
contain `user` and `item` and may contain `timestamp` (other columns, e.g. `rating`, are
ignored). Without a header the columns are positional. Ids are arbitrary strings without the
delimiter (no quoting); timestamps are integers (e.g. Unix seconds). Each user's events are
ordered by timestamp with a stable sort (ties keep file order); without timestamps the file
order is the time order. Users are numbered in order of first appearance.

Items file (optional): a delimited table with a header that includes an `item` column; the
other columns (or `text_columns`) become `catalogue.text_fields`. Standard CSV quoting is
allowed here, so titles may contain the delimiter. When it is given, its row order defines the
internal item ids (so items never interacted with still get an id) and every interacted item
must appear in it (see "Item text" below); without it, items are numbered in order of first
appearance. With `has_header=False`, a first line whose fields include `user` and `item` is
refused as a header that the configuration forgot (set `data.has_header=True`).

RecBole atomic files
--------------------
`.inter`: UTF-8, tab-separated, a first line of typed field names `name:type` (types token,
token_seq, float, float_seq), e.g. `user_id:token<TAB>item_id:token<TAB>rating:float<TAB>
timestamp:float`, in any order; then one event per line with as many fields. The user and item
fields are found by name (`user_field`, `item_field`; default "user_id", "item_id"); the time
field (`time_field`, default "timestamp") is optional: without it file order is time order.
Timestamps are numbers; each user's events are ordered by them with a stable sort (ties keep
file order); fractional values order events, the dataset keeps whole seconds (truncated). Users
are numbered in order of first appearance. No quoting: fields are split at tabs.
`.item` (optional): the same typed layout, one row per item with the item field; every other
field (or `text_columns`, names without types) becomes `catalogue.text_fields` under its name
(e.g. "movie_title"), values as written (token_seq tokens stay space-separated). As with the
generic items table, its row order defines the internal item ids and every interacted item needs
a row.

Text rules (every reader)
------------------------
Lines end at a line feed (byte 0x0A) only, and a carriage return before it is dropped; other
characters that `str.splitlines` would treat as line breaks (U+0085, U+001C..U+001E, ...) stay
part of the line. A UTF-8 byte-order mark at the start of a file is ignored; a UTF-16 one is
rejected. Interaction files, the generic items table and RecBole files are UTF-8. MovieLens
metadata (`movies.dat`, `u.item`, `u.genre`) is latin-1, except that a file whose bytes are
valid UTF-8 and contain non-ASCII characters is decoded as UTF-8 (and logged): such bytes are
almost never meant as latin-1 (they would read as mojibake like "CafÃ©"), while a real latin-1
file with accented letters is practically never valid UTF-8.

Item text: every item of the interactions must have a row in the metadata file given
(`movies.dat`, `u.item`, the generic items table or a RecBole `.item` file); otherwise a
`DataFormatError` names the file, how many items lack a row and the first few ids. With
`allow_missing_item_text=True` (config `data.allow_missing_item_text`) a warning counts them
and they get empty text fields (in the generic, RecBole and one-user-per-line formats they are
appended after the table's items, in order of first appearance).

Malformed input raises `DataFormatError` naming the file, the 1-based line number, the
offending text and what was expected.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import os
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from absl import logging

from recall_jax.core.csr import offsets_from_owners
from recall_jax.data.dataset import ItemCatalogue, SequenceDataset
from recall_jax.errors import DataNotFoundError, RecallJaxError

DATA_ROOT_VARIABLE = "RECALL_JAX_DATA"
MAX_INTEGER_DIGITS = 18  # Anything longer would overflow int64.
MISSING_IDS_SHOWN = 5  # Missing-item messages list this many ids.
UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_ASCII_SPACE = " \t\n\r\v\f"
_INTEGER = re.compile(r"[0-9]{1,%d}" % MAX_INTEGER_DIGITS)
_ASCII_WHITESPACE_RUN = re.compile(r"[ \t\v\f\r]+")
RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")
RECBOLE_HEADER_EXPECTED = ("a header of tab-separated 'name:type' fields, type one of token, "
                           "token_seq, float, float_seq (e.g. 'user_id:token<TAB>item_id:token"
                           "<TAB>timestamp:float')")
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)
# ASCII: U+0085 etc. (latin-1 bytes) are part of a title, not space to trim.
_TITLE_WITH_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$", re.ASCII)


class DataFormatError(RecallJaxError, ValueError):
    """A data file does not match its documented format."""


# ----------------------------------------------------------------------------------------------
# File access and error reporting.


def _read_bytes(path: str | os.PathLike) -> bytes:
    """The whole file without a leading UTF-8 BOM; missing files raise DataNotFoundError, empty
    or UTF-16 ones DataFormatError."""
    path = Path(path)
    if not path.is_file():
        configured = os.environ.get(DATA_ROOT_VARIABLE)
        raise DataNotFoundError(
            f"{path}: no such file. Point the environment variable {DATA_ROOT_VARIABLE} at the "
            f"folder holding ml-1m/ and ml-100k/ (currently "
            f"{configured if configured else 'unset'}), or pass the correct path.")
    raw = path.read_bytes()
    if raw.startswith(_UTF16_BOMS):
        raise DataFormatError(
            f"{path}: line 1: UTF-16 byte-order mark {raw[:2]!r}; expected UTF-8 text (latin-1 "
            f"for MovieLens metadata): save the file as UTF-8")
    raw = raw.removeprefix(UTF8_BOM)
    if not raw.strip():
        raise DataFormatError(f"{path}: line 1: the file is empty; expected at least one record")
    return raw


def _decode(raw: bytes, path: Path, encoding: str) -> str:
    """Decode `raw`, reporting the line and bytes that the encoding rejects."""
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        line_number = raw.count(b"\n", 0, error.start) + 1
        raise DataFormatError(
            f"{path}: line {line_number}: undecodable bytes {raw[error.start:error.end]!r} "
            f"(tried encoding {encoding!r}); expected {encoding} text") from None


def _decode_metadata(raw: bytes, path: Path) -> str:
    """MovieLens metadata text: latin-1, or UTF-8 when the bytes are valid UTF-8 with non-ASCII
    characters (see the module docstring)."""
    if raw.isascii():
        return raw.decode("ascii")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
    logging.info("%s: valid UTF-8 with non-ASCII characters, decoded as UTF-8 (not latin-1)",
                 path)
    return text


def _text_lines(text: str) -> list[str]:
    """Lines split at line feeds only, each without a trailing carriage return.

    Unlike str.splitlines, U+0085, U+001C..U+001E etc. (latin-1 bytes 0x85, 0x1c..) stay in.
    """
    return [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]


def _is_blank(line: str) -> bool:
    """Only ASCII whitespace (control characters such as U+0085 are content)."""
    return not line.strip(_ASCII_SPACE)


def _line_text(raw: bytes, line_number: int, limit: int = 120) -> str:
    """The text of 1-based line `line_number` of `raw`, shortened for messages."""
    newlines = np.flatnonzero(np.frombuffer(raw, dtype=np.uint8) == 10)
    start = 0 if line_number == 1 else int(newlines[line_number - 2]) + 1
    end = raw.find(b"\n", start)
    text = raw[start:None if end < 0 else end].rstrip(b"\r").decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit] + "..."


def _format_error(path: Path, line_number: int, problem: str, offending: str,
                  expected: str) -> DataFormatError:
    return DataFormatError(
        f"{path}: line {line_number}: {problem}: {offending!r}; expected {expected}")


# ----------------------------------------------------------------------------------------------
# Vectorised parsing of whitespace-separated non-negative integers.


@dataclasses.dataclass(frozen=True)
class _IntegerTokens:
    """values: int64 [num_tokens]; line_numbers: int64 [num_tokens], 1-based."""

    values: np.ndarray
    line_numbers: np.ndarray


def _parse_integer_tokens(raw: bytes, path: Path, expected: str,
                          separator: bytes | None = None) -> _IntegerTokens:
    """Parse every token of `raw` (split on whitespace and `separator`) as a non-negative integer.
    """
    # Blanking the separator keeps byte offsets, hence line numbers, unchanged.
    parsed = raw if separator is None else raw.replace(separator, b" " * len(separator))
    data = np.frombuffer(parsed, dtype=np.uint8)
    is_separator = (data == 32) | ((data >= 9) & (data <= 13))  # Space, \t, \n, \v, \f, \r.
    bad_bytes = np.flatnonzero(~is_separator & ((data < 48) | (data > 57)))
    if len(bad_bytes):
        line_number = int(np.count_nonzero(data[:bad_bytes[0]] == 10)) + 1
        raise _format_error(path, line_number, "non-integer field in line",
                            _line_text(raw, line_number), expected)
    edges = np.diff(is_separator.view(np.int8), prepend=np.int8(1), append=np.int8(1))
    starts = np.flatnonzero(edges == -1)
    ends = np.flatnonzero(edges == 1)
    line_numbers = np.searchsorted(np.flatnonzero(data == 10), starts) + 1
    lengths = ends - starts
    too_long = np.flatnonzero(lengths > MAX_INTEGER_DIGITS)
    if len(too_long):
        line_number = int(line_numbers[too_long[0]])
        raise _format_error(path, line_number, "integer too large in line",
                            _line_text(raw, line_number), expected)
    return _IntegerTokens(_digits_to_values(data, starts, ends), line_numbers.astype(np.int64))


def _digits_to_values(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """int64 [num_tokens] values of the digit runs data[starts:ends]."""
    values = np.zeros(len(starts), dtype=np.int64)
    width = int((ends - starts).max()) if len(starts) else 0
    for column in range(width):
        position = ends - width + column
        inside = position >= starts
        digit = data[np.maximum(position, 0)].astype(np.int64) - 48
        values = np.where(inside, values * 10 + digit, values)
    return values


def _integer_table(raw: bytes, path: Path, num_columns: int, expected: str,
                   separator: bytes | None = None) -> tuple[np.ndarray, np.ndarray]:
    """int64 [num_rows, num_columns] of an integer table and the 1-based line of each row.

    Fields are split on whitespace (and `separator`); blank lines are skipped; any other line
    must have exactly `num_columns` integers.
    """
    tokens = _parse_integer_tokens(raw, path, expected, separator)
    lines, counts = np.unique(tokens.line_numbers, return_counts=True)
    wrong = np.flatnonzero(counts != num_columns)
    if len(wrong):
        line_number = int(lines[wrong[0]])
        raise _format_error(path, line_number,
                            f"{counts[wrong[0]]} columns instead of {num_columns} in line",
                            _line_text(raw, line_number), expected)
    return tokens.values.reshape(-1, num_columns), lines


# ----------------------------------------------------------------------------------------------
# Shared dataset assembly.


def _offsets_from_sorted_users(sorted_user_codes: np.ndarray, num_users: int) -> np.ndarray:
    """int64 [num_users + 1] CSR offsets for events already grouped by user code."""
    return offsets_from_owners(sorted_user_codes, num_users)


def _order_by_user_then_time(user_codes: np.ndarray, timestamps: np.ndarray | None) -> np.ndarray:
    """Permutation grouping events by user, each user's events by time; ties keep file order."""
    if timestamps is None:
        return np.argsort(user_codes, kind="stable")
    by_time = np.argsort(timestamps, kind="stable")
    return by_time[np.argsort(user_codes[by_time], kind="stable")]


def _index_integer_ids(raw_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ids and each input's 0-based code in that order."""
    distinct, codes = np.unique(raw_ids, return_inverse=True)
    return distinct, codes.reshape(-1)


def _assemble(name: str, user_codes: np.ndarray, user_raw_ids: np.ndarray, items: np.ndarray,
              catalogue: ItemCatalogue, timestamps: np.ndarray | None) -> SequenceDataset:
    """Group per-event arrays (file order) into a time-ordered SequenceDataset."""
    order = _order_by_user_then_time(user_codes, timestamps)
    return SequenceDataset(
        name=name,
        offsets=_offsets_from_sorted_users(user_codes[order], len(user_raw_ids)),
        items=items[order].astype(np.int32),
        num_items=catalogue.num_items,
        user_raw_ids=np.asarray(user_raw_ids, dtype=str),
        catalogue=catalogue,
        timestamps=None if timestamps is None else timestamps[order].astype(np.int64))


def _with_padding(values: Sequence[str]) -> np.ndarray:
    """[len(values) + 1] strings with "" for the padding item in front."""
    return np.asarray([""] + [str(value) for value in values], dtype=str)


# ----------------------------------------------------------------------------------------------
# MovieLens metadata.


def split_title_and_year(title: str) -> tuple[str, str]:
    """'Toy Story (1995)' -> ('Toy Story', '1995'); titles without a year keep year ''."""
    title = title.strip(_ASCII_SPACE)
    match = _TITLE_WITH_YEAR.match(title)
    if match is None:
        return title, ""
    return match.group("title"), match.group("year")


def _metadata_lines(path: Path) -> Iterable[tuple[int, str]]:
    """(1-based line number, text) of each non-blank line of a MovieLens metadata file."""
    text = _decode_metadata(_read_bytes(path), path)
    for line_number, line in enumerate(_text_lines(text), start=1):
        if not _is_blank(line):
            yield line_number, line


def read_movies_dat(movies_path: str | os.PathLike) -> dict[int, tuple[str, str, str]]:
    """MovieID -> (title, year, genres joined by ', ') from ML-1M `movies.dat` (latin-1)."""
    path = Path(movies_path)
    movies, first_lines = {}, {}
    expected = "'MovieID::Title (Year)::Genre|Genre'"
    for line_number, line in _metadata_lines(path):
        fields = line.split("::")
        if len(fields) != 3:
            raise _format_error(path, line_number,
                                f"{len(fields)} fields instead of 3 in line", line, expected)
        movie_id = _parse_one_integer(fields[0], path, line_number, line, expected)
        _check_first_listing(movie_id, first_lines, path, line_number, line, "MovieID")
        title, year = split_title_and_year(fields[1])
        movies[movie_id] = (title, year, ", ".join(g for g in fields[2].strip().split("|") if g))
    return movies


def _parse_one_integer(field: str, path: Path, line_number: int, line: str,
                       expected: str) -> int:
    """A non-negative integer of ASCII digits (str.isdigit would also accept e.g. '²')."""
    if _INTEGER.fullmatch(field.strip(_ASCII_SPACE)) is None:
        raise _format_error(path, line_number, "non-integer id in line", line, expected)
    return int(field)


def _check_first_listing(key: int, first_lines: dict[int, int], path: Path, line_number: int,
                         line: str, name: str) -> None:
    """Record that `key` is listed at `line_number`; a second listing raises DataFormatError."""
    if key in first_lines:
        raise _format_error(path, line_number, f"{name} {key} listed again in line", line,
                            f"each {name} once (first listed at line {first_lines[key]})")
    first_lines[key] = line_number


def _shown_ids(ids: Sequence[str]) -> str:
    """The first MISSING_IDS_SHOWN ids, comma-separated, with '...' when there are more."""
    shown = ", ".join(str(i) for i in ids[:MISSING_IDS_SHOWN])
    return shown + (", ..." if len(ids) > MISSING_IDS_SHOWN else "")


def _report_missing_text(missing: Sequence[str], num_items: int, text_path: Path,
                         data_path: Path, allow_missing: bool) -> None:
    """Items without a metadata row: DataFormatError, or a warning when `allow_missing`."""
    found = (f"{len(missing)} of the {num_items} items of {data_path} have no row "
             f"(ids {_shown_ids(missing)})")
    if allow_missing:
        logging.warning("%s: %s; they get empty text (data.allow_missing_item_text=True)",
                        text_path, found)
        return
    raise DataFormatError(f"{text_path}: {found}; expected a row for every item, or set "
                          f"data.allow_missing_item_text=True to give them empty text")


def _movie_text_fields(original_ids: Sequence[str], movies: dict[int, tuple[str, str, str]],
                       movies_path: Path, data_path: Path,
                       allow_missing: bool) -> dict[str, np.ndarray]:
    """title/year/genres columns aligned with internal ids (padding row first)."""
    known = [raw_id.isdigit() and int(raw_id) in movies for raw_id in original_ids]
    if not all(known):
        missing = [raw_id for raw_id, ok in zip(original_ids, known) if not ok]
        _report_missing_text(missing, len(original_ids), movies_path, data_path, allow_missing)
    rows = [movies[int(raw_id)] if ok else ("", "", "")
            for raw_id, ok in zip(original_ids, known)]
    return {name: _with_padding([row[column] for row in rows])
            for column, name in enumerate(("title", "year", "genres"))}


def _movie_catalogue(original_ids: Sequence[str], movies_path: str | os.PathLike | None,
                     data_path: Path, allow_missing: bool) -> ItemCatalogue:
    text_fields = {} if movies_path is None else _movie_text_fields(
        original_ids, read_movies_dat(movies_path), Path(movies_path), data_path, allow_missing)
    return ItemCatalogue(raw_ids=_with_padding(original_ids), text_fields=text_fields)


# ----------------------------------------------------------------------------------------------
# Readers.


def _read_id_map(map_path: str | os.PathLike) -> dict[int, int]:
    """benchmark id -> original id from a `benchmark_id original_id` file."""
    path = Path(map_path)
    raw = _read_bytes(path)
    _decode(raw, path, "utf-8")
    table, lines = _integer_table(raw, path, 2, "'benchmark_id original_id' integers")
    distinct, first = np.unique(table[:, 0], return_index=True)
    if len(distinct) != len(table):
        duplicate_rows = np.setdiff1d(np.arange(len(table)), first)
        line_number = int(lines[duplicate_rows[0]])
        raise _format_error(path, line_number, "benchmark id listed twice in line",
                            _line_text(raw, line_number), "each benchmark id once")
    return dict(zip(table[:, 0].tolist(), table[:, 1].tolist()))


def _mapped_raw_ids(benchmark_ids: np.ndarray, map_path: str | os.PathLike | None,
                    data_path: Path, data_lines: np.ndarray, used_ids: np.ndarray) -> list[str]:
    """Original ids (strings) for `benchmark_ids`; without a map, the benchmark ids themselves."""
    if map_path is None:
        return [str(i) for i in benchmark_ids.tolist()]
    mapping = _read_id_map(map_path)
    missing = np.flatnonzero(~np.isin(used_ids, np.fromiter(mapping, np.int64, len(mapping))))
    if len(missing):
        line_number = int(data_lines[missing[0]])
        raise DataFormatError(
            f"{data_path}: line {line_number}: id {int(used_ids[missing[0]])} is absent from "
            f"{map_path}; expected every id of the data file in the id map")
    return [str(mapping[i]) if i in mapping else str(i) for i in benchmark_ids.tolist()]


def read_sasrec_file(path: str | os.PathLike, item_map_path: str | os.PathLike | None = None,
                     movies_path: str | os.PathLike | None = None,
                     user_map_path: str | os.PathLike | None = None,
                     allow_missing_item_text: bool = False) -> SequenceDataset:
    """SASRec benchmark file (`user item` per line, time order); internal ids number the
    distinct benchmark item ids in order (= benchmark id when they are 1..N without gaps).

    The id maps (`benchmark_id original_id`) restore original ids; with the item map,
    `movies_path` (ML-1M movies.dat) adds titles, years and genres.
    """
    path = Path(path)
    if movies_path is not None and item_map_path is None:
        raise ValueError("read_sasrec_file: movies_path needs item_map_path to translate "
                         "benchmark item ids into MovieLens MovieIDs")
    raw = _read_bytes(path)
    _decode(raw, path, "utf-8")
    expected = "two integers 'user item' with ids >= 1"
    table, lines = _integer_table(raw, path, 2, expected)
    nonpositive = np.flatnonzero(table.min(axis=1) < 1)
    if len(nonpositive):
        line_number = int(lines[nonpositive[0]])
        raise _format_error(path, line_number, "id 0 in line", _line_text(raw, line_number),
                            expected)
    user_ids, user_codes = _index_integer_ids(table[:, 0])
    item_ids, item_codes = _index_integer_ids(table[:, 1])
    if int(item_ids[-1]) != len(item_ids):
        logging.info("%s: the %d distinct item ids are not 1..%d; internal ids number them in "
                     "order (largest benchmark id %d)", path, len(item_ids), len(item_ids),
                     int(item_ids[-1]))
    item_raw_ids = _mapped_raw_ids(item_ids, item_map_path, path, lines, table[:, 1])
    user_raw_ids = _mapped_raw_ids(user_ids, user_map_path, path, lines, table[:, 0])
    catalogue = _movie_catalogue(item_raw_ids, movies_path, path, allow_missing_item_text)
    return _assemble(path.stem, user_codes, np.asarray(user_raw_ids), item_codes + 1, catalogue,
                     timestamps=None)


def read_chrono_user_lines(path: str | os.PathLike,
                           movies_path: str | os.PathLike | None = None,
                           allow_missing_item_text: bool = False) -> SequenceDataset:
    """One line per user, `UserID MovieID MovieID ...` in time order (original ids).

    Users keep the file's line order; internal item ids follow sorted MovieID.
    """
    path = Path(path)
    raw = _read_bytes(path)
    _decode(raw, path, "utf-8")
    expected = "'UserID MovieID MovieID ...' (integers, at least one MovieID)"
    tokens = _parse_integer_tokens(raw, path, expected)
    lines, first_token, counts = np.unique(tokens.line_numbers, return_index=True,
                                           return_counts=True)
    too_short = np.flatnonzero(counts < 2)
    if len(too_short):
        line_number = int(lines[too_short[0]])
        raise _format_error(path, line_number, "no MovieID in line",
                            _line_text(raw, line_number), expected)
    _check_distinct_users(tokens.values[first_token], lines, raw, path)
    is_item = np.ones(len(tokens.values), dtype=bool)
    is_item[first_token] = False
    item_ids, item_codes = _index_integer_ids(tokens.values[is_item])
    user_codes = np.repeat(np.arange(len(lines)), counts - 1)
    catalogue = _movie_catalogue([str(i) for i in item_ids.tolist()], movies_path, path,
                                 allow_missing_item_text)
    return _assemble(path.stem, user_codes, tokens.values[first_token].astype(str),
                     item_codes + 1, catalogue, timestamps=None)


def _check_distinct_users(user_ids: np.ndarray, lines: np.ndarray, raw: bytes,
                          path: Path) -> None:
    _, first = np.unique(user_ids, return_index=True)
    if len(first) != len(user_ids):
        line_number = int(lines[np.setdiff1d(np.arange(len(user_ids)), first)[0]])
        raise _format_error(path, line_number, "UserID already had a line; repeated in line",
                            _line_text(raw, line_number), "one line per user")


def read_movielens_ratings(ratings_path: str | os.PathLike,
                           movies_path: str | os.PathLike | None = None,
                           min_rating: int | None = None,
                           allow_missing_item_text: bool = False) -> SequenceDataset:
    """Official `ratings.dat` (`UserID::MovieID::Rating::Timestamp`), with timestamps.

    Each user's events are sorted by timestamp (stable: ties keep file order); users and items
    are numbered by sorted original id. `min_rating` keeps only ratings >= it.
    """
    path = Path(ratings_path)
    raw = _read_bytes(path)
    _decode(raw, path, "utf-8")
    expected = "'UserID::MovieID::Rating::Timestamp' (4 integers)"
    table, _ = _integer_table(raw, path, 4, expected, separator=b"::")
    return _ratings_dataset(
        path.stem, table, min_rating,
        lambda ids: _movie_catalogue(ids, movies_path, path, allow_missing_item_text))


def _ratings_dataset(name: str, table: np.ndarray, min_rating: int | None,
                     make_catalogue) -> SequenceDataset:
    """Dataset from int64 [num_events, 4] rows `user item rating timestamp` in file order."""
    if min_rating is not None:
        table = table[table[:, 2] >= min_rating]
    user_ids, user_codes = _index_integer_ids(table[:, 0])
    item_ids, item_codes = _index_integer_ids(table[:, 1])
    catalogue = make_catalogue([str(i) for i in item_ids.tolist()])
    return _assemble(name, user_codes, user_ids.astype(str), item_codes + 1, catalogue,
                     timestamps=table[:, 3])


def read_ml100k(u_data_path: str | os.PathLike,
                u_item_path: str | os.PathLike | None = None,
                allow_missing_item_text: bool = False) -> SequenceDataset:
    """ML-100K `u.data` (tab-separated `user item rating timestamp`), stable-sorted by time.

    With `u.item`, adds title/year/genres (genre names from a `u.genre` beside it if present).
    """
    path = Path(u_data_path)
    raw = _read_bytes(path)
    _decode(raw, path, "utf-8")
    table, _ = _integer_table(raw, path, 4, "'user item rating timestamp' (4 integers)")

    def make_catalogue(original_ids: list[str]) -> ItemCatalogue:
        text_fields = {} if u_item_path is None else _movie_text_fields(
            original_ids, read_ml100k_items(u_item_path), Path(u_item_path), path,
            allow_missing_item_text)
        return ItemCatalogue(raw_ids=_with_padding(original_ids), text_fields=text_fields)

    return _ratings_dataset("ml-100k", table, None, make_catalogue)


def read_ml100k_genres(u_genre_path: str | os.PathLike) -> tuple[str, ...]:
    """Genre names in flag order from `u.genre` (`name|index` per line, indexes 0..n-1)."""
    path = Path(u_genre_path)
    names, first_lines = {}, {}
    for line_number, line in _metadata_lines(path):
        fields = line.split("|")
        if len(fields) != 2 or _INTEGER.fullmatch(fields[1].strip(_ASCII_SPACE)) is None:
            raise _format_error(path, line_number, "malformed line", line, "'name|index'")
        _check_first_listing(int(fields[1]), first_lines, path, line_number, line,
                             "genre index")
        names[int(fields[1])] = fields[0]
    gaps = sorted(set(range(len(names))) - set(names))
    if gaps:
        raise DataFormatError(
            f"{path}: genre index {gaps[0]} is missing ({len(names)} genres, largest index "
            f"{max(names)}); expected indexes 0..{len(names) - 1}, one per genre flag of u.item")
    return tuple(names[i] for i in sorted(names))


def read_ml100k_items(u_item_path: str | os.PathLike) -> dict[int, tuple[str, str, str]]:
    """item id -> (title, year, genres joined by ', ') from ML-100K `u.item` (latin-1)."""
    path = Path(u_item_path)
    genre_path = path.with_name("u.genre")
    genre_names = read_ml100k_genres(genre_path) if genre_path.is_file() else ML100K_GENRES
    num_fields = 5 + len(genre_names)
    expected = f"'id|title|release date|video date|url|' + {len(genre_names)} genre flags"
    items, first_lines = {}, {}
    for line_number, line in _metadata_lines(path):
        fields = line.split("|")
        if len(fields) != num_fields:
            raise _format_error(path, line_number,
                                f"{len(fields)} fields instead of {num_fields} in line", line,
                                expected)
        item_id = _parse_one_integer(fields[0], path, line_number, line, expected)
        _check_first_listing(item_id, first_lines, path, line_number, line, "item id")
        if not set(fields[5:]) <= {"0", "1"}:
            raise _format_error(path, line_number, "genre flag other than 0 or 1 in line", line,
                                expected + " (each 0 or 1)")
        title, year = split_title_and_year(fields[1])
        if not year and len(fields[2]) >= 4 and fields[2][-4:].isdigit():
            year = fields[2][-4:]
        genres = ", ".join(name for name, flag in zip(genre_names, fields[5:]) if flag == "1")
        items[item_id] = (title, year, genres)
    return items


# ----------------------------------------------------------------------------------------------
# Generic delimited format.


@dataclasses.dataclass(frozen=True)
class _InteractionColumns:
    """String columns of an interactions file; line_numbers: int64 [num_rows], 1-based."""

    users: np.ndarray
    items: np.ndarray
    timestamps: list[str] | None
    line_numbers: np.ndarray


@dataclasses.dataclass(frozen=True)
class _DelimitedLines:
    """Non-blank lines of a delimited file: header fields (or None), row texts, line numbers."""

    header: list[str] | None
    header_line_number: int
    rows: list[str]
    line_numbers: np.ndarray


def _delimited_lines(text: str, path: Path, delimiter: str, has_header: bool
                     ) -> _DelimitedLines:
    """Split into lines, dropping blank ones (the per-line work runs in C via map)."""
    lines = text.replace("\r\n", "\n").split("\n")
    blank = np.fromiter(map(str.isspace, lines), dtype=bool, count=len(lines))
    blank |= np.fromiter(map(len, lines), dtype=np.int64, count=len(lines)) == 0
    line_numbers = np.flatnonzero(~blank) + 1
    if not len(line_numbers):
        raise DataFormatError(f"{path}: line 1: the file is empty; expected at least one record")
    kept = lines if not blank.any() else list(itertools.compress(lines, ~blank))
    if not has_header:
        return _DelimitedLines(None, 0, kept, line_numbers)
    header = [field.strip() for field in kept[0].split(delimiter)]
    return _DelimitedLines(header, int(line_numbers[0]), kept[1:], line_numbers[1:])


def _check_not_a_header(lines: _DelimitedLines, path: Path, delimiter: str) -> None:
    """Without a header, a first row naming the 'user' and 'item' columns is a mistake."""
    first = {field.strip().lower() for field in lines.rows[0].split(delimiter)}
    if {"user", "item"} <= first:
        raise _format_error(path, int(lines.line_numbers[0]),
                            "has_header=False, but the first line is a header", lines.rows[0],
                            "only data rows; set data.has_header=True (read_generic("
                            "has_header=True)) for a file whose first line names the columns")


def _check_distinct_columns(header: list[str], path: Path, line_number: int,
                            delimiter: str) -> None:
    """Each column name of a header once."""
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise _format_error(path, line_number, f"column(s) {repeated} named twice in header",
                            delimiter.join(header), "each column name once")


def _interaction_column_positions(lines: _DelimitedLines, path: Path, delimiter: str
                                  ) -> tuple[int, int, int | None, int]:
    """(user, item, timestamp or None, column count) positions in each row."""
    if lines.header is None:  # Positional: every row has 2 columns, or every row has 3.
        _check_not_a_header(lines, path, delimiter)
        width = 3 if lines.rows[0].count(delimiter) == 2 else 2
        return 0, 1, (2 if width == 3 else None), width
    header = lines.header
    _check_distinct_columns(header, path, lines.header_line_number, delimiter)
    missing = [name for name in ("user", "item") if name not in header]
    if missing:
        raise _format_error(path, lines.header_line_number, f"header lacks column(s) {missing}",
                            delimiter.join(header),
                            "a header naming 'user' and 'item' (optionally 'timestamp')")
    timestamp = header.index("timestamp") if "timestamp" in header else None
    return header.index("user"), header.index("item"), timestamp, len(header)


def _read_interaction_columns(path: Path, delimiter: str, has_header: bool
                              ) -> _InteractionColumns:
    if len(delimiter) != 1 or delimiter in "\r\n":
        raise ValueError(f"delimiter must be one character other than a newline, got "
                         f"{delimiter!r}")
    text = _decode(_read_bytes(path), path, "utf-8")
    lines = _delimited_lines(text, path, delimiter, has_header)
    if not lines.rows:
        raise DataFormatError(f"{path}: line {lines.header_line_number + 1}: no interactions "
                              f"after the header; expected 'user{delimiter}item' lines")
    user_column, item_column, timestamp_column, width = _interaction_column_positions(
        lines, path, delimiter)
    expected = (f"{width} {delimiter!r}-separated columns ("
                f"{delimiter.join(lines.header) if lines.header else 'user, item[, timestamp]'})")
    fields = _row_fields(lines, path, delimiter, width, expected)
    return _id_columns(fields, lines, path, (user_column, item_column, width), expected,
                       None if timestamp_column is None else fields[timestamp_column::width])


def _row_fields(lines: _DelimitedLines, path: Path, delimiter: str, width: int,
                expected: str) -> list[str]:
    """Every row's fields (stripped), row after row; a row without `width` fields raises."""
    counts = np.fromiter(map(str.count, lines.rows, itertools.repeat(delimiter)),
                         dtype=np.int64, count=len(lines.rows)) + 1
    wrong = np.flatnonzero(counts != width)
    if len(wrong):
        row = int(wrong[0])
        raise _format_error(path, int(lines.line_numbers[row]), f"{counts[row]} columns in line",
                            lines.rows[row], expected)
    return list(map(str.strip, delimiter.join(lines.rows).split(delimiter)))


def _id_columns(fields: list[str], lines: _DelimitedLines, path: Path,
                positions: tuple[int, int, int], expected: str,
                timestamps: list[str] | None) -> _InteractionColumns:
    """The user and item columns of `fields`; positions: (user, item, row width)."""
    user_column, item_column, width = positions
    users, items = np.asarray(fields[user_column::width]), np.asarray(fields[item_column::width])
    empty = np.flatnonzero((users == "") | (items == ""))
    if len(empty):
        row = int(empty[0])
        raise _format_error(path, int(lines.line_numbers[row]), "empty user or item id in line",
                            lines.rows[row], expected)
    return _InteractionColumns(users=users, items=items, timestamps=timestamps,
                               line_numbers=lines.line_numbers.astype(np.int64))


def _parse_timestamps(values: list[str], path: Path, line_numbers: np.ndarray) -> np.ndarray:
    """int64 [num_events]; a non-integer value raises DataFormatError with its line."""
    try:
        return np.fromiter(map(int, values), dtype=np.int64, count=len(values))
    except (ValueError, OverflowError):
        for index, value in enumerate(values):
            if not re.fullmatch(r"[+-]?\d{1,18}", value):
                raise _format_error(path, int(line_numbers[index]), "non-integer timestamp",
                                    value, "an integer timestamp (e.g. Unix seconds)") from None
        raise


def _codes_in_first_appearance_order(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values ordered by first appearance and each input's 0-based code."""
    distinct, first, codes = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return distinct[order], rank[codes.reshape(-1)]


def _csv_records(text: str, path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """(1-based first line, fields) of each record with a non-blank field.

    Lines end at line feeds only; standard quoting (strict: a stray quote or an unclosed one
    is an error) lets a quoted field hold the delimiter or a line break.
    """
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    reader = csv.reader((line + "\n" for line in lines), delimiter=delimiter, strict=True)
    records, start = [], 1
    try:
        for fields in reader:
            if any(field.strip() for field in fields):
                records.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as error:
        raise _format_error(path, start, f"bad CSV quoting ({error}) in record starting at line",
                            lines[start - 1].rstrip("\r"),
                            'fields quoted as "..." with "" for a quote inside') from None
    return records


def _items_header(records: list[tuple[int, list[str]]], path: Path, delimiter: str,
                  text_columns: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """(header, text columns) of an items table; the table must have a row after the header."""
    if not records:
        raise DataFormatError(f"{path}: line 1: only blank or delimiter-only lines; expected a "
                              f"header with an 'item' column, then one row per item")
    line_number, header = records[0][0], [field.strip() for field in records[0][1]]
    if "item" not in header:
        raise _format_error(path, line_number, "header lacks an 'item' column",
                            delimiter.join(header), "a header with an 'item' column")
    _check_distinct_columns(header, path, line_number, delimiter)
    columns = [c for c in header if c != "item"] if text_columns is None else list(text_columns)
    unknown = [c for c in columns if c not in header]
    if unknown:
        raise _format_error(path, line_number, f"header lacks text column(s) {unknown}",
                            delimiter.join(header), f"columns {columns}")
    if len(records) == 1:
        raise DataFormatError(f"{path}: line {line_number + 1}: no item rows after the header "
                              f"{delimiter.join(header)!r}; expected one row per item")
    return header, columns


def read_items_table(items_path: str | os.PathLike, delimiter: str = ",",
                     text_columns: Sequence[str] | None = None
                     ) -> tuple[list[str], dict[str, list[str]]]:
    """(item ids in row order, text column -> values) from a delimited table with a header."""
    path = Path(items_path)
    records = _csv_records(_decode(_read_bytes(path), path, "utf-8"), path, delimiter)
    header, columns = _items_header(records, path, delimiter, text_columns)
    item_column = header.index("item")
    item_ids, values = [], {c: [] for c in columns}
    seen = {}
    for line_number, row in records[1:]:
        if len(row) != len(header):
            raise _format_error(path, line_number, f"{len(row)} columns instead of "
                                f"{len(header)} in line", delimiter.join(row),
                                f"columns {header}")
        item_id = row[item_column].strip()
        if not item_id:
            raise _format_error(path, line_number, "empty item id in line", delimiter.join(row),
                                f"an id in column 'item' of {header}")
        if item_id in seen:
            raise _format_error(path, line_number, "item listed twice", item_id,
                                f"each item once (first at line {seen[item_id]})")
        seen[item_id] = line_number
        item_ids.append(item_id)
        for column in columns:
            values[column].append(row[header.index(column)].strip())
    return item_ids, values


def _missing_from_table(interactions: _InteractionColumns, item_ids: list[str], path: Path,
                        items_path: str | os.PathLike, allow_missing: bool) -> list[str]:
    """Interacted items without a table row, in order of first appearance (error unless
    `allow_missing`)."""
    absent = ~np.isin(interactions.items, np.asarray(item_ids))
    if not absent.any():
        return []
    missing = _codes_in_first_appearance_order(interactions.items[absent])[0].tolist()
    found = (f"{len(missing)} of the interacted items have no row in {items_path} "
             f"(ids {_shown_ids(missing)})")
    if allow_missing:
        logging.warning("%s: %s; they get empty text (data.allow_missing_item_text=True)",
                        path, found)
        return missing
    row = int(np.flatnonzero(absent)[0])
    raise _format_error(path, int(interactions.line_numbers[row]),
                        f"item absent from {items_path}", str(interactions.items[row]),
                        f"every interacted item to have a row in the items table ({found}), "
                        f"or data.allow_missing_item_text=True to give them empty text")


def _table_catalogue(interactions: _InteractionColumns, path: Path,
                     items_path: str | os.PathLike | None,
                     table: tuple[list[str], dict[str, list[str]]] | None,
                     allow_missing: bool) -> tuple[ItemCatalogue, np.ndarray]:
    """Catalogue and int32 [num_events] internal item ids of the interactions.

    table: (item ids in row order, text column -> values) read from `items_path`, or None:
    then items are numbered in order of first appearance and have no text.
    """
    if table is None:
        distinct, codes = _codes_in_first_appearance_order(interactions.items)
        return ItemCatalogue(raw_ids=_with_padding(distinct.tolist())), codes + 1
    item_ids, text_values = table
    missing = _missing_from_table(interactions, item_ids, path, items_path, allow_missing)
    item_ids = item_ids + missing
    text_values = {c: v + [""] * len(missing) for c, v in text_values.items()}
    known = np.asarray(item_ids)
    sorter = np.argsort(known)
    position = np.searchsorted(known, interactions.items, sorter=sorter)
    catalogue = ItemCatalogue(raw_ids=_with_padding(item_ids),
                              text_fields={c: _with_padding(v) for c, v in text_values.items()})
    return catalogue, sorter[position] + 1


def read_generic(interactions_path: str | os.PathLike,
                 items_path: str | os.PathLike | None = None, delimiter: str = ",",
                 text_columns: Sequence[str] | None = None, has_header: bool = True,
                 allow_missing_item_text: bool = False) -> SequenceDataset:
    """The generic delimited format described in this module's docstring."""
    path = Path(interactions_path)
    interactions = _read_interaction_columns(path, delimiter, has_header)
    timestamps = None if interactions.timestamps is None else _parse_timestamps(
        interactions.timestamps, path, interactions.line_numbers)
    table = None if items_path is None else read_items_table(items_path, delimiter,
                                                             text_columns)
    catalogue, items = _table_catalogue(interactions, path, items_path, table,
                                        allow_missing_item_text)
    user_raw_ids, user_codes = _codes_in_first_appearance_order(interactions.users)
    return _assemble(path.stem, user_codes, user_raw_ids, items, catalogue, timestamps)


# ----------------------------------------------------------------------------------------------
# RecBole atomic files.


def _typed_header(lines: _DelimitedLines, path: Path) -> list[str]:
    """Field names of a RecBole header (`name:type` fields, tab-separated), types dropped."""
    header_text = "\t".join(lines.header)
    names = []
    for field in lines.header:
        name, colon, kind = field.rpartition(":")
        if not colon or not name.strip() or kind.strip() not in RECBOLE_TYPES:
            problem = (f"header field {field!r} has no type" if not colon or not name.strip()
                       else f"header field {field!r} has unknown type {kind.strip()!r}")
            raise _format_error(path, lines.header_line_number, problem, header_text,
                                RECBOLE_HEADER_EXPECTED)
        names.append(name.strip())
    _check_distinct_columns(names, path, lines.header_line_number, "\t")
    return names


def _field_position(names: list[str], field: str, config_field: str, lines: _DelimitedLines,
                    path: Path) -> int:
    """Position of `field` in a typed header; absent: DataFormatError listing the fields found."""
    if field not in names:
        raise _format_error(path, lines.header_line_number,
                            f"header lacks the field {field!r} (fields found: {names})",
                            "\t".join(lines.header),
                            f"a '{field}:token' field, or config.data.{config_field} set to the "
                            f"file's name for it")
    return names.index(field)


def _recbole_lines(path: Path) -> tuple[_DelimitedLines, list[str]]:
    """Non-blank lines of a RecBole atomic file and its field names (UTF-8, tab-separated)."""
    lines = _delimited_lines(_decode(_read_bytes(path), path, "utf-8"), path, "\t", True)
    return lines, _typed_header(lines, path)


def _numeric_timestamps(values: list[str], path: Path, line_numbers: np.ndarray) -> np.ndarray:
    """int64 [num_events] when every value is an integer, else float64 (finite, |t| < 2**63);
    anything else raises DataFormatError with its line."""
    try:
        return np.fromiter(map(int, values), dtype=np.int64, count=len(values))
    except (ValueError, OverflowError):
        pass
    parsed = np.fromiter(map(_finite_float, values), dtype=np.float64, count=len(values))
    bad = np.flatnonzero(np.isnan(parsed))
    if len(bad):
        row = int(bad[0])
        raise _format_error(path, int(line_numbers[row]), "non-numeric timestamp", values[row],
                            "a number (e.g. Unix seconds, RecBole's 'timestamp:float')")
    return parsed


def _finite_float(value: str) -> float:
    """float(value) when it is a finite number below 2**63 in size, else NaN."""
    try:
        number = float(value)
    except ValueError:
        return float("nan")
    return number if abs(number) < 2.0**63 else float("nan")


def read_recbole_items(item_path: str | os.PathLike, item_field: str = "item_id",
                       text_columns: Sequence[str] | None = None
                       ) -> tuple[list[str], dict[str, list[str]]]:
    """(item ids in row order, field -> values) of a RecBole `.item` file; the text fields are
    every field but `item_field`, or `text_columns` (names without types)."""
    path = Path(item_path)
    lines, names = _recbole_lines(path)
    item_column = _field_position(names, item_field, "item_field", lines, path)
    columns = [n for n in names if n != item_field] if text_columns is None else list(text_columns)
    unknown = [c for c in columns if c not in names]
    if unknown:
        raise _format_error(path, lines.header_line_number,
                            f"header lacks text field(s) {unknown} (fields found: {names})",
                            "\t".join(lines.header), f"fields {columns} (config.data.text_columns)")
    if not lines.rows:
        raise DataFormatError(f"{path}: line {lines.header_line_number + 1}: no item rows after "
                              f"the header; expected one row per item")
    expected = f"{len(names)} tab-separated fields ({chr(9).join(lines.header)})"
    fields = _row_fields(lines, path, "\t", len(names), expected)
    item_ids = fields[item_column::len(names)]
    _check_distinct_item_rows(item_ids, lines, path, expected)
    return item_ids, {c: fields[names.index(c)::len(names)] for c in columns}


def _check_distinct_item_rows(item_ids: list[str], lines: _DelimitedLines, path: Path,
                              expected: str) -> None:
    """Every row has an item id, and a different one (a repeat names both lines)."""
    ids = np.asarray(item_ids)
    empty = np.flatnonzero(ids == "")
    if len(empty):
        row = int(empty[0])
        raise _format_error(path, int(lines.line_numbers[row]), "empty item id in line",
                            lines.rows[row], expected)
    _, first = np.unique(ids, return_index=True)
    if len(first) != len(ids):
        row = int(np.setdiff1d(np.arange(len(ids)), first)[0])
        first_row = int(np.flatnonzero(ids == ids[row])[0])
        raise _format_error(path, int(lines.line_numbers[row]), "item listed twice", ids[row],
                            f"each item once (first at line {lines.line_numbers[first_row]})")


def read_recbole(inter_path: str | os.PathLike, item_path: str | os.PathLike | None = None,
                 user_field: str = "user_id", item_field: str = "item_id",
                 time_field: str = "timestamp", text_columns: Sequence[str] | None = None,
                 allow_missing_item_text: bool = False) -> SequenceDataset:
    """RecBole atomic files: an `.inter` file and optionally an `.item` file (see the module
    docstring); `time_field` absent from the header means file order is time order."""
    path = Path(inter_path)
    lines, names = _recbole_lines(path)
    user_column = _field_position(names, user_field, "user_field", lines, path)
    item_column = _field_position(names, item_field, "item_field", lines, path)
    if not lines.rows:
        raise DataFormatError(f"{path}: line {lines.header_line_number + 1}: no interactions "
                              f"after the header; expected one tab-separated line per event")
    width = len(names)
    expected = f"{width} tab-separated fields ({chr(9).join(lines.header)})"
    fields = _row_fields(lines, path, "\t", width, expected)
    interactions = _id_columns(fields, lines, path, (user_column, item_column, width), expected,
                               None)
    if time_field not in names:
        logging.info("%s: no field %r (fields %s): file order is time order", path, time_field,
                     names)
    timestamps = None if time_field not in names else _numeric_timestamps(
        fields[names.index(time_field)::width], path, interactions.line_numbers)
    table = None if item_path is None else read_recbole_items(item_path, item_field,
                                                              text_columns)
    catalogue, items = _table_catalogue(interactions, path, item_path, table,
                                        allow_missing_item_text)
    user_raw_ids, user_codes = _codes_in_first_appearance_order(interactions.users)
    return _assemble(path.stem, user_codes, user_raw_ids, items, catalogue, timestamps)


# ----------------------------------------------------------------------------------------------
# One user per line.


def _user_lines(text: str, path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """(users, their item lists, line numbers) of `user item item ...` lines."""
    users, item_lists, line_numbers, first_lines = [], [], [], {}
    expected = "'user item item ...' (whitespace-separated ids, at least one item per user)"
    for line_number, line in enumerate(_text_lines(text), start=1):
        if _is_blank(line):
            continue
        tokens = _ASCII_WHITESPACE_RUN.split(line.strip(_ASCII_SPACE))
        if len(tokens) < 2:
            raise _format_error(path, line_number, "a user without items in line", line,
                                expected)
        if tokens[0] in first_lines:
            raise _format_error(path, line_number, f"user {tokens[0]!r} already has line "
                                f"{first_lines[tokens[0]]}; repeated in line", line,
                                "one line per user (join the two lines' items in time order)")
        first_lines[tokens[0]] = line_number
        users.append(tokens[0])
        item_lists.append(tokens[1:])
        line_numbers.append(line_number)
    return users, item_lists, line_numbers


def read_user_sequences(path: str | os.PathLike, items_path: str | os.PathLike | None = None,
                        delimiter: str = ",", text_columns: Sequence[str] | None = None,
                        allow_missing_item_text: bool = False) -> SequenceDataset:
    """One line per user, `user item item ...` (items in time order, ids any strings without
    whitespace); `items_path` is a generic items table (`delimiter`, an `item` column)."""
    path = Path(path)
    users, item_lists, line_numbers = _user_lines(
        _decode(_read_bytes(path), path, "utf-8"), path)
    counts = np.fromiter(map(len, item_lists), dtype=np.int64, count=len(item_lists))
    interactions = _InteractionColumns(
        users=np.repeat(np.asarray(users), counts),
        items=np.asarray(list(itertools.chain.from_iterable(item_lists))),
        timestamps=None, line_numbers=np.repeat(np.asarray(line_numbers, np.int64), counts))
    table = None if items_path is None else read_items_table(items_path, delimiter,
                                                             text_columns)
    catalogue, items = _table_catalogue(interactions, path, items_path, table,
                                        allow_missing_item_text)
    user_codes = np.repeat(np.arange(len(users)), counts)
    return _assemble(path.stem, user_codes, np.asarray(users), items, catalogue,
                     timestamps=None)
