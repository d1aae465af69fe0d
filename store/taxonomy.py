"""Versioned taxonomy: every change is a new ``taxonomy_versions`` row; the newest one is current.

Version 0 is implicit: the taxonomy the active model was trained with. A retrain is needed
whenever the current taxonomy differs from the one the active model carries.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nlp.errors import BazkhordError
from store.schema import TaxonomyVersion

_TOPIC_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")  # as models.taxonomy


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def validate(content: dict) -> dict:
    """Check a taxonomy mapping ({name, topics: [{id, label_fa, description, seeds}]}); return it cleaned."""
    problems: list[dict] = []
    if not isinstance(content, dict):
        raise BazkhordError("taxonomy.invalid", "A taxonomy is an object with name and topics.", http_status=422)
    name = content.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append({"field": "name", "reason": "required"})
    topics = content.get("topics")
    if not isinstance(topics, list) or not topics:
        problems.append({"field": "topics", "reason": "a non-empty list of topics is required"})
        topics = []
    seen: set[str] = set()
    clean_topics = []
    for i, t in enumerate(topics):
        if not isinstance(t, dict):
            problems.append({"field": f"topics[{i}]", "reason": "must be an object"})
            continue
        tid = t.get("id")
        if not isinstance(tid, str) or not _TOPIC_ID.match(tid):
            problems.append({"field": f"topics[{i}].id", "reason": "latin letters, digits, _ . - (max 64)"})
        elif tid in seen:
            problems.append({"field": f"topics[{i}].id", "reason": f"duplicate topic id {tid}"})
        seen.add(tid)
        label = t.get("label_fa")
        if not isinstance(label, str) or not label.strip():
            problems.append({"field": f"topics[{i}].label_fa", "reason": "a Persian label is required"})
        seeds = t.get("seeds", [])
        if not isinstance(seeds, list) or not all(isinstance(s, str) and s.strip() for s in seeds):
            problems.append({"field": f"topics[{i}].seeds", "reason": "a list of non-empty words or phrases"})
            seeds = []
        description = t.get("description") or ""
        if not isinstance(description, str):
            problems.append({"field": f"topics[{i}].description", "reason": "must be text"})
            description = ""
        clean_topics.append({"id": tid, "label_fa": (label or "").strip(), "description": description.strip(),
                             "seeds": [s.strip() for s in seeds]})
    if problems:
        raise BazkhordError("taxonomy.invalid", "The taxonomy is not valid.", problems, 422)
    return {"name": name.strip(), "topics": clean_topics}


def latest(session: Session) -> TaxonomyVersion | None:
    return session.scalar(select(TaxonomyVersion).order_by(TaxonomyVersion.version.desc()).limit(1))


def save(session: Session, content: dict, author: str) -> TaxonomyVersion:
    """Store ``content`` as the next version (caller commits)."""
    clean = validate(content)
    number = (session.scalar(select(func.max(TaxonomyVersion.version))) or 0) + 1
    row = TaxonomyVersion(version=number, name=clean["name"], content=clean, author=author, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def add_topic(session: Session, base: dict, topic: dict, author: str) -> TaxonomyVersion:
    """A new version = ``base`` plus one topic (e.g. an emerging theme promoted in one step)."""
    content = {"name": base.get("name"), "topics": [*base.get("topics", []), topic]}
    return save(session, content, author)


def same_topics(a: dict | None, b: dict | None) -> bool:
    """Whether two taxonomies define the same topics (ids and seeds; wording of labels does not matter)."""
    def key(tax: dict | None):
        return sorted((t.get("id"), tuple(sorted(t.get("seeds", [])))) for t in (tax or {}).get("topics", []))

    return key(a) == key(b)
