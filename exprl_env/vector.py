"""N ExpRL episodes stepped together, with one batched judge call per step.

Gymnasium's ``SyncVectorEnv`` would call the judge once per sub-environment; an LLM judge wants the
whole batch at once (it is one server round of concurrent requests), and so does the answer judge's
process pool. The sub-environments share one problem list and one judge. Autoreset follows
Gymnasium's default ``NEXT_STEP`` mode: the step after an episode ends resets that sub-environment
and ignores its action.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from exprl_env.env import ExpRLEnv
from judges.problem import Problem

NULLABLE_INFO = frozenset({"outcome_score", "step_scores", "step_spans", "first_error_step", "answer_correct"})


class ExpRLVectorEnv(VectorEnv):
    """``gymnasium.make_vec("ExpRL-Math-v0", num_envs=N, **env_kwargs)``."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": ["ansi"]}

    def __init__(self, num_envs: int = 1, domain: str = "math", **env_kwargs: Any):
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
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
        if seed is not None:
            self._np_random, self._np_random_seed = None, None
        observations, infos = [env.prompt for env in self.envs], {}
        for i, env in enumerate(self.envs):
            if mask[i]:
                observations[i], info = env.reset(seed=seeds[i], options=self._options_for(options, i))
                infos = self._add_info(infos, info, i)
                self._autoreset[i] = False
        return tuple(observations), infos

    def step(self, actions: Sequence[str]):
        if isinstance(actions, str) or len(actions) != self.num_envs:
            raise ValueError(f"actions must be a sequence of {self.num_envs} strings")
        pending, results = {}, {}
        for i, env in enumerate(self.envs):
            if self._autoreset[i]:
                observation, info = env.reset()
                results[i] = (observation, 0.0, False, False, info)
            else:
                pending[i] = env.begin_step(actions[i])
        to_judge = [i for i, p in pending.items() if p.item is not None]
        verdicts = dict(zip(to_judge, self.judge.score_batch([pending[i].item for i in to_judge]))) if to_judge else {}
        for i, step in pending.items():
            results[i] = self.envs[i].finish_step(step, verdicts.get(i))
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
        if isinstance(seed, int):
            return [seed + i for i in range(self.num_envs)]
        if len(seed) != self.num_envs:
            raise ValueError(f"seed list must have {self.num_envs} entries, got {len(seed)}")
        return list(seed)

    def _options_for(self, options: dict[str, Any], i: int) -> dict[str, Any]:
        return {k: (v[i] if isinstance(v, (list, tuple)) and len(v) == self.num_envs else v) for k, v in options.items()}

    def __repr__(self) -> str:
        return f"<ExpRLVectorEnv num_envs={self.num_envs} {self.envs[0]!r}>"
