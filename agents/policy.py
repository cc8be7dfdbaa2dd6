"""A language-model policy: chat-templated prompts in, sampled responses with token ids and log-probs out.

Sampling uses transformers' ``generate`` (KV cache, batched, left-padded). Log-probabilities for training
are recomputed by one forward pass over prompt + response (temperature-scaled like the sampler), because
the update needs them with gradients and under the current parameters. ``step_of_token`` maps a judge's
character spans onto response tokens, so step-level credit lands on the right tokens.
"""

from __future__ import annotations

from typing import Sequence

import attrs
import torch

from agents.models import resolve_model


@attrs.frozen
class SamplingConfig:
    """How responses are sampled."""

    temperature: float = 0.8
    """Softmax temperature (the paper samples at 0.8); 0 decodes greedily."""
    top_p: float = 1.0
    """Nucleus sampling mass."""
    max_new_tokens: int = 128
    """Longest response, in tokens."""


@attrs.frozen
class Sample:
    """One sampled response."""

    prompt_ids: tuple[int, ...]
    response_ids: tuple[int, ...]
    """Response tokens, including the end-of-sequence token when the model stopped by itself."""
    text: str
    """The response text (special tokens removed): what the environment receives."""
    finished: bool
    """True when the model emitted end-of-sequence before ``max_new_tokens``."""


class Policy:
    """A causal LM and its tokenizer (see module docstring)."""

    def __init__(self, model, tokenizer, name: str = ""):
        self.model, self.tokenizer, self.name = model, tokenizer, name
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str = "cpu", dtype: torch.dtype = torch.float32) -> "Policy":
        """Any Hugging Face folder or id, or an alias: ``smollm2-135m-instruct``, ``tiny-random``."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = resolve_model(name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
        return cls(model, tokenizer, name_or_path)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def prompt_ids(self, prompt: str, system: str | None = None) -> list[int]:
        """The chat-templated prompt (one user turn, optionally after a system turn), ready for the reply."""
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return list(encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded)

    @torch.no_grad()
    def sample(self, prompt_ids: Sequence[Sequence[int]], config: SamplingConfig) -> list[Sample]:
        """One response per prompt (repeat a prompt for a group); uses the global torch RNG."""
        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompt_ids)
        input_ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompt_ids], device=self.device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompt_ids], device=self.device)
        sampled = config.temperature > 0
        output = self.model.generate(
            input_ids=input_ids, attention_mask=attention, max_new_tokens=config.max_new_tokens, do_sample=sampled,
            temperature=config.temperature if sampled else None, top_p=config.top_p if sampled else None,
            top_k=0 if sampled else None, pad_token_id=pad, eos_token_id=self.tokenizer.eos_token_id, use_cache=True)
        samples = []
        for prompt, row in zip(prompt_ids, output[:, width:].tolist()):
            eos = next((i for i, t in enumerate(row) if t == self.tokenizer.eos_token_id), None)
            response = row if eos is None else row[: eos + 1]
            text = self.tokenizer.decode(response, skip_special_tokens=True)
            samples.append(Sample(tuple(prompt), tuple(response), text, eos is not None))
        return samples

    def token_logprobs(
        self, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]], temperature: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log p(response token | prefix) as [batch, longest response], and its 0/1 mask.

        Right-padded prompt+response in one forward pass; gradients flow unless called under no_grad.
        """
        logp, mask, _ = self.forward_responses(prompt_ids, response_ids, temperature)
        return logp, mask

    def forward_responses(
        self, prompt_ids: Sequence[Sequence[int]], response_ids: Sequence[Sequence[int]], temperature: float = 1.0,
        hidden: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Like :meth:`token_logprobs`, plus (if ``hidden``) the last hidden state at the position that
        predicts each response token, [batch, longest response, width]: the input of a value head."""
        rows = [list(p) + list(r) for p, r in zip(prompt_ids, response_ids)]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=self.device)
        attention = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=self.device)
        output = self.model(input_ids=input_ids, attention_mask=attention, output_hidden_states=hidden)
        logits = output.logits[:, :-1].float()
        if temperature > 0 and temperature != 1.0:
            logits = logits / temperature
        targets = input_ids[:, 1:]
        picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
        longest = max(len(r) for r in response_ids)
        out = torch.zeros(len(rows), longest, device=self.device)
        mask = torch.zeros(len(rows), longest, device=self.device)
        states = None
        if hidden:
            last = output.hidden_states[-1]
            states = torch.zeros(len(rows), longest, last.shape[-1], device=self.device)
        index = torch.arange(longest, device=self.device)
        for i, (prompt, response) in enumerate(zip(prompt_ids, response_ids)):
            n = len(response)
            if n:
                out[i, :n] = picked[i, len(prompt) - 1 : len(prompt) - 1 + n]
                mask[i] = (index < n).float()
                if states is not None:
                    states[i, :n] = last[i, len(prompt) - 1 : len(prompt) - 1 + n]
        return out, mask, states

    def step_of_token(self, response_ids: Sequence[int], spans: Sequence[tuple[int, int]] | None) -> list[int]:
        """For each response token, the index of the judged step its text starts in (0 before the first step)."""
        if not spans:
            return [0] * len(response_ids)
        ends, steps, step = [], [], 0
        for i in range(len(response_ids)):
            ends.append(len(self.tokenizer.decode(response_ids[: i + 1], skip_special_tokens=True)))
        for i in range(len(response_ids)):
            start = ends[i - 1] if i else 0
            while step + 1 < len(spans) and spans[step + 1][0] <= start:
                step += 1
            steps.append(step)
        return steps
