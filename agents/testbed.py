"""The testbed model: a small Llama pretrained from scratch by exprl on worked ``ExpRL-Arith-v0`` solutions.

Why it exists: SmolLM2-135M almost never answers an arithmetic chain correctly and a study on it cannot separate
any two RL arms in the time this machine has (issue 17). A controlled world needs a policy whose coverage we
choose: one that solves short chains, gets single steps of longer chains right often, and rarely finishes a long
chain, so a sparse reward is almost always 0 there while partial progress is common (the regime ExpRL targets).
Such a policy is cheap when we build it ourselves: a few-layer Llama over a character vocabulary, fitted for a
few minutes on problems of the same generator, in the same step format the references use.

- **Tokenizer**: one token per character (printable ASCII and the newline) plus five special tokens, built with
  ``tokenizers`` and saved as a ``PreTrainedTokenizerFast``, so ``AutoTokenizer`` loads it like any other. The
  character set is wider than arithmetic needs because the self-distillation teacher and system turns speak
  English; a character outside it (``×``, ``é``) is an error at encoding (the word-level model has no unknown
  token), never a silent placeholder. ``<|end|>`` is the end-of-sequence token the sampler stops at and the
  trainer's ``finished`` counts; ``<|pad|>`` pads.
- **Chat template**: ``<|role|>content<|end|>`` per turn and ``<|assistant|>`` as the generation prompt, so
  :meth:`agents.policy.Policy.prompt_ids` works unchanged (system turns included).
- **Pretraining data**: problems from :func:`exprl_env.domains.arith.load_arith` (``n_ops`` in ``chain_lengths``),
  the prompt exactly as the policy sees the environment's observation (through ``Policy.prompt_ids``) and the
  target :func:`agents.privileged.reference_response` of the reference plus ``<|end|>``; the loss is on the target
  only. Questions of the environment's held-out test split (its default problem set, every chain length up to
  ``HELD_OUT_CHAINS``) are never trained on, so test-split numbers measure generalisation, not recall.
- **Coverage knob**: which chain lengths the data holds, and how many steps it trains. The default trains on 1- to
  3-operation chains: it then solves one- and two-operation chains mostly, three-operation ones about a third of
  the time, and four-operation ones (never seen whole) rarely, while often writing some right steps
  (``benchmarks/results/testbed/base_rates.md``). Trained on 1-2 operations only, it finished no three-operation
  chain (judged reward 0.02); 600 steps instead of 2000 left even one-operation chains at pass@1 ~0.3.
- **Slips** (``slip_rate``, the ``testbed-slips`` alias): the default's failures are arithmetic it never learned,
  which a few hundred RL problems cannot teach. With slips in its pretraining solutions (a step's result off by 1
  or 2, the rest of the chain built on it) the model knows the arithmetic and still miscalculates now and then, as
  a sampled language model does: resampling fixes many failures, which is what RL can turn into pass@1.
- **Teacher share** (``teacher_share``, the ``testbed-slips-teacher`` alias): self-distillation's teacher is the
  model shown the reference in its prompt, which helps only if the model follows what it is shown. A share of
  the pretraining problems is asked in the teacher's prompt, showing the solution the problem would have been
  trained on (slips included) and targeting it, so following the shown solution is the only way to lower that
  loss; shown clean references instead, the model learned to compute again and slipped as much as the student.
- **Determinism**: the seed fixes the initial weights, the data pool and the batch order; on one machine and
  thread count the same config builds the same weights.

The alias ``testbed`` (:func:`agents.models.resolve_model`) builds :data:`DEFAULT` once into the cache, in a folder
named by the config's fingerprint, so a changed recipe builds anew instead of reusing a stale model.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import string
import time
from collections.abc import Sequence
from pathlib import Path

import attrs

CHARACTERS = "".join(sorted(set(string.printable) - set("\t\r\x0b\x0c")))
"""The vocabulary's characters: printable ASCII (letters, digits, punctuation, space) and the newline."""
PAD, EOS = "<|pad|>", "<|end|>"
ROLES = ("system", "user", "assistant")
SPECIAL_TOKENS = (PAD, EOS, *(f"<|{role}|>" for role in ROLES))
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('the testbed chat template knows the roles system, user and assistant only') }}"
    "{% endif %}"
    "<|{{ message['role'] }}|>{{ message['content'] }}<|end|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
