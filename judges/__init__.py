"""Judges: score responses against a problem's hidden reference.

``make_judge(name, **kw)`` builds one (``answer`` ships here); ``register_judge`` adds yours. Every judge
implements :class:`Judge` (``score_batch(items) -> list[Verdict]``) and answers ``unscorable`` rather
than 0 when it cannot judge.
"""

from judges.problem import Problem, Reference, SealedReference
from judges.protocol import Judge
from judges.registry import judge_factory, judge_names, make_judge, register_judge
from judges.verdict import Cause, JudgeItem, Status, Verdict

__all__ = [
    "Cause",
    "Judge",
    "JudgeItem",
    "Problem",
    "Reference",
    "SealedReference",
    "Status",
    "Verdict",
    "judge_factory",
    "judge_names",
    "make_judge",
    "register_judge",
]
