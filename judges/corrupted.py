"""A judge made wrong on purpose, at a rate you set: how good must the judge be for ExpRL to help?

The paper measures its LLM judge's error at three levels (17.8%, 39.2% and 50.4% of step verdicts wrong, with a
correct, no and a wrong reference) but never trains with a judge of known error. ``corrupted`` wraps any judge and
adds two controlled faults, so a study can put the gain of a judged arm against the judge's error:

- ``flip_rate``: each score of each verdict (the outcome, every cumulative progress ``s_k`` and every step rating
  ``r_k``) is independently replaced by its complement ``1 - x`` with this probability. On the ``reference``
  judge, whose arithmetic verdicts are right, a flipped step rating is a wrong one (except a rating of exactly 0.5,
  which is its own complement), so the rate is the step error rate.
- ``wrong_reference``: every item is judged against another problem's reference, as the authors' wrong-reference
  condition does (their ``build_wrong_ref_map``: distinct problems in a fixed order, each given the next one's,
  cyclic), over the distinct problems of the batch: a trainer's batch holds every rollout of a step, so with two
  or more problems per step every item has a donor. A batch of one problem has none, and its verdicts are
  unscorable (masked and counted), never scored against the right reference.

Determinism: a flip is a function of ``(seed, problem id, response, which score)`` through a hash, not of a random
stream, so the same response gets the same verdict whatever the batch or call order, and a resumed run sees what
an uninterrupted one saw. Unscorable verdicts of the wrapped judge pass through untouched (an error rate is about
wrong scores, not missing ones).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import attrs

from judges.verdict import Cause, JudgeItem, Verdict


def _uniform(*key: object) -> float:
    """A number in [0, 1) that is a fixed function of ``key`` (the first 8 bytes of its SHA-256)."""
    digest = hashlib.sha256("\x1f".join(str(part) for part in key).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def flipped(value: float, rate: float, *key: object) -> tuple[float, bool]:
    """``1 - value`` with probability ``rate`` (drawn from ``key``), else ``value``; and whether it flipped."""
    if rate > 0 and _uniform(*key) < rate:
        return 1.0 - value, True
    return value, False


def donors(problem_ids: Sequence[str]) -> dict[str, str]:
    """Problem id -> the id whose reference it is judged against: the distinct ids sorted, each given the next's
    (cyclic); empty when there are fewer than two."""
    distinct = sorted(set(problem_ids))
    if len(distinct) < 2:
        return {}
    return {pid: distinct[(i + 1) % len(distinct)] for i, pid in enumerate(distinct)}


def _with_reference_of(problem: Any, donor: Any) -> Any:
    """The problem carrying ``donor``'s sealed reference (its question and id unchanged)."""
    return attrs.evolve(problem, reference=donor.reference)


class CorruptedJudge:
    """Any judge (``judge``, built with ``judge_kwargs``) with step verdicts flipped at ``flip_rate`` and/or judged
    against a wrong reference; declares what the wrapped judge declares."""

    name = "corrupted"
    version = "corrupted-1"

    @classmethod
    def scoring_version(cls, judge: str = "reference", judge_kwargs: dict[str, Any] | None = None, **_: Any) -> str:
        """Its own version and the wrapped judge's: a change to either changes the scores."""
        from judges.registry import judge_version

        inner = judge_version(judge, judge_kwargs)
        return f"{cls.version}/{inner}" if inner else cls.version

    def __init__(
        self,
        judge: str = "reference",
        judge_kwargs: dict[str, Any] | None = None,
        flip_rate: float = 0.0,
        wrong_reference: bool = False,
        seed: int = 0,
    ):
        from judges.registry import make_judge

        if not 0.0 <= flip_rate <= 1.0:
            raise ValueError(f"corrupted judge: flip_rate must be in [0, 1], got {flip_rate!r}")
        if judge == self.name:
            raise ValueError("corrupted judge: the wrapped judge cannot be 'corrupted' itself")
        self.inner = make_judge(judge, **(judge_kwargs or {}))
        self.flip_rate, self.wrong_reference, self.seed = float(flip_rate), bool(wrong_reference), int(seed)
        for declared in ("kinds", "step_values"):
            if hasattr(self.inner, declared):
                setattr(self, declared, getattr(self.inner, declared))
        self.stats = {"scores": 0, "flipped": 0, "no_donor": 0}

    def score_batch(self, items: Sequence[JudgeItem]) -> list[Verdict]:
        if not self.wrong_reference:
            return [self._corrupt(item, verdict) for item, verdict in zip(items, self.inner.score_batch(items))]
        by_id = {item.problem.id: item.problem for item in items}
        donor = donors(list(by_id))
        judged = [i for i, item in enumerate(items) if item.problem.id in donor]
        swapped = [
            attrs.evolve(items[i], problem=_with_reference_of(items[i].problem, by_id[donor[items[i].problem.id]]))
            for i in judged
        ]
        verdicts: list[Verdict] = [
            Verdict.unscorable(
                "wrong_reference needs two or more distinct problems in a batch", Cause.REFERENCE_NOT_CHECKABLE
            )
        ] * len(items)
        for i, verdict in zip(judged, self.inner.score_batch(swapped) if swapped else []):
            verdicts[i] = self._corrupt(items[i], verdict)
        self.stats["no_donor"] += len(items) - len(judged)
        return verdicts

    def _corrupt(self, item: JudgeItem, verdict: Verdict) -> Verdict:
        """The verdict with each score flipped at ``flip_rate`` (keyed by the item and the score's place)."""
        if not verdict.ok or self.flip_rate == 0:
            return verdict
        key = (self.seed, item.problem.id, item.response)
        changes: dict[str, Any] = {}
        count = flips = 0
        if verdict.outcome is not None:
            changes["outcome"], flip = flipped(verdict.outcome, self.flip_rate, *key, "outcome")
            count, flips = count + 1, flips + flip
        for field in ("step_scores", "step_ratings"):
            values = getattr(verdict, field)
            if values is None:
                continue
            pairs = [flipped(v, self.flip_rate, *key, field, k) for k, v in enumerate(values)]
            changes[field] = tuple(v for v, _ in pairs)
            count, flips = count + len(pairs), flips + sum(f for _, f in pairs)
        self.stats["scores"] += count
        self.stats["flipped"] += flips
        return attrs.evolve(verdict, **changes)

    def counters(self) -> dict[str, float]:
        """The wrapped judge's counters and this wrapper's (scores seen, flipped, items without a donor)."""
        inner = getattr(self.inner, "counters", None)
        return {**(inner() if callable(inner) else {}), **{f"corrupted_{k}": v for k, v in self.stats.items()}}
