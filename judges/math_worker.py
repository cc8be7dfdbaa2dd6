"""The math-verify worker process: reads ``[gold, answer]`` JSON lines on stdin, writes a status line each.

It is a plain ``python -m`` subprocess, not a multiprocessing child, so it never re-imports the user's
``__main__`` and never inherits a forked copy of a multi-threaded trainer. Its main thread runs
math-verify, so math-verify's own ``signal.alarm`` timeouts work here; the parent kills it if a check
runs past the hard deadline anyway (a C-level big-integer operation ignores the alarm).
"""

from __future__ import annotations

import json
import sys

EQUAL, DIFFERENT, GOLD_UNPARSABLE, ANSWER_UNPARSABLE = "equal", "different", "gold_unparsable", "answer_unparsable"
READY = "ready"


def _boxed(text: str) -> str:
    return text if "\\boxed" in text else "\\boxed{" + text + "}"


def _is_maths(parsed: list) -> bool:
    """math-verify falls back to the raw string when it cannot parse; only a real expression counts."""
    return any(not isinstance(item, str) for item in parsed)


def check_pair(gold: str, answer: str, seconds: int) -> str:
    """Compare two answers with math-verify; must run in a main thread for its timeouts to work."""
    from math_verify import parse, verify

    gold_parsed = parse(_boxed(gold), parsing_timeout=seconds)
    if not _is_maths(gold_parsed):
        return GOLD_UNPARSABLE
    answer_parsed = parse(_boxed(answer), parsing_timeout=seconds)
    if not _is_maths(answer_parsed):
        return ANSWER_UNPARSABLE
    return EQUAL if verify(gold_parsed, answer_parsed, timeout_seconds=seconds) else DIFFERENT


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    import math_verify  # noqa: F401  (pay the import once, before the first request)

    sys.stdout.write(READY + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        gold, answer = json.loads(line)
        try:
            status = check_pair(gold, answer, seconds)
        except Exception:  # a parser bug on this input is the answer's problem, not the worker's
            status = ANSWER_UNPARSABLE
        sys.stdout.write(status + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
