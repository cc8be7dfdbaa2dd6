"""The math-verify pool: hostile answers cost at most the limit, and the pool keeps working."""

import time

import pytest

from judges.math_check import MathCheckPool

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
