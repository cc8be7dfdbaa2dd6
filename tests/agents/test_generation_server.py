"""The vllm-server generator (issue 15): sampling through TRL's real VLLMClient, weight pushes by its documented calls.

No vLLM runs here (it needs a GPU, and ``transformers serve`` takes only text prompts and returns neither token ids
nor log-probs), so the server is a stand-in speaking vLLM's ``/v1/completions`` response format, whose tokens and
log-probs come from the real tiny random policy; TRL's client is the real one, with its "is vLLM installed" check
lifted (it guards the NCCL weight push, not the HTTP sampling). The weight push is checked against a recording
client: NCCL needs GPUs.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from agents.generation import VLLMServerGenerator, trl_client
from agents.policy import Policy, SamplingConfig
from tests.conftest import TINY_RUN

pytest.importorskip("trl", reason="the vllm-server generator uses TRL's client (pip install 'exprl[trl]')")


class StandInServer:
    """vLLM's completions endpoint in its documented shape, answered by a policy; records every request body."""

    def __init__(self, policy: Policy):
        self.policy, self.requests = policy, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                self._reply({"data": [{"id": "tiny-random"}]} if self.path == "/v1/models" else {})

            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                self._reply({"choices": server.complete(body)})

            def _reply(self, payload):
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def complete(self, body: dict) -> list[dict]:
        prompts, temperature = body["prompt"], body["temperature"]
        sampling = SamplingConfig(temperature=temperature, max_new_tokens=body["max_tokens"])
        samples = self.policy.sample(prompts, sampling)
        responses = [s.response_ids for s in samples]
        with torch.no_grad():
            logp, _ = self.policy.token_logprobs(prompts, responses, temperature)  # processed (tempered) log-probs
        choices = []
        for prompt, ids, row in zip(prompts, responses, logp.tolist()):
            tokens = [f"token_id:{t}" for t in ids]
            logprobs = {"tokens": tokens, "token_logprobs": row[: len(ids)], "top_logprobs": [None] * len(ids)}
            choices.append({"prompt_token_ids": prompt, "token_ids": list(ids), "logprobs": logprobs, "text": "x"})
        return choices

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def policy():
    return Policy.from_pretrained("tiny-random")


@pytest.fixture
def server(policy, monkeypatch):
    import trl.generation.vllm_client as vllm_client

    monkeypatch.setattr(vllm_client, "is_vllm_available", lambda *a, **k: True)
    stand_in = StandInServer(policy)
    yield stand_in
    stand_in.close()


def test_samples_come_back_as_the_servers_token_ids_and_log_probs_without_re_tokenising(policy, server):
    generator = VLLMServerGenerator(server.base_url, policy.tokenizer, connection_timeout=10)
    prompts = [policy.prompt_ids(f"What is {i} + 2?") for i in (1, 1, 2)]
    torch.manual_seed(0)
    samples = generator.sample(prompts, SamplingConfig(temperature=0.8, max_new_tokens=6))
    request = server.requests[-1]
    assert request["prompt"] == prompts and request["return_token_ids"] and request["logprobs"] == 0
    assert request["temperature"] == 0.8 and request["max_tokens"] == 6
    for prompt, sample in zip(prompts, samples):
        assert sample.prompt_ids == tuple(prompt) and len(sample.response_ids) == 6 and not sample.finished
        assert sample.text == policy.tokenizer.decode(sample.response_ids, skip_special_tokens=True)
    with torch.no_grad():  # what an agent recomputes on the same ids is what the server reported
        ours, _ = policy.token_logprobs(prompts, [s.response_ids for s in samples], 0.8)
    assert torch.allclose(ours, torch.tensor([s.logprobs for s in samples]), atol=1e-5)


def test_a_missing_vllm_is_named():
    with pytest.raises(ImportError, match="needs vLLM installed beside the trainer"):
        trl_client("http://127.0.0.1:9", connection_timeout=0)


class RecordingClient:
    """What VLLMServerGenerator calls on TRL's client to push weights, in order."""

    def __init__(self):
        self.calls = []

    def init_communicator(self, device=0):
        self.calls.append(("init_communicator", str(device)))

    def weight_update(self):
        from contextlib import contextmanager

        @contextmanager
        def update():
            self.calls.append(("start",))
            yield
            self.calls.append(("finish",))

        return update()

    def update_named_params(self, metadata, named_params):
        tensors = list(named_params)
        assert [name for name, _ in tensors] == [name for name, _, _ in metadata]
        shapes = [shape for _, _, shape in metadata]
        assert all(t.dtype == torch.bfloat16 and list(t.shape) == shape for (_, t), shape in zip(tensors, shapes))
        self.calls.append(("update", len(metadata), {dtype for _, dtype, _ in metadata}))

    def reset_prefix_cache(self):
        self.calls.append(("reset_prefix_cache",))


def test_weights_are_pushed_in_one_update_in_bf16_then_the_prefix_cache_is_dropped(policy):
    client = RecordingClient()
    generator = VLLMServerGenerator("unused", policy.tokenizer, client=client)
    generator.load_weights(policy.model)
    generator.load_weights(policy.model)
    count = len(list(policy.model.named_parameters()))
    push = [("start",), ("update", count, {"bfloat16"}), ("finish",), ("reset_prefix_cache",)]
    assert client.calls == [("init_communicator", "cpu"), *push, *push]  # the communicator is opened once


def test_the_trainer_samples_from_the_server_and_pushes_at_the_start_and_after_each_update(
    tmp_path, server, monkeypatch
):
    from agents.trainer import TrainConfig, Trainer

    pushed = []
    monkeypatch.setattr(VLLMServerGenerator, "load_weights", lambda self, model: pushed.append(model))
    trainer = Trainer(
        TrainConfig(
            **{**TINY_RUN, "max_new_tokens": 5},
            steps=2,
            output_dir=str(tmp_path / "run"),
            generator="vllm-server",
            generator_url=server.base_url,
        )
    )
    records = trainer.train()
    assert [r["step"] for r in records] == [1, 2] and len(server.requests) == 2
    assert len(pushed) == 3 and all(model is trainer.policy.model for model in pushed)
