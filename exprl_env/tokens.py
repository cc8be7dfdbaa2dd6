"""A token-level view of an ExpRL environment: one action is one token, for token-level RL libraries.

Stable-Baselines3 (and most classic RL code) takes fixed-size numeric observations and a ``Discrete``
action, not text (SB3#1704). :class:`ExpRLTokenEnv` wraps any :class:`~exprl_env.env.ExpRLEnv`:

- the action is one token, ``Discrete(len(action_tokens))`` (the whole vocabulary by default; a short
  list of token ids makes a small action space, action ``i`` writing ``action_tokens[i]``);
- the observation is ``{"input_ids": Box(0, V-1, (L,), int64), "length": Box(0, L, (1,), int64)}``:
  the prompt's token ids and the response's so far, right-padded with 0, and how many are real. ``L`` is
  the longest prompt of the env's problems plus ``max_new_tokens``. Not ``MultiDiscrete``, which SB3
  one-hot encodes into V*L floats.

Steps and rewards come from the wrapped env, unchanged. In ``step_mode="step"`` (the default when the
env is built from an id) a reasoning step ends where the text reaches the env's own step separator
(:data:`~exprl_env.prompt.STEP_SEPARATOR`, a blank line) after some non-blank text, so the response
the judge sees (the steps joined by that separator) is exactly the decoded tokens; the token that closes a
step sends it to the env, which judges the response so far and pays what it pays for a step (process
reward: s_k - s_{k-1}, so an episode's rewards add up to its final process score; sparse/outcome: paid at
a step with a boxed answer, which ends the episode). In ``step_mode="completion"`` the whole response
is one env step, judged when the response ends. Every other token pays 0.

The response ends at a stop token (the tokenizer's EOS by default): the unfinished step is sent as the last
one and the episode terminates with what the judge paid. It also ends at ``max_new_tokens`` tokens: with
``truncated_reward="zero"`` (the default; the authors' rule and ``exprl train``'s) a cut-off response
earns 0 on a judged reward (the last step takes back what earlier ones paid; a sparse reward is paid as
checked), with ``"judge"`` it is paid as judged. Both terminate: the observation's ``length`` shows the
cap coming, and the zero is part of the reward, not a time limit to bootstrap over.

**Unscorable verdicts.** A verdict the judge could not reach is NaN in the wrapped env; NaN must never reach
an RL library that has no masks. The episode ends there with ``truncated=True`` and a reward of ``0.0`` for
that step (earlier steps keep what they were paid), ``info["verdict_status"] == "unscorable"`` and
``info["verdict_cause"]`` saying why. SB3 then bootstraps that step from the value of the final observation
(``reward + gamma * V(s)`` on ``TimeLimit.truncated``): the critic's estimate stands in for the verdict
nobody could give, instead of a fake 0. Episode-return statistics (``Monitor``) count such an episode
with the partial return: filter on ``verdict_status``.

Every ``info`` carries ``problem_id``, ``response_tokens``, ``step_closed`` (this token ended a reasoning
step or the response), ``judged`` (the judge was called), and the public fields of the episode's latest
verdict (None before the first), so ``Monitor(info_keywords=("answer_correct", "verdict_status"))`` works
on any step. Like the wrapped env, nothing here carries the reference.

Cost: a policy reads the whole sequence for every token (SB3 has no KV cache), so only tiny models are
practical on a CPU. Each step is split in two (:meth:`ExpRLTokenEnv.begin_step` /
:meth:`ExpRLTokenEnv.finish_step`) so that a vector env can judge all sub-envs in one batch
(:class:`exprl_env.sb3.ExpRLSB3VecEnv`). Importing this module imports neither torch nor SB3; a tokenizer
given by name is loaded with ``transformers``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from exprl_env.checks import check_choice, check_int, describe
from exprl_env.env import ExpRLEnv, PendingStep, judge_items
from exprl_env.prompt import STEP_SEPARATOR, build_prompt
from judges import Verdict
from judges.problem import Problem

TRUNCATED_REWARDS = ("zero", "judge")
VERDICT_KEYS = tuple(Verdict.unscorable("").public())
"""The public verdict fields every ``info`` carries (those of the episode's latest verdict)."""


@attrs.frozen
class Prompts:
    """Every problem's prompt as token ids, encoded once and shared by sibling envs."""

    ids: Mapping[str, tuple[int, ...]]

    @classmethod
    def encode(cls, problems: Sequence[Problem], tokenizer: Any, chat_template: bool) -> Prompts:
        return cls({p.id: prompt_ids(tokenizer, build_prompt(p.question), chat_template) for p in problems})

    @property
    def longest(self) -> int:
        return max(len(ids) for ids in self.ids.values())


def prompt_ids(tokenizer: Any, prompt: str, chat_template: bool) -> tuple[int, ...]:
    """The prompt as one user turn of the tokenizer's chat template (``chat_template`` and it has one), else
    as plain text with the tokenizer's special tokens."""
    if chat_template and getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": prompt}]
        encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return tuple(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)
    return tuple(tokenizer(prompt)["input_ids"])


@attrs.frozen
class TokenStep:
    """What one token does, and the env step it needs (``env_step`` None: it closed no reasoning step)."""

    response_ids: tuple[int, ...]
    step_start: int
    """Where the unfinished reasoning step starts in the decoded response, once this token is applied."""
    env_step: PendingStep | None
    ended: str | None
    """``"stop"`` (a stop token), ``"cap"`` (``max_new_tokens`` reached) or None (the response goes on)."""

    @property
    def item(self):
        """The judge request this token needs, if any."""
        return self.env_step.item if self.env_step is not None else None


class ExpRLTokenEnv(gym.Env):
    """One token per action over an ExpRL environment (see the module docstring)."""

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        env: str | gym.Env,
        tokenizer: Any,
        *,
        max_new_tokens: int = 64,
        action_tokens: Sequence[int] | None = None,
        stop_tokens: Sequence[int] | None = None,
        chat_template: bool = True,
        truncated_reward: str = "zero",
        prompts: Prompts | None = None,
        **env_kwargs: Any,
    ):
        """``env``: an ExpRL env id (built with ``step_mode="step"`` unless ``env_kwargs`` say otherwise) or an
        ExpRL env; ``tokenizer``: a Hugging Face tokenizer or a name ``AutoTokenizer`` loads;
        ``action_tokens``: the token id each action writes (default: every id of the tokenizer);
        ``stop_tokens``: ids that end the response (default: the tokenizer's EOS); ``prompts``: the prompts
        already encoded (siblings share them)."""
        self.env = _exprl_env(env, env_kwargs)
        self.tokenizer = _tokenizer(tokenizer)
        self.vocab_size = len(self.tokenizer)
        self.max_new_tokens = check_int("max_new_tokens", max_new_tokens, minimum=1)
        self.truncated_reward = check_choice("truncated_reward", truncated_reward, TRUNCATED_REWARDS)
        self.chat_template = check_choice("chat_template", chat_template, (True, False))
        self.action_tokens = _token_ids("action_tokens", action_tokens, self.vocab_size, default=range(self.vocab_size))
        eos = self.tokenizer.eos_token_id
        stop = _token_ids("stop_tokens", stop_tokens, self.vocab_size, default=[eos], allow_empty=True)
        self.stop_tokens = frozenset(stop)
        self.prompts = prompts or Prompts.encode(self.env.problems, self.tokenizer, chat_template)
        self.max_length = self.prompts.longest + self.max_new_tokens
        self.observation_space = spaces.Dict(
            {
                "input_ids": spaces.Box(0, self.vocab_size - 1, (self.max_length,), np.int64),
                "length": spaces.Box(0, self.max_length, (1,), np.int64),
            }
        )
        self.action_space = spaces.Discrete(len(self.action_tokens))
        self.render_mode = self.env.render_mode
        self._start_episode(())
        self.ended = True  # until the first reset

    def _start_episode(self, prompt: tuple[int, ...]) -> None:
        self.prompt_ids, self.response_ids, self.step_start = prompt, (), 0
        self.returned, self.ended = 0.0, False
        self.latest_verdict: dict[str, Any] = dict.fromkeys(VERDICT_KEYS)

    # --- episode -------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the wrapped env (same options: ``problem_id`` or ``index``) and encode its prompt."""
        super().reset(seed=seed)
        _, info = self.env.reset(seed=seed, options=options)
        self._start_episode(self.prompts.ids[info["problem_id"]])
        info = {**info, "prompt_tokens": len(self.prompt_ids)}
        return self._observation(), info

    def step(self, action: Any):
        pending = self.begin_step(action)
        verdict = judge_items(self.env.judge, [pending.item])[0] if pending.item is not None else None
        return self.finish_step(pending, verdict)

    def begin_step(self, action: Any) -> TokenStep:
        """Say what the token does and what (if anything) the judge must see; nothing changes yet."""
        if self.ended:
            raise RuntimeError("the episode has ended (or never started): call reset() before step()")
        token = self.action_tokens[self._action_index(action)]
        response = (*self.response_ids, token)
        stopped = token in self.stop_tokens
        ended = "stop" if stopped else "cap" if len(response) >= self.max_new_tokens else None
        text = self.decode(response[:-1] if stopped else response)
        step_text, step_start = self._closed_step(text, ended is not None)
        env_step = self.env.begin_step(step_text) if step_text is not None else None
        return TokenStep(response, step_start, env_step, ended)

    def finish_step(self, pending: TokenStep, verdict: Verdict | None):
        """Apply the token, let the wrapped env turn the verdict into reward (see the module docstring)."""
        env_terminated = env_truncated = False
        reward, info = 0.0, {}
        if pending.env_step is not None:
            _, reward, env_terminated, env_truncated, info = self.env.finish_step(pending.env_step, verdict)
        self.response_ids, self.step_start = pending.response_ids, pending.step_start
        if verdict is not None:
            self.latest_verdict = {key: info.get(key) for key in VERDICT_KEYS}
        if math.isnan(reward):  # unscorable: end here, pay nothing for this step, let the critic bootstrap
            reward, terminated, truncated = 0.0, False, True
        else:
            terminated, truncated = env_terminated or (pending.ended is not None and not env_truncated), env_truncated
            if self._zeroes(pending, env_terminated or env_truncated):
                reward = -self.returned
        self.returned += reward
        self.ended = terminated or truncated
        return self._observation(), float(reward), terminated, truncated, self._info(pending, info)

    def _zeroes(self, pending: TokenStep, env_ended: bool) -> bool:
        """A response cut off at the token cap (not ended by the env itself) earns 0 under the zero rule."""
        judged_reward = self.env.reward_mode != "sparse"
        return pending.ended == "cap" and not env_ended and self.truncated_reward == "zero" and judged_reward

    def _closed_step(self, text: str, ended: bool) -> tuple[str | None, int]:
        """The reasoning step this token closes (None: none) and where the next one starts.

        Step mode: the unfinished step's text up to the first separator after some non-blank text (blank
        lines before a step stay at its start, so the steps joined by the separator, plus what follows,
        are exactly ``text``; a token that holds two separators closes the second step with the next token);
        at the response's end, all of the unfinished step unless it is blank. Completion mode: the whole
        response, at its end.
        """
        if self.env.step_mode == "completion":
            return (text, 0) if ended else (None, 0)
        pending = text[self.step_start :]
        if ended:
            return (pending, len(text)) if pending.strip() else (None, self.step_start)
        first_text = len(pending) - len(pending.lstrip())
        cut = pending.find(STEP_SEPARATOR, first_text) if pending.strip() else -1
        if cut < 0:
            return None, self.step_start
        return pending[:cut], self.step_start + cut + len(STEP_SEPARATOR)

    def _action_index(self, action: Any) -> int:
        if isinstance(action, np.ndarray) and action.size == 1 and np.issubdtype(action.dtype, np.integer):
            action = action.reshape(()).item()
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, numbers.Integral):
            raise TypeError(f"action must be an int token index, got {describe(action)}")
        if not 0 <= action < len(self.action_tokens):
            raise ValueError(f"action must be in [0, {len(self.action_tokens)}), got {action}")
        return int(action)

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids as the text the judge sees (special tokens kept, no clean-up of spaces)."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=False, clean_up_tokenization_spaces=False)

    def _observation(self) -> dict[str, np.ndarray]:
        ids = np.zeros(self.max_length, dtype=np.int64)
        sequence = (*self.prompt_ids, *self.response_ids)
        ids[: len(sequence)] = sequence
        return {"input_ids": ids, "length": np.array([len(sequence)], dtype=np.int64)}

    def _info(self, pending: TokenStep, env_info: dict[str, Any]) -> dict[str, Any]:
        info = {key: value for key, value in env_info.items() if key not in VERDICT_KEYS}
        info.update(
            problem_id=self.env.problem.id,
            response_tokens=len(self.response_ids),
            step_closed=pending.env_step is not None or pending.ended is not None,
            judged=pending.item is not None,
            **self.latest_verdict,
        )
        return info

    def sibling(self) -> ExpRLTokenEnv:
        """A fresh token env over a sibling of the wrapped env (same problems, judge, tokenizer, settings)."""
        return ExpRLTokenEnv(
            self.env.sibling(),
            self.tokenizer,
            max_new_tokens=self.max_new_tokens,
            action_tokens=self.action_tokens,
            stop_tokens=sorted(self.stop_tokens),
            chat_template=self.chat_template,
            truncated_reward=self.truncated_reward,
            prompts=self.prompts,
        )

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.decode(self.prompt_ids + self.response_ids)
        return None

    def __repr__(self) -> str:
        return (
            f"<ExpRLTokenEnv {len(self.action_tokens)} actions, max_new_tokens={self.max_new_tokens}, "
            f"max_length={self.max_length} over {self.env!r}>"
        )


