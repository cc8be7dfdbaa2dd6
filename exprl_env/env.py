"""The ExpRL environment: one episode answers one problem; a judge holding the hidden reference pays.

``step_mode="completion"``: an action is a whole response; the episode ends after one step.
``step_mode="step"``: an action is one reasoning step; the observation is the prompt plus the steps so
far; the episode terminates at a boxed final answer and truncates at ``max_steps`` or ``max_chars``.

Rewards (``reward=``, default ``"process"`` with the offline ``reference`` judge: the ExpRL reward):
``"sparse"`` pays 1 for a correct final answer; ``"outcome"`` pays the judge's
outcome score in [0, 1]; ``"process"`` pays s_k - s_{k-1} per step (s_0 = 0), so an episode's rewards add
up to its final process score; ``info["step_spans"]`` are character offsets into the response (the
observation after the prompt and one ``STEP_SEPARATOR``). An over-long response earns 0 in every mode (the paper's rule; in step
mode the truncating step takes back what earlier steps were paid). A verdict the judge could not
reach pays NaN and sets ``info["verdict_status"] = "unscorable"``: loud, maskable, never a fake 0.

Each step is split in two (:meth:`begin_step` builds the judge request, :meth:`finish_step` turns the
verdict into reward) so that :class:`~exprl_env.vector.ExpRLVectorEnv` can judge all envs in one batch.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import attrs
import gymnasium as gym

from exprl_env.domains import domains, load_problems
from judges.problem import Problem
from exprl_env.prompt import STEP_SEPARATOR, build_prompt, join_steps
from exprl_env.spaces import UnicodeText
from exprl_env.split import select_split
from judges import Judge, JudgeItem, Verdict, make_judge
from judges.answers import boxed_answers

REWARDS = ("sparse", "outcome", "process")
STEP_MODES = ("completion", "step")
DEFAULT_JUDGE = {"sparse": "answer", "outcome": "reference", "process": "reference"}
MAX_OBSERVATION_CHARS = 1_000_000


@attrs.frozen
class PendingStep:
    """The state change an action caused, and the judge request it needs (None: no judging)."""

    item: JudgeItem | None
    terminated: bool
    truncated: bool
    overlong: bool


class ExpRLEnv(gym.Env[str, str]):
    """A math problem as a Gymnasium environment with a judge-computed reward (see module docstring)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        domain: str = "math",
        *,
        dataset: str | None = None,
        split: str = "train",
        test_fraction: float = 0.1,
        reward: str = "process",
        judge: str | Judge | None = None,
        judge_kwargs: dict[str, Any] | None = None,
        step_mode: str = "completion",
        max_steps: int = 16,
        max_chars: int = 8192,
        columns: dict[str, str] | None = None,
        hf_split: str = "train",
        problems: Sequence[Problem] | None = None,
        render_mode: str | None = None,
        **domain_kwargs: Any,
    ):
        _check_choice("reward", reward, REWARDS)
        _check_choice("step_mode", step_mode, STEP_MODES)
        _check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        if max_steps < 1 or max_chars < 1:
            raise ValueError(f"max_steps and max_chars must be >= 1, got {max_steps} and {max_chars}")
        source = dataset or domain
        if problems is None:
            _check_domain_kwargs(source, domain_kwargs)
            problems = select_split(
                load_problems(source, columns=columns, hf_split=hf_split, **domain_kwargs), split, test_fraction
            )
        elif domain_kwargs:
            raise TypeError(f"ExpRLEnv got unknown option(s) {sorted(domain_kwargs)} together with problems=")
        if not problems:
            raise ValueError(f"{source!r} has no problems in split {split!r} (test_fraction={test_fraction})")
        self.problems: list[Problem] = list(problems)
        self._index = {p.id: i for i, p in enumerate(self.problems)}
        self.reward_mode, self.step_mode, self.render_mode = reward, step_mode, render_mode
        self.max_steps, self.max_chars = max_steps, max_chars
        self._judge_spec = (judge or DEFAULT_JUDGE[reward], dict(judge_kwargs or {}))
        self.judge = _build_judge(*self._judge_spec, reward)
        self.observation_space = UnicodeText(MAX_OBSERVATION_CHARS, min_length=1)
        self.action_space = UnicodeText(max_chars)
        self.problem: Problem | None = None
        self.prompt = ""
        self.steps: list[str] = []
        self._paid_score = 0.0

    # --- episode -------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        super().reset(seed=seed)
        index = self._choose(options or {})
        self.problem, self.steps, self._paid_score = self.problems[index], [], 0.0
        self.prompt = build_prompt(self.problem.question)
        info = {"problem_id": self.problem.id, "domain": self.problem.domain, "index": index,
                "prompt_chars": len(self.prompt)}
        return self.prompt, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        pending = self.begin_step(action)
        verdict = self.judge.score_batch([pending.item])[0] if pending.item is not None else None
        return self.finish_step(pending, verdict)

    def begin_step(self, action: str) -> PendingStep:
        """Apply the action to the episode state; say what (if anything) must be judged."""
        if self.problem is None:
            raise RuntimeError("call reset() before step()")
        if not isinstance(action, str):
            raise TypeError(f"action must be a str (the response text), got {type(action).__name__}")
        if self.step_mode == "completion":
            self.steps = [action]
            if len(action) > self.max_chars:
                return PendingStep(None, terminated=False, truncated=True, overlong=True)
            return PendingStep(JudgeItem(self.problem, action, self.reward_mode), True, False, False)
        self.steps.append(action)
        response, spans = join_steps(self.steps)
        if len(response) > self.max_chars:
            return PendingStep(None, terminated=False, truncated=True, overlong=True)
        answered = bool(boxed_answers(action))
        truncated = not answered and len(self.steps) >= self.max_steps
        needs_judge = self.reward_mode == "process" or answered
        item = JudgeItem(self.problem, response, self.reward_mode, spans) if needs_judge and not truncated else None
        return PendingStep(item, terminated=answered, truncated=truncated, overlong=False)

    def finish_step(self, pending: PendingStep, verdict: Verdict | None) -> tuple[str, float, bool, bool, dict]:
        """Turn the verdict into reward and info; the observation is the prompt plus the response so far."""
        reward = self._reward(pending, verdict)
        info: dict[str, Any] = {"problem_id": self.problem.id, "domain": self.problem.domain,
                                "step_index": len(self.steps) - 1, "overlong": pending.overlong,
                                "prompt_chars": len(self.prompt)}
        if verdict is not None:
            info.update(verdict.public())
        if self.step_mode == "completion":
            observation = self.prompt
        else:
            observation = self.prompt + STEP_SEPARATOR + join_steps(self.steps)[0]
        return observation, reward, pending.terminated, pending.truncated, info

    def _reward(self, pending: PendingStep, verdict: Verdict | None) -> float:
        if pending.truncated:  # over-long or out of steps without an answer: nothing is kept
            reward, self._paid_score = 0.0 - self._paid_score, 0.0
            return reward
        if verdict is None:
            return 0.0
        if not verdict.ok:
            return math.nan
        if self.reward_mode == "sparse":
            return 1.0 if verdict.answer_correct else 0.0
        if self.reward_mode == "outcome":
            return float(verdict.outcome)
        if not verdict.step_scores:
            raise RuntimeError(f"judge {self.judge.name!r} returned an ok process verdict without step scores")
        score = verdict.step_scores[-1]
        reward, self._paid_score = score - self._paid_score, score
        return reward

    def _choose(self, options: dict[str, Any]) -> int:
        unknown = sorted(set(options) - {"problem_id", "index"})
        if unknown:
            raise ValueError(f"reset options: unknown key(s) {unknown}; use 'problem_id' or 'index'")
        if "problem_id" in options:
            if options["problem_id"] not in self._index:
                raise KeyError(f"reset options: no problem with id {options['problem_id']!r} in this split "
                               f"({len(self.problems)} problems)")
            return self._index[options["problem_id"]]
        if "index" in options:
            index = options["index"]
            if not isinstance(index, int) or not 0 <= index < len(self.problems):
                raise IndexError(f"reset options: index must be an int in [0, {len(self.problems)}), got {index!r}")
            return index
        return int(self.np_random.integers(len(self.problems)))

    def sibling(self) -> "ExpRLEnv":
        """A fresh env with the same problems, judge and settings (how the vector env makes its N copies)."""
        twin = ExpRLEnv(
            problems=self.problems, judge=self.judge, reward=self.reward_mode, step_mode=self.step_mode,
            max_steps=self.max_steps, max_chars=self.max_chars, render_mode=self.render_mode,
        )
        twin._judge_spec = self._judge_spec
        return twin

    # --- presentation and pickling -------------------------------------------------------------------
    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.prompt + (STEP_SEPARATOR + join_steps(self.steps)[0] if self.steps else "")
        return None

    def __repr__(self) -> str:
        problem = self.problem.id if self.problem else None
        return (f"<ExpRLEnv {len(self.problems)} problems, reward={self.reward_mode}, "
                f"step_mode={self.step_mode}, judge={self.judge.name}, problem={problem}>")

    def __getstate__(self) -> dict[str, Any]:
        """Judges built by name are rebuilt on unpickling (they hold processes and connections)."""
        state = dict(self.__dict__)
        if isinstance(self._judge_spec[0], str):
            state.pop("judge")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "judge" not in state:
            self.judge = _build_judge(*self._judge_spec, self.reward_mode)


def _check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def _check_domain_kwargs(source: str, domain_kwargs: dict[str, Any]) -> None:
    """An option that is neither the env's nor the domain's is a typo: say which options exist."""
    domain = domains().get(source)
    accepted = domain.parameters() if domain else []
    unknown = sorted(set(domain_kwargs) - set(accepted))
    if unknown:
        import inspect

        env_options = [p for p in inspect.signature(ExpRLEnv.__init__).parameters if p not in ("self", "domain_kwargs")]
        raise TypeError(
            f"ExpRLEnv got unknown option(s) {unknown}; environment options are {env_options}"
            + (f"; domain {source!r} also takes {accepted}" if domain else "")
        )


def _build_judge(spec: str | Judge, kwargs: dict[str, Any], reward: str) -> Judge:
    judge = make_judge(spec, **kwargs) if isinstance(spec, str) else make_judge(spec)
    kinds = getattr(judge, "kinds", REWARDS)
    if reward not in kinds:
        raise ValueError(f"judge {judge.name!r} cannot pay reward={reward!r}; it supports {sorted(kinds)}")
    return judge
