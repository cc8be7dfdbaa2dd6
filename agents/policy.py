"""A language-model policy: chat-templated prompts in, sampled responses with token ids and log-probs out.

Sampling is a plain KV-cached decode loop over left-padded prompts, each distinct prompt prefilled once.
Log-probabilities for training are recomputed (temperature-scaled like the sampler) because the update needs
them with gradients and under the current parameters, again with each distinct prompt run once.
``step_of_token`` maps a judge's character spans onto response tokens, so step-level credit lands on the right
tokens.

Memory and speed on GPUs (:meth:`Policy.use_mixed_precision`, :meth:`Policy.use_gradient_checkpointing`): every
forward can run under ``torch.autocast`` to bf16, the weights, gradients and optimizer state staying fp32 (autocast
rather than bf16 weights with an fp32 master copy: the same memory for weights plus master, no copy to keep in step,
and the log-softmax of the loss in fp32 either way); with gradient checkpointing the pass that trains runs prompt and
response together without a KV cache (a checkpointed layer recomputed in the backward would write its cache a second
time, so transformers drops the cache there), trading the shared prompt pass for activation memory.

The KV cache is a ``transformers.DynamicCache`` made here and passed to every forward by the argument name the
installed transformers takes: ``cache`` from 5.24 on, ``past_key_values`` before (5.24 warns on every call that
takes the old name, and 5.40 removes it), so no version we support prints a FutureWarning.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Sequence

import attrs
import torch

from agents import sharding
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
    logprobs: tuple[float, ...] | None = None
    """The sampler's log-probability of each response token, where it reports them (a generation server); the agents
    recompute their own under the current weights, so these are for checking the two agree."""


@attrs.frozen
class Prefix:
    """The prompts' pass, one row per input row: what sampling and scoring continue from."""

    cache: object
    """The KV cache (a transformers Cache), rows expanded to the input rows."""
    last_logits: torch.Tensor
    """[rows, vocab] logits at each prompt's last token: they predict the first response token."""
    last_hidden: torch.Tensor | None
    """[rows, width] last hidden state there (when computed with gradients), for value heads."""
    mask: torch.Tensor
    """[rows, width] attention mask of the left-padded prompts."""
    lengths: torch.Tensor
    """[rows] prompt lengths: the position id of the first response token."""


