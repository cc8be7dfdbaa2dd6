"""The ``llm`` judge: ExpRL's judge, a language model comparing each response with the hidden reference.

- outcome: one 1-5 rating of the whole response, paid as (s - 1) / 4;
- process: the model first extracts 2-6 checkpoints from the reference (once per problem, cached), then
  rates every step 1-5 against them; s_k = (rating_k - 1) / 4 (the paper's normalized step score, whose
  differences DeltaNorm pays), and a step rated 1 (contradicts) is the first error;
- the final answer's correctness always comes from math-verify (the ``answer`` judge), not the model.

Answers must be one JSON object, reasoning before score (:mod:`judges.llm_schema`); an invalid answer
is asked again with the validation error, then the item is unscorable. Responses with no words or digits,
or that only repeat the question, are rated 1 without asking (nothing to judge, nothing to be fooled
by). Completions are cached by (prompt version, model, messages, sampling); failures never are.

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
from judges.llm_backends import BackendError, OpenAIBackend, Sampling, TransformersBackend
from judges.llm_schema import VerdictParseError, parse_checkpoints, parse_outcome, parse_process
from judges.problem import Problem, SealedReference
from judges.prompts import PROMPT_VERSION, checkpoint_messages, outcome_messages, process_messages
from judges.steps import split_steps
from judges.verdict import Cause, JudgeItem, Status, Verdict

_NOTHING = re.compile(r"[A-Za-z0-9]")


def rating_to_score(rating: int) -> float:
    """The paper's normalization of a 1-5 rating to [0, 1]."""
    return (rating - 1) / 4


def _unscorable(error: BackendError, answer: Verdict) -> Verdict:
    """No reward (masked), but math-verify's answer check still stands, for accuracy metrics."""
    cause = Cause.VERDICT_UNPARSABLE if error.unparsable else Cause.BACKEND_FAILED
    return attrs.evolve(Verdict.unscorable(f"llm judge: {error.reason}", cause), answer_correct=answer.answer_correct)


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

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        backend: Any = None,
        device: str = "cpu",
        temperature: float = 0.0,
        max_tokens: int = 2048,
        max_concurrency: int = 8,
        parse_retries: int = 2,
        timeout: float = 120.0,
        max_retries: int = 4,
        split: str = "auto",
        cache_size: int = 100_000,
        answer_time_limit: float = 3.0,
    ):
        if backend is None and model is None:
            raise ValueError(
                "llm judge: give model= (with base_url= for an OpenAI-compatible server such as "
                "vLLM, SGLang or `transformers serve`; without it the model runs in-process)"
            )
        if backend is None and base_url is not None:
            backend = OpenAIBackend(
                base_url, model, api_key, timeout=timeout, max_concurrency=max_concurrency, max_retries=max_retries
            )
        elif backend is None:
            backend = TransformersBackend(model, device=device)
        split_steps("", split)  # validates the method now
        self.backend, self.split, self.parse_retries = backend, split, parse_retries
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

    # --- outcome and process ------------------------------------------------------------------------
    def _judge_outcomes(self, items, answers, jobs: list[int], verdicts: list) -> None:
        requests = []
        for index in jobs:
            reference = items[index].problem.reference.unseal()
            requests.append(
                outcome_messages(
                    items[index].problem.question, reference.steps, reference.answer, items[index].response
                )
            )
        for index, result in zip(jobs, self._ask(requests, parse_outcome)):
            if isinstance(result, BackendError):
                verdicts[index] = _unscorable(result, answers[index])
                continue
            verdicts[index] = Verdict(
                Status.OK,
                rating_to_score(result),
                answer_correct=answers[index].answer_correct,
                reason=f"outcome rating {result}",
            )

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
            spans = list(item.step_spans or split_steps(item.response, self.split)) or [(0, len(item.response))]
            spans_of[index] = spans
            reference = item.problem.reference.unseal()
            steps = [item.response[a:b] for a, b in spans]
            requests.append(
                (process_messages(item.problem.question, reference.steps, reference.answer, rubric, steps), len(steps))
            )
            asked.append(index)
        parsers = [lambda text, n=n: parse_process(text, n) for _, n in requests]
        for index, result in zip(asked, self._ask([m for m, _ in requests], parsers)):
            if isinstance(result, BackendError):
                verdicts[index] = _unscorable(result, answers[index])
                continue
            scores = tuple(rating_to_score(r) for r in result)
            first_error = next((k for k, r in enumerate(result) if r == 1), None)
            verdicts[index] = Verdict(
                Status.OK,
                scores[-1],
                scores,
                tuple(spans_of[index]),
                first_error,
                answers[index].answer_correct,
                reason=f"step ratings {result}",
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
        for problem, result in zip(todo.values(), self._ask(requests, parse_checkpoints)):
            found[problem.id] = result
            if not isinstance(result, BackendError):
                self._rubrics[_reference_key(problem)] = _seal(result)
        return found

    # --- asking, with validation retries and the cache ---------------------------------------------
    def _ask(self, requests: list, parse: Callable | list[Callable]) -> list[Any]:
        """Parsed answers (or BackendError) for each request; invalid answers are asked again."""
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
                        {
                            "role": "user",
                            "content": f"That answer is invalid: {error}. Reply with the JSON object only.",
                        },
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
        payload = json.dumps([PROMPT_VERSION, self.model, messages, attrs.asdict(self.sampling)], sort_keys=True)
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
        spans = tuple(item.step_spans or ((0, len(item.response)),))
        scores = tuple(0.0 for _ in spans) if item.kind == "process" else None
        return Verdict(
            Status.OK,
            0.0,
            scores,
            spans if scores else None,
            0 if scores else None,
            answer.answer_correct,
            reason=f"rated 1 without asking: {why}",
        )
