"""What a training run did, from its metrics records: a JSON summary and the same in words.

Both are pure functions of the records ``metrics.jsonl`` holds (the trainer's step records, and the held-out
evaluation's ``eval_*`` values in the step-0 record and the last step's). ``exprl train`` prints the words at the
end and writes the JSON to ``summary.json`` in the run folder.

**When a number "moved".** A change counts only when it is larger than twice its standard error and at least
:data:`SMALLEST_CHANGE`; anything less is reported as "no clear change", so a run in which nothing happened
says so plainly instead of reading noise as progress. Standard errors: for the judged reward on training
batches, from the spread of the per-step means in the first and the last fifth of the run; for a held-out rate,
binomial on its scored responses; for the held-out judged reward, from its standard deviation. Before and after
are treated as independent samples, which is conservative (the held-out slice and its sampling seed are the
same both times). Unscorable steps and responses are left out (NaN is missing, never 0); a measure with nothing
scorable is said to be unmeasured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from judges.reporting import is_missing, json_number, mean_of, present

SMALLEST_CHANGE = 0.05
"""On a 0-1 scale: a smaller change is never called a change, however many samples back it."""
HELD_OUT = (
    ("eval_value_stated", "the correct value was stated (boxed or not) in", "rate"),
    ("eval_pass@1", "it was boxed correctly (pass@1) in", "rate"),
    ("eval_judged_reward", "the mean judged reward was", "mean"),
)
"""The held-out measures, in the order the summary names them: key, phrase, kind."""
SHORT_NAMES = {
    "reward_mean": "judged reward on training batches",
    "answer_accuracy": "boxed-answer accuracy on training batches",
    "eval_value_stated": "held-out correct value stated",
    "eval_pass@1": "held-out pass@1 (boxed)",
    "eval_judged_reward": "held-out judged reward",
}


def step_records(records: Sequence[dict]) -> list[dict]:
    """The records of training steps (the step-0 record holds only the evaluation before training)."""
    return [r for r in records if "reward_mean" in r]


def held_out_pair(records: Sequence[dict]) -> tuple[dict | None, dict | None]:
    """(the first evaluation, the last one after it): records holding ``eval_*`` values; None where absent."""
    evaluated = [r for r in records if any(not is_missing(r.get(key)) for key, _, _ in HELD_OUT)]
    if not evaluated:
        return None, None
    before, after = evaluated[0], evaluated[-1]
    return before, (after if after.get("step", 0) > before.get("step", 0) else None)


def run_summary(records: Sequence[dict], folder: str) -> dict[str, Any]:
    """First and last fifth of the run, averaged, what the held-out evaluation measured before and after, the
    time it all took, and :func:`summary_in_words`."""
    steps = step_records(records)
    summary: dict[str, Any] = {"output_dir": folder, "steps": steps[-1]["step"] if steps else 0}
    if steps:
        fifth = max(1, len(steps) // 5)
        mean = lambda rows, key: json_number(mean_of(r.get(key) for r in rows), 4)  # noqa: E731  (NaN: missing)
        summary |= {
            "reward_first_fifth": mean(steps[:fifth], "reward_mean"),
            "reward_last_fifth": mean(steps[-fifth:], "reward_mean"),
            "accuracy_first_fifth": mean(steps[:fifth], "answer_accuracy"),
            "accuracy_last_fifth": mean(steps[-fifth:], "answer_accuracy"),
            "seconds_per_step": mean(steps, "seconds_step"),
        }
    before, after = held_out_pair(records)
    if before is not None:
        keep = lambda r: {k: v for k, v in r.items() if k.startswith("eval_")} | {"step": r.get("step")}  # noqa: E731
        summary["held_out"] = {"before": keep(before), "after": keep(after) if after else None}
    summary["seconds_training"] = json_number(sum(present(r.get("seconds_step") for r in steps)), 1)
    summary["seconds_held_out"] = json_number(sum(present(r.get("eval_seconds") for r in records)), 1)
    summary |= {
        "metrics": f"{folder}/metrics.jsonl",
        "plot": f"{folder}/plot.png",
        "in_words": summary_in_words(records),
    }
    return summary


def duration(seconds: float) -> str:
    """``42 s``, ``5 min 9 s``, ``1 h 2 min``."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def change(before: float | None, after: float | None, error: float | None) -> str:
    """``up``, ``down``, ``flat`` (no clear change: within twice the standard error or under
    :data:`SMALLEST_CHANGE`) or ``unmeasured`` (either side missing)."""
    if is_missing(before) or is_missing(after):
        return "unmeasured"
    threshold = max(SMALLEST_CHANGE, 2 * error if error is not None and math.isfinite(error) else 0.0)
    if abs(after - before) < threshold:
        return "flat"
    return "up" if after > before else "down"


def _spread_error(first: list[float], last: list[float]) -> float | None:
    """Standard error of the difference of two means, from the values' own spread (None with fewer than 2 each)."""
    if len(first) < 2 or len(last) < 2:
        return None
    variance = lambda xs: sum((x - sum(xs) / len(xs)) ** 2 for x in xs) / (len(xs) - 1)  # noqa: E731
    return math.sqrt(variance(first) / len(first) + variance(last) / len(last))


