"""Judges: score responses against a problem's hidden reference.

``make_judge(name, **kw)`` builds one (``answer`` ships here); ``register_judge`` adds yours. Every judge
implements :class:`Judge` (``score_batch(items) -> list[Verdict]``) and answers ``unscorable`` rather
than 0 when it cannot judge.
"""

from judges.protocol import Judge
from judges.registry import judge_names, make_judge, register_judge
from judges.verdict import JudgeItem, Status, Verdict

__all__ = ["Judge", "JudgeItem", "Status", "Verdict", "judge_names", "make_judge", "register_judge"]
