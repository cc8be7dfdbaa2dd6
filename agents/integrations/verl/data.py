"""An exprl environment's problems as a verl training file: verl's RL data format, without the references.

verl's ``RLHFDataset`` reads a parquet file whose rows hold ``prompt`` (chat messages), ``data_source`` (which reward
function), ``reward_model.ground_truth`` and ``extra_info``, and hands all but the prompt to the reward function.
verl's own examples put the reference answer in ``ground_truth``; here it is the **problem id**, and ``extra_info``
holds the environment's options (JSON), so :func:`.scoring.compute_score` rebuilds the environment and lets its judge
open the sealed reference. The prompt is the environment's observation, exactly what the policy sees in exprl.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents.integrations.verl.scoring import ENV_FIELD


def verl_rows(env_id: str, split: str = "train", **env_kwargs: Any) -> list[dict[str, Any]]:
    """One verl row per problem of ``gym.make(env_id, split=split, **env_kwargs)``, in the environment's order.

    ``env_kwargs`` must be JSON values (a judge instance cannot travel to verl's reward workers: give its name).
    """
    import gymnasium as gym

    try:
        options = json.dumps(env_kwargs, sort_keys=True)
    except TypeError as error:
        raise TypeError(f"verl export: environment options must be JSON values (a judge by name): {error}") from None
    env = gym.make(env_id, split=split, **env_kwargs).unwrapped
    rows = []
    for index in range(len(env.problems)):
        prompt, info = env.reset(options={"index": index})
        rows.append(
            {
                "data_source": env_id,
                "prompt": [{"role": "user", "content": prompt}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": info["problem_id"]},
                "extra_info": {"split": split, "index": index, "problem_id": info["problem_id"], ENV_FIELD: options},
            }
        )
    return rows


def to_verl_parquet(path: str | Path, env_id: str, split: str = "train", **env_kwargs: Any) -> Path:
    """Write :func:`verl_rows` to ``path`` (parquet, verl's ``data.train_files`` / ``data.val_files``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(verl_rows(env_id, split, **env_kwargs)), path)
    return path