def _exprl_env(env: Any, env_kwargs: dict[str, Any]) -> ExpRLEnv:
    if isinstance(env, str):
        return gym.make(env, **{"step_mode": "step", **env_kwargs}).unwrapped
    if env_kwargs:
        raise TypeError(f"options {sorted(env_kwargs)} were given with an env instance; configure the env instead")
    if not isinstance(getattr(env, "unwrapped", None), ExpRLEnv):
        raise TypeError(f"env must be an ExpRL env id or an ExpRLEnv (or a wrapper of one), got {describe(env)}")
    return env.unwrapped


def _tokenizer(tokenizer: Any) -> Any:
    if isinstance(tokenizer, str):
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(tokenizer)
    missing = [name for name in ("decode", "eos_token_id", "__len__") if not hasattr(tokenizer, name)]
    if missing:
        raise TypeError(f"tokenizer must be a Hugging Face tokenizer or a name, got {describe(tokenizer)}")
    return tokenizer


def _token_ids(
    name: str, ids: Any, vocab_size: int, default: Sequence[int | None], allow_empty: bool = False
) -> tuple[int, ...]:
    """Checked token ids: ints in [0, vocab_size), no repeats, at least one unless ``allow_empty``."""
    ids = default if ids is None else ids
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of token ids, got {describe(ids)}")
    checked = tuple(check_int(f"{name}[{i}]", token, minimum=0) for i, token in enumerate(ids) if token is not None)
    wrong = [token for token in checked if token >= vocab_size]
    if wrong or (not checked and not allow_empty) or len(set(checked)) != len(checked):
        problem = f"ids {wrong[:5]} are not below the vocabulary size {vocab_size}" if wrong else "empty or repeated"
        raise ValueError(f"{name}: {problem}")
    return checked
