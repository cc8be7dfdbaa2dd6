"""The one thing every judge does: score a batch of items against their hidden references."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from judges.verdict import JudgeItem, Verdict


@runtime_checkable
class Judge(Protocol):
    """A judge takes a batch (one call per vector-env step) and returns one verdict per item, in order.

    It must not raise for a bad response or an unavailable backend: it returns unscorable verdicts
    instead, so one broken item never costs the whole batch.
    """

    name: str

    # Optional, read with getattr: ``kinds`` (the rewards it can give: "sparse", "outcome", "process") and
    # ``step_values`` (which step values its process verdicts carry: "progress", the cumulative
    # ``Verdict.step_scores``, and/or "ratings", each step's own ``Verdict.step_ratings``). A trainer checks
    # ``step_values`` before it starts; a judge that does not declare them is checked at its first verdicts.

    def score_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]: ...
