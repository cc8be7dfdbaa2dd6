"""A wall-clock budget for one judge item, checked cooperatively by the text analysis.

The rule-based judge runs in the trainer's own process, so a response that made it slow would stall
training. Its text analysis is linear in the response's length, and it also checks a deadline every
few hundred tokens: an item that runs past its budget stops at once and is reported unscorable
(``Cause.JUDGE_TIMEOUT``), never a 0 and never a hang.
"""

from __future__ import annotations

import time


class DeadlineExceeded(Exception):
    """The item's time budget ran out."""


class Deadline:
    """Raises :class:`DeadlineExceeded` from :meth:`check` once ``seconds`` have passed since creation."""

    __slots__ = ("expires", "seconds")

    def __init__(self, seconds: float):
        if not seconds > 0:
            raise ValueError(f"a deadline needs a positive number of seconds, got {seconds!r}")
        self.seconds = seconds
        self.expires = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() >= self.expires:
            raise DeadlineExceeded(f"ran past its {self.seconds:g} s budget")
