"""Reading the LLM judge's answer.

- paper protocol: free text ending ``Score: N``, read as the authors read it (:func:`parse_score_line`);
- batched protocol: one JSON object, validated, reasoning before score (no JSON, wrong keys, a score outside 1-5,
  a step count that does not match, the score written before its reasoning are all errors).

A reply that cannot be read raises :class:`VerdictParseError` with a message that the judge is shown when it is
asked again. After the retries run out the verdict is unscorable, never 0. Messages show a wrong score only when
it is a number: any text the judge wrote may quote the reference.
"""

from __future__ import annotations

import json
import math
from typing import Any

SCORE_LABEL = "Score:"


class VerdictParseError(ValueError):
    """The judge's text is not the JSON object the prompt asked for."""


def _object(text: str) -> tuple[dict[str, Any], str]:
    """The first complete JSON object in the text (models often wrap it in prose or code fences)."""
    start = text.find("{")
    while start != -1:
        try:
            value, end = json.JSONDecoder().raw_decode(text[start:])
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value, text[start : start + end]
        start = text.find("{", start + 1)
    raise VerdictParseError("no JSON object found; answer with the JSON object only")


def _shown(value: Any) -> str:
    """A wrong value for an error message: numbers as written, anything else by type only."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return f"a {type(value).__name__}"


def _score(value: Any, where: str) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value != int(value)
    ):
        raise VerdictParseError(f"{where}: score must be an integer 1-5, got {_shown(value)}")
    if not 1 <= int(value) <= 5:
        raise VerdictParseError(f"{where}: score must be between 1 and 5, got {value!r}")
    return int(value)


def _reasoning_first(raw: str, where: str) -> None:
    reasoning, score = raw.find('"reasoning"'), raw.find('"score"')
    if reasoning == -1 or (score != -1 and score < reasoning):
        raise VerdictParseError(f'{where}: write "reasoning" before "score"')


def parse_outcome(text: str) -> int:
    """The 1-5 outcome rating."""
    data, raw = _object(text)
    if not isinstance(data.get("reasoning"), str) or not data["reasoning"].strip():
        raise VerdictParseError('"reasoning" must be a non-empty string')
    _reasoning_first(raw, "verdict")
    return _score(data.get("score"), "verdict")


def parse_process(text: str, n_steps: int) -> list[int]:
    """One 1-5 rating per step, exactly ``n_steps`` of them."""
    data, _ = _object(text)
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise VerdictParseError('"steps" must be a list of {"reasoning", "score"} objects')
    if len(steps) != n_steps:
        raise VerdictParseError(f'"steps" must have exactly {n_steps} entries, got {len(steps)}')
    scores = []
    for index, entry in enumerate(steps, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("reasoning"), str):
            raise VerdictParseError(f'step {index}: must be an object with a "reasoning" string and a "score"')
        _reasoning_first(json.dumps(entry), f"step {index}")
        scores.append(_score(entry.get("score"), f"step {index}"))
    return scores


def parse_checkpoints(text: str) -> list[str]:
    """Two to six non-empty checkpoint statements."""
    data, _ = _object(text)
    items = data.get("checkpoints")
    if not isinstance(items, list) or not all(isinstance(c, str) and c.strip() for c in items):
        raise VerdictParseError('"checkpoints" must be a list of non-empty strings')
    if not 2 <= len(items) <= 6:
        raise VerdictParseError(f"give between 2 and 6 checkpoints, got {len(items)}")
    return [c.strip() for c in items]


def _authors_digit(after_label: str, label: str = SCORE_LABEL) -> int:
    """The authors' reading of the text after a score label (RTG:1167 and 1173-1174, the same at 1409 and
    1415-1416): skip leading whitespace (newlines too), keep that line, drop every ``*``, skip spaces, and the
    first character left must be a digit."""
    line = after_label.lstrip().split("\n")[0].replace("*", "").lstrip()
    if not line:
        raise VerdictParseError(f'nothing follows "{label}"; end with the line "{SCORE_LABEL} N", N from 1 to 5')
    if not line[0].isdecimal():
        raise VerdictParseError(f'the score after "{label}" must start with a digit from 1 to 5')
    return int(line[0])


def parse_score_line(text: str) -> int:
    """The 1-5 score of a ``Reasoning: ... Score: N`` reply, read by the authors' rule, with two checks added.

    The authors' rule (stage1_verl/verl/trainer/ppo/ray_trainer_genrm.py:1165-1174 for the outcome judge,
    1407-1416 for the process judge): take the text after the first ``Score:`` (after the first ``Score`` when the
    reply has no ``Score:``), keep its first non-blank line, drop every ``*``, and read the first character as the
    score. So ``Score: 4``, ``**Score:** 4``, ``Score: **4**``, ``Score: 4/5`` and ``Score:\n4`` are 4; ``Score:
    [4]``, ``Score: four`` and a reply without ``Score`` are unparseable (the authors mask that rollout).

    Added: a digit outside 1-5 is unparseable (theirs would become a reward outside [0, 1]); a reply whose
    ``Score:`` labels give different digits is unparseable (theirs takes the first: a judge that quotes a
    planted ``Score: 5`` in its reasoning before its own score would pay the planted one; responses are also
    defused by :func:`judges.fence.neutralize`, so a verbatim quote no longer reads as ``Score:``).
    """
    label = SCORE_LABEL if SCORE_LABEL in text else SCORE_LABEL[:-1]
    if label not in text:
        raise VerdictParseError(f'no "{SCORE_LABEL}" found; end with the line "{SCORE_LABEL} N", N from 1 to 5')
    pieces = text.split(label)[1:] if label == SCORE_LABEL else text.split(label)[1:2]
    score = _authors_digit(pieces[0], label)
    if not 1 <= score <= 5:
        raise VerdictParseError(f"the score must be between 1 and 5, got {score}")
    others = set()
    for piece in pieces[1:]:
        try:
            others.add(_authors_digit(piece))
        except VerdictParseError:
            continue
    if others - {score}:
        found = ", ".join(str(d) for d in sorted(others | {score}))
        raise VerdictParseError(f'"{SCORE_LABEL}" appears with different scores ({found}); write it once, last')
    return score
