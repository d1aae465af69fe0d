"""Complaint triage (ISO 10002): configurable rules plus model scores → a priority with its reasons.

``Triage.triage(text, analysis, kind, prior_contacts)`` returns the priority (urgent, high, normal,
low) and every reason that fired, each with the priority it grants and the words that triggered it,
so a handler can see *why*. Rules live in a YAML file (``models/triage_rules.yaml`` by default; a
deployment points ``BAZKHORD_TRIAGE_RULES_PATH`` at its own). The steps are public and tested
separately: ``canonicalize`` → ``phrase_reasons`` / ``model_reasons`` / ``context_reasons`` →
``baseline`` → ``combine``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from nlp.errors import BazkhordError

BUNDLED_RULES = Path(__file__).with_name("triage_rules.yaml")
PRIORITIES = ("urgent", "high", "normal", "low")
_RANK = {p: i for i, p in enumerate(reversed(PRIORITIES))}  # low 0 … urgent 3

_ZWNJ = "\u200c"
_DIACRITICS = re.compile("[\u064b-\u065f\u0670\u0640]")  # harakat, superscript alef, tatweel
_ELONGATION = re.compile(r"(\w)\1{2,}")  # "خیلیییی" → "خیلی"
_SPACES = re.compile(r"\s+")
_NEXT_WORD = re.compile(r"\W*(\w+)")
_WORD_START = re.compile(r"(?<!\w)\w")
_ARABIC = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "ۀ": "ه", "أ": "ا", "إ": "ا", "ٱ": "ا"})


def rank(priority: str) -> int:
    """Order of a priority: low 0, normal 1, high 2, urgent 3."""
    return _RANK[priority]


def canonicalize(text: str) -> str:
    """The form rules are matched on: Arabic letters mapped, ZWNJ and diacritics removed, spaces collapsed."""
    text = text.translate(_ARABIC).replace(_ZWNJ, "")
    text = _DIACRITICS.sub("", text)
    text = _ELONGATION.sub(r"\1", text)
    return _SPACES.sub(" ", text).strip()


def phrase_regex(phrase: str) -> str:
    """A rule phrase → regex source: spaces optional between words, word boundary at both ends unless ``*``."""
    prefix = phrase.endswith("*")
    words = canonicalize(phrase.rstrip("*")).split(" ")
    body = r"\s*".join(re.escape(w) for w in words if w)
    if not body:
        raise BazkhordError("triage.invalid_rules", "A triage phrase pattern is empty.", {"pattern": phrase})
    return r"(?<!\w)" + body + (r"\w*" if prefix else r"(?!\w)")


def compile_phrase(phrase: str) -> re.Pattern[str]:
    return re.compile(phrase_regex(phrase))


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason a record got its priority."""

    code: str  # stable rule id, e.g. safety.foreign_object
    priority: str  # the priority this reason alone grants
    label: str
    label_fa: str
    source: str  # rule (text phrases), model (scores), context (history)
    evidence: tuple[str, ...] = ()  # matched words (masked text) or the score that fired

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "priority": self.priority,
            "label": self.label,
            "label_fa": self.label_fa,
            "source": self.source,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class TriageResult:
    priority: str
    reasons: tuple[Reason, ...] = ()

    def to_dict(self) -> dict:
        return {"priority": self.priority, "reasons": [r.to_dict() for r in self.reasons]}

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


_PHRASE_INDEXES: dict[int, tuple[Any, dict]] = {}  # id(rules) -> (rules, phrase index)


@dataclass(frozen=True, slots=True)
class PhraseRule:
    code: str
    priority: str
    label: str
    label_fa: str
    phrases: tuple[str, ...]  # canonical phrases (a trailing * kept)
    regexes: tuple[re.Pattern[str], ...]  # free-form patterns, searched anywhere

    def phrase_patterns(self) -> list[tuple[str, re.Pattern[str]]]:
        """(first two letters, regex matched at a word start) per phrase: the index ``Triage`` scans with."""
        out = []
        for phrase in self.phrases:
            src = phrase_regex(phrase)
            out.append((phrase[:2], re.compile(src.removeprefix(r"(?<!\w)"))))
        return out


