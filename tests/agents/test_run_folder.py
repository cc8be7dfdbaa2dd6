"""A run folder survives what users and machines do: torn logs, damaged checkpoints, SIGKILLs inside a save,
changed settings, bad folder names, and disk use (issue 12, items 6 and 7). Tiny random model, vowels judge."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from agents.trainer import TrainConfig, Trainer, is_operational
from tests.conftest import TINY_RUN, tiny_train_flags

ROOT = Path(__file__).resolve().parents[2]
SMALL = TINY_RUN


def config(folder, **overrides):
    return TrainConfig(**{**SMALL, "output_dir": str(folder), **overrides})


def params(policy):
    return torch.cat([p.detach().flatten() for p in policy.model.parameters()]).clone()


def comparable(record):
    return {k: v for k, v in record.items() if not is_operational(k)}


def published(folder):
    return sorted(p.name for p in (Path(folder) / "checkpoints").iterdir())


# --- item 6: logs -------------------------------------------------------------------------------------------


def test_a_torn_last_metrics_line_is_dropped_and_the_run_resumes(tmp_path, caplog):
    run = tmp_path / "run"
    first = Trainer(config(run, steps=2, save_every=1)).train()
    with (run / "metrics.jsonl").open("a") as log:
        log.write('{"step": 3, "reward_mean": 0.4')  # a kill inside the write of step 3's record
    with caplog.at_level(logging.WARNING, logger="exprl"):
        records = Trainer(config(run, steps=3, save_every=1)).train()
    assert [r["step"] for r in records] == [1, 2, 3]
    assert [comparable(r) for r in records[:2]] == [comparable(r) for r in first]
    assert "cut short" in caplog.text and "metrics.jsonl" in caplog.text
    assert all(json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines())


def test_only_the_last_line_may_be_torn(tmp_path):
    from agents.durable import LogDamaged, read_jsonl

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2, "los\n{"step": 3}\n')
    with pytest.raises(LogDamaged, match=r"line 2 of 3: not a JSON record"):
        read_jsonl(path)
    path.write_bytes(b'{"step": 1}\n{"step": 2}\n{"step": 3, "x": "\xc3')  # cut inside a UTF-8 character
    told = []
    assert read_jsonl(path, told.append) == [{"step": 1}, {"step": 2}] and "line 3" in told[0]


def test_a_failed_append_leaves_no_torn_line(tmp_path, monkeypatch):
    from agents import durable

    path = tmp_path / "log.jsonl"
    durable.append_line(path, '{"step": 1}')
    real_write = os.write
    monkeypatch.setattr(durable.os, "write", lambda fd, data: real_write(fd, data[:5]))  # a full disk
    with pytest.raises(OSError, match="only 5 of"):
        durable.append_line(path, '{"step": 2}')
    assert path.read_text() == '{"step": 1}\n'


# --- item 6: checkpoints ------------------------------------------------------------------------------------


def _truncate_model(folder):
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_a_weight_byte(folder):
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # same size, different weights: only the manifest's hash can tell
    path.write_bytes(bytes(data))


DAMAGE = {
    "truncated model.safetensors": _truncate_model,
    "a flipped weight byte": _flip_a_weight_byte,
    "missing state.pt": lambda folder: (folder / "state.pt").unlink(),
    "corrupt trainer.json": lambda folder: (folder / "trainer.json").write_text('{"step": 2, "con'),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_intact_one(tmp_path, caplog, damage):
    run = tmp_path / "run"
    first = Trainer(config(run, steps=2, save_every=1)).train()
    DAMAGE[damage](run / "checkpoints" / "step-000002")
    with caplog.at_level(logging.WARNING, logger="exprl"):
        records = Trainer(config(run, steps=2, save_every=1)).train()
    assert "step-000002 is damaged" in caplog.text and "resuming from step-000001" in caplog.text
    assert [comparable(r) for r in records] == [comparable(r) for r in first]  # step 2 retrained, the same
    assert published(run) == ["step-000001", "step-000002", "step-000002.damaged"]
    again = Trainer(config(run, steps=2))
    again.load_checkpoint(again.latest_checkpoint())  # the rewritten step 2 is intact
    assert again.step == 2


def test_no_intact_checkpoint_is_an_error_not_a_silent_restart(tmp_path):
    run = tmp_path / "run"
    Trainer(config(run, steps=1, save_every=1)).train()
    (run / "checkpoints" / "step-000001" / "state.pt").unlink()
    before = (run / "metrics.jsonl").read_text()
    with pytest.raises(ValueError, match=r"none is intact \(step-000001: state.pt is missing\).*--fresh"):
        Trainer(config(run, steps=2)).train()
    assert (run / "metrics.jsonl").read_text() == before  # nothing of the earlier run was overwritten


# --- item 6: settings and folder ----------------------------------------------------------------------------


def test_resuming_with_another_seed_or_learning_rate_is_an_error_naming_each(tmp_path):
    from agents.grpo import GRPOConfig

    run = tmp_path / "run"
    Trainer(config(run, steps=1, save_every=1)).train()
    metrics = (run / "metrics.jsonl").read_text()
    with pytest.raises(ValueError) as raised:
        Trainer(config(run, steps=2, seed=1), GRPOConfig(lr=1e-3)).train()
    message = str(raised.value)
    assert "seed: 0 in the folder, 1 now" in message and "lr: 1e-05 in the folder, 0.001 now" in message
    assert "--fresh" in message and "--output-dir" in message
    assert (run / "metrics.jsonl").read_text() == metrics and published(run) == ["step-000001"]


def test_settings_that_cannot_change_results_may_differ_on_resume(tmp_path):
    from agents.grpo import GRPOConfig

    run = tmp_path / "run"
    Trainer(config(run, steps=1, save_every=1)).train()
    records = Trainer(
        config(run, steps=2, save_every=2, keep_last=3, final_optimizer=False), GRPOConfig(micro_batch=1)
    ).train()
    assert [r["step"] for r in records] == [1, 2]


def record_before_issue_13(run):
    """Rewrite the run's recorded settings as a version before issue 13 wrote them: no truncated_reward, and the
    GRPO norm then called delta (s_0 = 0)."""
    for path in [run / "train_config.json", *run.glob("checkpoints/*/trainer.json")]:
        record = json.loads(path.read_text())
        del record["config"]["truncated_reward"]
        for field in ("entropy_coef", "loss_aggregation", "mini_batches"):
            del record["agent_config"][field]
        path.write_text(json.dumps(record))
    (run / "checkpoints" / "step-000001" / "manifest.json").unlink()  # its digests would now be wrong


def test_a_run_recorded_before_issue_13_resumes_only_with_the_settings_it_ran_under(tmp_path):
    """Its 'delta' meant s_0 = 0 (today's delta_zero) and it paid cut-off responses as judged: resuming under
    today's defaults would change the objective mid-run, so it is an error naming both, and those settings resume."""
    from agents.grpo import GRPOConfig

    run = tmp_path / "run"
    Trainer(config(run, steps=1, save_every=1, truncated_reward="judge")).train()
    record_before_issue_13(run)
    with pytest.raises(ValueError) as raised:
        Trainer(config(run, steps=2, truncated_reward="zero"), GRPOConfig(process_norm="delta")).train()
    message = str(raised.value)
    assert "truncated_reward: 'judge' in the folder, 'zero' now" in message
    assert "process_norm: 'delta_zero' in the folder, 'delta' now" in message
    records = Trainer(config(run, steps=2, truncated_reward="judge"), GRPOConfig(process_norm="delta_zero")).train()
    assert [r["step"] for r in records] == [1, 2]


def test_a_run_scored_by_another_version_of_its_judge_is_not_resumed(tmp_path, monkeypatch):
    """The judge's scoring version is recorded with the settings: a judge changed in between pays other rewards
    under the same name, so resuming names the change; a record from before versions were recorded resumes."""
    from tests.conftest import VowelJudge

    run = tmp_path / "run"
    monkeypatch.setattr(VowelJudge, "version", "vowels-1", raising=False)
    Trainer(config(run, steps=1, save_every=1)).train()
    assert json.loads((run / "train_config.json").read_text())["judge"] == {"judge_version": "vowels-1"}
    monkeypatch.setattr(VowelJudge, "version", "vowels-2")
    with pytest.raises(ValueError, match="judge_version: 'vowels-1' in the folder, 'vowels-2' now"):
        Trainer(config(run, steps=2)).train()
    for path in [run / "train_config.json", *run.glob("checkpoints/*/trainer.json")]:
        record = json.loads(path.read_text())
        del record["judge"]  # as written before 2026-12-08
        path.write_text(json.dumps(record))
    (run / "checkpoints" / "step-000001" / "manifest.json").unlink()  # its digests would now be wrong
    assert [r["step"] for r in Trainer(config(run, steps=2)).train()] == [1, 2]


def test_a_run_stopped_before_its_first_checkpoint_is_checked_too(tmp_path):
    run = tmp_path / "run"
    Trainer(config(run, steps=1, save_every=0)).train()
    for folder in (run / "checkpoints").iterdir():  # as if killed before the end: no checkpoint yet
        __import__("shutil").rmtree(folder)
    with pytest.raises(ValueError, match="temperature: 0.8 in the folder, 1.0 now"):
        Trainer(config(run, steps=1, temperature=1.0)).train()


def test_the_cli_names_the_differing_setting_and_fresh_starts_over(tmp_path, capsys):
    from agents.cli import main

    flags = tiny_train_flags(tmp_path)
    assert main(flags) == 0
    capsys.readouterr()
    assert main(flags + ["--seed", "7"]) == 2
    error = capsys.readouterr().err
    assert "exprl train: error:" in error and "seed: 0 in the folder, 7 now" in error
    assert main(flags + ["--seed", "7", "--fresh"]) == 0


def test_an_empty_output_dir_is_refused_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    from agents.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="output_dir is empty"):
        TrainConfig(**SMALL, output_dir="")
    assert main(["train", "--model", "tiny-random", "--judge", "vowels", "--steps", "1", "--output-dir", ""]) == 2
    assert "output_dir is empty" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_output_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "taken").write_text("not a folder")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        Trainer(config(tmp_path / "taken", steps=1))


