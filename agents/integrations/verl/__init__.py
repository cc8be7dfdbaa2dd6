"""verl (volcengine/verl 0.9.1) training against exprl's environments: the reward lives on exprl's side.

- :mod:`.data`: a parquet file in verl's RL data format. ``reward_model.ground_truth`` is the problem id, never the
  reference; ``extra_info["exprl_env"]`` the environment's options, so a reward worker rebuilds the same problems.
- :mod:`.scoring`: ``compute_score``, verl's reward-function interface (``reward.custom_reward_function``): one
  response in, the environment's reward out; an unscorable verdict is NaN, never 0.
- :mod:`.manager`: ``ExpRLRewardManager``, a verl reward-loop manager that writes token-level process rewards
  (DeltaNorm step advantages on each step's tokens).
- :mod:`.estimators`: advantage estimators registered with verl: ``exprl_delta`` (the manager's token values as
  they are, as the authors use DeltaNorm) and ``exprl_grpo`` (GRPO over the scorable rows); both mask NaN rows.
- :mod:`.plugin`: what verl's ``verl.plugins`` entry point loads in every process that imports verl.

Only ``manager``, ``estimators`` and ``plugin`` import verl; this package and ``data``/``scoring`` do not, so the
export runs in exprl's own environment (verl pins a transformers range that cannot share it).
"""