@dataclass(frozen=True, slots=True)
class TopicRule:
    code: str
    priority: str
    label: str
    label_fa: str
    topics: frozenset[str]
    polarity: str | None
    min_score: float


@dataclass(frozen=True, slots=True)
class SentimentRule:
    code: str
    priority: str
    label: str
    label_fa: str
    label_is: str
    min_score: float


@dataclass(frozen=True, slots=True)
class ContactRule:
    code: str
    priority: str
    label: str
    label_fa: str
    min_prior: int = 1
    window_days: int = 30
    meta_keys: tuple[str, ...] = ("customer_id",)


@dataclass(frozen=True)
class TriageRules:
    """The parsed rule file. Build with ``load`` / ``from_dict``; invalid files raise ``triage.invalid_rules``."""

    baseline: Mapping[str, str] = field(default_factory=lambda: {"complaint": "normal", "default": "low"})
    positive_low_min: float = 0.6
    escalate_high_count: int = 0  # 0 = never escalate
    track_from: str = "high"  # triaged non-complaints at this priority or above enter complaint handling
    negators: frozenset[str] = frozenset()  # a phrase match followed by one of these words is ignored
    phrases: tuple[PhraseRule, ...] = ()
    topics: tuple[TopicRule, ...] = ()
    sentiment: tuple[SentimentRule, ...] = ()
    repeat_contact: ContactRule | None = None
    recurrence: Mapping[str, Reason] = field(default_factory=dict)  # recurring/systemic → reason
    source: str = "<dict>"

    @classmethod
    def load(cls, path: str | Path | None = None) -> TriageRules:
        """Rules from a YAML file; ``None`` = the bundled ``models/triage_rules.yaml``."""
        p = Path(path) if path is not None else BUNDLED_RULES
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise BazkhordError("triage.rules_not_found", f"Triage rules file not found: {p}", {"path": str(p)}) from exc
        except yaml.YAMLError as exc:
            raise BazkhordError("triage.invalid_rules", f"Triage rules file is not valid YAML: {p}", {"path": str(p)}) from exc
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: Any, source: str = "<dict>") -> TriageRules:
        if not isinstance(data, Mapping):
            raise BazkhordError("triage.invalid_rules", "Triage rules must be a mapping.", {"source": source})

        def prio(value: Any, where: str) -> str:
            if value not in PRIORITIES:
                raise BazkhordError(
                    "triage.invalid_rules",
                    f"Unknown priority {value!r} in {where}; use one of {', '.join(PRIORITIES)}.",
                    {"source": source, "where": where, "allowed": list(PRIORITIES)},
                )
            return value

        def common(item: Any, section: str) -> dict:
            if not isinstance(item, Mapping) or not item.get("code"):
                raise BazkhordError("triage.invalid_rules", f"Every rule in '{section}' needs a code.", {"source": source})
            code = str(item["code"])
            return {
                "code": code,
                "priority": prio(item.get("priority"), f"{section}.{code}"),
                "label": str(item.get("label", code)),
                "label_fa": str(item.get("label_fa", item.get("label", code))),
            }

        phrases = []
        for item in data.get("phrases") or ():
            base = common(item, "phrases")
            try:
                texts = []
                for p in item.get("patterns") or ():
                    phrase_regex(str(p))  # validates (empty phrases)
                    texts.append(canonicalize(str(p).rstrip("*")) + ("*" if str(p).endswith("*") else ""))
                regexes = tuple(re.compile(str(r)) for r in item.get("regex") or ())
            except re.error as exc:
                raise BazkhordError(
                    "triage.invalid_rules", f"Bad regular expression in rule {base['code']}: {exc}", {"source": source}
                ) from exc
            phrases.append(PhraseRule(phrases=tuple(texts), regexes=regexes, **base))
        topics = [
            TopicRule(
                topics=frozenset(map(str, item.get("topics") or ())),
                polarity=item.get("polarity"),
                min_score=float(item.get("min_score", 0.5)),
                **common(item, "topics"),
            )
            for item in data.get("topics") or ()
        ]
        sentiment = [
            SentimentRule(
                label_is=str(item.get("label_is", "neg")),
                min_score=float(item.get("min_score", 0.5)),
                **common(item, "sentiment"),
            )
            for item in data.get("sentiment") or ()
        ]
        contact = None
        if data.get("repeat_contact"):
            item = data["repeat_contact"]
            contact = ContactRule(
                min_prior=int(item.get("min_prior", 1)),
                window_days=int(item.get("window_days", 30)),
                meta_keys=tuple(map(str, item.get("meta_keys") or ("customer_id",))),
                **common(item, "repeat_contact"),
            )
        recurrence = {}
        for lvl, item in (data.get("recurrence") or {}).items():
            if lvl not in ("recurring", "systemic"):
                raise BazkhordError("triage.invalid_rules", f"Unknown recurrence level {lvl!r}.", {"source": source})
            base = common(item, "recurrence")
            recurrence[lvl] = Reason(base["code"], base["priority"], base["label"], base["label_fa"], "context", (lvl,))
        baseline = dict(data.get("baseline") or {"complaint": "normal", "default": "low"})
        for kind, value in baseline.items():
            prio(value, f"baseline.{kind}")
        baseline.setdefault("default", "low")
        codes = [r.code for r in (*phrases, *topics, *sentiment, *recurrence.values())] + ([contact.code] if contact else [])
        if len(codes) != len(set(codes)):
            dup = sorted({c for c in codes if codes.count(c) > 1})
            raise BazkhordError("triage.invalid_rules", "Rule codes must be unique.", {"source": source, "duplicates": dup})
        return cls(
            baseline=baseline,
            positive_low_min=float(data.get("positive_low_min", 0.6)),
            escalate_high_count=int(data.get("escalate_high_count", 0)),
            track_from=prio(data.get("track_from", "high"), "track_from"),
            negators=frozenset(canonicalize(str(w)) for w in data.get("negators") or ()),
            phrases=tuple(phrases),
            topics=tuple(topics),
            sentiment=tuple(sentiment),
            repeat_contact=contact,
            recurrence=recurrence,
            source=source,
        )


