"""Answer equivalence with math-verify, in killable worker processes.

math-verify can hang or exhaust memory on hostile answers (``9^{9^{9^{9}}}``, ``(10^8)!``): its own
timeout uses ``signal.alarm``, which works only in a main thread and cannot interrupt a long C-level
big-integer operation. So every check runs in a worker process (whose main thread does honour the
alarm) under a hard wall-clock deadline: a worker that misses it is killed and replaced, and that
check reports ``timeout``. Inputs over ``max_chars`` are refused before any parsing. Results are
memoised, since the same (reference, answer) pair recurs across a group of samples.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict
from multiprocessing.connection import wait
from pathlib import Path
from typing import Sequence

import attrs

from judges.math_worker import ANSWER_UNPARSABLE, DIFFERENT, EQUAL, GOLD_UNPARSABLE, READY

TIMEOUT, TOO_LONG, CRASHED = "timeout", "too_long", "crashed"
STARTUP_LIMIT = 120.0  # seconds a worker may take to import math-verify on a loaded machine
# Where ``judges`` is importable from, so the worker finds it even from an uninstalled checkout.
_IMPORT_ROOT = str(Path(__file__).resolve().parent.parent)


@attrs.frozen
class CheckResult:
    status: str
    """One of equal, different, gold_unparsable, answer_unparsable, timeout, too_long, crashed."""
    seconds: float = 0.0
    """Wall time the check took (0 for refused or memoised ones)."""

    @property
    def equal(self) -> bool:
        return self.status == EQUAL


class _Worker:
    """One ``python -m judges.math_worker`` process and its pipes."""

    def __init__(self, seconds: int):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "judges.math_worker", str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            cwd=_IMPORT_ROOT,
        )
        self.started = time.monotonic()
        self.ready = False

    def send(self, pair: tuple[str, str]) -> None:
        self.process.stdin.write(json.dumps(pair) + "\n")
        self.process.stdin.flush()

    def receive(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise EOFError("math worker exited")
        return line.strip()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=5)
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class MathCheckPool:
    """A fixed set of worker processes that check (gold, answer) pairs under a hard deadline each."""

    def __init__(self, workers: int = 2, time_limit: float = 3.0, max_chars: int = 1000, cache_size: int = 65536):
        if workers < 1 or time_limit <= 0 or max_chars < 1:
            raise ValueError("workers, time_limit and max_chars must be positive")
        self.workers, self.time_limit, self.max_chars = workers, time_limit, max_chars
        self._inner_seconds = max(1, int(time_limit))
        self._pool: list[_Worker] = []
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, str], CheckResult] = OrderedDict()
        self._cache_size = cache_size
        self.stats = {"checks": 0, "cache_hits": 0, "timeouts": 0, "crashes": 0, "refused": 0, "start_failures": 0}
        self._finalizer = weakref.finalize(self, _stop_workers, self._pool)

    def check_many(self, pairs: Sequence[tuple[str, str]]) -> list[CheckResult]:
        """One result per (gold, answer) pair, in order; never raises for a hostile answer."""
        with self._lock:
            results: list[CheckResult | None] = [None] * len(pairs)
            todo = []
            for index, pair in enumerate(pairs):
                cached = self._cache.get(pair)
                if cached is not None:
                    self._cache.move_to_end(pair)
                    self.stats["cache_hits"] += 1
                    results[index] = attrs.evolve(cached, seconds=0.0)
                elif max(len(pair[0]), len(pair[1])) > self.max_chars:
                    self.stats["refused"] += 1
                    results[index] = CheckResult(TOO_LONG)
                else:
                    todo.append(index)
            for index, result in self._run(pairs, todo).items():
                results[index] = result
                if result.status in (EQUAL, DIFFERENT, GOLD_UNPARSABLE, ANSWER_UNPARSABLE):
                    self._remember(pairs[index], result)
            return results  # type: ignore[return-value]

    def check(self, gold: str, answer: str) -> CheckResult:
        return self.check_many([(gold, answer)])[0]

    def _remember(self, pair: tuple[str, str], result: CheckResult) -> None:
        self._cache[pair] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _run(self, pairs: Sequence[tuple[str, str]], todo: list[int]) -> dict[int, CheckResult]:
        """Feed ready workers, collect answers, kill any worker past its deadline.

        A check's clock starts when it is sent to a worker that has finished starting, so a slow
        start on a loaded machine never turns into a spurious timeout.
        """
        while len(self._pool) < min(self.workers, max(1, len(todo))):
            self._pool.append(_Worker(self._inner_seconds))
        queue, busy, done = list(reversed(todo)), {}, {}
        while queue or busy:
            for worker in self._pool:
                if queue and worker.ready and worker not in busy:
                    index = queue.pop()
                    worker.send(pairs[index])
                    busy[worker] = (index, time.monotonic())
            watched = [w for w in self._pool if w in busy or not w.ready]
            deadlines = [busy[w][1] + self.time_limit if w in busy else w.started + STARTUP_LIMIT for w in watched]
            readable = wait([w.process.stdout for w in watched], timeout=max(0.0, min(deadlines) - time.monotonic()))
            now = time.monotonic()
            for worker in watched:
                if not worker.ready:
                    if not self._finish_start(worker, worker.process.stdout in readable, now):
                        done.update({index: CheckResult(CRASHED) for index in queue})
                        queue.clear()
                    continue
                index, start = busy[worker]
                if worker.process.stdout in readable:
                    try:
                        done[index] = CheckResult(worker.receive(), now - start)
                        self.stats["checks"] += 1
                        del busy[worker]
                        continue
                    except EOFError:
                        done[index] = CheckResult(CRASHED, now - start)
                        self.stats["crashes"] += 1
                elif now - start >= self.time_limit:
                    done[index] = CheckResult(TIMEOUT, now - start)
                    self.stats["timeouts"] += 1
                else:
                    continue
                del busy[worker]
                self._replace(worker)
        return done

    def _finish_start(self, worker: "_Worker", readable: bool, now: float) -> bool:
        """Mark a starting worker ready when it says so; False if it died or never became ready."""
        if readable:
            try:
                worker.ready = worker.receive() == READY
                if worker.ready:
                    return True
            except EOFError:
                pass
        elif now - worker.started < STARTUP_LIMIT:
            return True
        self.stats["start_failures"] += 1
        self._replace(worker)
        return False

    def _replace(self, worker: _Worker) -> None:
        worker.kill()
        self._pool[self._pool.index(worker)] = _Worker(self._inner_seconds)

    def close(self) -> None:
        """Stop the workers (also done when the pool is collected, or at interpreter exit)."""
        self._finalizer()


def _stop_workers(pool: list[_Worker]) -> None:
    for worker in pool:
        try:
            worker.process.stdin.close()
            worker.process.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired):
            pass
        worker.kill()
    pool.clear()


_SHARED: dict[tuple, MathCheckPool] = {}


def shared_pool(workers: int = 2, time_limit: float = 3.0, max_chars: int = 1000) -> MathCheckPool:
    """One pool per setting in this process, so many judges (one per env) do not each start workers."""
    key = (workers, time_limit, max_chars)
    if key not in _SHARED or not _SHARED[key]._finalizer.alive:
        _SHARED[key] = MathCheckPool(workers, time_limit, max_chars)
    return _SHARED[key]
