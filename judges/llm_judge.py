"""The ``llm`` judge: ExpRL's judge, a language model comparing each response with the hidden reference.

Two protocols (``protocol=``), both on the authors' 1-5 scale, normalized as they normalize it, (s - 1) / 4 (their
"smooth" ``norm_strategy``, stage1_verl/verl/trainer/ppo/ray_trainer_genrm.py:1066-1067, which all their scripts
use); the final answer's correctness always comes from math-verify (the ``answer`` judge), not the model.

``paper`` (the default): the authors' judge, asked as they ask it (prompts in :mod:`judges.prompts`).

- outcome: one call per response, the problem, the response and the reference; "how likely does this reasoning
  lead to the reference's result?" (RTG:1085-1152); when the problem's reference is empty (no steps, no answer:
  judge-bench's "none" condition) their separate no-reference question is asked instead;
- process: the response is split at ``###`` (``split="paper"``, RTG:1252-1273) and each step is judged in its
  own call, seeing the problem, that one step only and the reference (RTG:1327-1343); the judge picks its 2-6
  checkpoints from the reference inside that call. K steps cost K calls and no checkpoint call. Each step's
  rating r_k is that step's own (``Verdict.step_ratings``, not a cumulative ``step_scores``); the verdict's
  outcome is the last step's rating (their ``last_step_reward``, RTG:1422-1424, 1475-1478). One step without a
  readable verdict makes the whole response unscorable (the authors mask the rollout, RTG:1441-1443, 1459-1462);
- the reply is ``Reasoning: ... Score: N``, read by the authors' rule (:func:`judges.llm_schema.parse_score_line`,
  RTG:1165-1174 and 1407-1416); greedy (RTG:1148, 1383), up to 2,048 new tokens.

``batched`` (ours, faster, a departure): the model extracts 2-6 checkpoints from the reference once per problem
(cached), then rates every step of a response in one call that sees all of them in order, against the
checkpoints; a response costs 1 call plus one checkpoint call per problem, against K calls. Its scale differs
from the paper's below 4: 3 = irrelevant (the authors' 2), 2 = questionable, 1 = contradicts. The outcome asks a
short paraphrase of the authors' question. Replies are one JSON object, reasoning before score
(:mod:`judges.llm_schema`). Its ratings are per step too (``step_ratings``). Its default split is ``auto``.

Where the completions come from: ``base_url=`` one OpenAI-compatible server, or a list of servers serving the same
model (a judge fleet, :class:`judges.llm_backends.ServerPool`: least-loaded routing, a failing server's requests
retried on the others; ``max_concurrency`` then counts per server); without it, the model runs in this process.

Hardening, in both protocols: the response is fenced and neutralized (:mod:`judges.fence`: fence-breaking tags,
planted JSON verdict keys and planted ``Score:`` labels defused); a reply that cannot be read is asked again with
the reason (``parse_retries``, default 2; the authors do not re-ask: ``parse_retries=0`` is their behaviour. A
re-ask only ever acts where the authors would have masked the response, and under the paper protocol one bad
step of K masks the whole response, so we keep it on); after that the item is unscorable, never 0. Responses
with no words or digits, or that only repeat the question, are rated 1 without asking (nothing to judge, nothing
to be fooled by). Completions are cached by (prompt version, model, messages, sampling); failures never are.
Greedy decoding makes a cached reply the reply the model would give again.

Both caches are judge-side secrets: a checkpoint list quotes the reference, and so may a completion.
They are keyed by SHA-256 digests and hold their text sealed (:class:`~judges.problem.SealedReference`'s
encoding), so ``vars(judge)``, a pickle or a traceback showing the judge's attributes shows no reference
text. The judge pickles: the completion cache, lock and answer checker are left out and rebuilt; the
checkpoint cache (sealed) is kept, so a worker process does not ask for checkpoints again.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from judges.answer_judge import AnswerJudge
from judges.llm_backends import BackendError, OpenAIBackend, Sampling, ServerPool, TransformersBackend
from judges.llm_schema import VerdictParseError, parse_checkpoints, parse_outcome, parse_process, parse_score_line
from judges.problem import Problem, Reference, SealedReference
from judges.prompts import (
    PAPER_PROMPT_VERSION,
    PAPER_REASK,
    PROMPT_VERSION,
    checkpoint_messages,
    outcome_messages,
    paper_outcome_messages,
    paper_outcome_no_reference_messages,
    paper_process_messages,
    process_messages,
    reference_solution,
)
from judges.steps import split_steps
from judges.verdict import Cause, JudgeItem, Span, Status, Verdict

_NOTHING = re.compile(r"[A-Za-z0-9]")
PROTOCOLS = ("paper", "batched")
"""``paper``: the authors' questions, one call per step; ``batched``: ours, one call per response (module doc)."""
DEFAULT_SPLIT = {"paper": "paper", "batched": "auto"}
BATCHED_REASK = "That answer is invalid: {error}. Reply with the JSON object only."


