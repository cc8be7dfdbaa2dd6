"""The llm judge against a real OpenAI-compatible server: `transformers serve` on SmolLM2-135M-Instruct (CPU).

A 135M model is a poor judge: most of its answers fail validation. What is tested is the machinery on a
real server: a batch comes back as verdicts or unscorable (never a silent 0), and a server killed
mid-batch gives retries, then unscorable verdicts, while the run goes on.
"""

from __future__ import annotations

import threading
import time

import pytest

from agents.models import resolve_model
from exprl_env.domains import load_problems
from judges import JudgeItem, make_judge
from judges.local_server import TransformersServer

pytestmark = pytest.mark.slow
PROBLEMS = load_problems("gsm", size=3)


@pytest.fixture(scope="module")
def folder():
    return resolve_model("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def server(folder):
    server = TransformersServer(folder)
    yield server
    server.stop()


def items():
    answers = [p.reference.unseal().answer for p in PROBLEMS]
    return [
        JudgeItem(PROBLEMS[0], f"First 6 * 2 = 12.\n\nSo the total is \\boxed{{{answers[0]}}}.", "outcome"),
        JudgeItem(PROBLEMS[1], "Let me add things up.\n### 2 + 1 = 3\n### The answer is \\boxed{3}.", "process"),
        JudgeItem(PROBLEMS[2], f"\\boxed{{{answers[2]}}}", "outcome"),
    ]


def calls_asked(protocol, verdicts):
    """Calls for the batch above, before re-asks: the paper protocol asks once per outcome response and once per
    ### step (2 + 3); the batched one once per response and once for the problem's checkpoints (2 + 1 + 1), and
    asks nothing for the process response when no checkpoints could be read."""
    if protocol == "paper":
        return 5
    return 3 if not verdicts[1].ok and "checkpoints:" in verdicts[1].reason else 4


@pytest.mark.parametrize("protocol", ["paper", "batched"])
def test_a_batch_against_the_real_server_gives_verdicts_or_unscorable(server, folder, protocol):
    judge = make_judge(
        "llm",
        base_url=server.base_url,
        model=folder,
        protocol=protocol,
        max_tokens=48,
        max_concurrency=2,
        parse_retries=1,
        max_retries=2,
    )
    verdicts = judge.score_batch(items())
    assert len(verdicts) == 3
    for verdict in verdicts:
        if verdict.ok:
            assert 0.0 <= verdict.outcome <= 1.0
        else:
            assert verdict.outcome is None and verdict.reason
    if verdicts[1].ok:  # each ### step rated on its own (paper), or all in one call (batched)
        assert len(verdicts[1].step_ratings) == 3 and verdicts[1].step_scores is None
    counters = judge.counters()
    assert counters["failures"] == 0 and counters["retries"] == 0 and counters["latency_p50_s"] > 0
    assert counters["calls"] == calls_asked(protocol, verdicts) + counters["parse_retries"]
    assert verdicts[0].answer_correct is True and verdicts[1].answer_correct is False


def test_server_killed_mid_batch_gives_retries_then_unscorable_and_the_run_goes_on(folder):
    server = TransformersServer(folder)
    judge = make_judge(
        "llm",
        base_url=server.base_url,
        model=folder,
        max_tokens=48,
        max_concurrency=1,
        parse_retries=0,
        max_retries=2,
        timeout=30.0,
    )
    judge.backend.backoff = 0.05
    batch = [JudgeItem(PROBLEMS[i % 3], f"Attempt {i}: 6 * 2 = 12.", "outcome") for i in range(6)]
    result: list = []
    worker = threading.Thread(target=lambda: result.extend(judge.score_batch(batch)))
    worker.start()
    deadline = time.monotonic() + 180
    while not judge.backend.counters.latencies and time.monotonic() < deadline:
        time.sleep(0.2)
    assert judge.backend.counters.latencies, "the first request never completed"
    server.stop()
    worker.join(timeout=240)
    assert not worker.is_alive() and len(result) == 6
    lost = [v for v in result if not v.ok]
    assert lost and all(v.outcome is None and v.reason for v in lost)
    counters = judge.counters()
    assert counters["retries"] >= 1 and counters["failures"] >= 1
    started = time.monotonic()
    again = judge.score_batch(batch[:2])  # the run goes on: fast unscorable answers, no hang
    assert all(not v.ok for v in again) and time.monotonic() - started < 60


def test_in_process_transformers_backend(folder):
    judge = make_judge("llm", model=folder, max_tokens=32, parse_retries=0)
    verdicts = judge.score_batch(items()[:2])
    assert len(verdicts) == 2 and all(v.ok or (v.outcome is None and v.reason) for v in verdicts)
    assert judge.counters()["calls"] >= 2


def test_a_fleet_with_a_dead_server_is_answered_by_the_real_one(server, folder):
    """Several servers behind one judge (judges.llm_backends.ServerPool): the first request goes to the dead server
    (nothing listens on its port), is refused, and is sent to the live `transformers serve` at once."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    judge = make_judge(
        "llm", base_url=[dead, server.base_url], model=folder, max_tokens=48, parse_retries=0, max_concurrency=1
    )
    verdicts = judge.score_batch([items()[0], items()[2]])
    assert len(verdicts) == 2 and all(v.ok or (v.outcome is None and v.reason) for v in verdicts)
    counters = judge.counters()
    assert counters["failures"] == 0 and counters["server0_failures"] >= 1 and counters["server0_calls"] >= 1
    assert counters["server1_calls"] == 2 and counters["calls"] == counters["server0_calls"] + 2
