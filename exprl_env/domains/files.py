"""Problems from a user's data: a local ``.jsonl/.json/.parquet/.csv`` file or a Hugging Face dataset id.

Local files are read here rather than through ``datasets.load_dataset`` so that a malformed line is
reported with its line number instead of an Arrow schema error. Text files must be UTF-8 (a byte-order
mark is allowed); any other encoding, an unreadable file or a damaged Parquet file is a
:class:`DatasetError` naming the file, line and byte offset, and nothing is loaded.

Errors never quote the data itself (a row may hold a reference answer): they name the place and the
kind of defect. Messages from readers we do not control have their quoted parts cut out.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from exprl_env.domains.rows import rows_to_problems
from exprl_env.errors import DatasetError
from judges.problem import Problem

FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")
ENCODING = "UTF-8"


def looks_like_file(dataset: str) -> bool:
    """A path to a local file (existing, or named with one of the supported suffixes)."""
    return Path(dataset).suffix.lower() in FILE_SUFFIXES or Path(dataset).is_file()


def _decode(path: Path, data: bytes) -> str:
    """A whole file as UTF-8 text (a leading byte-order mark is dropped), or a DatasetError naming the bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(str(path), [_not_utf8(data, error)]) from None


def _not_utf8(data: bytes, error: UnicodeDecodeError, line_number: int = 1, line_start: int = 0) -> str:
    """Where the undecodable byte is: its line (``data`` starts at line ``line_number``, file byte ``line_start``)
    and its byte offset in the file. Only the byte's value is shown, never the text around it."""
    position = len(data) - len(error.object) + error.start  # a byte-order mark is not in error.object
    line = line_number + data.count(b"\n", 0, position)
    return (
        f"line {line}: not valid {ENCODING} (byte 0x{data[position]:02x} at byte offset {line_start + position}); "
        f"data files must be {ENCODING}: convert it, e.g. iconv -f <its encoding> -t {ENCODING}"
    )


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DatasetError(str(path), [f"cannot read the file: {error.strerror or type(error).__name__}"]) from None


def _read_jsonl(path: Path) -> list[Any]:
    rows, bad, line_start = [], [], 0
    for line_number, raw in enumerate(_read_bytes(path).splitlines(keepends=True), start=1):
        try:
            line = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError as error:
            bad.append(_not_utf8(raw, error, line_number, line_start))
            line = ""
        line_start += len(raw)
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            bad.append(f"line {line_number}: not valid JSON ({error.msg}, column {error.colno})")
        except RecursionError:
            bad.append(f"line {line_number}: JSON nested too deeply")
    if bad:
        raise DatasetError(str(path), bad)
    return rows


def _read_json(path: Path) -> list[Any]:
    try:
        data = json.loads(_decode(path, _read_bytes(path)))
    except json.JSONDecodeError as error:
        raise DatasetError(str(path), [f"line {error.lineno}: not valid JSON ({error.msg})"]) from None
    except RecursionError:
        raise DatasetError(str(path), ["JSON nested too deeply"]) from None
    if isinstance(data, Mapping) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise DatasetError(str(path), ['expected a list of objects (or {"data": [...]}) at the top level'])
    return data


def _read_csv(path: Path) -> list[Any]:
    reader = csv.DictReader(io.StringIO(_decode(path, _read_bytes(path)), newline=""))
    try:
        return [dict(row) for row in reader]
    except csv.Error as error:  # messages name the problem (a NUL byte, a field over the size limit), not the data
        raise DatasetError(str(path), [f"line {reader.reader.line_num}: not valid CSV ({error})"]) from None


def _read_parquet(path: Path) -> list[Any]:
    import pyarrow
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pyarrow.ArrowException, OSError, ValueError) as error:  # includes invalid UTF-8 in a string column
        raise DatasetError(
            str(path), [f"not a readable Parquet file ({type(error).__name__}: {_without_data(str(error))})"]
        ) from None


def _without_data(message: str) -> str:
    """An error message from a reader with any quoted text cut out (it may quote a row, and so a reference)."""
    return re.sub(r"(['\"]).*?\1", "<...>", message)[:300]


_READERS = {".jsonl": _read_jsonl, ".json": _read_json, ".csv": _read_csv, ".parquet": _read_parquet}


def load_file(path: str | Path, columns: Mapping[str, str] | None = None, domain: str | None = None) -> list[Problem]:
    """Problems from a local file; the file's stem names the domain and prefixes generated ids."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(str(path), ["file not found"])
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(str(path), [f"unsupported file type {path.suffix!r}; use one of {FILE_SUFFIXES}"])
    return rows_to_problems(str(path), reader(path), domain=domain or path.stem, columns=columns)


def load_hub(dataset_id: str, hf_split: str = "train", columns: Mapping[str, str] | None = None) -> list[Problem]:
    """Problems from a Hugging Face dataset id (needs the hub or a local datasets cache)."""
    import datasets

    try:
        rows = datasets.load_dataset(dataset_id, split=hf_split)
    except Exception as error:  # datasets raises many types; the message (minus quoted data) is what matters
        raise DatasetError(
            dataset_id,
            [f"could not load as a Hugging Face dataset: {type(error).__name__}: {_without_data(str(error))}"],
        ) from None
    return rows_to_problems(f"{dataset_id}[{hf_split}]", rows, domain=dataset_id, columns=columns)