def cache_argument(model) -> str:
    """The keyword a model's forward takes its KV cache by: ``cache`` (transformers >= 5.24) or ``past_key_values``."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def next_tokens(logits: torch.Tensor, temperature: float, top_p: float = 1.0) -> torch.Tensor:
    """One token per row from [rows, vocab] logits: greedy at temperature 0, else softmax(logits / T),
    restricted to the smallest set of tokens whose mass reaches ``top_p`` (nucleus sampling)."""
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        outside = sorted_probs.cumsum(-1) - sorted_probs >= top_p  # mass before this token already reaches top_p
        probs = probs.scatter(-1, order, sorted_probs.masked_fill(outside, 0.0))
    return torch.multinomial(probs, 1).squeeze(-1)


class Policy:
    """A causal LM and its tokenizer (see module docstring)."""

    def __init__(self, model, tokenizer, name: str = ""):
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self._cache_argument = cache_argument(model)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.autocast_dtype: torch.dtype | None = None
        """Every forward runs under ``torch.autocast`` to this dtype; None: in the weights' dtype."""
        self.gradient_checkpointing = False
        """Whether the pass that trains recomputes each layer in the backward instead of keeping its activations."""

    def use_mixed_precision(self, dtype: torch.dtype | None) -> None:
        """Run every forward under autocast to ``dtype`` (bf16), weights and gradients staying in their dtype; None:
        no autocast."""
        self.autocast_dtype = dtype

    def use_gradient_checkpointing(self) -> None:
        """Recompute each decoder layer in the backward (transformers' activation checkpointing, non-reentrant)."""
        enable = getattr(self.model, "activation_checkpointing_enable", None)  # transformers >= 5.25
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            self.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.gradient_checkpointing = True

    def frozen_copy(self) -> Policy:
        """A frozen copy of the current model with the same tokenizer and precision (a KL reference, a teacher)."""
        if sharding.is_sharded(self.model):  # a deep copy of FSDP's hooks and DTensors is no model: rebuild, reshard
            model = sharding.frozen_copy(self.model)
        else:
            model = copy.deepcopy(self.model).eval().requires_grad_(False)
        frozen = Policy(model, self.tokenizer, self.name)
        frozen.use_mixed_precision(self.autocast_dtype)
        return frozen

    def gathered(self):
        """A context within which a sharded model's forwards do not communicate (see :func:`agents.sharding.gathered`:
        entering it is a collective); nothing for an unsharded model."""
        return sharding.gathered(self.model)

    def _forward(self, **inputs):
        """The model's forward, under autocast when mixed precision is on."""
        if self.autocast_dtype is None:
            return self.model(**inputs)
        with torch.autocast(self.device.type, dtype=self.autocast_dtype):
            return self.model(**inputs)

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Policy:
        """Any Hugging Face folder or id, or an alias: ``smollm2-135m-instruct``, ``tiny-random``, ``testbed``."""
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
        try:
            encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        except Exception as error:  # tokenizers raises a bare Exception
            if "Missing [UNK] token" not in str(error):
                raise
            raise ValueError(unencodable_message(self.tokenizer, (system or "") + prompt)) from error
        return list(encoded["input_ids"] if isinstance(encoded, dict) or hasattr(encoded, "keys") else encoded)

    def sample(self, prompt_ids: Sequence[Sequence[int]], config: SamplingConfig) -> list[Sample]:
        """One response per prompt (repeat a prompt for a group); uses the global torch RNG.

        Each distinct prompt is prefilled once and its KV cache shared by the rows that repeat it (a GRPO
        group of G costs one prefill, not G), then a plain decode loop samples every row: ``generate``
        would re-prefill every copy and add per-token machinery this loop does not need. A sharded model samples
        with its parameters gathered, so each rank decodes for as many steps as its own rows need.
        """
        with torch.no_grad(), self.gathered():
            return self._sample(prompt_ids, config)

    def _sample(self, prompt_ids: Sequence[Sequence[int]], config: SamplingConfig) -> list[Sample]:
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        prefix = self._prefix(prompt_ids, grad=False)
        logits, mask, positions = prefix.last_logits, prefix.mask, prefix.lengths.clone()
        rows = len(prompt_ids)
        finished = torch.zeros(rows, dtype=torch.bool, device=self.device)
        tokens = []
        for _ in range(config.max_new_tokens):
            chosen = next_tokens(logits, config.temperature, config.top_p)
            chosen = torch.where(finished, torch.full_like(chosen, pad), chosen)
            tokens.append(chosen)
            finished |= chosen == eos
            if bool(finished.all()) or len(tokens) == config.max_new_tokens:
                break
            mask = torch.cat([mask, torch.ones(rows, 1, dtype=mask.dtype, device=self.device)], dim=1)
            output = self._forward(
                input_ids=chosen[:, None],
                attention_mask=mask,
                position_ids=positions[:, None],
                use_cache=True,
                **{self._cache_argument: prefix.cache},
            )
            positions += 1
            logits = output.logits[:, -1]
        generated = torch.stack(tokens, dim=1).tolist() if tokens else [[] for _ in range(rows)]
        samples = []
        for prompt, row in zip(prompt_ids, generated):
            stop = next((i for i, t in enumerate(row) if t == eos), None)
            response = row if stop is None else row[: stop + 1]
            text = self.tokenizer.decode(response, skip_special_tokens=True)
            samples.append(Sample(tuple(prompt), tuple(response), text, stop is not None))
        return samples

    def _prefix(self, prompt_ids: Sequence[Sequence[int]], grad: bool) -> Prefix:
        """Run each distinct prompt once (left-padded, so every prompt ends at the same column) and expand the
        KV cache, last logits and last hidden state to one row per input row. Gradients flow through the
        shared prompt pass when ``grad`` (the backward sums every group member's share into it)."""
        from transformers import DynamicCache

        distinct: dict[tuple[int, ...], int] = {}
        index = torch.tensor([distinct.setdefault(tuple(p), len(distinct)) for p in prompt_ids], device=self.device)
        unique = list(distinct)
        width = max(len(p) for p in unique)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in unique], device=self.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in unique], device=self.device)
        positions = (mask.cumsum(1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)  # filled in place by the forward
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            output = self._forward(
                input_ids=ids,
                attention_mask=mask,
                position_ids=positions,
                use_cache=True,
                output_hidden_states=grad,
                logits_to_keep=1,
                **{self._cache_argument: cache},
            )
        if len(unique) != len(prompt_ids) or not bool((index == torch.arange(len(index), device=self.device)).all()):
            cache.reorder_cache(index)
        hidden = output.hidden_states[-1][:, -1][index] if grad else None
        lengths = torch.tensor([len(p) for p in unique], device=self.device)[index]
        return Prefix(cache, output.logits[:, -1][index], hidden, mask[index], lengths)

    def token_logprobs(
        self,
        prompt_ids: Sequence[Sequence[int]],
        response_ids: Sequence[Sequence[int]],
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token log p(response token | prefix) as [batch, longest response], and its 0/1 mask.

        Gradients flow unless called under no_grad. See :meth:`forward_responses`.
        """
        logp, mask, _ = self.forward_responses(prompt_ids, response_ids, temperature)
        return logp, mask

    def forward_responses(
        self,
        prompt_ids: Sequence[Sequence[int]],
        response_ids: Sequence[Sequence[int]],
        temperature: float = 1.0,
        hidden: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Like :meth:`token_logprobs`, plus (if ``hidden``) the last hidden state at the position that
        predicts each response token, [batch, longest response, width]: the input of a value head.

        Two passes that together equal one forward over prompt + response: the distinct prompts once
        (shared by their group, see :meth:`_prefix`), then the responses on top of the prompts' KV cache,
        with logits only where a response token is predicted. A group of G rollouts thus pays for its
        prompt once instead of G times, and no vocabulary-wide logits are made for prompt positions.
        """
        logp, mask, states, _ = self._response_pass(prompt_ids, response_ids, temperature, hidden, entropy=False)
        return logp, mask, states

    def token_logprobs_and_entropy(
        self,
        prompt_ids: Sequence[Sequence[int]],
        response_ids: Sequence[Sequence[int]],
        temperature: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Like :meth:`token_logprobs`, plus the entropy of the tempered next-token distribution at each response
        position, [batch, longest response] (0 at padding): what an entropy bonus maximises."""
        logp, mask, _, entropy = self._response_pass(prompt_ids, response_ids, temperature, False, entropy=True)
        return logp, mask, entropy

    def _response_pass(self, prompt_ids, response_ids, temperature: float, hidden: bool, entropy: bool):
        """(log-probs, mask, hidden states or None, entropies or None) of :meth:`forward_responses`."""
        rows, longest = len(response_ids), max((len(r) for r in response_ids), default=0)
        mask = torch.tensor([[1.0] * len(r) + [0.0] * (longest - len(r)) for r in response_ids], device=self.device)
        if longest == 0:
            empty = torch.zeros(rows, 0, device=self.device)
            return empty, mask.reshape(rows, 0), None, (empty if entropy else None)
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([list(r) + [pad] * (longest - len(r)) for r in response_ids], device=self.device)
        sharded = sharding.is_sharded(self.model)
        if torch.is_grad_enabled() and (self.gradient_checkpointing or sharded):
            logits, states = self._joint_pass(prompt_ids, ids, mask, hidden)  # a sharded model: one forward, always
        else:
            with self.gathered():
                logits, states = self._cached_pass(prompt_ids, ids, mask, hidden)
        return self._token_outputs(logits, ids, mask, states, temperature, entropy)

    def _cached_pass(self, prompt_ids, ids: torch.Tensor, mask: torch.Tensor, hidden: bool):
        """(logits, hidden states or None) predicting each response token: the distinct prompts once, then the
        responses on their KV cache."""
        longest = ids.shape[1]
        prefix = self._prefix(prompt_ids, grad=True)
        logits = prefix.last_logits[:, None]
        states = prefix.last_hidden[:, None] if hidden else None
        if longest > 1:
            attention = torch.cat([prefix.mask, mask.to(prefix.mask.dtype)], dim=1)
            positions = prefix.lengths[:, None] + torch.arange(longest - 1, device=self.device)
            output = self._forward(
                input_ids=ids[:, :-1],
                attention_mask=attention[:, :-1],
                position_ids=positions,
                use_cache=True,
                output_hidden_states=hidden,
                **{self._cache_argument: prefix.cache},
            )
            logits = torch.cat([logits, output.logits], dim=1)
            if hidden:
                states = torch.cat([states, output.hidden_states[-1]], dim=1)
        return logits, states

    def _joint_pass(self, prompt_ids, ids: torch.Tensor, mask: torch.Tensor, hidden: bool):
        """Like :meth:`_cached_pass`, in one forward over each row's left-padded prompt and right-padded response,
        without a KV cache. With gradient checkpointing its decoder layers are recomputed in the backward (only the
        layers are put in training mode, which is what transformers checks: dropout elsewhere stays off). A sharded
        model trains through this pass even without checkpointing: every micro-batch must be the same number of
        forwards (one) on every rank, and the cached pass is one or two."""
        longest, width = ids.shape[1], max(len(p) for p in prompt_ids)
        pad = self.tokenizer.pad_token_id
        prompts = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompt_ids], device=self.device)
        shown = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompt_ids], device=self.device)
        attention = torch.cat([shown, mask.to(shown.dtype)], dim=1)[:, :-1]
        layers = [m for m in self.model.modules() if getattr(m, "gradient_checkpointing", False)]
        layers = layers if self.gradient_checkpointing else []
        for layer in layers:
            layer.training = True
        try:
            output = self._forward(
                input_ids=torch.cat([prompts, ids], dim=1)[:, :-1],
                attention_mask=attention,
                position_ids=(attention.cumsum(1) - 1).clamp(min=0),
                use_cache=False,
                output_hidden_states=hidden,
                logits_to_keep=longest,
            )
        finally:
            for layer in layers:
                layer.training = False
        return output.logits, (output.hidden_states[-1][:, -longest:] if hidden else None)

    @staticmethod
    def _token_outputs(logits, ids, mask, states, temperature: float, entropy: bool):
        """(log-probs, mask, hidden states or None, entropies or None) of the response tokens from the logits that
        predict them."""
        logits = logits.float()
        if temperature > 0 and temperature != 1.0:
            logits = logits / temperature
        logp_all = torch.log_softmax(logits, dim=-1)
        picked = logp_all.gather(-1, ids.unsqueeze(-1)).squeeze(-1)  # one fused kernel
        entropies = -(logp_all.exp() * logp_all).sum(-1) * mask if entropy else None
        return picked * mask, mask, (states * mask[..., None] if states is not None else None), entropies

    def step_of_token(self, response_ids: Sequence[int], spans: Sequence[tuple[int, int]] | None) -> list[int]:
        """For each response token, the index of the judged step its text starts in (see :func:`step_of_token`)."""
        return step_of_token(self.tokenizer, response_ids, spans)


def unencodable_message(tokenizer, text: str) -> str:
    """Why a tokenizer without an unknown token (the testbed's character vocabulary) cannot encode ``text``: the
    characters that are not tokens of its vocabulary, named, rather than the tokenizers library's "Missing [UNK]"."""
    vocab = tokenizer.get_vocab()
    missing = list(dict.fromkeys(c for c in text if c not in vocab))
    return (
        f"the tokenizer has no token for the character(s) {missing!r} and no unknown token to stand in for them; "
        "rewrite the text without them or use a model whose vocabulary covers them"
    )


def step_of_token(tokenizer, response_ids: Sequence[int], spans: Sequence[tuple[int, int]] | None) -> list[int]:
    """For each response token, the index of the judged step its text starts in (0 before the first step); the spans
    are character offsets into ``tokenizer.decode(response_ids, skip_special_tokens=True)``. A function of the
    tokenizer alone, so a trainer that is not ours (TRL's, verl's) maps its completions the same way."""
    return steps_of_tokens(lambda ids: tokenizer.decode(ids, skip_special_tokens=True), response_ids, spans)


def steps_of_tokens(
    decode: Callable[[Sequence[int]], str], ids: Sequence[int], spans: Sequence[tuple[int, int]] | None
) -> list[int]:
    """For each token of ``ids``, the index of the step (a character span of ``decode(ids)``) its text starts in (0
    before the first step), for any decoder."""
    if not spans:
        return [0] * len(ids)
    steps, step = [], 0
    for start in token_starts(decode, ids):
        while step + 1 < len(spans) and spans[step + 1][0] <= start:
            step += 1
        steps.append(step)
    return steps


INCOMPLETE = "\ufffd"  # what a decoder shows for the leading bytes of a character whose last bytes are still to come
MAX_PENDING = 8  # tokens that may end in an unfinished character before their text is taken as it decodes


def token_starts(decode: Callable[[Sequence[int]], str], ids: Sequence[int]) -> list[int]:
    """The character offset in ``decode(ids)`` where each token's text starts, in time linear in ``len(ids)``.

    Incremental detokenisation, as streaming servers do it: each token is decoded within a short window of the
    tokens before it (so a tokenizer that drops a leading space at the start of a text still sees context), and
    text is committed only once it ends in a whole character. The bytes of one character split over several
    tokens therefore start where that character starts, never after it. Decoding every prefix would give the same
    offsets for whole characters but costs O(n^2) decodes: minutes for a 16k-token response.
    """
    starts: list[int] = []
    committed = 0  # characters of text committed so far
    context, read = 0, 0  # ids[context:read] is already committed: decoding starts there for its context
    for i in range(len(ids)):
        seen = decode(ids[context:read])
        pending = decode(ids[context:i])[len(seen) :].rstrip(INCOMPLETE) if i > read else ""
        starts.append(committed + len(pending))
        text = decode(ids[context : i + 1])
        if (len(text) > len(seen) and not text.endswith(INCOMPLETE)) or i + 1 - read >= MAX_PENDING:
            committed += len(text) - len(seen)
            context, read = read, i + 1
    return starts
