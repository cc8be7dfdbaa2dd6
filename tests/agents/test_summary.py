"""The end-of-run summary in words, from hand-made records: rising, flat, falling, and nothing scorable."""

import math

import pytest

from agents.summary import change, duration, run_summary, summary_in_words

NAN = math.nan


def steps(rewards, accuracy=0.0, seconds=15.0):
    return [
        {"step": k + 1, "reward_mean": r, "answer_accuracy": accuracy, "seconds_step": seconds}
        for k, r in enumerate(rewards)
    ]


def held_out(step, stated, boxed, judged, n=32, std=0.3, seconds=35.0):
    return {
        "step": step,
        "eval_value_stated": stated,
        "eval_value_stated_scored": n,
        "eval_pass@1": boxed,
        "eval_pass@1_scored": n,
        "eval_judged_reward": judged,
        "eval_judged_reward_std": std,
        "eval_judged_reward_scored": n,
        "eval_problems": n // 2,
        "eval_responses": n,
        "eval_seconds": seconds,
    }


def run(rewards, before, after, **kw):
    records = [held_out(0, *before)] + steps(rewards, **kw)
    records[-1] |= held_out(len(rewards), *after)
    return records


RISING = [0.1, 0.15, 0.12, 0.14, 0.3, 0.4, 0.5, 0.55, 0.6, 0.7, 0.68, 0.72, 0.7, 0.71, 0.74, 0.7, 0.72, 0.75, 0.7, 0.73]


def test_a_rising_run_says_what_rose_and_what_did_not():
    text = summary_in_words(run(RISING, (0.12, 0.03, 0.25), (0.41, 0.0, 0.53)))
    lines = text.splitlines()
    assert lines[0] == (
        "In 20 steps (5 min 0 s of training, 1 min 10 s of held-out evaluation) the judged reward on training "
        "batches rose from 0.13 to 0.72 (mean of the first 4 steps -> the last 4)."
    )
    assert lines[1] == "Boxed answers on training batches were correct in 0% -> 0% (no clear change)."
    assert lines[2] == (
        "On 16 held-out problems (32 responses), before -> after training: the correct value was stated (boxed or "
        "not) in 12% -> 41% (rose) of responses; it was boxed correctly (pass@1) in 3% -> 0% (no clear change) of "
        "responses; the mean judged reward was 0.25 -> 0.53 (rose)."
    )
    assert lines[3] == (
        "Moved: judged reward on training batches (up), held-out correct value stated (up), held-out judged reward "
        "(up). No clear change: boxed-answer accuracy on training batches, held-out pass@1 (boxed)."
    )


def test_a_flat_run_says_plainly_that_nothing_moved():
    noisy = [0.2, 0.25, 0.18, 0.22] * 5
    text = summary_in_words(run(noisy, (0.10, 0.0, 0.25), (0.13, 0.0, 0.27)))
    assert "showed no clear change (0.21 -> 0.21" in text
    assert "12%" not in text and "10% -> 13% (no clear change)" in text
    assert text.splitlines()[-1].startswith("Nothing moved beyond noise in this run")
    assert "Moved:" not in text


def test_a_small_change_within_the_noise_is_not_a_change():
    # 3 of 32 -> 6 of 32 is under twice its standard error: not called a rise
    assert change(3 / 32, 6 / 32, math.sqrt(2 * 0.15 * 0.85 / 32)) == "flat"
    assert change(0.1, 0.5, 0.05) == "up" and change(0.5, 0.1, 0.05) == "down"
    assert change(0.50, 0.54, 0.0) == "flat"  # under the smallest change, however precise
    assert change(None, 0.5, 0.1) == change(0.5, NAN, 0.1) == "unmeasured"


def test_a_falling_run_says_it_fell():
    text = summary_in_words(run(list(reversed(RISING)), (0.41, 0.0, 0.53), (0.12, 0.0, 0.25)))
    assert "the judged reward on training batches fell from 0.72 to 0.13" in text
    assert "41% -> 12% (fell)" in text and "0.53 -> 0.25 (fell)" in text
    assert "held-out correct value stated (down)" in text.splitlines()[-1]


def test_unscorable_steps_and_measures_are_missing_not_zero():
    rewards = [NAN] * 4 + [0.5] * 16
    records = run(rewards, (NAN, 0.0, 0.3), (0.4, 0.0, 0.3))
    records[0]["eval_value_stated_scored"] = 0
    text = summary_in_words(records)
    assert "could not be measured (mean of the first 4 steps -> the last 4: nothing scorable)" in text
    assert "stated (boxed or not) in could not be measured (nothing scorable -> 40%)" in text
    assert "Not measured: judged reward on training batches." in text and "nan" not in text.lower()
    assert run_summary(records, "runs/x")["reward_first_fifth"] is None


def test_without_a_held_out_evaluation_or_steps_the_summary_says_so():
    text = summary_in_words(steps(RISING))
    assert "No held-out evaluation was run (--eval-problems 0)." in text
    assert summary_in_words([]) == "No training step was logged, so there is nothing to summarise."
    interrupted = [held_out(0, 0.1, 0.0, 0.2)] + steps(RISING[:3])
    assert "ran before training but not after it" in summary_in_words(interrupted)


def test_the_json_summary_keeps_the_numbers_and_the_words():
    records = run(RISING, (0.12, 0.03, 0.25), (0.41, 0.0, 0.53))
    summary = run_summary(records, "runs/x")
    assert summary["steps"] == 20 and summary["reward_first_fifth"] == pytest.approx(0.1275)
    assert summary["held_out"]["before"]["step"] == 0 and summary["held_out"]["after"]["eval_value_stated"] == 0.41
    assert summary["seconds_training"] == 300.0 and summary["seconds_held_out"] == 70.0
    assert summary["in_words"] == summary_in_words(records)


def test_durations_read_as_minutes():
    assert (duration(42.4), duration(309), duration(3720)) == ("42 s", "5 min 9 s", "1 h 2 min")
