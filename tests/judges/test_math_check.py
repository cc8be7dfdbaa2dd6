"""The math-verify pool: hostile answers cost at most the limit, and the pool keeps working."""

import contextlib
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from judges.math_check import MathCheckPool, shared_pool

ROOT = Path(__file__).resolve().parents[2]

LIMIT = 2.0
BOMBS = [r"9^{9^{9^{9}}}", r"(10^8)!", "9" * 900 + "!"]


@pytest.fixture(scope="module")
def pool():
    pool = MathCheckPool(workers=2, time_limit=LIMIT, max_chars=1000)
    yield pool
    pool.close()


def test_equivalences(pool):
    results = pool.check_many([("28080", "28,080"), ("1/2", r"\frac{1}{2}"), ("3", "4"), ("2^(m+1)", "2^{m+1}")])
    assert [r.status for r in results] == ["equal", "equal", "different", "equal"]


@pytest.mark.parametrize("bomb", BOMBS)
def test_bombs_finish_within_the_limit_and_the_next_check_works(pool, bomb):
    started = time.monotonic()
    result = pool.check("5", bomb)
    assert result.status in ("timeout", "different", "answer_unparsable")
    assert time.monotonic() - started < LIMIT + 3.0  # the limit plus kill-and-replace slack
    assert pool.check("12", "12.0").status == "equal"


def test_bombs_in_a_batch_do_not_stall_the_others(pool):
    results = pool.check_many([("7", BOMBS[0]), ("8", "8"), ("9", BOMBS[1]), ("10", "10")])
    assert results[1].equal and results[3].equal
    assert {results[0].status, results[2].status} <= {"timeout", "different", "answer_unparsable"}


def test_oversized_answer_is_refused_without_parsing(pool):
    started = time.monotonic()
    assert pool.check("1", "1" * 1_000_000).status == "too_long"
    assert time.monotonic() - started < 1.0


def test_results_are_memoised(pool):
    pool.check("41", "41")
    hits = pool.stats["cache_hits"]
    assert pool.check("41", "41").equal and pool.stats["cache_hits"] == hits + 1


def test_a_bomb_as_reference_is_not_equal(pool):
    assert not pool.check(BOMBS[0], BOMBS[0]).equal or pool.check(BOMBS[0], "1").status != "equal"


# --- worker faults: every one ends as a replaced worker, a checker-failure status, and a working pool ----------

FAST = 1.0  # limit for the fault pools: a stall costs this much
# The real worker with math-verify patched to misbehave on marked inputs (valid-looking numbers).
PATCHED_WORKER = r"""
import os, sys, time
import math_verify
import judges.math_worker as worker

real_parse, real_verify = math_verify.parse, math_verify.verify

def parse(text, **kwargs):
    if "31337" in text:
        raise ValueError("injected math-verify bug")
    if "4242" in text:
        print("a library printing to stdout")
    if "2323" in text:
        raise RecursionError("injected: too deep")
    if "5555" in text:
        time.sleep(60)  # stops answering without computing
    if "6666" in text:
        while True:  # computes past the limit, where math-verify's alarm is not armed
            pass
    if "7777" in text:
        os._exit(3)
    return real_parse(text, **kwargs)

def verify(gold, target, **kwargs):
    if "271828" in str(target):
        raise ZeroDivisionError("injected comparison bug")
    return real_verify(gold, target, **kwargs)

math_verify.parse, math_verify.verify = parse, verify
worker.main()
"""
READY_THEN = "import os, sys, time\nprint('ready', flush=True)\n"
FAKE_WORKERS = {
    "garbage": READY_THEN + "for line in sys.stdin:\n    print('garbage', flush=True)\n",
    "half a line, then silence": READY_THEN + "sys.stdin.readline()\nsys.stdout.write('[1, \"eq')\nsys.stdout.flush()\n"
    "time.sleep(60)\n",
    "exits": READY_THEN + "sys.stdin.readline()\nsys.exit(0)\n",
    "closes its stdin": READY_THEN + "os.close(0)\ntime.sleep(60)\n",
    "endless line": READY_THEN + "sys.stdin.readline()\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
}


