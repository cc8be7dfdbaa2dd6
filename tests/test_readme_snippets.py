"""The README's adapter snippets run as written (with the tiny random model in place of SmolLM2, for time)."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Training from other libraries"


def snippets() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def test_the_adapter_section_has_a_snippet_per_library():
    found = snippets()
    assert len(found) == 3
    for library in ("integrations.trl", "integrations.verl", "integrations.sb3"):
        assert any(library in code for code in found), library


@pytest.mark.slow
@pytest.mark.parametrize("index", range(3))
def test_a_readme_snippet_runs_as_written(index, tmp_path, monkeypatch):
    pytest.importorskip({0: "trl", 1: "pyarrow", 2: "stable_baselines3"}[index])
    monkeypatch.chdir(tmp_path)
    code = snippets()[index].replace('"smollm2-135m-instruct"', '"tiny-random"')
    exec(compile(code, f"README.md snippet {index}", "exec"), {"__name__": "readme_snippet"})


def test_the_scaling_sections_launch_command_is_the_authors_process_run():
    """The multi-GPU command in README "Scaling" parses, and with --preset paper gives the authors' settings."""
    import shlex

    from agents.cli import _with_preset, build_parser
    from agents.config_cli import config_from_args
    from agents.registry import agent_classes
    from agents.trainer import TrainConfig

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Scaling") :]
    block = re.findall(r"```bash\n(.*?)```", section[: section.index("\n## ", 1)], re.DOTALL)[-1]
    lines = block.replace("\\\n", " ").splitlines()
    model = next(line for line in lines if line.startswith("M=")).removeprefix("M=")
    judges = next(line for line in lines if line.startswith("JUDGES=")).removeprefix("JUDGES=")
    launch = shlex.split(next(line for line in lines if "agents.cli train" in line))
    argv = launch[launch.index("agents.cli") + 1 :]
    argv = [{"$M": model, "$JUDGES": shlex.split(judges)[0]}.get(word, word) for word in argv]
    args = build_parser("grpo").parse_args(argv)
    config = config_from_args(TrainConfig, args)
    config, agent_config, _ = _with_preset("paper", config, config_from_args(agent_classes("grpo")[1], args), args)
    assert (config.prompts_per_step, config.group_size, config.max_new_tokens) == (36, 16, 16384)
    assert config.generator == "vllm-server" and config.gradient_checkpointing and config.device == "cuda"
    judge = config.env_options["judge_kwargs"]
    assert len(judge["base_url"]) == 2 and judge["model"] == model == "Qwen/Qwen3-4B-Instruct-2507"
    assert agent_config.process_norm == "delta" and agent_config.kl_coef == 0.001
