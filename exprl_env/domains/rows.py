"""Turn plain rows (dicts) into validated problems, naming the row and field of every defect.

Every data source (local files, Hugging Face datasets, a user's loader) ends here, so one set of rules
decides what a usable problem is: a non-empty string question, a string answer, a worked solution given
as a list of strings or as one string split on lines, and a unique id. A question longer than
:data:`MAX_QUESTION_CHARS` is refused: it is a data error (a whole document in one field), not a prompt.

Errors never quote a row's values: a solution or answer is the hidden reference, and an error message
ends up in logs and terminals. They give the row, the field, the type and the length.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from exprl_env.errors import DatasetError
from judges.problem import Problem, SealedReference

FIELDS = ("question", "solution", "answer", "id")
MAX_QUESTION_CHARS = 100_000
"""Longest question accepted from data (about 25k tokens: past any policy context this project trains)."""
DEFAULT_COLUMNS = {field: field for field in FIELDS}


def resolve_columns(columns: Mapping[str, str] | None) -> dict[str, str]:
    """Our field name -> the source's column name, defaults filled in; unknown fields are an error."""
    columns = dict(columns or {})
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        raise ValueError(f"columns: unknown field(s) {unknown}; the fields are {list(FIELDS)}")
    return {**DEFAULT_COLUMNS, **columns}


def split_steps(solution: str | list[str]) -> tuple[str, ...]:
    """Solution steps: list items as given, or the non-blank lines of one string."""
    if isinstance(solution, str):
        return tuple(line.strip() for line in solution.splitlines() if line.strip())
    return tuple(step.strip() for step in solution if step.strip())


def _row_problems(row: Any, columns: Mapping[str, str]) -> list[str]:
    if not isinstance(row, Mapping):
        return [f"expected an object with fields, got {type(row).__name__}"]
    found = []
    for field in ("question", "solution", "answer"):
        column = columns[field]
        value = row.get(column)
        where = f"field '{column}'"
        if column not in row or value is None:
            found.append(f"{where}: missing")
        elif field == "solution":
            if isinstance(value, str) or (isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value)):
                if not split_steps(value):
                    found.append(f"{where}: empty")
            else:
                found.append(f"{where}: must be a string or a list of strings, got {_kind(value)}")
        elif not isinstance(value, str):
            found.append(f"{where}: must be a string, got {_kind(value)}; write it as a string (quote it)")
        elif not value.strip():
            found.append(f"{where}: empty")
        elif field == "question" and len(value.strip()) > MAX_QUESTION_CHARS:
            found.append(
                f"{where}: {len(value.strip()):,} characters, over the limit of {MAX_QUESTION_CHARS:,} "
                "(MAX_QUESTION_CHARS)"
            )
    id_value = row.get(columns["id"])
    if id_value is not None and (isinstance(id_value, bool) or not isinstance(id_value, (str, int))):
        found.append(f"field '{columns['id']}': must be a string or integer, got {type(id_value).__name__}")
    return found


def _kind(value: Any) -> str:
    """A value's type and size, never its content (it may be a reference)."""
    try:
        return f"{type(value).__name__} of length {len(value)}"
    except TypeError:
        return type(value).__name__


def rows_to_problems(
    source: str,
    rows: Iterable[Any],
    *,
    domain: str,
    columns: Mapping[str, str] | None = None,
    id_prefix: str | None = None,
) -> list[Problem]:
    """Validate every row, then build problems; any defect raises one :class:`DatasetError` listing all."""
    columns = resolve_columns(columns)
    prefix = id_prefix or domain
    problems: list[Problem] = []
    defects: list[str] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        row_defects = _row_problems(row, columns)
        if row_defects:
            defects += [f"row {index}: {d}" for d in row_defects]
            continue
        raw_id = row.get(columns["id"])
        problem_id = str(raw_id) if raw_id is not None else f"{prefix}-{index}"
        if problem_id in seen:
            defects.append(
                f"row {index}: field '{columns['id']}': duplicate id {problem_id!r} (first at row {seen[problem_id]})"
            )
            continue
        seen[problem_id] = index
        problems.append(
            Problem(
                id=problem_id,
                domain=domain,
                question=row[columns["question"]].strip(),
                reference=SealedReference(split_steps(row[columns["solution"]]), row[columns["answer"]].strip()),
            )
        )
    if defects:
        raise DatasetError(source, defects)
    if not problems:
        raise DatasetError(source, ["no rows"])
    return problems
