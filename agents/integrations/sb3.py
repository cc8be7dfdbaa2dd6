"""Stable-Baselines3 on ExpRL: a causal LM as the PPO/A2C policy of the token-level environment.

SB3 trains any ``ActorCriticPolicy`` on a ``Dict`` observation; :class:`CausalLMPolicy` is one whose features
extractor is a language model's body (:class:`CausalLMExtractor`: the final hidden state of the last real
token of ``input_ids[:length]``) and whose action head starts as that model's LM head, restricted to the
env's action tokens, so at step 0 the policy samples what the LM would (the value head is new). Two SB3
defaults would undo that, so the policy fixes them: ``ortho_init`` must be False (SB3 re-initialises every
``nn.Linear`` of the extractor orthogonally), and ``net_arch["pi"]`` must be empty (an MLP between the
body and the head would make the head's input something the LM head never saw; ``vf`` layers are fine).

Use (``exprl_env.tokens`` explains the environment, ``exprl_env.sb3`` the vector env)::

    venv = VecMonitor(make_vec_env("ExpRL-Arith-v0", model="tiny-random", num_envs=4, n_ops=1))
    agent = PPO(CausalLMPolicy, venv, policy_kwargs=lm_policy_kwargs(venv, "tiny-random"))
    agent.learn(4096)

A model given by name (``tiny-random``, ``smollm2-135m-instruct``, a folder) keeps SB3's saved zip small:
the name is saved, and the weights in the policy's state dict. Cost: every token reads the whole sequence
again (no KV cache), so this is for tiny models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

from agents.models import resolve_model
from exprl_env.sb3 import ExpRLSB3VecEnv
from exprl_env.tokens import ExpRLTokenEnv


def load_causal_lm(model: Any) -> Any:
    """A causal LM from a name (an alias of :mod:`agents.models`, a folder, a hub id) or the model itself."""
    if isinstance(model, str):
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(resolve_model(model), dtype=torch.float32)
    if not (hasattr(model, "get_output_embeddings") and hasattr(model, "config")):
        raise TypeError(f"model must be a causal LM or its name, got {type(model).__name__}")
    return model


class CausalLMExtractor(BaseFeaturesExtractor):
    """The LM body's final hidden state at the last real token (``length - 1``): one vector per observation."""

    def __init__(self, observation_space: spaces.Dict, model: Any = "tiny-random"):
        if not isinstance(observation_space, spaces.Dict) or set(observation_space) != {"input_ids", "length"}:
            raise ValueError(f"CausalLMExtractor reads an ExpRLTokenEnv observation, got {observation_space}")
        lm = load_causal_lm(model)
        ids, embedded = int(observation_space["input_ids"].high.max()) + 1, lm.get_input_embeddings().num_embeddings
        if ids > embedded:
            raise ValueError(
                f"the env's tokenizer has {ids} token ids, the model embeds {embedded}: build the env with the "
                "model's own tokenizer"
            )
        super().__init__(observation_space, features_dim=lm.config.hidden_size)
        self.body = lm.get_decoder()
        head = lm.get_output_embeddings()
        # the LM head, for the policy's action head: plain tensors (not parameters, not saved), dropped once used
        self.head_init = (head.weight.detach().clone(), None if head.bias is None else head.bias.detach().clone())

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        ids = observations["input_ids"].long()  # SB3 hands Box observations over as floats: exact below 2**24
        lengths = observations["length"].long().view(-1).clamp(min=1)
        width = int(lengths.max())  # padding after a row's length is never attended to (causal attention)
        hidden = self.body(input_ids=ids[:, :width]).last_hidden_state
        return hidden[torch.arange(len(ids), device=ids.device), lengths - 1]


