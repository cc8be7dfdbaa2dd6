"""Generation backends behind one small interface: ``sample(prompt_ids, config) -> list[Sample]``.

The default is the policy's own decode loop (:meth:`agents.policy.Policy.sample`), on CPU or GPU.

:class:`VLLMServerGenerator` samples from a vLLM server through TRL's client (``trl.generation.vllm_client``,
TRL 1.16; the server is ``trl vllm-serve --model M``, which runs ``vllm serve`` in dev mode with the NCCL weight
transfer engine and ``--logprobs-mode processed_logprobs``). Prompts go as token ids and the completion's token ids
and per-token log-probs come back (``return_token_ids``, ``return_tokens_as_token_ids``): nothing is re-tokenised,
the text is decoded from those ids as the policy's own sampler decodes them. After each update the trainer's rank 0
pushes the weights over NCCL (``init_communicator`` once, then ``weight_update`` around ``update_named_params``, then
``reset_prefix_cache``, so no cached prompt is reused with the old weights), cast to bf16 on the way as the server
holds them. What was exercised: the sampling, through TRL's real client against an HTTP server answering vLLM's
``/v1/completions`` format with tokens from the tiny random policy (``transformers serve`` takes only text prompts and
returns neither ids nor log-probs, and TRL's client refuses to start without vLLM installed, so the test lifts that
one check); the push only against a recording stand-in, as NCCL and vLLM need GPUs.

:class:`VLLMGenerator` is the optional in-process path on a GPU, written against vLLM's documented offline API
(``LLM``, ``SamplingParams``, ``TokensPrompt``, ``LLM.generate``). **It has not been run in this project**: vLLM
needs a GPU and is not installable on the machines this project is built on. After each optimizer step the
trainer must push the policy's weights into the engine (:meth:`VLLMGenerator.load_weights`); how vLLM exposes
its model for that differs between versions, so that one call is isolated and fails loudly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import torch

from agents.policy import Sample, SamplingConfig


class Generator(Protocol):
    def sample(self, prompt_ids: Sequence[Sequence[int]], config: SamplingConfig) -> list[Sample]: ...


class WeightPushClient(Protocol):
    """The part of ``trl.generation.vllm_client.VLLMClient`` (TRL 1.16) this generator uses."""

    def generate(self, prompts: list[list[int]], **sampling: Any) -> dict[str, Any]: ...

    def init_communicator(self, device: torch.device | str | int = 0) -> None: ...

    def weight_update(self) -> AbstractContextManager[None]: ...

    def update_named_params(
        self, metadata: list[tuple[str, str, list[int]]], named_params: Iterator[tuple[str, torch.Tensor]]
    ) -> None: ...

    def reset_prefix_cache(self) -> None: ...


class VLLMServerGenerator:
    """Sampling from a vLLM server, weights pushed after each update (see module docstring)."""

    shared = True
    """One server for every rank: rank 0 pushes the weights while the others wait (see Trainer._push_weights)."""

    def __init__(
        self,
        base_url: str,
        tokenizer,
        client: WeightPushClient | None = None,
        push_dtype: torch.dtype = torch.bfloat16,
        connection_timeout: float = 240.0,
    ):
        self.client = client if client is not None else trl_client(base_url, connection_timeout)
        self.tokenizer, self.push_dtype = tokenizer, push_dtype
        self._connected = False

    def sample(self, prompt_ids: Sequence[Sequence[int]], config: SamplingConfig) -> list[Sample]:
        """One response per prompt (repeat a prompt for a group), with the server's log-prob of each token."""
        out = self.client.generate(
            [list(p) for p in prompt_ids],
            n=1,
            temperature=config.temperature,
            top_p=config.top_p,
            max_tokens=config.max_new_tokens,
            logprobs=0,
        )
        logprobs = out["logprobs"] or [None] * len(prompt_ids)
        eos = self.tokenizer.eos_token_id
        samples = []
        for prompt, ids, token_logprobs in zip(prompt_ids, out["completion_ids"], logprobs):
            ids = tuple(ids)
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            finished = len(ids) < config.max_new_tokens or (bool(ids) and ids[-1] == eos)  # the server stopped it
            sampled = (
                tuple(math.nan if top[0] is None else float(top[0]) for top in token_logprobs)
                if token_logprobs
                else None
            )
            samples.append(Sample(tuple(prompt), ids, text, finished, logprobs=sampled))
        return samples

    def load_weights(self, model: torch.nn.Module) -> None:
        """Push every parameter to the server (cast to ``push_dtype``), then drop its cached prompts."""
        if not self._connected:
            self.client.init_communicator(device=next(model.parameters()).device)
            self._connected = True
        named = list(model.named_parameters())
        dtype = str(self.push_dtype).removeprefix("torch.")
        metadata = [(name, dtype, list(param.shape)) for name, param in named]
        with self.client.weight_update():
            self.client.update_named_params(metadata, ((n, p.detach().to(self.push_dtype)) for n, p in named))
        self.client.reset_prefix_cache()


def trl_client(base_url: str, connection_timeout: float = 240.0) -> WeightPushClient:
    """TRL's vLLM client for a server at ``base_url`` (e.g. ``http://host:8000``), waiting up to the timeout."""
    try:
        from trl.generation.vllm_client import VLLMClient
    except ImportError as error:
        raise ImportError("the vllm-server generator needs TRL 1.16: pip install 'exprl[trl]'") from error
    try:
        return VLLMClient(base_url=base_url, connection_timeout=connection_timeout)
    except ImportError as error:  # TRL's client refuses to start without vLLM (its weight push is vLLM's NCCL code)
        raise ImportError(
            "the vllm-server generator needs vLLM installed beside the trainer too (pip install vllm, on a CUDA "
            "machine): TRL's client pushes the weights with vLLM's NCCL weight-transfer code"
        ) from error


class VLLMGenerator:
    """Sampling with vLLM (GPU only; see module docstring for what was not exercised)."""

    def __init__(self, model_path: str, gpu_memory_utilization: float = 0.3, dtype: str = "bfloat16", seed: int = 0):
        try:
            from vllm import LLM
        except ImportError as error:
            raise ImportError(
                "the vLLM backend needs `pip install vllm` on a CUDA machine; "
                "the default transformers backend needs nothing more"
            ) from error
        self.llm = LLM(model=model_path, dtype=dtype, gpu_memory_utilization=gpu_memory_utilization, seed=seed)

    def sample(self, prompt_ids: Sequence[Sequence[int]], config: SamplingConfig) -> list[Sample]:
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        params = SamplingParams(temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_new_tokens)
        outputs = self.llm.generate([TokensPrompt(prompt_token_ids=list(p)) for p in prompt_ids], params)
        samples = []
        for prompt, output in zip(prompt_ids, outputs):
            completion = output.outputs[0]
            samples.append(
                Sample(tuple(prompt), tuple(completion.token_ids), completion.text, completion.finish_reason == "stop")
            )
        return samples

    def load_weights(self, model: torch.nn.Module) -> None:
        """Copy the trained weights into the engine (the vLLM 0.x single-GPU path)."""
        try:
            engine_model = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        except AttributeError as error:
            raise NotImplementedError("this vLLM version hides its model; update VLLMGenerator.load_weights") from error
        engine_model.load_weights(model.state_dict().items())
