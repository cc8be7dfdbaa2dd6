"""Turn plain rows (dicts) into validated problems, naming the row and field of every defect.

Every data source (local files, Hugging Face datasets, a user's loader) ends here, so one set of rules
decides what a usable problem is: a non-empty string question, a string answer, a worked solution given
as a list of strings or as one string split on lines, and a unique id.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from exprl_env.errors import DatasetError
from judges.problem import Problem, SealedReference

FIELDS = ("question", "solution", "answer", "id")
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
            if isinstance(value, str) or (
                isinstance(value, (list, tuple)) and all(isinstance(s, str) for s in value)
            ):
                if not split_steps(value):
                    found.append(f"{where}: empty")
            else:
                found.append(f"{where}: must be a string or a list of strings, got {type(value).__name__}")
        elif not isinstance(value, str):
            found.append(f"{where}: must be a string, got {type(value).__name__} {value!r:.40}; quote it")
        elif not value.strip():
            found.append(f"{where}: empty")
    id_value = row.get(columns["id"])
    if id_value is not None and not isinstance(id_value, (str, int)):
        found.append(f"field '{columns['id']}': must be a string or integer, got {type(id_value).__name__}")
    return found


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
            defects.append(f"row {index}: field '{columns['id']}': duplicate id {problem_id!r} (first at row {seen[problem_id]})")
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
