"""Generation backends behind one small interface: ``sample(prompt_ids, config) -> list[Sample]``.

The default is the policy's own transformers ``generate`` (:meth:`agents.policy.Policy.sample`), on CPU or GPU.
:class:`VLLMGenerator` is the optional fast path on a GPU, written against vLLM's documented offline API
(``LLM``, ``SamplingParams``, ``TokensPrompt``, ``LLM.generate``). **It has not been run in this project**: vLLM
needs a GPU and is not installable on the machines this project is built on. After each optimizer step the
trainer must push the policy's weights into the engine (:meth:`VLLMGenerator.load_weights`); how vLLM exposes
its model for that differs between versions, so that one call is isolated and fails loudly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from agents.policy import Sample, SamplingConfig


class Generator(Protocol):
    def sample(self, prompt_ids: Sequence[Sequence[int]], config: SamplingConfig) -> list[Sample]: ...


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