def rating_to_score(rating: int) -> float:
    """The paper's normalization of a 1-5 rating to [0, 1]."""
    return (rating - 1) / 4


def _unscorable(error: BackendError, answer: Verdict) -> Verdict:
    """No reward (masked), but math-verify's answer check still stands, for accuracy metrics."""
    cause = Cause.VERDICT_UNPARSABLE if error.unparsable else Cause.BACKEND_FAILED
    return attrs.evolve(Verdict.unscorable(f"llm judge: {error.reason}", cause), answer_correct=answer.answer_correct)


def _is_empty(reference: Reference) -> bool:
    """No steps with text and no answer: a withheld reference (judge-bench's "none" condition)."""
    return not any(step.strip() for step in reference.steps) and not reference.answer.strip()


def _seal(texts: list[str]) -> SealedReference:
    """Judge-side text kept unreadable in memory and pickles (it may quote the reference)."""
    return SealedReference(tuple(texts), "")


def _unseal(sealed: SealedReference) -> list[str]:
    return list(sealed.unseal().steps)


def _reference_key(problem: Problem) -> str:
    """A digest of a problem's id and exact reference: the checkpoint cache's key (a new reference, a new key)."""
    reference = problem.reference.unseal()
    payload = json.dumps([problem.id, list(reference.steps), reference.answer])
    return hashlib.sha256(payload.encode()).hexdigest()


