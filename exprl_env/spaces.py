"""A text space for natural language: any Unicode string within a length range.

Gymnasium's ``Text`` admits only characters from a fixed charset, but questions carry ``£``, ``≤`` and
LaTeX, and a language model may emit anything. Sampling draws printable ASCII, which is enough for
``check_env`` and random baselines.
"""

from __future__ import annotations

import string
from typing import Any

from gymnasium.spaces import Text


class UnicodeText(Text):
    """Any ``str`` whose length is in ``[min_length, max_length]``."""

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | None = None):
        super().__init__(max_length, min_length=min_length, charset=string.printable, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"
