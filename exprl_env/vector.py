"""N ExpRL episodes stepped together, with one batched judge call per step.

Gymnasium's ``SyncVectorEnv`` would call the judge once per sub-environment; an LLM judge wants the
whole batch at once (it is one server round of concurrent requests), and so does the answer judge's
process pool. The sub-environments share one problem list and one judge. Autoreset follows
Gymnasium's default ``NEXT_STEP`` mode: the step after an episode ends resets that sub-environment
and ignores its action.

A step is all or nothing: every action is checked and the judge answers before any sub-environment
changes, so a bad action (env 3 of 8 gets a non-string) or a judge that raises leaves all N as they were,
and a retry with good actions gives what a run that never failed gives. The vector env pickles; a judge
given by name is rebuilt once on unpickling and shared again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from exprl_env.checks import check_int
from exprl_env.env import ExpRLEnv, judge_items
from judges.problem import Problem

NULLABLE_INFO = frozenset(
    {"outcome_score", "step_scores", "step_ratings", "step_spans", "first_error_step", "answer_correct"}
)


class ExpRLVectorEnv(VectorEnv):
    """``gymnasium.make_vec("ExpRL-Math-v0", num_envs=N, **env_kwargs)``."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["ansi"]}

    def __init__(self, num_envs: int = 1, domain: str = "math", **env_kwargs: Any):
        num_envs = check_int("num_envs", num_envs, minimum=1)
        env_kwargs.pop("max_episode_steps", None)  # gymnasium passes it for specs that set one; ours do not
        first = ExpRLEnv(domain, **env_kwargs)
        self.envs = [first] + [first.sibling() for _ in range(num_envs - 1)]
        self.judge = first.judge
        self.num_envs = num_envs
        self.render_mode = first.render_mode
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(first.observation_space, num_envs)
        self.action_space = batch_space(first.action_space, num_envs)
        self._autoreset = np.zeros(num_envs, dtype=np.bool_)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset all (or ``options["reset_mask"]``) sub-envs; an option given as a list of length N is per-env."""
        seeds = self._seeds(seed)
        options = dict(options or {})
        mask = options.pop("reset_mask", np.ones(self.num_envs, dtype=np.bool_))
        if not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (self.num_envs,)):
            raise ValueError(f"options['reset_mask'] must be a bool numpy array of shape ({self.num_envs},)")
        per_env = {int(i): self._options_for(options, int(i)) for i in np.flatnonzero(mask)}
        for i, env_options in per_env.items():  # all checked before any env resets
            try:
                self.envs[i].check_reset(seeds[i], env_options)
            except (TypeError, ValueError, KeyError, IndexError) as error:
                raise type(error)(f"env {i} of {self.num_envs}: {_message(error)}; no env was reset") from None
        if seed is not None:
            self._np_random, self._np_random_seed = None, None
        observations, infos = [env.observation for env in self.envs], {}
        for i, env in enumerate(self.envs):
            if mask[i]:
                observations[i], info = env.reset(seed=seeds[i], options=per_env[i])
                infos = self._add_info(infos, info, i)
                self._autoreset[i] = False
        return tuple(observations), infos

    def step(self, actions: Sequence[str]):
        """Step every sub-env (see module docstring: nothing changes unless the whole step succeeds)."""
        if isinstance(actions, (str, bytes)) or not hasattr(actions, "__len__") or len(actions) != self.num_envs:
            raise ValueError(f"actions must be a sequence of {self.num_envs} strings")
        pending = {}
        for i, env in enumerate(self.envs):
            if not self._autoreset[i]:  # an ended env ignores its action (and resets below)
                try:
                    pending[i] = env.begin_step(actions[i])
                except (TypeError, RuntimeError) as error:
                    raise type(error)(f"env {i} of {self.num_envs}: {_message(error)}; no env was stepped") from None
        to_judge = [i for i, p in pending.items() if p.item is not None]
        verdicts = dict(zip(to_judge, judge_items(self.judge, [pending[i].item for i in to_judge]))) if to_judge else {}
        for i, step in pending.items():
            self.envs[i].check_verdict(step, verdicts.get(i))
        results = {i: self.envs[i].finish_step(step, verdicts.get(i)) for i, step in pending.items()}
        for i in np.flatnonzero(self._autoreset):
            observation, info = self.envs[i].reset()
            results[int(i)] = (observation, 0.0, False, False, info)
        observations, infos = [], {}
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminations = np.zeros(self.num_envs, dtype=np.bool_)
        truncations = np.zeros(self.num_envs, dtype=np.bool_)
        for i in range(self.num_envs):
            observation, rewards[i], terminations[i], truncations[i], info = results[i]
            observations.append(observation)
            infos = self._add_info(infos, info, i)
        self._autoreset = terminations | truncations
        return tuple(observations), rewards, terminations, truncations, infos

    @property
    def problems(self) -> list[Problem]:
        """The problems every sub-environment draws from (shared; each carries its sealed reference)."""
        return self.envs[0].problems

    def _add_info(self, vector_infos: dict[str, Any], env_info: dict[str, Any], env_num: int) -> dict[str, Any]:
        """Verdict fields may be None for some envs: keep them in object arrays, where gymnasium would pick
        the first env's dtype and then fail on None (or, for a bool, silently store False)."""
        for key in NULLABLE_INFO.intersection(env_info):
            vector_infos.setdefault(key, np.full(self.num_envs, None, dtype=object))
        return super()._add_info(vector_infos, env_info, env_num)

    def render(self) -> tuple[str | None, ...]:
        return tuple(env.render() for env in self.envs)

    def _seeds(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        if seed is None:
            return [None] * self.num_envs
        if isinstance(seed, (int, np.integer)):
            seed = check_int("seed", seed, minimum=0)
            return [seed + i for i in range(self.num_envs)]
        if isinstance(seed, (str, bytes)) or not hasattr(seed, "__len__"):
            raise TypeError(f"seed must be an int or a list of {self.num_envs} ints, got {type(seed).__name__}")
        if len(seed) != self.num_envs:
            raise ValueError(f"seed list must have {self.num_envs} entries, got {len(seed)}")
        return list(seed)

    def _options_for(self, options: dict[str, Any], i: int) -> dict[str, Any]:
        return {
            k: (v[i] if isinstance(v, (list, tuple)) and len(v) == self.num_envs else v) for k, v in options.items()
        }

    def __repr__(self) -> str:
        return f"<ExpRLVectorEnv num_envs={self.num_envs} {self.envs[0]!r}>"

    def __getstate__(self) -> dict[str, Any]:
        """A judge built by name is left out (the sub-envs leave it out too) and rebuilt once on unpickling."""
        state = dict(self.__dict__)
        if isinstance(self.envs[0]._judge_spec[0], str):
            state["judge"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.judge is None:
            self.judge = self.envs[0].judge
            for env in self.envs[1:]:
                env.judge = self.judge


def _message(error: Exception) -> str:
    return str(error.args[0]) if error.args else type(error).__name__  # a KeyError's str() adds quotes
