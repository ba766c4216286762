"""The short summary of a card: one row of ``models list`` (and of its ``--json`` form and the server's model
list), and what ``models search`` matches.

A :class:`CardSummary` is a plain value, cheap to build from JSON: a registry can keep the summaries of the cards
it has validated and list them again without building the pydantic card models (this module does not import
them at run time).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deepinfer.card._model import ModelCard


@dataclass(frozen=True)
class CardSummary:
    id: str
    name: str
    version: str
    task: str
    modality: str
    anatomy: str
    license_code: str
    license_weights: str
    size: int
    """Bytes of the artifacts a run downloads (examples left out)."""
    artifacts: int
    """How many artifacts the card lists (examples included)."""
    runtime: str
    tags: tuple[str, ...]

    @classmethod
    def of(cls, card: ModelCard) -> CardSummary:
        return cls(
            id=card.id,
            name=card.name,
            version=card.version,
            task=card.task,
            modality=card.modality,
            anatomy=card.anatomy,
            license_code=card.license.code,
            license_weights=card.license.weights,
            size=card.total_artifact_size(),
            artifacts=len(card.artifacts),
            runtime=card.runtime.type,
            tags=tuple(card.tags),
        )

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

    def matches(self, words: list[str]) -> bool:
        """Whether every (lower-case) word is in the id, name, anatomy, modality, task or tags."""
        haystack = " ".join([self.id, self.name, self.anatomy, self.modality, self.task, *self.tags]).lower()
        return all(word in haystack for word in words)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable row of ``models list --json`` and of the server's model list."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "modality": self.modality,
            "anatomy": self.anatomy,
            "license": {"code": self.license_code, "weights": self.license_weights},
            "size": self.size,
            "runtime": self.runtime,
            "tags": list(self.tags),
        }

    def to_record(self) -> dict[str, Any]:
        """Every field, flat (what :meth:`from_record` reads back)."""
        return {**asdict(self), "tags": list(self.tags)}

    @classmethod
    def from_record(cls, record: Any) -> CardSummary:
        """The summary :meth:`to_record` wrote; ``ValueError`` for anything else (a cache is not trusted blindly)."""
        if not isinstance(record, dict) or set(record) != set(cls.__dataclass_fields__):
            raise ValueError("not a card summary record")
        texts = [record[name] for name in cls.__dataclass_fields__ if name not in ("size", "artifacts", "tags")]
        counts = (record["size"], record["artifacts"])
        tags = record["tags"]
        if not all(isinstance(text, str) for text in texts):
            raise ValueError("a card summary's text field is not a string")
        if not all(type(count) is int and count >= 0 for count in counts):
            raise ValueError("a card summary's size or artifact count is not a count")
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise ValueError("a card summary's tags are not a list of strings")
        return cls(**{**record, "tags": tuple(tags)})


def card_summary(card: ModelCard) -> dict[str, Any]:
    """The machine-readable row of ``models list --json``."""
    return CardSummary.of(card).to_json()
