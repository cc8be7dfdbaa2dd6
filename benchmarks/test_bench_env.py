"""Environment and answer-judge rates: ``pytest benchmarks --benchmark-only``.

- env reset+step overhead with a judge that does no work (µs per step: our cost, not the judge's);
- vector env step with 16 envs and the same judge;
- ``answer`` judge checks per second on fresh (uncached) pairs;
- worst-case time of a math-verify bomb (the pool's hard limit plus kill-and-replace);
- worst-case time of a worker stopped mid-check (the limit), and the recovery from workers killed while idle.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading

import gymnasium as gym
import pytest

from judges import JudgeItem, Status, Verdict
from judges.math_check import MathCheckPool

_fresh = itertools.count()


class NullJudge:
    """Pays a constant; isolates the environment's own overhead."""

    name = "null"
    kinds = ("sparse", "outcome", "process")

    def score_batch(self, items: list[JudgeItem]) -> list[Verdict]:
        return [Verdict(status=Status.OK, outcome=0.5, answer_correct=False) for _ in items]


def test_env_reset_step_overhead(benchmark):
    env = gym.make("ExpRL-Arith-v0", size=200, judge=NullJudge(), reward="outcome", disable_env_checker=True)
    env.reset(seed=0)

    def episode():
        env.reset()
        env.step("The sum is \\boxed{12}.")

    benchmark(episode)


def test_vector_env_step_16(benchmark):
    envs = gym.make_vec("ExpRL-Arith-v0", num_envs=16, size=200, judge=NullJudge(), reward="outcome")
    envs.reset(seed=0)
    actions = ["The sum is \\boxed{12}."] * 16
    benchmark(lambda: envs.step(actions))  # completion mode: steps alternate answer / autoreset


@pytest.fixture(scope="module")
def pool():
    pool = MathCheckPool(workers=2, time_limit=3.0)
    pool.check("1", "1")  # start the workers outside the timed region
    yield pool
    pool.close()


def test_answer_checks_per_second(benchmark, pool):
    def batch_of_64():
        base = next(_fresh) * 1000
        pairs = [(str(base + i), f"{base + i}.0" if i % 2 else str(base + i + 1)) for i in range(64)]
        results = pool.check_many(pairs)
        assert all(r.status in ("equal", "different") for r in results)

    benchmark.extra_info["checks_per_round"] = 64
    benchmark.pedantic(batch_of_64, rounds=5, iterations=1)


def test_bomb_worst_case(benchmark, pool):
    result = benchmark.pedantic(lambda: pool.check(str(next(_fresh)), r"9^{9^{9^{9}}}"), rounds=2, iterations=1)
    assert result.status == "timeout"
    assert pool.check("2", "2").equal


def _warm(pool) -> None:
    """Both workers started and ready (a batch of fresh checks as wide as the pool)."""
    pool.check_many([(str(next(_fresh)), "0") for _ in range(pool.workers)])


def test_stalled_worker_worst_case(benchmark, pool):
    """A worker stopped mid-check: the check is unscorable after the limit, and the next one works."""

    def stop_then_check():
        pids = [worker.process.pid for worker in pool._pool]
        threading.Timer(0.2, lambda: [os.kill(pid, signal.SIGSTOP) for pid in pids]).start()
        return pool.check(str(next(_fresh)), r"9^{9^{9^{9}}}")

    result = benchmark.pedantic(stop_then_check, setup=lambda: _warm(pool), rounds=2, iterations=1)
    assert result.status == "stalled"
    assert pool.check("3", "3").equal


def test_worker_killed_while_idle_recovery(benchmark, pool):
    """Every worker killed while idle (an OOM kill): the next check waits for a replacement, and is not lost."""

    def kill_all():
        _warm(pool)
        for worker in pool._pool:
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.wait()  # so the pool finds it dead, not mid-death

    result = benchmark.pedantic(lambda: pool.check(str(next(_fresh)), "1"), setup=kill_all, rounds=3, iterations=1)
    assert result.status == "different"
