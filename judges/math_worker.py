"""The math-verify worker process: reads ``[id, gold, answer]`` JSON lines on stdin, writes ``[id, status, detail]``.

It is a plain ``python -m`` subprocess, not a multiprocessing child, so it never re-imports the user's
``__main__`` and never inherits a forked copy of a multi-threaded trainer. Its main thread runs
math-verify, so math-verify's own ``signal.alarm`` timeouts work here; the parent kills it if a check
runs past the hard deadline anyway (a C-level big-integer operation ignores the alarm).

Who is at fault decides the status. math-verify swallows its own errors by default (a parse error
becomes "no expression", a comparison error becomes "not equal"), which would charge a checker bug to
the response; so it runs with ``raise_on_error=True`` and the worker sorts what it raises:

- the answer is not mathematics, or the answers differ: ``answer_unparsable`` / ``different`` (a 0);
- the answer ran out math-verify's time or recursion depth: ``timeout`` (a 0: the answer is too costly);
- anything raised while reading the *reference*, any other exception (a math-verify bug, our own code,
  a MemoryError on a busy machine): ``error``, which the judge turns into an unscorable verdict.

The protocol stream is a private copy of stdout: whatever a library prints goes to stderr instead, so
it cannot be mistaken for a reply. A CPU-time limit (``RLIMIT_CPU``) well past the parent's deadline
kills a worker whose parent died mid-check, so a bomb never outlives the trainer.
"""

from __future__ import annotations

import itertools
import json
import os
import sys

EQUAL, DIFFERENT, GOLD_UNPARSABLE, ANSWER_UNPARSABLE = "equal", "different", "gold_unparsable", "answer_unparsable"
TIMEOUT, ERROR = "timeout", "error"
READY = "ready"
REPLIES = frozenset({EQUAL, DIFFERENT, GOLD_UNPARSABLE, ANSWER_UNPARSABLE, TIMEOUT, ERROR})


def _boxed(text: str) -> str:
    return text if "\\boxed" in text else "\\boxed{" + text + "}"


def _is_maths(parsed: list) -> bool:
    """math-verify falls back to the raw string when it cannot parse; only a real expression counts."""
    return any(not isinstance(item, str) for item in parsed)


def check_pair(gold: str, answer: str, seconds: int) -> tuple[str, str]:
    """(status, detail) for two answers; must run in a main thread for math-verify's timeouts to work."""
    from math_verify import parse
    from math_verify.errors import TimeoutException

    try:
        gold_parsed = parse(_boxed(gold), parsing_timeout=seconds, raise_on_error=True)
    except (Exception, TimeoutException) as error:  # noqa: BLE001 - the reference is ours: never the answer's fault
        return ERROR, f"{type(error).__name__} while parsing the reference"
    if not _is_maths(gold_parsed):
        return GOLD_UNPARSABLE, ""
    try:
        answer_parsed = parse(_boxed(answer), parsing_timeout=seconds, raise_on_error=True)
    except (TimeoutException, RecursionError) as error:
        return TIMEOUT, f"{type(error).__name__} while parsing the answer"
    except Exception as error:  # noqa: BLE001 - a math-verify bug, not the answer's doing
        return ERROR, f"{type(error).__name__} while parsing the answer"
    if not _is_maths(answer_parsed):
        return ANSWER_UNPARSABLE, ""
    return _compare(gold_parsed, answer_parsed, seconds)


def _compare(gold_parsed: list, answer_parsed: list, seconds: int) -> tuple[str, str]:
    """Equal if any reading of the answer equals any reading of the reference (math-verify's rule).

    A comparison that raised could have been the equal one, so an error outranks "different"; a
    timeout (the answer is too costly to compare) outranks "different" but not an error.
    """
    from math_verify import verify
    from math_verify.errors import TimeoutException

    status, detail = DIFFERENT, ""
    for gold, answer in itertools.product(gold_parsed, answer_parsed):
        try:
            if verify(gold, answer, timeout_seconds=seconds, raise_on_error=True):
                return EQUAL, ""
        except (TimeoutException, RecursionError) as error:
            if status == DIFFERENT:
                status, detail = TIMEOUT, f"{type(error).__name__} while comparing"
        except Exception as error:  # noqa: BLE001 - a math-verify bug, not the answer's doing
            status, detail = ERROR, f"{type(error).__name__} while comparing"
    return status, detail


def _answer(line: str, seconds: int) -> list:
    """The reply to one request line; never raises for a request it can read."""
    from math_verify.errors import TimeoutException

    ident, gold, answer = json.loads(line)
    _arm_cpu_backstop(seconds)
    try:
        status, detail = check_pair(gold, answer, seconds)
    except TimeoutException:  # an alarm that fired outside math-verify's own handlers
        status, detail = TIMEOUT, "TimeoutException outside math-verify"
    except Exception as error:  # noqa: BLE001 - our own code failed: the checker's fault, never the answer's
        status, detail = ERROR, f"{type(error).__name__} in the worker"
    return [ident, status, detail]


def _arm_cpu_backstop(seconds: int) -> None:
    """Die by SIGXCPU if this check burns far more CPU than the parent allows (the parent is gone)."""
    try:
        import resource

        used = resource.getrusage(resource.RUSAGE_SELF)
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = int(used.ru_utime + used.ru_stime) + 4 * seconds + 2
        if hard == resource.RLIM_INFINITY or soft <= hard:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ImportError, OSError, ValueError):  # not POSIX, or not permitted: the parent's deadline still holds
        pass


def _private_stdout():
    """A private copy of stdout for replies; fd 1 then points at stderr, so stray prints cannot corrupt them."""
    replies = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a SIGXCPU death leaves no core file
    except (ImportError, OSError, ValueError):
        pass
    return replies


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    replies = _private_stdout()
    import math_verify  # noqa: F401  (pay the import once, before the first request; a failure here is a start failure)

    replies.write(READY + "\n")
    for line in sys.stdin:
        replies.write(json.dumps(_answer(line, seconds)) + "\n")


if __name__ == "__main__":
    main()
