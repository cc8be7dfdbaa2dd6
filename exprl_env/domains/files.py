"""Problems from a user's data: a local ``.jsonl/.json/.parquet/.csv`` file or a Hugging Face dataset id.

Local files are read here rather than through ``datasets.load_dataset`` so that a malformed line is
reported with its line number instead of an Arrow schema error.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Mapping

from exprl_env.domains.rows import rows_to_problems
from exprl_env.errors import DatasetError
from judges.problem import Problem

FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv")


def looks_like_file(dataset: str) -> bool:
    """A path to a local file (existing, or named with one of the supported suffixes)."""
    return Path(dataset).suffix.lower() in FILE_SUFFIXES or Path(dataset).is_file()


def _read_jsonl(path: Path) -> list[Any]:
    rows, bad = [], []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                bad.append(f"line {line_number}: not valid JSON ({error.msg}, column {error.colno})")
    if bad:
        raise DatasetError(str(path), bad)
    return rows


def _read_json(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise DatasetError(str(path), [f"line {error.lineno}: not valid JSON ({error.msg})"]) from None
    if isinstance(data, Mapping) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise DatasetError(str(path), ["expected a list of objects (or {\"data\": [...]}) at the top level"])
    return data


def _read_csv(path: Path) -> list[Any]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _read_parquet(path: Path) -> list[Any]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


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
    except Exception as error:  # datasets raises many types; the message is what matters
        raise DatasetError(dataset_id, [f"could not load as a Hugging Face dataset: {type(error).__name__}: {error}"]) from error
    return rows_to_problems(f"{dataset_id}[{hf_split}]", rows, domain=dataset_id, columns=columns)
