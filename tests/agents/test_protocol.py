"""Every agent is an ``agents.protocol.Agent``, and the trainer needs nothing else of it."""

from __future__ import annotations

import inspect

import attrs
import pytest
import torch

from agents.batch import Batch
from agents.policy import Policy, SamplingConfig
from agents.protocol import Agent, ReferencesRefused, ReferencesRequired
from agents.registry import agent_classes, agent_names, make_agent
from judges.problem import Reference

BASELINES = {"sft", "self_distill"}


@pytest.fixture(scope="module")
def tiny():
    return Policy.from_pretrained("tiny-random")


@pytest.fixture(scope="module")
def batch(tiny):
    torch.manual_seed(0)
    samples = tiny.sample([tiny.prompt_ids(f"What is {i} + 1?") for i in range(2)], SamplingConfig(max_new_tokens=6))
    return Batch(
        tuple(samples),
        torch.tensor([1.0, 0.0]),
        torch.zeros(2, dtype=torch.long),
        "outcome",
        (None, None),
        (None, None),
        ("p0", "p1"),
        prompts=("What is 0 + 1?", "What is 1 + 1?"),
    )


REFERENCES = [Reference(("0 + 1 = 1",), "1"), Reference(("1 + 1 = 2",), "2")]


def params(policy):
    return torch.cat([p.detach().flatten() for p in policy.model.parameters()]).clone()


@pytest.mark.parametrize("name", agent_names())
def test_every_registered_agent_satisfies_the_protocol(tiny, name):
    agent_class, config_class = agent_classes(name)
    agent = make_agent(name, tiny)
    assert isinstance(agent, Agent)
    assert agent.name == name and isinstance(agent.config, config_class) and attrs.has(config_class)
    assert agent.needs_reference == (name in BASELINES)
    update = inspect.signature(agent_class.update).parameters
    assert list(update) == ["self", "batch", "references"] and update["references"].default is None
    assert list(inspect.signature(agent_class.state_dict).parameters) == ["self"]
    assert list(inspect.signature(agent_class.load_state_dict).parameters) == ["self", "state"]
    assert isinstance(agent.state_dict(), dict)


def test_a_class_without_the_protocol_is_not_an_agent():
    class NoState:
        name, needs_reference, config = "x", False, None

        def update(self, batch, references=None):
            return {}

    assert not isinstance(NoState(), Agent)


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_the_baselines_say_they_need_references(tiny, batch, name):
    agent = make_agent(name, tiny, lr=1e-3)
    before = params(tiny)
    with pytest.raises(ReferencesRequired, match=f"the {name} agent trains on reference solutions"):
        agent.update(batch)
    with pytest.raises(ReferencesRequired, match="got 1 references for a batch of 2 rollouts"):
        agent.update(batch, REFERENCES[:1])
    assert torch.equal(before, params(tiny))
    assert agent.update(batch, REFERENCES)["applied"] == 1.0


@pytest.mark.parametrize("name", sorted(set(agent_names()) - BASELINES))
def test_rl_agents_refuse_references(tiny, batch, name):
    agent = make_agent(name, tiny, lr=1e-3)
    before = params(tiny)
    with pytest.raises(ReferencesRefused, match=f"the {name} agent learns from the judge's reward only"):
        agent.update(batch, REFERENCES)
    assert torch.equal(before, params(tiny))


def test_a_batch_has_no_field_for_references():
    assert not {"reference", "references", "problems"} & {f.name for f in attrs.fields(Batch)}


def test_loading_a_state_without_the_optimizer_restarts_it(tiny, batch):
    agent = make_agent("grpo", tiny, lr=0.0)
    agent.update(batch)
    assert agent.optimizer.state
    agent.load_state_dict({})
    assert not agent.optimizer.state


class Recorder:
    """A minimal agent: the protocol and nothing else."""

    name, config = "recorder", attrs.make_class("RecorderConfig", {"lr": attrs.field(default=0.0)})()

    def __init__(self, needs_reference: bool):
        self.needs_reference, self.received = needs_reference, []

    def update(self, batch, references=None):
        self.received.append(references)
        return {"loss": 0.0, "applied": 1.0}

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


@pytest.mark.parametrize("needs_reference", [False, True])
def test_the_trainer_drives_any_agent_through_the_protocol(tmp_path, monkeypatch, needs_reference):
    import agents.trainer as trainer_module
    from agents.trainer import TrainConfig, Trainer

    recorder = Recorder(needs_reference)
    monkeypatch.setattr(trainer_module, "make_agent", lambda name, policy, config: recorder)
    config = TrainConfig(
        model="tiny-random",
        env_options='{"size": 50}',
        judge="vowels",
        steps=1,
        prompts_per_step=1,
        group_size=2,
        max_new_tokens=6,
        eval_problems=0,
        output_dir=str(tmp_path / "run"),
    )
    Trainer(config).train()
    [references] = recorder.received
    if needs_reference:
        assert len(references) == 2 and all(isinstance(r, Reference) for r in references)
    else:
        assert references is None