def _squash(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()


class LLMJudge:
    """Outcome and process judge backed by an LLM (see module docstring)."""

    name = "llm"
    kinds = ("sparse", "outcome", "process")
    step_values = ("ratings",)

    @staticmethod
    def scoring_version(protocol: str = "paper", **_: Any) -> str:
        """The version of the protocol's prompts (a changed prompt changes the scores); the model is an option."""
        return PAPER_PROMPT_VERSION if protocol == "paper" else PROMPT_VERSION

    def __init__(
        self,
        base_url: str | Sequence[str] | None = None,
        model: str | None = None,
        api_key: str | None = None,
        backend: Any = None,
        device: str = "cpu",
        protocol: str = "paper",
        temperature: float = 0.0,
        max_tokens: int = 2048,
        max_concurrency: int = 8,
        parse_retries: int = 2,
        timeout: float = 120.0,
        max_retries: int = 4,
        split: str | None = None,
        cache_size: int = 100_000,
        answer_time_limit: float = 3.0,
    ):
        if protocol not in PROTOCOLS:
            raise ValueError(f"llm judge: protocol must be one of {list(PROTOCOLS)}, got {protocol!r}")
        split = DEFAULT_SPLIT[protocol] if split is None else split
        split_steps("", split)  # validates the method before anything is built
        if backend is None and model is None:
            raise ValueError(
                "llm judge: give model= (with base_url= for an OpenAI-compatible server such as "
                "vLLM, SGLang or `transformers serve`; without it the model runs in-process)"
            )
        if backend is None and base_url is not None:
            urls = [base_url] if isinstance(base_url, str) else list(base_url)
            server = ServerPool if len(urls) > 1 else OpenAIBackend
            backend = server(
                urls if len(urls) > 1 else urls[0],
                model,
                api_key,
                timeout=timeout,
                max_concurrency=max_concurrency,
                max_retries=max_retries,
            )
        elif backend is None:
            backend = TransformersBackend(model, device=device)
        self.backend, self.protocol, self.split, self.parse_retries = backend, protocol, split, parse_retries
        self.model = model or getattr(backend, "model", type(backend).__name__)
        self.sampling = Sampling(temperature=temperature, max_tokens=max_tokens)
        self.answers = AnswerJudge(time_limit=answer_time_limit)
        self._cache: OrderedDict[str, SealedReference] = OrderedDict()  # digest -> sealed completion
        self._cache_size = cache_size
        self._rubrics: dict[str, SealedReference] = {}  # digest of (problem id, reference) -> sealed checkpoints
        self._lock = threading.Lock()
        self.stats = {"items": 0, "unscorable": 0, "cache_hits": 0, "parse_retries": 0, "prefiltered": 0}

    # --- public -------------------------------------------------------------------------------------
    def score_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        answers = self.answers.score_batch(items)
        verdicts: list[Verdict | None] = [None] * len(items)
        outcome_jobs, process_jobs = [], []
        for index, item in enumerate(items):
            prefiltered = self._prefilter(item)
            if item.kind == "sparse":
                verdicts[index] = answers[index]
            elif prefiltered:
                verdicts[index] = self._lowest(item, answers[index], prefiltered)
            elif item.kind == "outcome":
                outcome_jobs.append(index)
            else:
                process_jobs.append(index)
        if self.protocol == "paper":
            self._paper_outcomes(items, answers, outcome_jobs, verdicts)
            self._paper_processes(items, answers, process_jobs, verdicts)
        else:
            self._judge_outcomes(items, answers, outcome_jobs, verdicts)
            self._judge_processes(items, answers, process_jobs, verdicts)
        self.stats["items"] += len(items)
        self.stats["unscorable"] += sum(not v.ok for v in verdicts)
        return verdicts  # type: ignore[return-value]

    def counters(self) -> dict[str, float]:
        """Judge and backend counters in one flat dict (for metrics logs)."""
        return {
            **self.stats,
            **self.backend.counters.snapshot(),
            **{f"answer_{key}": value for key, value in self.answers.counters().items()},
        }

    def close(self) -> None:
        self.backend.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(vars(self))
        for rebuilt in ("_lock", "_cache"):  # the answer judge pickles as its settings
            del state[rebuilt]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._cache = OrderedDict()

    # --- the paper protocol: the authors' questions, one call per step --------------------------------
    def _paper_outcomes(self, items, answers, jobs: list[int], verdicts: list) -> None:
        requests = []
        for index in jobs:
            problem, response = items[index].problem, items[index].response
            reference = problem.reference.unseal()
            if _is_empty(reference):  # the authors' separate no-reference question (math_likelihood_judge_no_ref.py)
                requests.append(paper_outcome_no_reference_messages(problem.question, response))
            else:
                shown = reference_solution(reference.steps, reference.answer)
                requests.append(paper_outcome_messages(problem.question, shown, response))
        for index, result in zip(jobs, self._ask(requests, parse_score_line, PAPER_REASK)):
            verdicts[index] = self._outcome_verdict(result, answers[index])

    def _paper_processes(self, items, answers, jobs: list[int], verdicts: list) -> None:
        requests, owners, spans_of = [], [], {}
        for index in jobs:
            item = items[index]
            reference = item.problem.reference.unseal()
            if _is_empty(reference):  # the authors have no process question without a reference
                verdicts[index] = attrs.evolve(
                    Verdict.unscorable(
                        "llm judge: the paper protocol rates steps against a reference, and this problem has none",
                        Cause.REFERENCE_NOT_CHECKABLE,
                    ),
                    answer_correct=answers[index].answer_correct,
                )
                continue
            spans_of[index] = self._spans(item)
            shown = reference_solution(reference.steps, reference.answer)
            for start, end in spans_of[index]:
                requests.append(paper_process_messages(item.problem.question, item.response[start:end], shown))
                owners.append(index)
        ratings: dict[int, list] = {index: [] for index in spans_of}
        for index, result in zip(owners, self._ask(requests, parse_score_line, PAPER_REASK)):
            ratings[index].append(result)
        for index, results in ratings.items():
            failed = [(k, r) for k, r in enumerate(results) if isinstance(r, BackendError)]
            if failed:  # one unreadable step masks the whole response, as the authors mask the rollout
                k, error = failed[0]
                where = f"step {k + 1} of {len(results)} ({len(failed)} failed): {error.reason}"
                verdicts[index] = _unscorable(attrs.evolve(error, reason=where), answers[index])
            else:
                verdicts[index] = self._process_verdict(results, spans_of[index], answers[index])

    # --- the batched protocol: ours, one call per response ----------------------------------------------
    def _judge_outcomes(self, items, answers, jobs: list[int], verdicts: list) -> None:
        requests = []
        for index in jobs:
            reference = items[index].problem.reference.unseal()
            requests.append(
                outcome_messages(
                    items[index].problem.question, reference.steps, reference.answer, items[index].response
                )
            )
        for index, result in zip(jobs, self._ask(requests, parse_outcome, BATCHED_REASK)):
            verdicts[index] = self._outcome_verdict(result, answers[index])

    def _judge_processes(self, items, answers, jobs: list[int], verdicts: list) -> None:
        rubrics = self._checkpoints([items[i].problem for i in jobs])
        requests, asked, spans_of = [], [], {}
        for index in jobs:
            item = items[index]
            rubric = rubrics[item.problem.id]
            if isinstance(rubric, BackendError):
                verdicts[index] = _unscorable(
                    attrs.evolve(rubric, reason=f"checkpoints: {rubric.reason}"), answers[index]
                )
                continue
            spans = self._spans(item)
            spans_of[index] = spans
            reference = item.problem.reference.unseal()
            steps = [item.response[a:b] for a, b in spans]
            requests.append(
                (process_messages(item.problem.question, reference.steps, reference.answer, rubric, steps), len(steps))
            )
            asked.append(index)
        parsers = [lambda text, n=n: parse_process(text, n) for _, n in requests]
        for index, result in zip(asked, self._ask([m for m, _ in requests], parsers, BATCHED_REASK)):
            if isinstance(result, BackendError):
                verdicts[index] = _unscorable(result, answers[index])
            else:
                verdicts[index] = self._process_verdict(result, spans_of[index], answers[index])

    # --- verdicts, shared ----------------------------------------------------------------------------
    def _spans(self, item: JudgeItem) -> list[Span]:
        """The caller's step spans (step mode), else the judge's split; a response with no step is one step."""
        return list(item.step_spans or split_steps(item.response, self.split)) or [(0, len(item.response))]

    @staticmethod
    def _outcome_verdict(result: int | BackendError, answer: Verdict) -> Verdict:
        if isinstance(result, BackendError):
            return _unscorable(result, answer)
        return Verdict(
            Status.OK, rating_to_score(result), answer_correct=answer.answer_correct, reason=f"outcome rating {result}"
        )

    @staticmethod
    def _process_verdict(ratings: list[int], spans: list[Span], answer: Verdict) -> Verdict:
        """Each step's own rating (r_k = (rating - 1) / 4); the outcome is the last step's; a 1 is an error."""
        normalized = tuple(rating_to_score(r) for r in ratings)
        return Verdict(
            Status.OK,
            outcome=normalized[-1],
            step_ratings=normalized,
            step_spans=tuple(spans),
            first_error_step=next((k for k, r in enumerate(ratings) if r == 1), None),
            answer_correct=answer.answer_correct,
            reason=f"step ratings {ratings}",
        )

    def _checkpoints(self, problems: list[Problem]) -> dict[str, list[str] | BackendError]:
        """Each problem's LLM-extracted checkpoints, asked once per (problem, reference) and cached."""
        found: dict[str, list[str] | BackendError] = {}
        todo: dict[str, Problem] = {}
        for problem in problems:
            key = _reference_key(problem)
            if key in self._rubrics:
                found[problem.id] = _unseal(self._rubrics[key])
            else:
                todo[problem.id] = problem
        requests = []
        for problem in todo.values():
            reference = problem.reference.unseal()
            requests.append(checkpoint_messages(problem.question, reference.steps, reference.answer))
        for problem, result in zip(todo.values(), self._ask(requests, parse_checkpoints, BATCHED_REASK)):
            found[problem.id] = result
            if not isinstance(result, BackendError):
                self._rubrics[_reference_key(problem)] = _seal(result)
        return found

    # --- asking, with validation retries and the cache ---------------------------------------------
    def _ask(self, requests: list, parse: Callable | list[Callable], reask: str) -> list[Any]:
        """Parsed answers (or BackendError) for each request; invalid answers are asked again with ``reask``."""
        parsers = parse if isinstance(parse, list) else [parse] * len(requests)
        conversations = [list(messages) for messages in requests]
        results: list[Any] = [None] * len(requests)
        pending = list(range(len(requests)))
        for attempt in range(self.parse_retries + 1):
            texts = self._complete([conversations[i] for i in pending])
            retry = []
            for index, text in zip(pending, texts):
                if isinstance(text, BackendError):
                    results[index] = text
                    continue
                try:
                    results[index] = parsers[index](text)
                except VerdictParseError as error:
                    results[index] = BackendError(
                        f"unparseable verdict after {attempt + 1} attempt(s): {error}", unparsable=True
                    )
                    conversations[index] = conversations[index] + [
                        {"role": "assistant", "content": text},
                        {"role": "user", "content": reask.format(error=error)},
                    ]
                    retry.append(index)
            if not retry:
                break
            if attempt < self.parse_retries:
                self.stats["parse_retries"] += len(retry)
            pending = retry
        return results

    def _complete(self, conversations: list) -> list[str | BackendError]:
        keys = [self._key(messages) for messages in conversations]
        texts: list[str | BackendError | None] = []
        with self._lock:
            for key in keys:
                sealed = self._cache.get(key)
                texts.append(_unseal(sealed)[0] if sealed is not None else None)
                if sealed is not None:
                    self._cache.move_to_end(key)
                    self.stats["cache_hits"] += 1
        missing = [i for i, text in enumerate(texts) if text is None]
        fresh = self.backend.complete_many([conversations[i] for i in missing], self.sampling) if missing else []
        with self._lock:
            for i, text in zip(missing, fresh):
                texts[i] = text
                if isinstance(text, str):  # failures are never cached
                    self._cache[keys[i]] = _seal([text])
                    if len(self._cache) > self._cache_size:
                        self._cache.popitem(last=False)
        return texts  # type: ignore[return-value]

    def _key(self, messages: list) -> str:
        version = self.scoring_version(self.protocol)
        payload = json.dumps([version, self.model, messages, attrs.asdict(self.sampling)], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    # --- responses with nothing to judge -------------------------------------------------------------
    def _prefilter(self, item: JudgeItem) -> str:
        if not _NOTHING.search(item.response):
            return "no words or digits"
        if _squash(item.response) == _squash(item.problem.question):
            return "only repeats the question"
        return ""

    def _lowest(self, item: JudgeItem, answer: Verdict, why: str) -> Verdict:
        self.stats["prefiltered"] += 1
        if item.kind != "process":
            return Verdict(
                Status.OK, 0.0, answer_correct=answer.answer_correct, reason=f"rated 1 without asking: {why}"
            )
        spans = tuple(item.step_spans or ((0, len(item.response)),))
        return Verdict(
            Status.OK,
            0.0,
            step_ratings=tuple(0.0 for _ in spans),
            step_spans=spans,
            first_error_step=0,
            answer_correct=answer.answer_correct,
            reason=f"rated 1 without asking: {why}",
        )
