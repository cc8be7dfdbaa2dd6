import pickle

import pytest

from judges.problem import Problem, Reference, SealedReference

SECRET = "the secret worked solution"


def test_unseal_round_trips():
    sealed = SealedReference(["step one", SECRET], "42")
    assert sealed.unseal() == Reference(steps=("step one", SECRET), answer="42")
    assert sealed.unseal().text == f"step one\n{SECRET}"


def test_sealed_reference_shows_nothing():
    sealed = SealedReference([SECRET], "4242")
    for shown in (repr(sealed), str(sealed), f"{sealed}", repr(pickle.dumps(sealed))):
        assert "secret" not in shown and "4242" not in shown
    with pytest.raises(TypeError):
        vars(sealed)  # slots only: no readable __dict__


def test_sealed_reference_is_immutable_and_pickles():
    sealed = SealedReference([SECRET], "7")
    with pytest.raises(AttributeError):
        sealed.fingerprint = "x"
    clone = pickle.loads(pickle.dumps(sealed))
    assert clone == sealed and clone.unseal() == sealed.unseal() and hash(clone) == hash(sealed)


def test_problem_repr_hides_reference():
    problem = Problem("p1", "demo", "What is 6 * 7?", SealedReference([SECRET], "42"))
    assert "secret" not in repr(problem) and "42" not in repr(problem)
    assert "What is 6 * 7?" in repr(problem)