HELD_OUT_CHAINS = 6
"""Chain lengths (``n_ops`` 1..this) whose default test-split questions are kept out of pretraining."""
METADATA_FILE = "testbed.json"
"""Written beside the weights: the config, its fingerprint, the build time and the loss curve."""


@attrs.frozen
class TestbedConfig:
    """How a testbed model is built (every field changes the weights, so all of them are in the fingerprint)."""

    __test__ = False  # not a pytest test class, despite the name

    seed: int = 0
    """Seeds the initial weights, the pretraining problems and the batch order."""
    chain_lengths: tuple[int, ...] = attrs.field(default=(1, 2, 3), converter=tuple)
    """``n_ops`` of the pretraining problems, drawn uniformly: the coverage knob."""
    max_operand: int = 9
    """Largest operand of the pretraining problems (the environment's ``max_operand``)."""
    steps: int = 2000
    """Optimizer steps: the other coverage knob (600 steps of 32 left single-operation chains at pass@1 ~0.3)."""
    batch_size: int = 16
    """Worked solutions per step (more, smaller steps learned faster per token than fewer, larger ones)."""
    lr: float = 3e-3
    """Peak learning rate (linear warmup over the first 5% of steps, then cosine to a tenth)."""
    hidden_size: int = 128
    """Width of the transformer."""
    layers: int = 4
    """Transformer blocks."""
    heads: int = 4
    """Attention heads (key/value heads as many)."""
    intermediate_size: int = 512
    """Width of each MLP."""
    max_positions: int = 512
    """Longest prompt plus response the model is built for (in characters)."""
    slip_rate: float = attrs.field(
        default=0.0, validator=attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.lt(1.0))
    )
    """Chance that a step of a pretraining solution slips: its result is off by 1 or 2 and the steps after carry on
    from the wrong value (:func:`slipped_solution`). The model then knows the arithmetic but sometimes miscalculates,
    so a resample often fixes what one sample got wrong (pass@k well above pass@1): the regime where RL can raise
    held-out success by removing slips, and where step rewards can say which step slipped."""
    teacher_share: float = attrs.field(
        default=0.0, validator=attrs.validators.and_(attrs.validators.ge(0.0), attrs.validators.lt(1.0))
    )
    """Share of the pretraining problems asked the way the self-distillation teacher is asked (one user turn: the
    problem, a worked solution, the request to solve it: :data:`agents.privileged.TEACHER_USER_TURN`), the target
    that solution as shown. A large language model follows a solution put in its context; this one has to be taught
    to, or self-distillation's teacher is a model prompted in a format it never saw. The solution shown is the one
    the problem would have been trained on otherwise, slips included, so only following it lowers the loss: shown
    clean references instead, the model learned to compute again, slips and all (its teacher answered 2-operation
    chains right 0.30 of the time, its student 0.27)."""

    def fingerprint(self) -> str:
        """A short hash of every field: names the cache folder so a changed recipe is rebuilt. ``slip_rate`` and
        ``teacher_share``, added later, enter only when set, so the models built before them keep their names."""
        fields = attrs.asdict(self)
        for later in ("slip_rate", "teacher_share"):
            if not fields[later]:
                del fields[later]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


DEFAULT = TestbedConfig()
"""The recipe behind ``--model testbed``."""
VARIANTS = {
    "testbed": DEFAULT,
    "testbed-slips": TestbedConfig(slip_rate=0.2),
    "testbed-slips-teacher": TestbedConfig(slip_rate=0.2, teacher_share=0.25),
}
"""Model aliases (:func:`agents.models.resolve_model`) and their recipes: ``testbed-slips`` is the default recipe
with a slip in a fifth of the pretraining steps; ``testbed-slips-teacher`` also asks a quarter of its problems in
the self-distillation teacher's format, so the teacher can use the reference it is shown."""


