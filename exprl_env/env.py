"""The ExpRL environment: one episode answers one problem; a judge holding the hidden reference pays.

``step_mode="completion"``: an action is a whole response; the episode ends after one step.
``step_mode="step"``: an action is one reasoning step; the observation is the prompt plus the steps so
far; the episode terminates at a boxed final answer and truncates at ``max_steps`` or ``max_chars``.

Rewards (``reward=``, default ``"process"`` with the offline ``reference`` judge: the ExpRL reward):
``"sparse"`` pays 1 for a correct final answer; ``"outcome"`` pays the judge's
outcome score in [0, 1]; ``"process"`` pays s_k - s_{k-1} per step (s_0 = 0) of the judge's cumulative progress
s_k (a judge that only rates steps: of its ratings), so an episode's rewards add up to its final process score;
``info["step_spans"]`` are character offsets into the response (the observation after the prompt and one
``STEP_SEPARATOR``) and ``info["step_ratings"]`` each step's own rating, when the judge gives them. This per-step
reward is the environment's reward, what an RL agent's return sums; it is not the authors' process advantage
(DeltaNorm differences step ratings, and its steps sum to 0): agents build advantages from ``info``
(:mod:`agents.objectives`). A verdict the judge could not reach pays NaN and sets
``info["verdict_status"] = "unscorable"``: loud, maskable, never a fake 0.

``max_chars`` (:data:`MAX_CHARS` by default) is a guard against absurd inputs, not the authors' length rule: a
response longer than that earns 0 unjudged in every mode (in step mode the truncating step takes back what earlier
steps were paid). The authors' rule (a response cut off at the *token* cap earns 0) is the trainer's, which knows
whether a sample finished (``TrainConfig.truncated_reward``).

Every observation is inside ``observation_space``: its length limit is the longest prompt of the env's
problems, plus (in step mode) a separator and ``max_chars``; the observation after an over-long step
shows the response cut at ``max_chars``. Options are checked for type and range when given
(:mod:`exprl_env.checks`): ``max_steps=2.5`` or ``index=True`` is an error naming the option.

Each step is split in two (:meth:`begin_step` builds the judge request and changes nothing,
:meth:`finish_step` applies the action and turns the verdict into reward) so that
:class:`~exprl_env.vector.ExpRLVectorEnv` can judge all envs in one batch, and a step that fails (a bad
action, a judge that raises) leaves the episode as it was.

Pickling: a judge given by name is not pickled; it is rebuilt from its name and options when first
used after unpickling (a vector env rebuilds one and shares it). A judge instance is pickled with the env.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import gymnasium as gym

from exprl_env.checks import check_choice, check_int, check_mapping, check_number, check_str
from exprl_env.domains import domains, load_problems
from exprl_env.prompt import STEP_SEPARATOR, build_prompt, join_steps
from exprl_env.spaces import UnicodeText
from exprl_env.split import select_split
from judges import Judge, JudgeItem, Verdict, make_judge
from judges.answers import boxed_answers
from judges.problem import Problem

REWARDS = ("sparse", "outcome", "process")
MAX_CHARS = 131_072
"""The default guard on a response's length in characters: 8 characters for each of the 16,384 response tokens of
the authors' runs. Real math text is far denser in tokens: measured with the SmolLM2 tokenizer (digits one token
each, as in Qwen's), CHAMP's 270 reference solutions average 2.03 characters per token (the most of any one: 3.75),
gsm_symbolic's 2.62, English prose (this project's README) 3.21. So the guard fires before the token cap only on
text of more than 8 characters per token on average, which only degenerate output reaches (runs of a repeated
long token)."""
STEP_MODES = ("completion", "step")
DEFAULT_JUDGE = {"sparse": "answer", "outcome": "reference", "process": "reference"}


class EmptySplit(ValueError):
    """The data has no problems in the split asked for (e.g. a tiny dataset's test split)."""


@attrs.frozen
class PendingStep:
    """The state change an action caused, and the judge request it needs (None: no judging)."""

    item: JudgeItem | None
    terminated: bool
    truncated: bool
    overlong: bool
    steps: tuple[str, ...] = ()
    """The episode's steps once this action is applied (applied by ``finish_step`` only)."""


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
        max_chars: int = MAX_CHARS,
        columns: dict[str, str] | None = None,
        hf_split: str = "train",
        problems: Sequence[Problem] | None = None,
        render_mode: str | None = None,
        **domain_kwargs: Any,
    ):
        check_choice("reward", reward, REWARDS)
        check_choice("step_mode", step_mode, STEP_MODES)
        check_choice("render_mode", render_mode, (None, *self.metadata["render_modes"]))
        max_steps = check_int("max_steps", max_steps, minimum=1)
        max_chars = check_int("max_chars", max_chars, minimum=1)
        test_fraction = check_number("test_fraction", test_fraction, low=0.0, high=1.0)
        for name, value, optional in [
            ("domain", domain, False),
            ("dataset", dataset, True),
            ("split", split, False),
            ("hf_split", hf_split, False),
        ]:
            check_str(name, value, optional=optional)
        check_mapping("judge_kwargs", judge_kwargs)
        check_mapping("columns", columns)
        if judge is not None and not isinstance(judge, str) and judge_kwargs:
            raise TypeError("judge_kwargs were given together with a judge instance; configure the instance instead")
        source = dataset or domain
        if problems is None:
            _check_domain_kwargs(source, domain_kwargs)
            problems = select_split(
                load_problems(source, columns=columns, hf_split=hf_split, **domain_kwargs), split, test_fraction
            )
        elif domain_kwargs:
            raise TypeError(f"ExpRLEnv got unknown option(s) {sorted(domain_kwargs)} together with problems=")
        else:
            problems = _checked_problems(problems)
        if not problems:
            raise EmptySplit(f"{source!r} has no problems in split {split!r} (test_fraction={test_fraction})")
        self.problems: list[Problem] = list(problems)
        self._index = {p.id: i for i, p in enumerate(self.problems)}
        self.reward_mode, self.step_mode, self.render_mode = reward, step_mode, render_mode
        self.max_steps, self.max_chars = max_steps, max_chars
        self._judge_spec = (DEFAULT_JUDGE[reward] if judge is None else judge, dict(judge_kwargs or {}))
        self._judge: Judge | None = _build_judge(*self._judge_spec, reward)
        self.observation_space = UnicodeText(self._longest_observation(), min_length=1)
        self.action_space = UnicodeText(max_chars)
        self.problem: Problem | None = None
        self.prompt = ""
        self.steps: list[str] = []
        self.observation = ""
        """The last observation returned (the prompt after reset; the prompt and response in step mode)."""
        self._paid_score = 0.0

    @property
    def judge(self) -> Judge:
        """The judge; after unpickling, a judge given by name is rebuilt here on first use."""
        if self._judge is None:
            self._judge = _build_judge(*self._judge_spec, self.reward_mode)
        return self._judge

    @judge.setter
    def judge(self, judge: Judge) -> None:
        self._judge = judge

    def _longest_observation(self) -> int:
        """The longest observation this env can return: its longest prompt, plus the response in step mode."""
        longest_prompt = len(build_prompt(max((problem.question for problem in self.problems), key=len)))
        if self.step_mode == "completion":
            return longest_prompt
        return longest_prompt + len(STEP_SEPARATOR) + self.max_chars

    # --- episode -------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict]:
        seed, index = self.check_reset(seed, options)
        super().reset(seed=seed)
        if index is None:
            index = int(self.np_random.integers(len(self.problems)))
        self.problem, self.steps, self._paid_score = self.problems[index], [], 0.0
        self.prompt = self.observation = build_prompt(self.problem.question)
        info = {
            "problem_id": self.problem.id,
            "domain": self.problem.domain,
            "index": index,
            "prompt_chars": len(self.prompt),
        }
        return self.prompt, info

    def step(self, action: str) -> tuple[str, float, bool, bool, dict]:
        pending = self.begin_step(action)
        verdict = judge_items(self.judge, [pending.item])[0] if pending.item is not None else None
        return self.finish_step(pending, verdict)

    def begin_step(self, action: str) -> PendingStep:
        """Say what the action does and what (if anything) must be judged; the episode is not changed yet."""
        if self.problem is None:
            raise RuntimeError("call reset() before step()")
        if not isinstance(action, str):
            raise TypeError(f"action must be a str (the response text), got {type(action).__name__}")
        if self.step_mode == "completion":
            if len(action) > self.max_chars:
                return PendingStep(None, terminated=False, truncated=True, overlong=True, steps=(action,))
            return PendingStep(JudgeItem(self.problem, action, self.reward_mode), True, False, False, (action,))
        steps = (*self.steps, action)
        response, spans = join_steps(list(steps))
        if len(response) > self.max_chars:
            return PendingStep(None, terminated=False, truncated=True, overlong=True, steps=steps)
        answered = bool(boxed_answers(action))
        truncated = not answered and len(steps) >= self.max_steps
        needs_judge = self.reward_mode == "process" or answered
        item = JudgeItem(self.problem, response, self.reward_mode, spans) if needs_judge and not truncated else None
        return PendingStep(item, terminated=answered, truncated=truncated, overlong=False, steps=steps)

    def check_verdict(self, pending: PendingStep, verdict: Verdict | None) -> None:
        """Raise, before anything changes, if the judge's answer for this step cannot be used."""
        if pending.item is None:
            return
        if not isinstance(verdict, Verdict):
            raise RuntimeError(f"judge {self.judge.name!r} returned {type(verdict).__name__}, not a Verdict")
        if self.reward_mode == "process" and verdict.ok and not (verdict.step_scores or verdict.step_ratings):
            raise RuntimeError(f"judge {self.judge.name!r} returned an ok process verdict without step scores")
        if self.reward_mode == "outcome" and verdict.ok and verdict.outcome is None:
            raise RuntimeError(f"judge {self.judge.name!r} returned an ok outcome verdict without an outcome")

    def finish_step(self, pending: PendingStep, verdict: Verdict | None) -> tuple[str, float, bool, bool, dict]:
        """Apply the action, turn the verdict into reward and info; the observation is the prompt plus the
        response so far (cut at ``max_chars``, so an over-long step still gives an observation in the space)."""
        self.check_verdict(pending, verdict)
        self.steps = list(pending.steps)
        reward = self._reward(pending, verdict)
        info: dict[str, Any] = {
            "problem_id": self.problem.id,
            "domain": self.problem.domain,
            "step_index": len(self.steps) - 1,
            "overlong": pending.overlong,
            "prompt_chars": len(self.prompt),
        }
        if verdict is not None:
            info.update(verdict.public())
        if self.step_mode == "completion":
            observation = self.prompt
        else:
            observation = self.prompt + STEP_SEPARATOR + join_steps(self.steps)[0][: self.max_chars]
        self.observation = observation
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
        score = (verdict.step_scores or verdict.step_ratings)[-1]  # a judge that only rates steps: its last rating
        reward, self._paid_score = score - self._paid_score, score
        return reward

    def check_reset(self, seed: Any, options: Any) -> tuple[int | None, int | None]:
        """The checked seed and the index of the problem the options ask for (None: draw one); changes nothing."""
        if seed is not None:
            seed = check_int("reset seed", seed, minimum=0)
        check_mapping("reset options", options)
        return seed, self._choose(options or {})

    def _choose(self, options: Mapping[str, Any]) -> int | None:
        unknown = sorted(set(options) - {"problem_id", "index"})
        if unknown:
            raise ValueError(f"reset options: unknown key(s) {unknown}; use 'problem_id' or 'index'")
        if "problem_id" in options and "index" in options:
            raise ValueError("reset options: give 'problem_id' or 'index', not both")
        if "problem_id" in options:
            problem_id = check_str("reset option 'problem_id'", options["problem_id"])
            if problem_id not in self._index:
                raise KeyError(
                    f"reset options: no problem with id {problem_id!r} in this split ({len(self.problems)} problems)"
                )
            return self._index[problem_id]
        if "index" in options:
            index = check_int("reset option 'index'", options["index"])
            if not 0 <= index < len(self.problems):
                raise IndexError(f"reset options: index must be an int in [0, {len(self.problems)}), got {index!r}")
            return index
        return None

    def sibling(self) -> ExpRLEnv:
        """A fresh env with the same problems, judge and settings (how the vector env makes its N copies)."""
        twin = ExpRLEnv(
            problems=self.problems,
            judge=self.judge,
            reward=self.reward_mode,
            step_mode=self.step_mode,
            max_steps=self.max_steps,
            max_chars=self.max_chars,
            render_mode=self.render_mode,
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
        judge = self._judge.name if self._judge is not None else self._judge_spec[0]
        return (
            f"<ExpRLEnv {len(self.problems)} problems, reward={self.reward_mode}, "
            f"step_mode={self.step_mode}, judge={judge}, problem={problem}>"
        )

    def __getstate__(self) -> dict[str, Any]:
        """A judge built by name is left out (it holds processes and connections) and rebuilt on first use."""
        state = dict(self.__dict__)
        if isinstance(self._judge_spec[0], str):
            state["_judge"] = None
        return state


def _checked_problems(problems: Any) -> list[Problem]:
    if isinstance(problems, (str, bytes, Mapping)) or not isinstance(problems, Iterable):
        raise TypeError(f"problems must be a sequence of judges.Problem, got {type(problems).__name__}")
    problems = list(problems)
    wrong = next((p for p in problems if not isinstance(p, Problem)), None)
    if wrong is not None:
        raise TypeError(f"problems must be a sequence of judges.Problem; one is a {type(wrong).__name__}")
    return problems


def judge_items(judge: Judge, items: list[JudgeItem]) -> list[Verdict]:
    """One batched judge call; a judge that answers a different number of items is an error, never a 0."""
    verdicts = list(judge.score_batch(items))
    if len(verdicts) != len(items):
        raise RuntimeError(f"judge {judge.name!r} returned {len(verdicts)} verdict(s) for {len(items)} item(s)")
    return verdicts


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