# --- item 7: disk -------------------------------------------------------------------------------------------


def test_only_the_newest_checkpoints_stay_on_disk(tmp_path):
    Trainer(config(tmp_path / "default", steps=4, save_every=1)).train()
    assert published(tmp_path / "default") == ["step-000003", "step-000004"]  # default: the newest 2
    Trainer(config(tmp_path / "all", steps=3, save_every=1, keep_last=0)).train()
    assert published(tmp_path / "all") == ["step-000001", "step-000002", "step-000003"]


@pytest.mark.parametrize("agent", ["grpo", "ppo"])
def test_the_final_checkpoint_can_leave_out_the_optimizer(tmp_path, caplog, agent):
    run = tmp_path / "run"
    Trainer(config(run, steps=2, save_every=1, agent=agent, final_optimizer=False)).train()
    with_optimizer, final = run / "checkpoints" / "step-000001", run / "checkpoints" / "step-000002"
    saved = torch.load(final / "state.pt", weights_only=False)["agent"]
    kept = torch.load(with_optimizer / "state.pt", weights_only=False)["agent"]
    assert "optimizer" not in saved and "optimizer" in kept
    assert ("value_head" in saved) == (agent == "ppo")  # the agent's other state is kept
    assert (final / "state.pt").stat().st_size * 10 < (with_optimizer / "state.pt").stat().st_size
    with caplog.at_level(logging.WARNING, logger="exprl"):
        records = Trainer(config(run, steps=3, save_every=1, agent=agent)).train()  # extending it still works
    assert [r["step"] for r in records] == [1, 2, 3] and "no optimizer state" in caplog.text


