"""verl's reward-function interface over exprl's environments: a verl row names a problem, the env's judge scores it.

verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info, **reward_kwargs)`` once per response,
in its reward workers (Ray actors, each calling from a thread pool). exprl's rows (:mod:`.data`) carry the
environment id in ``data_source``, the problem id in ``reward_model.ground_truth`` and the environment's options in
``extra_info["exprl_env"]``; the worker rebuilds that environment once and resets it to the problem, so the
reference stays inside the environment, judge-side, and the row never holds it.

The score is the environment's reward for the whole response (``reward="sparse"``: 0 or 1; ``"outcome"``: the
judge's score; ``"process"``: the final process score s_K, the sum of the step rewards). A verdict the judge could
not reach scores **NaN**, never 0 (verl's own rate-limited manager turns failures into 0.0): exprl's estimators
(``exprl_grpo``, ``exprl_delta``) mask those rows; verl's stock ones would spread the NaN, loudly. One environment
serves each worker process and judges one response at a time; verl's ``reward.num_workers`` parallelises.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from typing import Any

import attrs

from exprl_env.checks import check_mapping, describe

ENV_FIELD = "exprl_env"
"""The ``extra_info`` key holding the environment's options, as JSON."""
SCORE_OPTIONS = ("reward", "judge", "judge_kwargs")
"""What ``reward_kwargs`` (verl's ``custom_reward_function.reward_kwargs``) may set over the row's options."""
VERL_KEYWORDS = ("reward_router_address", "reward_model_tokenizer")
"""Keywords verl itself passes when a reward model is enabled."""
_SCORING_ONLY = ("split", "test_fraction", "step_mode")
"""Options of the exported env that scoring replaces: it scores any problem of the domain, a whole response at once."""


@attrs.frozen
class Scored:
    """The environment's reward for one response, and its public step info (never the judge's reason)."""

    reward: float
    """The environment's reward: NaN when the verdict is unscorable."""
    info: dict[str, Any]
    """The env's ``info`` after the step: verdict status, cause, step scores, ratings and spans."""
    judge: str = ""
    """The name of the judge that scored it (for error messages)."""

    @property
    def scorable(self) -> bool:
        return self.info.get("verdict_status") != "unscorable"

    def extras(self) -> dict[str, float]:
        """Numeric per-response metrics for verl's ``reward_extra_info`` (the same keys for every response)."""
        correct = self.info.get("answer_correct")
        return {
            "exprl_scorable": float(self.scorable),
            "exprl_answer_correct": math.nan if correct is None else float(correct),
            "exprl_overlong": float(bool(self.info.get("overlong"))),
        }


def compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: Mapping | None = None, **kwargs: Any
) -> dict[str, float]:
    """verl's reward function: ``{"score": the environment's reward (NaN: unscorable), "exprl_*": metrics}``.

    ``data_source`` is the environment id, ``ground_truth`` the problem id; ``reward``, ``judge`` and
    ``judge_kwargs`` in verl's ``reward_kwargs`` override the options the row was exported with. With
    ``judge="llm"`` and no ``base_url``, the judge is the model verl serves as its reward model, when it serves one.
    """
    where = row_label(extra_info, data_source)
    options = score_options(extra_info, kwargs, where)
    scored = score(data_source, problem_id_of(ground_truth, where), solution_str, options, where)
    return {"score": scored.reward, **scored.extras()}


def row_label(extra_info: Mapping | None, data_source: Any) -> str:
    """How an error names the row: its index in the exported file and its data source."""
    index = extra_info.get("index", "?") if isinstance(extra_info, Mapping) else "?"
    return f"verl row {index} (data_source {data_source!r})"


def problem_id_of(ground_truth: Any, where: str) -> str:
    """The problem id a row carries in ``reward_model.ground_truth``; ValueError naming the row and field if none."""
    if not isinstance(ground_truth, str) or not ground_truth:
        raise ValueError(
            f"{where}: field reward_model.ground_truth must be the exprl problem id (a non-empty str), got "
            f"{type(ground_truth).__name__}; export rows with agents.integrations.verl.data.to_verl_parquet"
        )
    return ground_truth


