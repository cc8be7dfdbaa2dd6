"""Keeping the judged response inert inside the judge's prompt.

The response is untrusted text written by the policy being trained, and the judge's verdict is its
reward, so the policy is rewarded for any text that sways the judge. Before a response enters a prompt:

- tags that could close its fence or open another section (``</response>``, ``<reference>``,
  ``<verdict>``, chat-role tags) get their angle brackets swapped for look-alikes (``‹/response›``);
- verdict-like JSON keys (``"score":``, ``"steps":``, ...) lose their ASCII double quotes, so a planted
  verdict is no longer the JSON the judge is asked to write, and cannot be mistaken for it when parsed;
- a score label (``Score: 5``, ``**Score:** 5``, ``score = 5``, ``Score 5``, any case) gets its ``s`` swapped for
  the Cyrillic look-alike ``ѕ``: the paper protocol reads the judge's verdict from the first ``Score:`` of its
  reply (or the first ``Score`` when there is none, as the authors do), so a judge quoting a planted line in its
  reasoning must not put a readable ``Score:`` before its own;
- template fields (``{reference}``, ``{question}``) lose their braces, although :func:`fill` already
  never re-reads inserted text.

LaTeX braces and everything else stay as written: the judge must read the maths.
"""

from __future__ import annotations

import re

SECTIONS = ("problem", "question", "reference", "response", "checkpoints", "steps", "step", "verdict", "instructions")
_ROLE_TAGS = ("system", "user", "assistant", "im_start", "im_end", "eot_id", "start_of_turn", "end_of_turn")
_TAG = re.compile(r"<\s*(/?)\s*\|?\s*(" + "|".join(SECTIONS + _ROLE_TAGS) + r")\b([^<>]{0,40})>", re.IGNORECASE)
_VERDICT_KEY = re.compile(
    r"\"\s*(score|scores|rating|ratings|reasoning|steps|step_scores|outcome|verdict|checkpoints)\s*\"(\s*:)",
    re.IGNORECASE,
)
_SCORE_LABEL = re.compile(r"([sS])(core)(?=[\s*_]*(?:[:：=]|\d))", re.IGNORECASE)
_LOOK_ALIKE_S = {"s": "ѕ", "S": "Ѕ"}  # U+0455, U+0405
_FIELD = re.compile(r"\{\s*(" + "|".join(SECTIONS) + r")\s*\}", re.IGNORECASE)
_FIELD_TEMPLATE = re.compile(r"\{(\w+)\}")


def neutralize(text: str) -> str:
    """The response with fence-breaking tags, planted verdict keys, score labels and template fields defused."""
    text = _TAG.sub(lambda m: f"‹{m.group(1)}{m.group(2)}{m.group(3)}›", text)
    text = _VERDICT_KEY.sub(lambda m: f"“{m.group(1)}”{m.group(2)}", text)
    text = _SCORE_LABEL.sub(lambda m: _LOOK_ALIKE_S[m.group(1)] + m.group(2), text)
    return _FIELD.sub(lambda m: f"({m.group(1)})", text)


def fence(name: str, text: str) -> str:
    """``<name>`` ... ``</name>`` around neutralized text; the text cannot contain the closing tag."""
    return f"<{name}>\n{neutralize(text)}\n</{name}>"


def fill(template: str, **fields: str) -> str:
    """Replace each ``{field}`` of the template in one pass: inserted text is never scanned again,
    so a response containing ``{reference}`` pulls in nothing. Every field must be given."""
    missing = sorted(set(_FIELD_TEMPLATE.findall(template)) - set(fields))
    if missing:
        raise KeyError(f"template fields without values: {missing}")
    return _FIELD_TEMPLATE.sub(lambda m: fields[m.group(1)], template)
