"""Several judge servers behind one ``llm`` judge (issue 15): least-loaded routing, and one failing server (erroring,
dead or hung) does not stall the others. Real HTTP servers on 127.0.0.1 (tests/judges/scripted_server.py)."""

from __future__ import annotations

import pickle
import socket
import time

import pytest

from exprl_env.domains import load_problems
from judges import JudgeItem, make_judge
from judges.llm_backends import ServerPool
from tests.judges.scripted_server import ScriptedServer

PROBLEM = load_problems("gsm", size=1)[0]
GOOD = "Reasoning: it reaches the reference.\nScore: 5"


def items(n: int) -> list[JudgeItem]:
    return [JudgeItem(PROBLEM, f"work {i}", "outcome") for i in range(n)]  # distinct: no cache hit


def pool_judge(urls: list[str], **options):
    settings = {"max_tokens": 32, "max_retries": 4, "timeout": 5.0, "max_concurrency": 2, **options}
    judge = make_judge("llm", base_url=urls, model="scripted", **settings)
    for server in judge.backend.servers:
        server.backoff = 0.01
        server.breaker.threshold = 2
    return judge


def dead_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"  # nothing listens once the socket closes


def test_equal_servers_share_the_requests():
    with ScriptedServer(lambda body: (200, GOOD)) as a, ScriptedServer(lambda body: (200, GOOD)) as b:
        judge = pool_judge([a.base_url, b.base_url])
        verdicts = judge.score_batch(items(12))
        counts = len(a.requests), len(b.requests)
    assert isinstance(judge.backend, ServerPool) and all(v.ok and v.outcome == 1.0 for v in verdicts)
    assert sum(counts) == 12 and min(counts) >= 4
    found = judge.counters()
    assert found["calls"] == 12 and found["server0_calls"] + found["server1_calls"] == 12


@pytest.mark.parametrize("failure", ["HTTP 500", "dead", "hung"])
def test_one_failing_server_does_not_stall_the_others(failure):
    def hang(body):
        time.sleep(3.0)  # past the pool's 1 s timeout
        return 200, GOOD

    scripts = {"HTTP 500": lambda body: (500, "overloaded"), "hung": hang}
    with ScriptedServer(lambda body: (200, GOOD)) as good, ScriptedServer(scripts.get(failure, hang)) as bad:
        urls = [dead_url() if failure == "dead" else bad.base_url, good.base_url]
        judge = pool_judge(urls, timeout=1.0)
        started = time.monotonic()
        verdicts = judge.score_batch(items(16))
        seconds = time.monotonic() - started
    assert all(v.ok and v.outcome == 1.0 for v in verdicts)
    found = judge.counters()
    assert found["server0_failures"] >= 1 and found["server1_calls"] >= 16 and found["failures"] == 0
    assert seconds < 8.0  # the hung server costs its requests one timeout each, not the whole batch
    if failure != "hung":
        assert judge.backend.servers[0].breaker.open  # after two failures it is no longer chosen


def test_a_request_the_server_refuses_is_not_sent_to_the_others():
    with ScriptedServer(lambda body: (400, "bad request")) as a, ScriptedServer(lambda body: (400, "bad")) as b:
        judge = pool_judge([a.base_url, b.base_url])
        verdict = judge.score_batch(items(1))[0]
        calls = len(a.requests) + len(b.requests)
    assert not verdict.ok and "HTTP 400" in verdict.reason and calls == 1


def test_when_every_server_fails_the_item_is_unscorable_after_the_retries():
    with ScriptedServer(lambda body: (503, "down")) as a, ScriptedServer(lambda body: (503, "down")) as b:
        judge = pool_judge([a.base_url, b.base_url], max_retries=3)
        verdict = judge.score_batch(items(1))[0]
        calls = len(a.requests) + len(b.requests)
    assert not verdict.ok and verdict.reason.startswith("llm judge: ") and calls == 4


def test_a_pool_pickles_as_its_settings():
    pool = ServerPool(["http://127.0.0.1:9/v1", "http://127.0.0.1:10/v1"], "m", max_concurrency=3)
    again = pickle.loads(pickle.dumps(pool))
    assert [s.client.base_url for s in again.servers] == [s.client.base_url for s in pool.servers]
    assert again.max_retries == pool.max_retries and again.pool._max_workers == 6


def test_an_environment_given_a_list_of_urls_judges_through_the_fleet():
    import gymnasium as gym

    with ScriptedServer(lambda body: (200, GOOD)) as a, ScriptedServer(lambda body: (200, GOOD)) as b:
        fleet = {"base_url": [a.base_url, b.base_url], "model": "scripted", "max_tokens": 32}
        envs = gym.make_vec("ExpRL-GSM-v0", num_envs=4, reward="outcome", judge="llm", judge_kwargs=fleet)
        envs.reset(seed=0)
        _, rewards, *_ = envs.step([f"answer {i}" for i in range(4)])
        counts = len(a.requests), len(b.requests)
        envs.close()
    assert list(rewards) == [1.0] * 4 and sum(counts) == 4 and min(counts) >= 1  # one batched call, both servers