def make_tokenizer():
    """The character-level ``PreTrainedTokenizerFast`` with the chat template (see module docstring)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate((*SPECIAL_TOKENS, *CHARACTERS))}
    # No unknown token in the vocabulary: encoding a character outside it raises instead of guessing.
    core = Tokenizer(models.WordLevel(vocab, unk_token="<|unknown-character|>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")  # one piece per character
    core.decoder = decoders.Fuse()  # join characters back without spaces
    core.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[f"<|{role}|>" for role in ROLES],
        model_max_length=DEFAULT.max_positions,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def unknown_characters(text: str) -> list[str]:
    """The distinct characters of ``text`` the testbed vocabulary lacks, in order of appearance."""
    allowed = set(CHARACTERS)
    return list(dict.fromkeys(c for c in text if c not in allowed))


def check_characters(text: str) -> None:
    """Raise a ValueError naming every character of ``text`` outside the vocabulary."""
    missing = unknown_characters(text)
    if missing:
        raise ValueError(f"characters outside the testbed vocabulary: {missing!r} (in {text[:80]!r})")


def held_out_questions(max_operand: int) -> set[str]:
    """The questions of the environment's default test split (size 1000, seed 0, test fraction 0.1) for every chain
    length up to :data:`HELD_OUT_CHAINS`: never pretrained on."""
    from exprl_env.domains.arith import load_arith
    from exprl_env.split import select_split

    return {
        problem.question
        for n_ops in range(1, HELD_OUT_CHAINS + 1)
        for problem in select_split(load_arith(n_ops=n_ops, max_operand=max_operand), "test")
    }


def pretraining_examples(config: TestbedConfig, prompt_ids, tokenizer) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, target ids) pairs, a pool per chain length interleaved: the policy's prompt for each problem (or,
    for ``teacher_share`` of them, the self-distillation teacher's) and its response closed by end-of-sequence.
    ``prompt_ids`` is the policy's prompt path."""
    from agents.privileged import reference_response, teacher_messages
    from exprl_env.domains.arith import load_arith
    from exprl_env.prompt import build_prompt

    held_out = held_out_questions(config.max_operand)
    pool_size = max(64, config.steps * config.batch_size // len(config.chain_lengths))
    pools, rng = [], random.Random(config.seed * 1000 + 7)  # the slips' own stream: the problems stay the same
    teacher_rng = random.Random(config.seed * 1000 + 11)  # and the teacher's: the slips stay the same too
    for n_ops in config.chain_lengths:
        seed = config.seed * 1000 + 100 + n_ops  # never 0: the environment's own problem set uses seed 0
        problems = load_arith(size=pool_size, seed=seed, n_ops=n_ops, max_operand=config.max_operand)
        pool = []
        for problem in problems:
            if problem.question in held_out:
                continue
            prompt, reference = build_prompt(problem.question), problem.reference.unseal()
            solution = slipped_solution(problem.question, rng, config.slip_rate) if config.slip_rate else None
            solution = solution or reference
            if config.teacher_share and teacher_rng.random() < config.teacher_share:
                _, prompt = teacher_messages(prompt, solution, "user")  # no system turn: the authors' form
            target = reference_response(solution)
            check_characters(prompt + target)
            ids = tokenizer.encode(target, add_special_tokens=False) + [tokenizer.eos_token_id]
            pool.append((prompt_ids(prompt), ids))
        pools.append(pool)
    return [example for group in zip(*pools) for example in group]


def prompt_format(prompt: Sequence[int]) -> tuple[int, ...]:
    """Which prompt format an example is in (the student's or the teacher's): its first few tokens, which differ."""
    return tuple(prompt[:4])


def by_prompt_format(examples: Sequence[tuple[list[int], list[int]]]) -> dict[tuple[int, ...], list]:
    """The examples grouped by :func:`prompt_format`, each group in its original order."""
    groups: dict[tuple[int, ...], list] = {}
    for example in examples:
        groups.setdefault(prompt_format(example[0]), []).append(example)
    return groups


def slipped_solution(question: str, rng: random.Random, slip_rate: float):
    """A worked solution (a :class:`judges.problem.Reference`) of an ``ExpRL-Arith-v0`` question in which each step
    slips with chance ``slip_rate`` (its result off by 1 or 2, the next steps built on it, the final answer the
    wrong chain's); None when no step slipped (the caller uses the reference itself)."""
    from exprl_env.domains.arith import worked_steps
    from judges.problem import Reference

    tokens = question.removeprefix("What is ").removesuffix("?").split()
    operands, operators = [int(t) for t in tokens[::2]], tokens[1::2]
    slipped = []

    def slip(result: int) -> int:
        slipped.append(rng.random() < slip_rate)
        return result + rng.choice((-2, -1, 1, 2)) if slipped[-1] else result

    steps, value = worked_steps(operands, operators, slip)
    return Reference(tuple(steps), str(value)) if any(slipped) else None


def shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """How many leading tokens every prompt shares (the chat header and the instruction): computed once per batch."""
    first, length = prompts[0], min(map(len, prompts))
    for prompt in prompts[1:]:
        length = next((i for i in range(length) if prompt[i] != first[i]), length)
    return length


def shared_prefixes(examples: Sequence[tuple[list[int], list[int]]]) -> dict[tuple[int, ...], int]:
    """Per prompt format (:func:`prompt_format`), how many leading tokens all of its prompts share: computed once
    per build over the whole pool."""
    groups = by_prompt_format(examples)
    return {key: shared_prefix_length([prompt for prompt, _ in group]) for key, group in groups.items()}


def target_nll(policy, examples: Sequence[tuple[list[int], list[int]]], shared: int):
    """(summed negative log-likelihood of the targets' tokens given their prompts, how many target tokens).

    Every prompt starts with the same ``shared`` tokens (the instruction is two thirds of a prompt), so the batch
    goes through :meth:`agents.policy.Policy.token_logprobs` as that one shared prefix plus per-row continuations
    (question, then target): the prefix is run once, not once per row, which more than halves a step's work.
    """
    import torch

    prefix = list(examples[0][0][:shared])
    rows = [list(prompt[shared:]) + list(target) for prompt, target in examples]
    logp, mask = policy.token_logprobs([prefix] * len(rows), rows)
    weights = torch.zeros_like(mask)
    for row, (prompt, target) in enumerate(examples):
        start = len(prompt) - shared
        weights[row, start : start + len(target)] = 1.0
    return -(logp * weights).sum(), weights.sum()


def batch_loss(policy, batch: Sequence[tuple[list[int], list[int]]], shared: dict[tuple[int, ...], int]):
    """Mean negative log-likelihood per target token of a batch, each prompt format (:func:`prompt_format`) run
    as its own shared prefix (``shared``: that format's prefix length over the whole pool)."""
    parts = [target_nll(policy, group, shared[key]) for key, group in by_prompt_format(batch).items()]
    return sum(nll for nll, _ in parts) / sum(tokens for _, tokens in parts)


def learning_rate(config: TestbedConfig, step: int) -> float:
    """Linear warmup over the first 5% of steps, then cosine decay to a tenth of the peak."""
    warmup = max(1, config.steps // 20)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    return config.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def build_testbed(folder: Path, config: TestbedConfig = DEFAULT, log_every: int = 50) -> dict:
    """Build the model and tokenizer of ``config`` into ``folder`` (a Hugging Face folder); returns the metadata
    also written to ``testbed.json`` (config, fingerprint, seconds, losses every ``log_every`` steps)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from agents.policy import Policy

    started = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer()
    model_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.layers,
        num_attention_heads=config.heads,
        num_key_value_heads=config.heads,
        max_position_embeddings=config.max_positions,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(model_config)
    policy = Policy(model, tokenizer, "testbed")
    examples = pretraining_examples(config, policy.prompt_ids, tokenizer)
    shared = shared_prefixes(examples)
    order = random.Random(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, betas=(0.9, 0.98), weight_decay=0.01)
    losses = []
    model.train()
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        loss = batch_loss(policy, order.sample(examples, min(config.batch_size, len(examples))), shared)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if step % log_every == 0 or step == config.steps - 1:
            losses.append({"step": step, "loss": round(loss.item(), 4)})
    model.eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    metadata = {
        "config": attrs.asdict(config),
        "fingerprint": config.fingerprint(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "examples": len(examples),
        "seconds": round(time.perf_counter() - started, 1),
        "torch_threads": torch.get_num_threads(),
        "losses": losses,
    }
    (folder / METADATA_FILE).write_text(json.dumps(metadata, indent=1) + "\n")
    return metadata