def _analysis_dict(analysis: Any) -> dict | None:
    """Accept a ``models.types.Analysis`` or its stored JSON (``to_dict`` shape)."""
    if analysis is None:
        return None
    if isinstance(analysis, Mapping):
        return dict(analysis)
    return analysis.to_dict()


class Triage:
    """Priority and reasons for one complaint (or negative comment).

    Flags switch the three families of signals: text phrases, model scores, contact history.
    """

    def __init__(
        self,
        rules: TriageRules | None = None,
        *,
        use_phrases: bool = True,
        use_model: bool = True,
        use_context: bool = True,
    ) -> None:
        self._rules = rules
        self._index: tuple[TriageRules, dict] | None = None
        self.use_phrases = use_phrases
        self.use_model = use_model
        self.use_context = use_context

    @property
    def rules(self) -> TriageRules:
        if self._rules is None:
            self._rules = bundled_rules()
        return self._rules

    canonicalize = staticmethod(canonicalize)

    def applies_to(self, kind: str | None, analysis: Any = None) -> bool:
        """Complaints are always triaged; other kinds only when the model reads them as negative."""
        if kind == "complaint":
            return True
        a = _analysis_dict(analysis)
        return bool(a) and (a.get("sentiment") or {}).get("label") == "neg"

    def negated(self, canon: str, end: int) -> bool:
        """Whether the word right after position ``end`` of canonical text negates the phrase before it."""
        nxt = _NEXT_WORD.match(canon, end)
        return bool(nxt) and nxt.group(1) in self.rules.negators

    @property
    def phrase_index(self) -> dict[str, list[tuple[int, re.Pattern[str]]]]:
        """Phrases by their first two letters, so a text is scanned once, trying only the phrases that can
        start at each word (one regex per phrase over the whole text costs ~10x more)."""
        if self._index is None or self._index[0] is not self.rules:
            # per rules object, not per Triage: intake makes a Triage per call over the same cached rules
            cached = _PHRASE_INDEXES.get(id(self.rules))
            if cached is None or cached[0] is not self.rules:
                index: dict[str, list[tuple[int, re.Pattern[str]]]] = {}
                for i, rule in enumerate(self.rules.phrases):
                    for key, rx in rule.phrase_patterns():
                        index.setdefault(key, []).append((i, rx))
                cached = _PHRASE_INDEXES[id(self.rules)] = (self.rules, index)
                while len(_PHRASE_INDEXES) > 16:
                    _PHRASE_INDEXES.pop(next(iter(_PHRASE_INDEXES)))
            self._index = cached
        return self._index[1]

    def phrase_reasons(self, text: str) -> list[Reason]:
        canon = canonicalize(text)
        hits: dict[int, list[str]] = {}

        def add(i: int, m: re.Match[str]) -> None:
            found = hits.setdefault(i, [])
            if m.group(0) not in found and not self.negated(canon, m.end()):
                found.append(m.group(0))

        index = self.phrase_index
        for start in _WORD_START.finditer(canon):
            pos = start.start()
            for i, rx in index.get(canon[pos : pos + 2], ()):
                m = rx.match(canon, pos)
                if m:
                    add(i, m)
        for i, rule in enumerate(self.rules.phrases):
            for rx in rule.regexes:
                for m in rx.finditer(canon):
                    add(i, m)
        out = []
        for i, rule in enumerate(self.rules.phrases):
            if hits.get(i):
                out.append(Reason(rule.code, rule.priority, rule.label, rule.label_fa, "rule", tuple(hits[i][:5])))
        return out

    def model_reasons(self, analysis: Any) -> list[Reason]:
        a = _analysis_dict(analysis)
        if not a:
            return []
        out = []
        for rule in self.rules.topics:
            hits = [
                f"{t['topic']}={float(t.get('score', 0.0)):.2f}"
                for t in a.get("topics") or ()
                if t.get("topic") in rule.topics
                and float(t.get("score", 0.0)) >= rule.min_score
                and (rule.polarity is None or t.get("sentiment") == rule.polarity)
            ]
            if hits:
                out.append(Reason(rule.code, rule.priority, rule.label, rule.label_fa, "model", tuple(hits)))
        sent = a.get("sentiment") or {}
        fired_label: set[str] = set()
        # Sentiment rules for the same label are tiers: the strictest threshold that passes wins.
        for rule in sorted(self.rules.sentiment, key=lambda r: -r.min_score):
            if rule.label_is in fired_label:
                continue
            score = float((sent.get("scores") or {}).get(rule.label_is, 0.0))
            if sent.get("label") == rule.label_is and score >= rule.min_score:
                fired_label.add(rule.label_is)
                out.append(
                    Reason(rule.code, rule.priority, rule.label, rule.label_fa, "model", (f"{rule.label_is}={score:.2f}",))
                )
        return out

    def context_reasons(self, prior_contacts: int) -> list[Reason]:
        rule = self.rules.repeat_contact
        if rule is None or prior_contacts < rule.min_prior:
            return []
        return [Reason(rule.code, rule.priority, rule.label, rule.label_fa, "context", (f"prior={prior_contacts}",))]

    def tracks(self, kind: str | None, priority: str | None) -> bool:
        """Whether a triaged record enters complaint handling (a lifecycle status): complaints always,
        other kinds from ``track_from`` priority up."""
        return kind == "complaint" or (priority is not None and rank(priority) >= rank(self.rules.track_from))

    def recurrence_reasons(self, recurrence: str | None) -> list[Reason]:
        reason = self.rules.recurrence.get(recurrence or "single")
        return [reason] if reason is not None else []

    def baseline(self, kind: str | None, analysis: Any = None) -> str:
        a = _analysis_dict(analysis)
        if a:
            sent = a.get("sentiment") or {}
            if sent.get("label") == "pos" and float((sent.get("scores") or {}).get("pos", 0.0)) >= self.rules.positive_low_min:
                return "low"
        return self.rules.baseline.get(kind or "", self.rules.baseline["default"])

    def combine(self, baseline: str, reasons: Sequence[Reason]) -> TriageResult:
        """Highest of the baseline and every reason; enough distinct `high` reasons escalate to urgent."""
        ordered = tuple(sorted(reasons, key=lambda r: -rank(r.priority)))
        priority = max([baseline, *(r.priority for r in ordered)], key=rank)
        n_high = sum(1 for r in ordered if r.priority == "high")
        if priority == "high" and self.rules.escalate_high_count and n_high >= self.rules.escalate_high_count:
            priority = "urgent"
            ordered += (
                Reason(
                    "escalation.combined",
                    "urgent",
                    f"{n_high} high-priority signals together",
                    f"{n_high} نشانه اولویت بالا با هم",
                    "rule",
                    tuple(r.code for r in ordered if r.priority == "high"),
                ),
            )
        return TriageResult(priority, ordered)

    def triage(
        self,
        text: str,
        analysis: Any = None,
        kind: str | None = "complaint",
        prior_contacts: int = 0,
        recurrence: str | None = None,
    ) -> TriageResult:
        """Priority and reasons for one text (normalized, masked) with its model analysis, if any."""
        reasons: list[Reason] = []
        if self.use_phrases:
            reasons += self.phrase_reasons(text)
        if self.use_model:
            reasons += self.model_reasons(analysis)
        if self.use_context:
            reasons += self.context_reasons(prior_contacts)
            reasons += self.recurrence_reasons(recurrence)
        return self.combine(self.baseline(kind, analysis), reasons)

    def triage_batch(
        self,
        texts: Sequence[str],
        analyses: Sequence[Any] | None = None,
        kinds: Sequence[str | None] | None = None,
        prior_contacts: Sequence[int] | None = None,
        recurrence: Sequence[str | None] | None = None,
    ) -> list[TriageResult]:
        """``triage`` for many records (the per-record arguments as parallel sequences)."""
        n = len(texts)
        analyses = analyses if analyses is not None else [None] * n
        kinds = kinds if kinds is not None else ["complaint"] * n
        prior_contacts = prior_contacts if prior_contacts is not None else [0] * n
        recurrence = recurrence if recurrence is not None else [None] * n
        return [
            self.triage(t, a, k, prior_contacts=p, recurrence=r)
            for t, a, k, p, r in zip(texts, analyses, kinds, prior_contacts, recurrence, strict=True)
        ]


@lru_cache(maxsize=1)
def bundled_rules() -> TriageRules:
    return TriageRules.load(None)


@lru_cache(maxsize=8)
def _cached_rules(path: str) -> TriageRules:
    return TriageRules.load(path)


def get_triage(rules_path: str | Path | None = None) -> Triage:
    """A Triage over the bundled rules or a deployment's file (parsed once per path)."""
    return Triage(_cached_rules(str(rules_path)) if rules_path else bundled_rules())


__all__ = [
    "BUNDLED_RULES",
    "PRIORITIES",
    "Reason",
    "Triage",
    "TriageResult",
    "TriageRules",
    "bundled_rules",
    "canonicalize",
    "compile_phrase",
    "get_triage",
    "phrase_regex",
    "rank",
]
