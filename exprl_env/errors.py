"""Errors that name what is wrong, where: the file, the row, the field."""

from __future__ import annotations


class DatasetError(ValueError):
    """A data source could not be turned into problems; nothing from it was loaded.

    Every problem found is listed (up to a limit), each as ``source: row N: field 'f': what``, so a
    user fixes the whole file in one pass instead of one error per run.
    """

    MAX_LISTED = 20

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = list(problems)
        shown = self.problems[: self.MAX_LISTED]
        more = len(self.problems) - len(shown)
        lines = [f"{source}: {p}" for p in shown]
        if more > 0:
            lines.append(f"... and {more} more problem(s)")
        header = f"could not load {source}: {len(self.problems)} problem(s); nothing was loaded"
        super().__init__(header + "\n" + "\n".join(lines))
