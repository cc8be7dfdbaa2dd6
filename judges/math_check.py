"""Answer equivalence with math-verify, in killable worker processes that are replaced whatever goes wrong.

math-verify can hang or exhaust memory on hostile answers (``9^{9^{9^{9}}}``, ``(10^8)!``): its own
timeout uses ``signal.alarm``, which works only in a main thread and cannot interrupt a long C-level
big-integer operation. So every check runs in a worker process (whose main thread does honour the
alarm) under a hard wall-clock deadline. Inputs over ``max_chars`` are refused before any parsing.

A worker can also fail on its own: killed (an OOM kill), exited, stopped (SIGSTOP, a debugger, a
deadlock), or writing something that is not a reply. Every such failure ends the same way: the worker
is replaced, the check it held reports a checker failure (``crashed`` or ``stalled``, which the judge
turns into an unscorable verdict, never a 0), and the next check runs on a healthy worker. A worker
found dead or stopped while idle is replaced before it is given anything, so it costs no check at all.

At the deadline, a check is a *costly* one (``timeout``) only if the worker was computing through the
second half of the limit (at least ``BUSY_SHARE`` of a CPU, read with psutil); a worker that is stopped
or made next to no progress has *stalled* (``stalled``, unscorable). A costly check is the answer's cost
(a 0) only if its reference compares in time with a plain ``0`` (a memoised probe, milliseconds for an
ordinary reference); a reference such as ``9^{9^{9^{9}}}`` that makes every comparison slow gives
``gold_too_costly`` (unscorable). So a bomb answer costs one limit, a stall one limit, a costly
reference two.

Results are memoised under a keyed digest of the pair, so the pool never keeps a reference answer
readable; the key is per process and pickles carry settings only (a pool unpickles with fresh workers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Sequence
from multiprocessing.connection import wait
from pathlib import Path

import attrs
import psutil

from judges.math_worker import ANSWER_UNPARSABLE, DIFFERENT, EQUAL, ERROR, GOLD_UNPARSABLE, READY, REPLIES, TIMEOUT

TOO_LONG, CRASHED, STALLED, GOLD_TOO_COSTLY = "too_long", "crashed", "stalled", "gold_too_costly"
CHECKER_FAILURES = frozenset({ERROR, CRASHED, STALLED, GOLD_TOO_COSTLY})
PROBE = "0"  # what a reference is compared with to tell whether comparing it is costly at all
MEMOISED = frozenset({EQUAL, DIFFERENT, GOLD_UNPARSABLE, ANSWER_UNPARSABLE})
STARTUP_LIMIT = 120.0  # seconds a worker may take to import math-verify on a loaded machine
START_PROBE = 2.0  # a starting worker that is stopped, or used no CPU for this long, has stalled
BUSY_SHARE = 0.1  # share of a CPU a worker must use in the second half of the limit to count as computing
MAX_REPLY = 4096  # bytes; a longer unfinished line is not a reply
REPLACEMENT_REASONS = ("timeout", "killed", "exited", "stalled", "protocol")
# Where ``judges`` is importable from, so the worker finds it even from an uninstalled checkout.
_IMPORT_ROOT = str(Path(__file__).resolve().parent.parent)
DEFAULT_COMMAND = (sys.executable, "-m", "judges.math_worker")
_SIGXCPU = getattr(signal, "SIGXCPU", None)  # how the worker's own CPU backstop kills it (POSIX)


@attrs.frozen
class CheckResult:
    status: str
    """One of equal, different, gold_unparsable, answer_unparsable, timeout, too_long (the pair's),
    or error, crashed, stalled, gold_too_costly (the checker's: unscorable)."""
    seconds: float = 0.0
    """Wall time the check took (0 for refused or memoised ones)."""
    detail: str = ""
    """What went wrong, for the judge's reason (an exception's type, how a worker died); never input text."""

    @property
    def equal(self) -> bool:
        return self.status == EQUAL


@attrs.define
class _Job:
    index: int
    """Position of the pair in the caller's batch."""
    ident: int
    """Request id the reply must carry."""
    sent: float
    """When it was sent (monotonic seconds)."""
    midway_cpu: float | None = None
    """The worker's CPU seconds at half the limit (None before then)."""
    midway_at: float = 0.0
    """When that sample was taken."""

    def next_event(self, limit: float) -> float:
        """The midway sample, then the deadline: the limit, and at least half the limit after the sample."""
        if self.midway_cpu is None:
            return self.sent + limit / 2
        return max(self.sent + limit, self.midway_at + limit / 2)


class _Worker:
    """One worker process, its pipes, and the check it holds."""

    def __init__(self, command: Sequence[str], seconds: int):
        self.process = subprocess.Popen(
            [*command, str(seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            cwd=_IMPORT_ROOT,
        )
        self.started = time.monotonic()
        self.ready = False
        self.job: _Job | None = None
        self.buffer = b""
        self.probe_at, self.probe_cpu = self.started + START_PROBE, 0.0
        self._psutil: psutil.Process | None = None
        os.set_blocking(self.process.stdin.fileno(), False)

    @property
    def stdout(self):
        return self.process.stdout

    def send(self, data: bytes, deadline: float) -> str | None:
        """Write a request; None when done, else ``stalled`` (its pipe stayed full) or ``broken``."""
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.process.stdin.fileno(), view) :]
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return STALLED
                time.sleep(0.001)
            except OSError:  # BrokenPipeError: the worker is gone or closed its stdin
                return "broken"
        return None

    def read_lines(self) -> list[bytes] | None:
        """Complete lines received so far (call only when readable); None at end of file."""
        chunk = os.read(self.stdout.fileno(), 65536)
        if not chunk:
            return None
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        if len(self.buffer) > MAX_REPLY:  # an endless line: not a reply, and must not grow without bound
            lines.append(self.buffer)
            self.buffer = b""
        return lines

    def cpu_seconds(self) -> float | None:
        """CPU time the worker has used, or None if it is gone."""
        try:
            times = self._observed().cpu_times()
        except psutil.Error:
            return None
        return times.user + times.system

    def stopped(self) -> bool:
        """Whether it is stopped (SIGSTOP, a debugger); False when that cannot be read."""
        try:
            return self._observed().status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
        except psutil.Error:
            return False

    def _observed(self) -> psutil.Process:
        """The psutil view of the process (made once: its pid is ours until we reap it)."""
        if self._psutil is None:
            self._psutil = psutil.Process(self.process.pid)
        return self._psutil

    def gone(self, wait: float = 0.0) -> tuple[str, str]:
        """(reason, detail) for a worker that went quiet: killed (a signal), exited, or protocol (still running)."""
        try:
            code = self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return "protocol", "the worker closed its pipe"
        if code < 0:
            return "killed", f"the worker was killed by signal {-code}"
        return "exited", f"the worker exited with code {code}"

    def kill(self) -> None:
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=5)
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()


class MathCheckPool:
    """A fixed set of worker processes that check (gold, answer) pairs under a hard deadline each.

    Safe to share between threads (one batch at a time) and to pickle (settings only). ``stats``
    counts checks, memo hits, refusals, timeouts, checker errors, and worker replacements by reason.
    """

    def __init__(
        self,
        workers: int = 2,
        time_limit: float = 3.0,
        max_chars: int = 1000,
        cache_size: int = 65536,
        command: Sequence[str] = DEFAULT_COMMAND,
    ):
        if workers < 1 or time_limit <= 0 or max_chars < 1:
            raise ValueError("workers, time_limit and max_chars must be positive")
        self.workers, self.time_limit, self.max_chars = workers, time_limit, max_chars
        self.command = tuple(command)
        """The worker program; the check's whole seconds are appended (a prefix such as ``prlimit`` may wrap it)."""
        self._inner_seconds = max(1, int(time_limit))
        self._cache_size = cache_size
        self._shared = False
        self._setup()

    def _setup(self) -> None:
        self._pool: list[_Worker] = []
        self._lock = threading.Lock()
        self._cache: OrderedDict[bytes, CheckResult] = OrderedDict()
        self._cache_key = secrets.token_bytes(16)
        self._next_ident = 0
        self._restarts_left = 0
        self.stats = {
            "checks": 0,
            "cache_hits": 0,
            "refused": 0,
            "timeouts": 0,
            "errors": 0,
            "workers_started": 0,
            "start_failures": 0,
            **{f"replaced_{reason}": 0 for reason in REPLACEMENT_REASONS},
        }
        self._finalizer = weakref.finalize(self, _stop_workers, self._pool)
        _LIVE_POOLS.add(self)

    # --- public -------------------------------------------------------------------------------------
    def check_many(self, pairs: Sequence[tuple[str, str]]) -> list[CheckResult]:
        """One result per (gold, answer) pair, in order; never raises for a hostile answer or a failed worker."""
        with self._lock:
            results = self._check_all(pairs)
            self._attribute_timeouts(pairs, results)
            return results

    def _check_all(self, pairs: Sequence[tuple[str, str]], memoise_timeouts: bool = False) -> list[CheckResult]:
        """Each distinct pair checked once (memo first, oversized ones refused), results in order."""
        results: list[CheckResult | None] = [None] * len(pairs)
        keys = [self._digest(pair) for pair in pairs]
        same: dict[bytes, list[int]] = {}  # distinct pairs to run -> every position they fill
        for index, (pair, key) in enumerate(zip(pairs, keys)):
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self.stats["cache_hits"] += 1
                results[index] = attrs.evolve(cached, seconds=0.0)
            elif max(len(pair[0]), len(pair[1])) > self.max_chars:
                self.stats["refused"] += 1
                results[index] = CheckResult(TOO_LONG)
            else:
                same.setdefault(key, []).append(index)
        for index, result in self._run(pairs, [indices[0] for indices in same.values()]).items():
            if result.status in MEMOISED or (memoise_timeouts and result.status == TIMEOUT):
                self._remember(keys[index], result)
            for position in same[keys[index]]:
                results[position] = result
        return results  # type: ignore[return-value]

    def _attribute_timeouts(self, pairs: Sequence[tuple[str, str]], results: list[CheckResult]) -> None:
        """A pair that timed out is the answer's cost only if its reference compares in time with a plain 0.

        Otherwise (a reference such as ``9^{9^{9^{9}}}`` makes every comparison slow) nothing is known
        about the answer: the pair becomes ``gold_too_costly``, or the probe's own checker failure. The
        probe costs milliseconds for an ordinary reference and is memoised, timeouts included.
        """
        suspects = [i for i, r in enumerate(results) if r.status == TIMEOUT and pairs[i][0] != pairs[i][1]]
        if not suspects:
            return
        golds = sorted({pairs[i][0] for i in suspects})
        probes = dict(zip(golds, self._check_all([(gold, PROBE) for gold in golds], memoise_timeouts=True)))
        for index in suspects:
            probe, seconds = probes[pairs[index][0]], results[index].seconds
            if probe.status == TIMEOUT:
                results[index] = CheckResult(GOLD_TOO_COSTLY, seconds, "the reference cannot be compared in time")
            elif probe.status in CHECKER_FAILURES:
                results[index] = CheckResult(probe.status, seconds, f"while probing the reference: {probe.detail}")

    def check(self, gold: str, answer: str) -> CheckResult:
        return self.check_many([(gold, answer)])[0]

    def close(self) -> None:
        """Stop the workers (also done when the pool is collected, or at interpreter exit)."""
        self._finalizer()

    def __reduce__(self):
        if self._shared:
            return (shared_pool, (self.workers, self.time_limit, self.max_chars))
        return (MathCheckPool, (self.workers, self.time_limit, self.max_chars, self._cache_size, self.command))

    # --- memo ---------------------------------------------------------------------------------------
    def _digest(self, pair: tuple[str, str]) -> bytes:
        """A keyed digest of the pair: the memo never holds a reference answer in readable form."""
        return hashlib.blake2b(json.dumps(pair).encode(), key=self._cache_key, digest_size=16).digest()

    def _remember(self, key: bytes, result: CheckResult) -> None:
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    # --- running checks -----------------------------------------------------------------------------
    def _run(self, pairs: Sequence[tuple[str, str]], todo: list[int]) -> dict[int, CheckResult]:
        """Feed ready workers, collect replies, deal with every worker that fails; returns index -> result.

        A check's clock starts when it is sent to a worker that has finished starting, so a slow
        start on a loaded machine never turns into a spurious timeout.
        """
        if not todo:
            return {}
        if not self._finalizer.alive:  # used again after close()
            self._finalizer = weakref.finalize(self, _stop_workers, self._pool)
        done: dict[int, CheckResult] = {}
        queue = deque(todo)
        self._restarts_left = 1  # a failed start is retried once per batch, never in a loop
        try:
            self._top_up(len(todo))
            while queue or any(worker.job for worker in self._pool):
                self._dispatch(pairs, queue, done)
                if queue and not self._pool:  # every worker failed to start: nothing can check these now
                    done.update(
                        {index: CheckResult(CRASHED, detail="no math-verify worker could start") for index in queue}
                    )
                    queue.clear()
                watched = [worker for worker in self._pool if worker.job or not worker.ready]
                if not watched:
                    continue
                readable = wait([worker.stdout for worker in watched], timeout=self._until_next_event(watched))
                now = time.monotonic()
                for worker in watched:
                    if worker.ready:
                        self._service_check(worker, worker.stdout in readable, now, done)
                    else:
                        self._service_start(worker, worker.stdout in readable, now)
        except BaseException:  # an interrupt (or a bug) mid-batch: never leave a worker holding a stale check
            for worker in [worker for worker in self._pool if worker.job]:
                worker.kill()
                self._pool.remove(worker)
            raise
        return done

    def _top_up(self, wanted: int) -> None:
        while len(self._pool) < min(self.workers, max(1, wanted)):
            worker = self._start()
            if worker is None:
                return
            self._pool.append(worker)

    def _start(self) -> _Worker | None:
        try:
            worker = _Worker(self.command, self._inner_seconds)
        except OSError:  # no such program, out of processes or file descriptors
            self.stats["start_failures"] += 1
            return None
        self.stats["workers_started"] += 1
        return worker

    def _dispatch(self, pairs: Sequence[tuple[str, str]], queue: deque, done: dict[int, CheckResult]) -> None:
        for worker in list(self._pool):
            if not (queue and worker.ready and worker.job is None):
                continue
            if worker.process.poll() is not None:  # died while idle: replace it before it is given anything
                self._replace(worker, worker.gone()[0])
                continue
            if worker.stopped():  # stopped while idle (SIGSTOP, a debugger): the same
                self._replace(worker, "stalled")
                continue
            index = queue.popleft()
            self._next_ident += 1
            worker.job = _Job(index, self._next_ident, time.monotonic())
            request = json.dumps([self._next_ident, *pairs[index]]).encode() + b"\n"
            failure = worker.send(request, worker.job.sent + self.time_limit)
            if failure == STALLED:
                done[index] = CheckResult(STALLED, self.time_limit, "the worker stopped reading")
                self._replace(worker, "stalled")
            elif failure:
                done[index] = CheckResult(CRASHED, detail="the worker's pipe is broken")
                self._replace(worker, worker.gone()[0])

    def _until_next_event(self, watched: list[_Worker]) -> float:
        events = []
        for worker in watched:
            if worker.job is None:
                events.append(min(worker.probe_at, worker.started + STARTUP_LIMIT))
            else:
                events.append(worker.job.next_event(self.time_limit))
        return max(0.0, min(events) - time.monotonic())

    def _service_check(self, worker: _Worker, readable: bool, now: float, done: dict[int, CheckResult]) -> None:
        job = worker.job
        elapsed = now - job.sent
        if readable:
            lines = worker.read_lines()
            if lines is None:
                self._died(worker, elapsed, done)
                return
            if lines:
                reply = _parse_reply(lines, job.ident)
                if reply is None:
                    done[job.index] = CheckResult(CRASHED, elapsed, "the worker's reply broke the protocol")
                    self._replace(worker, "protocol")
                    return
                done[job.index] = CheckResult(reply[0], elapsed, reply[1])
                worker.job = None
                self.stats["checks"] += 1
                self.stats["timeouts"] += reply[0] == TIMEOUT
                self.stats["errors"] += reply[0] == ERROR
                return
        if now < job.next_event(self.time_limit):
            return
        if job.midway_cpu is None:
            job.midway_cpu, job.midway_at = worker.cpu_seconds() or 0.0, now
        else:
            self._deadline(worker, elapsed, done)

    def _died(self, worker: _Worker, elapsed: float, done: dict[int, CheckResult]) -> None:
        """The worker's output ended mid-check: it exited or was killed (a death by SIGXCPU is the answer's cost)."""
        reason, detail = worker.gone(wait=1.0)
        if _SIGXCPU is not None and worker.process.returncode == -_SIGXCPU:
            done[worker.job.index] = CheckResult(TIMEOUT, elapsed, "the check used up the worker's CPU limit")
            self.stats["timeouts"] += 1
            self._replace(worker, "timeout")
            return
        done[worker.job.index] = CheckResult(CRASHED, elapsed, detail)
        self._replace(worker, reason)

    def _deadline(self, worker: _Worker, elapsed: float, done: dict[int, CheckResult]) -> None:
        """A check past its limit: the answer's cost if the worker was computing, else a stalled worker."""
        cpu, midway = worker.cpu_seconds(), worker.job.midway_cpu or 0.0
        busy = cpu is not None and not worker.stopped() and cpu - midway >= BUSY_SHARE * self.time_limit / 2
        if busy:
            done[worker.job.index] = CheckResult(TIMEOUT, elapsed, "the check ran past the limit")
            self.stats["timeouts"] += 1
            self._replace(worker, "timeout")
        else:
            done[worker.job.index] = CheckResult(STALLED, elapsed, "the worker stopped making progress")
            self._replace(worker, "stalled")

    def _service_start(self, worker: _Worker, readable: bool, now: float) -> None:
        """Mark a starting worker ready when it says so; drop it if it dies, stalls or says something else."""
        if readable:
            lines = worker.read_lines()
            if lines is None or (lines and lines != [READY.encode()]):
                self._start_failed(worker)
            elif lines:
                worker.ready = True
        elif now >= worker.started + STARTUP_LIMIT:
            self._start_failed(worker)
        elif now >= worker.probe_at:
            cpu = worker.cpu_seconds()
            if cpu is None or worker.stopped() or cpu <= worker.probe_cpu:
                self._start_failed(worker)
            else:
                worker.probe_at, worker.probe_cpu = now + START_PROBE, cpu

    def _start_failed(self, worker: _Worker) -> None:
        """A worker that never became ready is retried once per batch, else leaves its slot empty until the
        next batch: a worker that cannot start at all costs each batch two starts, never a loop."""
        self.stats["start_failures"] += 1
        worker.kill()
        slot = self._pool.index(worker)
        fresh = self._start() if self._restarts_left > 0 else None
        self._restarts_left -= 1
        if fresh is None:
            del self._pool[slot]
        else:
            self._pool[slot] = fresh

    def _replace(self, worker: _Worker, reason: str) -> None:
        self.stats[f"replaced_{reason}"] += 1
        worker.kill()
        slot = self._pool.index(worker)
        fresh = self._start()
        if fresh is None:
            del self._pool[slot]
        else:
            self._pool[slot] = fresh


def _parse_reply(lines: list[bytes], ident: int) -> tuple[str, str] | None:
    """(status, detail) from a worker's reply to request ``ident``; None if it is anything else."""
    if len(lines) != 1:
        return None
    try:
        got, status, detail = json.loads(lines[0])
    except (ValueError, TypeError):
        return None
    if got != ident or status not in REPLIES or not isinstance(detail, str):
        return None
    return status, detail


def _stop_workers(pool: list[_Worker]) -> None:
    for worker in pool:
        try:
            worker.process.stdin.close()
            worker.process.wait(timeout=1)
        except (OSError, subprocess.TimeoutExpired):
            pass
        worker.kill()
    pool.clear()


_LIVE_POOLS: weakref.WeakSet[MathCheckPool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    """In a forked child, drop the parent's workers without touching them (the child starts its own)."""
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    for pool in list(_LIVE_POOLS):
        pool._finalizer.detach()
        shared = pool._shared
        pool._setup()
        pool._shared = shared


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

_SHARED: dict[tuple, MathCheckPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(workers: int = 2, time_limit: float = 3.0, max_chars: int = 1000) -> MathCheckPool:
    """One pool per setting in this process, so many judges (one per env) do not each start workers."""
    key = (workers, time_limit, max_chars)
    with _SHARED_LOCK:
        if key not in _SHARED or not _SHARED[key]._finalizer.alive:
            _SHARED[key] = MathCheckPool(workers, time_limit, max_chars)
            _SHARED[key]._shared = True
        return _SHARED[key]