class CausalLMPolicy(MultiInputActorCriticPolicy):
    """An actor-critic policy whose body is a causal LM and whose action head starts as its LM head.

    ``model``: the LM (a name keeps saves small); ``action_tokens``: the token id of each action (the env's
    ``action_tokens``; may be left out only when the action space is the LM head's whole vocabulary).
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        action_space: spaces.Discrete,
        lr_schedule: Any,
        model: Any = "tiny-random",
        action_tokens: Sequence[int] | None = None,
        net_arch: dict[str, list[int]] | None = None,
        ortho_init: bool = False,
        **kwargs: Any,
    ):
        net_arch = {"pi": [], "vf": []} if net_arch is None else net_arch
        _check_options(action_space, net_arch, ortho_init, kwargs)
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            ortho_init=False,
            features_extractor_class=CausalLMExtractor,
            features_extractor_kwargs={"model": model},
            **kwargs,
        )
        self.model_name = model if isinstance(model, str) else None
        self.action_tokens = None if action_tokens is None else [int(t) for t in action_tokens]
        self._start_from_lm_head()

    def _start_from_lm_head(self) -> None:
        weight, bias = self.features_extractor.head_init
        del self.features_extractor.head_init
        rows = list(range(weight.shape[0])) if self.action_tokens is None else self.action_tokens
        if len(rows) != self.action_space.n or max(rows) >= weight.shape[0]:
            raise ValueError(
                f"the action space has {self.action_space.n} actions, the LM head {weight.shape[0]} rows and "
                f"action_tokens {'is not given' if self.action_tokens is None else f'has {len(rows)} ids'}: pass "
                "action_tokens=env.action_tokens (lm_policy_kwargs does), ids below the LM's vocabulary size"
            )
        with torch.no_grad():
            self.action_net.weight.copy_(weight[rows])
            self.action_net.bias.copy_(bias[rows] if bias is not None else torch.zeros(len(rows)))

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(model=self.model_name, action_tokens=self.action_tokens)
        for key in ("ortho_init", "features_extractor_class", "features_extractor_kwargs"):
            data.pop(key, None)  # fixed by this class
        return data


def _check_options(action_space: Any, net_arch: Any, ortho_init: bool, kwargs: dict[str, Any]) -> None:
    if not isinstance(action_space, spaces.Discrete):
        raise TypeError(f"CausalLMPolicy needs a Discrete (token) action space, got {action_space}")
    if ortho_init:
        raise ValueError(
            "ortho_init=True would orthogonally re-initialise every linear layer of the language model; "
            "CausalLMPolicy keeps the LM's weights (leave ortho_init out)"
        )
    if not isinstance(net_arch, dict) or net_arch.get("pi"):
        raise ValueError(f"net_arch must be a dict with pi=[] (the action head reads the LM body), got {net_arch!r}")
    fixed = sorted({"features_extractor_class", "features_extractor_kwargs", "share_features_extractor"} & set(kwargs))
    if fixed:
        raise TypeError(f"CausalLMPolicy sets {fixed} itself (the extractor is the LM body, shared)")


def make_token_env(env_id: str, model: str = "tiny-random", **kwargs: Any) -> ExpRLTokenEnv:
    """A token env over ``env_id`` with ``model``'s tokenizer; ``kwargs`` are the token env's options and the
    env's (``max_new_tokens``, ``action_tokens``, ``n_ops``, ``judge``, ...)."""
    from transformers import AutoTokenizer

    return ExpRLTokenEnv(env_id, AutoTokenizer.from_pretrained(resolve_model(model)), **kwargs)


def make_vec_env(env_id: str, model: str = "tiny-random", num_envs: int = 4, **kwargs: Any) -> ExpRLSB3VecEnv:
    """``num_envs`` token envs (see :func:`make_token_env`) as one SB3 VecEnv with batched judge calls."""
    return ExpRLSB3VecEnv(make_token_env(env_id, model, **kwargs), num_envs)


def lm_policy_kwargs(env: Any, model: Any = "tiny-random") -> dict[str, Any]:
    """``policy_kwargs`` for :class:`CausalLMPolicy` on ``env`` (a token env, or a VecEnv of them)."""
    tokens = env.get_attr("action_tokens")[0] if hasattr(env, "get_attr") else env.action_tokens
    return {"model": model, "action_tokens": list(tokens)}
