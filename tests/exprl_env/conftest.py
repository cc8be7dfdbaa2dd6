"""Fixtures for the token-level env tests."""

import pytest


@pytest.fixture(scope="session")
def tokenizer():
    """The tiny-random model's tokenizer (SmolLM2's, with its chat template)."""
    from transformers import AutoTokenizer

    from agents.models import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("tiny-random"))
