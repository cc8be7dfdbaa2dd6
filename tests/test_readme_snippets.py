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