def command(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def worker_pids(pool) -> list[int]:
    return [worker.process.pid for worker in pool._pool]


def wait_status(pid: int, status: str) -> None:
    """Until the kernel shows the signal's effect (without reaping it: the pool must find out for itself)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == status:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never became {status}")


def stop(pids: list[int]) -> None:
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    for pid in pids:
        wait_status(pid, psutil.STATUS_STOPPED)


@pytest.fixture
def small_pool():
    pool = MathCheckPool(workers=1, time_limit=FAST)
    assert pool.check("1", "1").equal  # the worker is up
    yield pool
    pool.close()


def test_a_worker_killed_while_idle_is_replaced_before_it_is_given_a_check(small_pool):
    (pid,) = worker_pids(small_pool)
    os.kill(pid, signal.SIGKILL)
    wait_status(pid, psutil.STATUS_ZOMBIE)
    assert small_pool.check("2", "2").equal  # no BrokenPipeError, and the check itself is not lost
    assert small_pool.check("3", "4").status == "different"
    assert small_pool.stats["replaced_killed"] == 1 and worker_pids(small_pool) != [pid]


def test_a_worker_killed_mid_check_makes_that_check_crashed_and_the_next_one_works(small_pool):
    (pid,) = worker_pids(small_pool)
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    result = small_pool.check("6", BOMBS[0])
    assert result.status == "crashed" and "signal 9" in result.detail
    assert small_pool.check("7", "7").equal and small_pool.stats["replaced_killed"] == 1


def test_a_worker_stopped_while_idle_is_replaced_before_it_is_given_a_check(small_pool):
    (pid,) = worker_pids(small_pool)
    stop([pid])
    assert small_pool.check("8", "8").equal
    assert small_pool.stats["replaced_stalled"] == 1 and worker_pids(small_pool) != [pid]


def test_a_worker_stopped_mid_check_is_stalled_not_a_costly_answer(small_pool):
    (pid,) = worker_pids(small_pool)
    threading.Timer(0.3, os.kill, (pid, signal.SIGSTOP)).start()
    started = time.monotonic()
    assert small_pool.check("8", BOMBS[0]).status == "stalled"  # it computed, then stopped: not the answer's cost
    assert time.monotonic() - started < FAST + 3.0
    assert small_pool.check("9", "9").equal
    assert small_pool.stats["replaced_stalled"] == 1 and small_pool.stats["timeouts"] == 0


def test_a_bomb_is_a_timeout_and_counted_as_one(small_pool):
    assert small_pool.check("5", BOMBS[1]).status == "timeout"
    assert small_pool.stats["replaced_timeout"] == 1 and small_pool.stats["replaced_stalled"] == 0


@pytest.fixture(scope="module")
def patched_pool():
    pool = MathCheckPool(workers=1, time_limit=FAST, command=command(PATCHED_WORKER))
    yield pool
    pool.close()


@pytest.mark.parametrize(
    "gold, answer, status, detail",
    [
        ("31337", "31337", "error", "ValueError while parsing the reference"),
        ("5", "31337", "error", "ValueError while parsing the answer"),
        ("2", "271828", "error", "ZeroDivisionError while comparing"),
        ("5", "2323", "timeout", "RecursionError while parsing the answer"),
        ("5", "6666", "timeout", "the check ran past the limit"),
        ("5", "5555", "stalled", "the worker stopped making progress"),
        ("5", "7777", "crashed", "the worker exited with code 3"),
        ("4242", "4242", "equal", ""),  # a stray print cannot be taken for a reply
    ],
)
def test_math_verify_failures_are_sorted_by_whose_fault_they_are(patched_pool, gold, answer, status, detail):
    result = patched_pool.check(gold, answer)
    assert (result.status, result.detail) == (status, detail)
    assert patched_pool.check("12", "12.0").equal  # the worker (or its replacement) works


@pytest.mark.parametrize("fault", sorted(FAKE_WORKERS))
def test_a_worker_that_breaks_the_protocol_is_a_crash_not_a_hang(fault):
    pool = MathCheckPool(workers=1, time_limit=FAST, command=command(FAKE_WORKERS[fault]))
    try:
        for _ in range(2):  # and again, on its replacement
            started = time.monotonic()
            assert pool.check("1", "1").status in ("crashed", "stalled")
            assert time.monotonic() - started < FAST + 5.0
        assert pool.stats["replaced_protocol"] + pool.stats["replaced_exited"] + pool.stats["replaced_stalled"] >= 2
    finally:
        pool.close()


def test_a_worker_that_stops_reading_is_stalled_even_mid_request():
    pool = MathCheckPool(workers=1, time_limit=FAST, max_chars=100_000, command=command(READY_THEN + "time.sleep(60)"))
    try:
        started = time.monotonic()
        assert pool.check("1", "1" * 90_000).status == "stalled"  # more than a pipe holds
        assert time.monotonic() - started < FAST + 3.0 and pool.stats["replaced_stalled"] == 1
    finally:
        pool.close()


@pytest.mark.parametrize(
    "code",
    [
        "import sys; sys.modules['math_verify'] = None\nimport judges.math_worker as w; w.main()",  # broken import
        "import time; time.sleep(60)",  # never says it is ready
        "print('hello', flush=True)",  # says something else
    ],
)
def test_a_worker_that_cannot_start_fails_its_checks_quickly(monkeypatch, code):
    monkeypatch.setattr("judges.math_check.START_PROBE", 0.5)
    pool = MathCheckPool(workers=2, time_limit=FAST, command=command(code))
    try:
        for _ in range(2):
            started = time.monotonic()
            results = pool.check_many([("1", "1"), ("2", "2"), ("3", "3")])
            assert {(r.status, r.detail) for r in results} == {("crashed", "no math-verify worker could start")}
            assert time.monotonic() - started < 10.0
        assert pool.stats["start_failures"] == 6  # per batch: two starts and one retry, no more
    finally:
        pool.close()


def test_a_missing_worker_program_is_a_start_failure():
    pool = MathCheckPool(workers=1, command=("/nonexistent/python",))
    assert pool.check("1", "1").status == "crashed" and pool.stats["start_failures"] == 1


def test_a_worker_left_computing_by_a_killed_trainer_dies_by_its_own_cpu_limit():
    trainer = (
        f"from judges.math_check import MathCheckPool\n"
        f"pool = MathCheckPool(workers=1, time_limit=1.0, command={command(PATCHED_WORKER)!r})\n"
        f"assert pool.check('1', '1').equal\n"
        f"print(pool._pool[0].process.pid, flush=True)\n"
        f"pool.check('5', '6666')\n"
    )  # computes forever, where math-verify's alarm is not armed
    parent = subprocess.Popen([sys.executable, "-c", trainer], stdout=subprocess.PIPE, cwd=ROOT)
    worker = psutil.Process(int(parent.stdout.readline()))
    idle = sum(worker.cpu_times()[:2])
    while sum(worker.cpu_times()[:2]) < idle + 0.2:  # it is in the loop
        time.sleep(0.05)
    parent.kill()  # SIGKILL: no finalizer runs, nobody will ever kill the worker
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(psutil.NoSuchProcess):
            if worker.status() != psutil.STATUS_ZOMBIE:
                time.sleep(0.2)
                continue
        return  # gone after its CPU limit (4 x 1 s + 2 s), not after the bomb
    worker.kill()
    raise AssertionError("the orphaned worker was still computing after 60 s")


def test_threads_share_a_pool_while_its_workers_are_killed():
    pool = MathCheckPool(workers=2, time_limit=FAST)
    errors, results = [], []

    def client(offset: int) -> None:
        try:
            for round_ in range(4):
                base = 1000 * offset + 100 * round_
                results.extend(pool.check_many([(str(base + i), str(base + i)) for i in range(6)]))
        except Exception as error:  # noqa: BLE001 - the test reports any
            errors.append(error)

    try:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for _ in range(3):
            time.sleep(0.3)
            for pid in worker_pids(pool):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=60)
        assert not errors and len(results) == 4 * 4 * 6
        assert {r.status for r in results} <= {"equal", "crashed"} and "equal" in {r.status for r in results}
        assert pool.check("77", "77").equal
    finally:
        pool.close()


def test_the_memo_keeps_no_readable_answer_and_pickles_as_settings():
    pool = MathCheckPool(workers=1, time_limit=FAST, max_chars=500)
    try:
        assert pool.check("8675309", "8675309").equal
        assert "8675309" not in repr(vars(pool)) and b"8675309" not in pickle.dumps(pool)
        assert pool.check("8675309", "8675309").equal and pool.stats["cache_hits"] == 1
        clone = pickle.loads(pickle.dumps(pool))
        assert (clone.workers, clone.time_limit, clone.max_chars) == (1, FAST, 500)
        assert clone.check("8675309", "8675309").equal and clone.stats["cache_hits"] == 0
        assert pickle.loads(pickle.dumps(shared_pool(1, FAST))) is shared_pool(1, FAST)
    finally:
        pool.close()


def test_a_forked_child_starts_its_own_workers(small_pool):
    parent_pids = worker_pids(small_pool)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        ok = small_pool.check("13", "13").equal and not set(worker_pids(small_pool)) & set(parent_pids)
        small_pool.close()
        os._exit(0 if ok else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert worker_pids(small_pool) == parent_pids and small_pool.check("14", "14").equal