def score_options(extra_info: Mapping | None, overrides: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The environment options to score a row with: the row's exported options, then ``reward_kwargs``."""
    unknown = sorted(set(overrides) - set(SCORE_OPTIONS) - set(VERL_KEYWORDS))
    if unknown:
        raise TypeError(f"exprl compute_score: unknown reward_kwargs {unknown}; it takes {list(SCORE_OPTIONS)}")
    options = exported_options(extra_info, where)
    options.update({key: overrides[key] for key in SCORE_OPTIONS if key in overrides})
    return with_reward_model_judge(options, overrides.get("reward_router_address"))


def exported_options(extra_info: Mapping | None, where: str) -> dict[str, Any]:
    """The environment options stored in ``extra_info["exprl_env"]`` (JSON), or none for a row without them."""
    if extra_info is None:
        return {}
    check_mapping(f"{where}: field extra_info", extra_info)
    raw = extra_info.get(ENV_FIELD)
    if raw is None:
        return {}
    try:
        options = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: field extra_info.{ENV_FIELD} is not JSON: {error}") from None
    return dict(check_mapping(f"{where}: field extra_info.{ENV_FIELD}", options, optional=False))


def with_reward_model_judge(options: dict[str, Any], router_address: str | None) -> dict[str, Any]:
    """An ``llm`` judge without ``base_url`` talks to the model verl serves as reward model (the authors' GenRM)."""
    judge_kwargs = dict(check_mapping("judge_kwargs", options.get("judge_kwargs")) or {})
    if options.get("judge") == "llm" and router_address and "base_url" not in judge_kwargs:
        options = {**options, "judge_kwargs": {**judge_kwargs, "base_url": f"http://{router_address}/v1"}}
    return options


class _Scorer:
    """One environment (scoring any problem of its domain) and the lock that makes its episodes one at a time."""

    def __init__(self, env_id: str, options: Mapping[str, Any]):
        import gymnasium as gym

        kept = {key: value for key, value in options.items() if key not in _SCORING_ONLY}
        self.env = gym.make(env_id, split="all", step_mode="completion", **kept).unwrapped
        self.lock = threading.Lock()
        self._prompts: dict[str, str] | None = None

    def score(self, problem_id: str, response: str, where: str) -> Scored:
        with self.lock:
            try:
                self.env.reset(options={"problem_id": problem_id})
            except KeyError:
                raise ValueError(
                    f"{where}: field reward_model.ground_truth ({describe_length(problem_id)}) is not a problem id of "
                    f"{self.env.spec.id if self.env.spec else 'this environment'}; exprl rows carry the problem id "
                    "there, never a reference"
                ) from None
            _, reward, _, _, info = self.env.step(response)
        return Scored(float(reward), info, self.env.judge.name)

    def problem_id_for_prompt(self, prompt: str) -> str | None:
        """The id of the problem whose prompt this is (verl's colocated reward path passes only the prompt)."""
        from exprl_env.prompt import build_prompt

        with self.lock:
            if self._prompts is None:
                self._prompts = {build_prompt(problem.question): problem.id for problem in self.env.problems}
            return self._prompts.get(prompt)


def describe_length(value: str) -> str:
    """A row value described by type and length only: a foreign row may hold a reference there."""
    return f"a {type(value).__name__} of {len(value)} characters"


_SCORERS: dict[str, _Scorer] = {}
_SCORERS_LOCK = threading.Lock()


def scorer(env_id: str, options: Mapping[str, Any]) -> _Scorer:
    """The process-wide scorer for an environment id and options (built on first use)."""
    if not isinstance(env_id, str) or not env_id:
        raise ValueError(f"the environment id (verl's data_source) must be a non-empty str, got {describe(env_id)}")
    try:
        key = json.dumps([env_id, options], sort_keys=True)
    except TypeError as error:
        raise TypeError(f"environment options for {env_id!r} must be JSON values: {error}") from None
    with _SCORERS_LOCK:
        if key not in _SCORERS:
            _SCORERS[key] = _Scorer(env_id, options)
        return _SCORERS[key]


def score(env_id: str, problem_id: str, response: Any, options: Mapping[str, Any], where: str) -> Scored:
    """The environment's reward for ``response`` to problem ``problem_id``."""
    if not isinstance(response, str):
        raise TypeError(f"{where}: the response (solution_str) must be a str, got {type(response).__name__}")
    return scorer(env_id, options).score(problem_id, response, where)