def _rate_error(p: float, n: int, q: float, m: int) -> float | None:
    if not n or not m:
        return None
    return math.sqrt(p * (1 - p) / n + q * (1 - q) / m)


def _mean_error(before: dict, after: dict, key: str) -> float | None:
    parts = []
    for record in (before, after):
        std, n = record.get(f"{key}_std"), record.get(f"{key}_scored")
        if is_missing(std) or not n:
            return None
        parts.append(std**2 / n)
    return math.sqrt(sum(parts))


def _phrase(kind: str, before: float | None, after: float | None, rate: bool) -> str:
    show = (lambda v: f"{100 * v:.0f}%") if rate else (lambda v: f"{v:.2f}")
    if kind == "unmeasured":
        shown = " -> ".join("nothing scorable" if is_missing(v) else show(v) for v in (before, after))
        return f"could not be measured ({shown})"
    direction = {"up": "rose", "down": "fell", "flat": "no clear change"}[kind]
    return f"{show(before)} -> {show(after)} ({direction})"


def summary_in_words(records: Sequence[dict]) -> str:
    """What the run did, in a few sentences a newcomer can read; says plainly when nothing moved."""
    steps = step_records(records)
    if not steps:
        return "No training step was logged, so there is nothing to summarise."
    moved: list[str] = []
    still: list[str] = []
    fifth = max(1, len(steps) // 5)
    first = present(r.get("reward_mean") for r in steps[:fifth])
    last = present(r.get("reward_mean") for r in steps[-fifth:])
    before, after = (mean_of(first) if first else None), (mean_of(last) if last else None)
    kind = change(before, after, _spread_error(first, last))
    _sort(kind, "reward_mean", moved, still)
    training = sum(present(r.get("seconds_step") for r in steps))
    evaluating = sum(present(r.get("eval_seconds") for r in records))
    timing = f"{duration(training)} of training" + (
        f", {duration(evaluating)} of held-out evaluation" if evaluating else ""
    )
    span = f"mean of the first {fifth} step{'s' if fifth > 1 else ''} -> the last {fifth}"
    if kind == "unmeasured":
        reward = f"the judged reward on training batches could not be measured ({span}: nothing scorable)"
    elif kind == "flat":
        reward = f"the judged reward on training batches showed no clear change ({before:.2f} -> {after:.2f}, {span})"
    else:
        verb = "rose" if kind == "up" else "fell"
        reward = f"the judged reward on training batches {verb} from {before:.2f} to {after:.2f} ({span})"
    count = steps[-1]["step"]
    lines = [f"In {count} step{'s' if count != 1 else ''} ({timing}) {reward}."]
    accuracy = [present(r.get("answer_accuracy") for r in rows) for rows in (steps[:fifth], steps[-fifth:])]
    a, b = (mean_of(v) if v else None for v in accuracy)
    accuracy_kind = change(a, b, _spread_error(*accuracy))
    _sort(accuracy_kind, "answer_accuracy", moved, still)
    lines.append(f"Boxed answers on training batches were correct in {_phrase(accuracy_kind, a, b, True)}.")
    start, end = held_out_pair(records)
    if start is None:
        lines.append("No held-out evaluation was run (--eval-problems 0).")
    elif end is None:
        lines.append("The held-out evaluation ran before training but not after it (the run did not finish).")
    else:
        lines.append(_held_out_sentence(start, end, moved, still))
    if not moved:
        lines.append(
            "Nothing moved beyond noise in this run: no measure changed by more than twice its standard error "
            f"(and at least {SMALLEST_CHANGE})."
            + "".join(
                f" Not measured: {name[: -len(' (unmeasured)')]}." for name in still if name.endswith("(unmeasured)")
            )
        )
    else:
        lines.append("Moved: " + ", ".join(moved) + (". No clear change: " + ", ".join(still) if still else "") + ".")
    return "\n".join(lines)


def _held_out_sentence(start: dict, end: dict, moved: list[str], still: list[str]) -> str:
    problems, responses = end.get("eval_problems"), end.get("eval_responses")
    parts = []
    for key, words, measure in HELD_OUT:
        x, y = start.get(key), end.get(key)
        if measure == "rate":
            n, m = start.get(f"{key}_scored") or 0, end.get(f"{key}_scored") or 0
            error = None if is_missing(x) or is_missing(y) else _rate_error(x, n, y, m)
            kind = change(x, y, error)
            parts.append(f"{words} {_phrase(kind, x, y, True)}" + (" of responses" if kind != "unmeasured" else ""))
        else:
            kind = change(x, y, _mean_error(start, end, key))
            parts.append(f"{words} {_phrase(kind, x, y, False)}")
        _sort(kind, key, moved, still)
    return (
        f"On {problems} held-out problems ({responses} responses), before -> after training: " + "; ".join(parts) + "."
    )


def _sort(kind: str, key: str, moved: list[str], still: list[str]) -> None:
    name = SHORT_NAMES[key]
    if kind in ("up", "down"):
        moved.append(f"{name} ({kind})")
    else:
        still.append(name if kind == "flat" else f"{name} (unmeasured)")
