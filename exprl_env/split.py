"""A stable train/test split: a problem's side depends only on its id, never on load order or seed."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

from exprl_env.checks import check_choice, check_number

SPLITS = ("train", "test", "all")
T = TypeVar("T")


def in_test_split(problem_id: str, test_fraction: float) -> bool:
    """True when the id hashes into the test fraction (uniform in [0, 1) by SHA-256)."""
    digest = hashlib.sha256(problem_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction


def select_split(problems: Sequence[T], split: str, test_fraction: float = 0.1) -> list[T]:
    """The problems on one side of the split (``"all"`` keeps every problem), in their given order."""
    check_choice("split", split, SPLITS)
    test_fraction = check_number("test_fraction", test_fraction, low=0.0, high=1.0)
    if split == "all":
        return list(problems)
    want_test = split == "test"
    return [p for p in problems if in_test_split(p.id, test_fraction) == want_test]
