"""Retrain from the configured base data plus the analysts' gold labels, compare, register.

1. current gold labels from the database; a fixed, hash-ordered slice of them is held out;
2. base data files (canonical JSONL/CSV/XLSX) + the other gold labels → ``models.training_api.train``
   (base rows whose text is a gold text are dropped: the analyst's label wins and held-out texts never
   leak into training);
3. the artifact is written to a temporary directory and renamed into ``model_dir`` only when complete;
4. the new model and the active one are scored on the held-out slice (paired bootstrap deltas);
5. the version is registered (not activated) with its card and comparison, in one commit.

Any failure before step 5 removes the temporary directory: the registry and the served model are
exactly as they were.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from nlp.errors import BazkhordError
from store import labels as label_store
from store import registry
from store import taxonomy as tax_store
from training.compare import compare

Progress = Callable[[float, str], None]


@dataclass
class RetrainConfig:
    model_dir: Path
    base_data: list[Path] = field(default_factory=list)
    holdout: float = 0.2  # share of gold labels held out for the comparison
    min_labels: int = 10
    seed: int = 0
    n_boot: int = 1000
    unlabelled_limit: int = 5000  # newest stored texts without labels, for seed (cold-start) topic labels


def _salted(record_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{record_id}".encode()).hexdigest()


def split_gold(records: Sequence, holdout: float, seed: int = 0) -> tuple[list, list]:
    """(train, held_out): the ``ceil(holdout·n)`` records first in salted-hash order are held out.

    The order depends only on ids, so the held-out slice stays mostly the same as labels accumulate.
    """
    ranked = sorted(records, key=lambda r: _salted(r.id, seed))
    k = min(len(ranked) - 1, math.ceil(holdout * len(ranked))) if holdout > 0 else 0
    held = {r.id for r in ranked[:k]}
    return [r for r in records if r.id not in held], [r for r in records if r.id in held]


def restrict_topics(records: Sequence, topic_ids: set[str]) -> list:
    """Drop label keys for topics no longer in the taxonomy (a removed topic)."""
    return [r if r.topics is None else replace(r, topics={t: p for t, p in r.topics.items() if t in topic_ids})
            for r in records]


def load_base(paths: Sequence[Path]) -> list:
    from training.data import load_records

    out: list = []
    for p in paths:
        out.extend(load_records(p).records)
    return out


def drop_gold_texts(base: Sequence, gold_texts: set[str]) -> list:
    """Base records whose normalized, masked text equals a gold text (as stored) are removed."""
    if not gold_texts or not base:
        return list(base)
    from nlp import get_pipeline

    clean = get_pipeline().process_batch([r.text for r in base])
    return [r for r, c in zip(base, clean, strict=True) if c.text not in gold_texts and r.text not in gold_texts]


def unlabelled_texts(session: Session, limit: int) -> list[str]:
    """The newest stored texts that carry no gold label (the service's own stream)."""
    from sqlalchemy import select

    from store.schema import Feedback, GoldLabel

    if limit <= 0:
        return []
    q = (select(Feedback.text).where(~Feedback.id.in_(select(GoldLabel.feedback_id)))
         .order_by(Feedback.id.desc()).limit(limit))
    return list(session.scalars(q))


def current_taxonomy(session: Session, active_analyzer=None):
    """The newest taxonomy version from the database, else the active model's."""
    from models.taxonomy import Taxonomy

    row = tax_store.latest(session)
    if row is not None:
        return Taxonomy.from_dict(row.content)
    if active_analyzer is not None:
        return active_analyzer.taxonomy
    return None


def retrain(
    session_factory: sessionmaker[Session],
    config: RetrainConfig,
    active_analyzer=None,
    progress: Progress | None = None,
    train_fn: Callable | None = None,
) -> dict:
    """Train, compare and register a new model version; returns the job result (version, comparison)."""
    from models.analyzer import Analyzer

    say = progress or (lambda f, m: None)
    if train_fn is None:
        from models.training_api import train as train_fn

    say(0.02, "reading gold labels")
    with session_factory() as s:
        gold = label_store.labelled_records(s)
        taxonomy = current_taxonomy(s, active_analyzer)
        active_row = registry.active_version(s)
        unlabelled = unlabelled_texts(s, config.unlabelled_limit)
    active_version = active_row.version if active_row else getattr(active_analyzer, "version", None)
    if len(gold) < config.min_labels:
        raise BazkhordError("train.not_enough_labels",
                            f"{len(gold)} gold labels; at least {config.min_labels} are needed to train and compare.",
                            {"labels": len(gold), "min_labels": config.min_labels}, 409)
    if taxonomy is not None:
        gold = restrict_topics(gold, {t.id for t in taxonomy.topics})
    gold_train, held_out = split_gold(gold, config.holdout, config.seed)

    say(0.08, "reading base data")
    base = drop_gold_texts(load_base(config.base_data), {r.text for r in gold})

    say(0.15, f"training on {len(base)} base + {len(gold_train)} gold records")
    predictor = train_fn([*base, *gold_train], taxonomy=taxonomy, unlabelled=unlabelled, seed=config.seed,
                         progress=False)

    config.model_dir.mkdir(parents=True, exist_ok=True)
    tmp = config.model_dir / f".tmp-{uuid.uuid4().hex}"
    renamed: Path | None = None
    try:
        predictor.save(tmp)
        version = registry.read_card(tmp)["version"]
        final = config.model_dir / version
        if final.exists():
            raise BazkhordError("model.exists", f"A model directory for version {version} already exists.",
                                {"version": version}, 409)
        say(0.7, "scoring the new and the active model on held-out gold labels")
        new = Analyzer.load(tmp)
        texts = [r.text for r in held_out]
        topic_ids = [t.id for t in new.taxonomy.topics]
        comparison = compare(held_out, new.analyze(texts),
                             active_analyzer.analyze(texts) if active_analyzer is not None else None,
                             topic_ids=topic_ids, n_boot=config.n_boot, seed=config.seed)
        comparison.update(against=active_version, new_version=version,
                          training={"base": len(base), "gold": len(gold_train), "held_out": len(held_out),
                                    "base_data": [str(p) for p in config.base_data]},
                          held_out_ids=[r.id for r in held_out])
        say(0.9, "registering")
        tmp.rename(final)
        renamed = final
        with session_factory() as s:
            card = registry.read_card(final)
            # the card in the registry also carries the held-out scores the comparison measured
            held = {k: v["new"] for k, v in comparison["metrics"].items()}
            card["metrics"] = {**(card.get("metrics") or {}), "held_out_gold": {"n": len(held_out), **held}}
            row = registry.register(s, final, comparison=comparison, card=card)
            s.commit()
            summary = registry.version_to_dict(row)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if renamed is not None:  # registration failed after the rename: nothing refers to it
            shutil.rmtree(renamed, ignore_errors=True)
        raise
    return {"version": version, "model": summary, "comparison": comparison}