# --- SIGKILL inside a checkpoint write ----------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import os, shutil, signal, sys, time
    import safetensors.torch
    import tests.conftest  # registers the vowels judge
    from agents.trainer import TrainConfig, Trainer

    point, folder, options = sys.argv[1], sys.argv[2], eval(sys.argv[3])
    die = lambda: os.kill(os.getpid(), signal.SIGKILL)
    saves = []
    original_save = Trainer.save_checkpoint

    def save(self, *args, **kwargs):
        saves.append(self.step)
        print("saving", self.step, flush=True)
        return original_save(self, *args, **kwargs)

    Trainer.save_checkpoint = save
    last = lambda: saves and saves[-1] == options["steps"]
    if point == "inside the model write":
        original_model = safetensors.torch.save_model
        def save_model(model, path, *args, **kwargs):
            original_model(model, path, *args, **kwargs)
            if last():
                os.truncate(path, os.path.getsize(path) // 3)
                die()
        safetensors.torch.save_model = save_model
    elif point == "inside the trainer.json write":
        import pathlib
        original_write_text = pathlib.Path.write_text
        def write_text(self, text, *args, **kwargs):
            if last() and self.name == "trainer.json":
                original_write_text(self, text[: len(text) // 2], *args, **kwargs)
                die()
            return original_write_text(self, text, *args, **kwargs)
        pathlib.Path.write_text = write_text
    elif point == "before the folder is renamed into place":
        original_replace = os.replace
        def replace(source, target):
            if last() and str(source).endswith(".partial"):
                die()
            return original_replace(source, target)
        os.replace = replace
    elif point == "inside the deletion of an old checkpoint":
        original_rmtree = shutil.rmtree
        def rmtree(path, *args, **kwargs):
            if str(path).endswith(".deleting") and os.path.exists(path):
                for child in sorted(os.listdir(path))[:1]:
                    os.remove(os.path.join(path, child))
                die()
            return original_rmtree(path, *args, **kwargs)
        shutil.rmtree = rmtree
    else:  # a random moment: the parent kills; the writes are slowed so that the moment falls inside a save
        from agents import durable
        original_fsync = durable.fsync_file
        def slow_fsync(path):
            time.sleep(0.15)
            return original_fsync(path)
        durable.fsync_file = slow_fsync
    Trainer(TrainConfig(output_dir=folder, **options)).train()
""")
KILL_POINTS = [
    "inside the model write",
    "inside the trainer.json write",
    "before the folder is renamed into place",
    "inside the deletion of an old checkpoint",
    "a random moment",
]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    trainer = Trainer(config(tmp_path_factory.mktemp("straight") / "run", steps=3, save_every=1))
    records = trainer.train()
    return records, params(trainer.policy)


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_sigkill_inside_a_checkpoint_write_leaves_a_resumable_folder(tmp_path, uninterrupted, point):
    options = {**SMALL, "steps": 3, "save_every": 1}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, point, str(tmp_path / "run"), repr(options)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    delay = None
    if point == "a random moment":
        for line in child.stdout:
            if line.startswith("saving 3"):
                delay = random.uniform(0.0, 0.6)
                __import__("time").sleep(delay)
                child.send_signal(signal.SIGKILL)
                break
    child.stdout.read()
    code = child.wait(timeout=300)
    if point != "a random moment":
        assert code == -signal.SIGKILL, f"the child was not killed at {point} (exit {code})"
    run = tmp_path / "run"
    trainer = Trainer(config(run, steps=3, save_every=1))
    records = trainer.train()
    straight_records, straight_params = uninterrupted
    assert [comparable(r) for r in records] == [comparable(r) for r in straight_records], f"killed after {delay} s"
    assert torch.equal(params(trainer.policy), straight_params)
    assert published(run) == ["step-000002", "step-000003"]  # no staging or half-deleted folder left
