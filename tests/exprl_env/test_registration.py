import subprocess
import sys

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

from exprl_env.domains import domains
from exprl_env.vector import ExpRLVectorEnv

BUILTIN_IDS = ["ExpRL-Math-v0", "ExpRL-GSM-v0", "ExpRL-Arith-v0"]
SMALL = {"ExpRL-GSM-v0": {"size": 40}, "ExpRL-Arith-v0": {"size": 40}}


def test_make_works_without_importing_exprl_first():
    code = (
        "import sys, gymnasium as gym\n"
        "env = gym.make('ExpRL-Arith-v0', size=5)\n"
        "obs, info = env.reset(seed=0)\n"
        "assert 'boxed' in obs and info['domain'] == 'arith', (obs, info)\n"
        "print('ok', type(env.unwrapped).__module__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ok exprl_env.env" in result.stdout


def test_plain_python_start_does_not_import_gymnasium():
    code = "import sys; print('gymnasium' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_stale_install_hook_is_silent():
    """A .pth left behind after the package moved or was removed must not print a traceback at every start."""
    from pathlib import Path

    import exprl_env

    line = (Path(exprl_env.__file__).parent / "exprl_autoregister.pth").read_text().strip()
    code = f"import sys; sys.path[:] = [p for p in sys.path if 'site-packages' not in p and p]\n{line}\nprint('ok')"
    result = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
    assert not result.stderr


def test_builtin_ids_are_registered():
    for env_id in BUILTIN_IDS:
        assert env_id in gym.registry
    assert {d.env_id for d in domains().values()} >= set(BUILTIN_IDS)


@pytest.mark.parametrize("env_id", BUILTIN_IDS)
@pytest.mark.parametrize("step_mode", ["completion", "step"])
def test_check_env_on_every_registered_id(env_id, step_mode):
    env = gym.make(env_id, judge="scripted", reward="process", step_mode=step_mode, **SMALL.get(env_id, {}))
    check_env(env.unwrapped, skip_render_check=True)


@pytest.mark.parametrize("env_id", BUILTIN_IDS)
@pytest.mark.parametrize("reward", ["sparse", "process"])
def test_check_env_with_the_shipped_judges(env_id, reward):
    env = gym.make(env_id, reward=reward, **SMALL.get(env_id, {}))
    check_env(env.unwrapped, skip_render_check=True)


def test_make_vec_gives_our_vector_env():
    envs = gym.make_vec("ExpRL-Arith-v0", num_envs=3, size=20, judge="scripted")
    assert isinstance(envs.unwrapped, ExpRLVectorEnv)
    assert envs.num_envs == 3
