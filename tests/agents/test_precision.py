"""Mixed precision and gradient checkpointing (issue 15), run on CPU: autocast to bf16 works on CPU too, and
transformers' activation checkpointing is device-agnostic. What CUDA adds (bf16 kernels, memory) is not run here."""

import pytest
import torch

from agents.policy import Policy, SamplingConfig
from agents.trainer import TrainConfig, Trainer, autocast_dtype
from tests.conftest import TINY_RUN


@pytest.fixture(scope="module")
def batch():
    policy = Policy.from_pretrained("tiny-random")
    torch.manual_seed(0)
    prompts = [policy.prompt_ids(f"What is {i} + {i}?") for i in (1, 1, 2, 3)]  # a shared prompt, as in a group
    samples = policy.sample(prompts, SamplingConfig(max_new_tokens=10))
    return prompts, [s.response_ids[: 4 + k] for k, s in enumerate(samples)]  # unequal lengths: padding matters


def forward_and_grads(policy, prompts, responses):
    policy.model.zero_grad(set_to_none=True)
    logp, mask, hidden = policy.forward_responses(prompts, responses, temperature=0.8, hidden=True)
    _, _, entropy = policy.token_logprobs_and_entropy(prompts, responses, temperature=0.8)
    ((logp * mask).sum() + hidden.sum() + entropy.sum()).backward()
    grads = [p.grad.clone() for p in policy.model.parameters()]
    return logp.detach(), hidden.detach(), entropy.detach(), grads


def test_gradient_checkpointing_computes_the_same_and_recomputes_each_layer(batch):
    prompts, responses = batch
    plain, checkpointed = Policy.from_pretrained("tiny-random"), Policy.from_pretrained("tiny-random")
    checkpointed.use_gradient_checkpointing()
    calls = []
    for layer in checkpointed.model.model.layers:
        layer.self_attn.register_forward_hook(lambda *_: calls.append(1))
    expected, found = forward_and_grads(plain, prompts, responses), forward_and_grads(checkpointed, prompts, responses)
    for a, b in zip(expected[:3], found[:3]):
        assert torch.allclose(a, b, atol=1e-5)
    for a, b in zip(expected[3], found[3]):  # gradients up to 700: the same to fp32 rounding of their sums
        assert float((a - b).abs().max()) <= 1e-5 * float(a.abs().max())
    layers = len(checkpointed.model.model.layers)
    assert len(calls) == 2 * 2 * layers  # two passes (log-probs, entropy), each recomputed once in the backward
    assert not any(m.training for m in checkpointed.model.modules())  # only the layers, only during the pass
    with torch.no_grad():  # sampling and no-grad passes keep the KV cache
        assert len(checkpointed.sample(prompts[:1], SamplingConfig(max_new_tokens=3))[0].response_ids) == 3


def test_bf16_autocast_keeps_fp32_weights_and_gradients_and_close_log_probs(batch):
    prompts, responses = batch
    fp32, bf16 = Policy.from_pretrained("tiny-random"), Policy.from_pretrained("tiny-random")
    bf16.use_mixed_precision(torch.bfloat16)
    expected, found = forward_and_grads(fp32, prompts, responses), forward_and_grads(bf16, prompts, responses)
    assert found[0].dtype == torch.float32 and all(g.dtype == torch.float32 for g in found[3])
    assert all(p.dtype == torch.float32 for p in bf16.model.parameters())
    assert not torch.equal(expected[0], found[0])  # it did compute in bf16
    assert torch.allclose(expected[0], found[0], atol=0.05)  # bf16 keeps 8 bits of mantissa: ~0.4% per product
    assert bf16.frozen_copy().autocast_dtype == torch.bfloat16


def test_bf16_is_the_default_on_cuda_only():
    assert autocast_dtype("auto", torch.device("cpu")) is None
    assert autocast_dtype("auto", torch.device("cuda", 0)) == torch.bfloat16
    assert autocast_dtype("fp32", torch.device("cuda", 0)) is None
    assert autocast_dtype("bf16", torch.device("cpu")) == torch.bfloat16


def test_a_bf16_run_with_gradient_checkpointing_trains_and_resumes_in_fp32(tmp_path):
    settings = {**TINY_RUN, "max_new_tokens": 8, "output_dir": str(tmp_path / "run"), "save_every": 1}
    trainer = Trainer(TrainConfig(**settings, steps=1, precision="bf16", gradient_checkpointing=True))
    before = [p.detach().clone() for p in trainer.policy.model.parameters()]
    record = trainer.train()[0]
    assert record["applied"] == 1.0 and torch.isfinite(torch.tensor(record["loss"]))
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.policy.model.parameters()))
    assert [r["step"] for r in Trainer(TrainConfig(**settings, steps=2)).train()] == [1, 2]  # neutral settings
