"""A customer's topic taxonomy: topic ids, Persian labels, descriptions and seed words.

The YAML format is the one in DESIGN.md::

    name: food-delivery
    topics:
      - id: delivery
        label_fa: ارسال و پیک
        description: delivery time, courier, delivery fee
        seeds: [پیک, دیر رسید, ارسال, تاخیر]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from nlp.errors import BazkhordError

_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    label_fa: str
    description: str = ""
    seeds: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {"id": self.id, "label_fa": self.label_fa, "description": self.description, "seeds": list(self.seeds)}


@dataclass(frozen=True, slots=True)
class Taxonomy:
    name: str
    topics: tuple[Topic, ...]

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.topics]

    def get(self, topic_id: str) -> Topic | None:
        for t in self.topics:
            if t.id == topic_id:
                return t
        return None

    def label_fa(self, topic_id: str) -> str:
        t = self.get(topic_id)
        return t.label_fa if t is not None else topic_id

    def to_dict(self) -> dict:
        return {"name": self.name, "topics": [t.to_dict() for t in self.topics]}

    @classmethod
    def from_dict(cls, data: dict) -> Taxonomy:
        if not isinstance(data, dict) or not isinstance(data.get("topics"), list):
            raise BazkhordError("taxonomy.invalid", "A taxonomy needs a 'topics' list.", {"field": "topics"})
        topics: list[Topic] = []
        seen: set[str] = set()
        for i, raw in enumerate(data["topics"]):
            if not isinstance(raw, dict):
                raise BazkhordError("taxonomy.invalid", f"Topic #{i + 1} is not a mapping.", {"index": i})
            tid = str(raw.get("id", "")).strip()
            if not _ID.match(tid):
                raise BazkhordError(
                    "taxonomy.invalid",
                    f"Topic #{i + 1} has an invalid id (letters, digits, _ . - only).",
                    {"index": i, "field": "id"},
                )
            if tid in seen:
                raise BazkhordError("taxonomy.invalid", f"Topic id {tid!r} appears twice.", {"index": i, "id": tid})
            seen.add(tid)
            seeds = raw.get("seeds") or []
            if isinstance(seeds, str):
                seeds = [seeds]
            topics.append(
                Topic(
                    id=tid,
                    label_fa=str(raw.get("label_fa") or tid),
                    description=str(raw.get("description") or ""),
                    seeds=tuple(str(s).strip() for s in seeds if str(s).strip()),
                )
            )
        return cls(name=str(data.get("name") or "taxonomy"), topics=tuple(topics))

    @classmethod
    def load(cls, path: str | Path) -> Taxonomy:
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BazkhordError("taxonomy.not_found", f"No taxonomy file at {p}.", {"path": str(p)}) from None
        except yaml.YAMLError as exc:
            raise BazkhordError("taxonomy.invalid", f"{p} is not valid YAML.", {"path": str(p)}) from exc
        return cls.from_dict(data)

    @classmethod
    def from_ids(cls, ids: Iterable[str], name: str = "from-data") -> Taxonomy:
        """A taxonomy that only the labelled data defines (labels = ids, no seeds)."""
        return cls.from_dict({"name": name, "topics": [{"id": i, "label_fa": i} for i in sorted(set(ids))]})
