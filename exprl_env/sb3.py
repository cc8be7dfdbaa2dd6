"""N token-level ExpRL episodes as a Stable-Baselines3 ``VecEnv``, with one batched judge call per step.

SB3's ``DummyVecEnv`` steps its envs one by one, so N sub-envs that close a reasoning step on the same
token would call the judge N times; an LLM judge wants them as one batch (one server round), and so does
the answer judge's process pool. :class:`ExpRLSB3VecEnv` holds N :class:`~exprl_env.tokens.ExpRLTokenEnv`
that share one judge: each step checks every action first (a bad one changes nothing), sends every
sub-env's judge request in one ``score_batch`` call, then applies the verdicts.

SB3's conventions, not Gymnasium's: ``step`` returns ``(obs, rewards, dones, infos)`` with a list of info
dicts; a finished sub-env resets at once, its last observation in ``info["terminal_observation"]`` and
``info["TimeLimit.truncated"]`` set when it was truncated and not terminated (an unscorable verdict, see
:mod:`exprl_env.tokens`), so PPO/A2C bootstrap from its value; its reset info goes to ``reset_infos``.
Seeds and options set with ``seed()`` / ``set_options()`` apply at the next ``reset()`` only, as in SB3.

Sub-envs are not wrapped one by one (the batched step bypasses a per-env wrapper): wrap the vector env in
``VecMonitor`` for episode statistics. This module imports stable-baselines3; ``import exprl_env`` does not
import it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.env_util import is_wrapped
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from exprl_env.checks import check_int
from exprl_env.env import judge_items
from exprl_env.tokens import ExpRLTokenEnv


class ExpRLSB3VecEnv(VecEnv):
    """``ExpRLSB3VecEnv(token_env, num_envs)``: ``token_env`` and ``num_envs - 1`` siblings sharing its judge."""

    def __init__(self, token_env: ExpRLTokenEnv, num_envs: int = 1):
        if not isinstance(token_env, ExpRLTokenEnv):
            raise TypeError(f"token_env must be an ExpRLTokenEnv, got {type(token_env).__name__}")
        num_envs = check_int("num_envs", num_envs, minimum=1)
        self.envs = [token_env] + [token_env.sibling() for _ in range(num_envs - 1)]
        self.judge = token_env.env.judge
        super().__init__(num_envs, token_env.observation_space, token_env.action_space)
        self.actions: np.ndarray | None = None

    def reset(self) -> VecEnvObs:
        observations = []
        for i, env in enumerate(self.envs):
            observation, self.reset_infos[i] = env.reset(seed=self._seeds[i], options=self._options[i] or None)
            observations.append(observation)
        self._reset_seeds()
        self._reset_options()
        return _stack(observations)

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions)
        if actions.shape not in ((self.num_envs,), (self.num_envs, 1)):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        self.actions = actions.reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        if self.actions is None:
            raise RuntimeError("step_wait() without step_async(): call step(actions)")
        actions, self.actions = self.actions, None
        pending = []
        for i, env in enumerate(self.envs):  # every action is checked before any env changes
            try:
                pending.append(env.begin_step(actions[i]))
            except (TypeError, ValueError, RuntimeError) as error:
                raise type(error)(f"env {i} of {self.num_envs}: {error}; no env was stepped") from None
        to_judge = [i for i, step in enumerate(pending) if step.item is not None]
        verdicts = dict(zip(to_judge, judge_items(self.judge, [pending[i].item for i in to_judge]))) if to_judge else {}
        for i in to_judge:
            self.envs[i].env.check_verdict(pending[i].env_step, verdicts[i])
        observations, rewards, dones, infos = [], np.zeros(self.num_envs, np.float32), np.zeros(self.num_envs, bool), []
        for i, env in enumerate(self.envs):
            observation, rewards[i], terminated, truncated, info = env.finish_step(pending[i], verdicts.get(i))
            dones[i] = terminated or truncated
            info["TimeLimit.truncated"] = truncated and not terminated
            if dones[i]:
                info["terminal_observation"] = observation
                observation, self.reset_infos[i] = env.reset()
            observations.append(observation)
            infos.append(info)
        return _stack(observations), rewards, dones, infos

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.envs[i], attr_name) for i in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        for i in self._get_indices(indices):
            setattr(self.envs[i], attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        return [getattr(self.envs[i], method_name)(*method_args, **method_kwargs) for i in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        return [is_wrapped(self.envs[i], wrapper_class) for i in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None for _ in self.envs]  # text envs have no images; render() gives the decoded text

    def __repr__(self) -> str:
        return f"<ExpRLSB3VecEnv num_envs={self.num_envs} {self.envs[0]!r}>"


def _stack(observations: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.stack([o[key] for o in observations]) for key in observations[0]}
