"""Checks for the options a user passes: the right type and range, named in the error.

Python lets ``max_steps=2.5`` or ``index=True`` through (a bool *is* an int to ``isinstance``), and the
failure then shows up far away, or never. Every option of the environments and built-in domains is
checked here when it is given, and the error names the option, the expected type and what came.
NumPy integers and floats count as ints and numbers; bools (Python's or NumPy's) never do.
"""

from __future__ import annotations

import numbers
import reprlib
from collections.abc import Mapping, Sequence
from typing import Any

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 40


def describe(value: Any) -> str:
    """The value's type and a short repr, for error messages about *options* (never about data)."""
    return f"{type(value).__name__} {_SHORT.repr(value)}"


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ in ("bool", "bool_")  # numpy's, without importing numpy


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """``value`` as an int; TypeError unless it is an integer (not a bool), ValueError below ``minimum``."""
    if _is_bool(value) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {describe(value)}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value}")
    return int(value)


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None) -> float:
    """``value`` as a float in ``[low, high]``; TypeError unless it is a real number (not a bool)."""
    if _is_bool(value) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {describe(value)}")
    number = float(value)
    if not ((low is None or number >= low) and (high is None or number <= high)) or number != number:
        bounds = f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]"
        raise ValueError(f"{name} must be a number in {bounds}, got {value!r}")
    return number


def check_str(name: str, value: Any, *, optional: bool = False) -> str | None:
    """``value`` if it is a str (or None when ``optional``); TypeError otherwise."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str{' or None' if optional else ''}, got {describe(value)}")
    return value


def check_mapping(name: str, value: Any, *, optional: bool = True) -> Mapping | None:
    """``value`` if it is a mapping (a dict) with str keys (or None when ``optional``); TypeError otherwise."""
    if value is None and optional:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise TypeError(f"{name} must be a dict with str keys{' or None' if optional else ''}, got {describe(value)}")
    return value


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices`` (strings or None); ValueError listing them otherwise."""
    if not any(value is choice or (isinstance(value, str) and value == choice) for choice in choices):
        raise ValueError(f"{name} must be one of {list(choices)}, got {_SHORT.repr(value)}")
    return value
