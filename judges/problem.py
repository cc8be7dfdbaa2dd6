"""A problem the policy may see, and the sealed reference only judges may open.

The reference (worked steps and final answer) is what ExpRL's judge compares a response with, so it
must never reach the policy: not through observations, ``info``, logs, reprs or pickles. It is kept
encoded (compressed, base64) even in memory, so that ``repr``, ``vars()``, tracebacks with locals and
pickles show no readable text. This guards against accidental leaks, not against code that calls
:meth:`SealedReference.unseal` on purpose: judges do, and so does the clearly named privileged
channel that the SFT and self-distillation baselines use.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping
from typing import Any

import attrs


@attrs.frozen
class Reference:
    """The opened reference: ordered worked-solution steps and the final answer."""

    steps: tuple[str, ...]
    """The worked solution, one reasoning step per item, in order."""
    answer: str
    """The final answer, as written by the data source."""

    @property
    def text(self) -> str:
        """The whole worked solution as one string, one step per line."""
        return "\n".join(self.steps)


class SealedReference:
    """A reference solution that does not show itself.

    ``repr``/``str`` say only that it is sealed and give a short fingerprint (so two references can
    be told apart in a log without revealing them); pickling keeps the encoded form.
    """

    __slots__ = ("_blob", "fingerprint")

    def __init__(self, steps: tuple[str, ...] | list[str], answer: str):
        payload = json.dumps({"s": list(steps), "a": answer}, ensure_ascii=True).encode()
        object.__setattr__(self, "_blob", base64.b85encode(zlib.compress(payload, 9)))
        object.__setattr__(self, "fingerprint", format(zlib.crc32(payload), "08x"))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("SealedReference is immutable")

    def unseal(self) -> Reference:
        """Open the reference. Only judges and the privileged baseline channel call this."""
        data = json.loads(zlib.decompress(base64.b85decode(self._blob)))
        return Reference(steps=tuple(data["s"]), answer=data["a"])

    def __repr__(self) -> str:
        return f"<SealedReference {self.fingerprint}>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SealedReference) and other._blob == self._blob

    def __hash__(self) -> int:
        return hash(self._blob)

    def __reduce__(self):
        return (_from_blob, (self._blob, self.fingerprint))


def _from_blob(blob: bytes, fingerprint: str) -> SealedReference:
    sealed = object.__new__(SealedReference)
    object.__setattr__(sealed, "_blob", blob)
    object.__setattr__(sealed, "fingerprint", fingerprint)
    return sealed


@attrs.frozen
class Problem:
    """One question/answer problem: what the policy sees, plus the sealed reference."""

    id: str
    """Stable identifier, unique within its domain; also what the train/test split hashes."""
    domain: str
    """The registered domain (or data source) the problem came from."""
    question: str
    """The question text shown to the policy."""
    reference: SealedReference = attrs.field(repr=False)
    """The hidden worked solution and answer; only judges unseal it."""
    metadata: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    """Public, non-secret facts (category, difficulty); must never hold solution text."""
