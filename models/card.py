"""MODEL_CARD.md: a readable card naming every training set, its licence, the metrics and libraries."""

from __future__ import annotations

# From ../shared/data/README.md: where each set comes from and under which licence.
DATA_SOURCES: dict[str, tuple[str, str]] = {
    "snappfood": ("HooshvareLab SnappFood sentiment set (train-split rows; GitHub re-splits "
                  "mehdighelich1379/snappfood-sentiment-classification, meysam-kazemi/persian-sentiment-analysis)",
                  "none stated (research use)"),
    "snappfood-topics": ("SnappFood dev-split texts annotated for topics and per-topic polarity by the Bazkhord "
                         "project (snappfood-topics/CODEBOOK.md)", "labels: Bazkhord project; texts: as SnappFood"),
    "snappfood-stream": ("MMDBadCoder/snapfoodComments (customer names and ids removed)", "none stated; internal use"),
    "parsinlu-food": ("ParsiNLU food sentiment (persiannlp/parsinlu, upstream train split)", "CC BY-NC-SA 4.0"),
    "sentipers": ("SentiPers (phosseini/SentiPers)", "none stated (\"public\")"),
    "digikala-recommend": ("sina-negarandeh/naive-bayes-classifier-digikala-comments", "none stated"),
    "taaghche": ("miirzamiir/taaghche-feelings-analyzer", "none stated"),
    "armanemo": ("ArmanEmo (Arman-Rayan-Sharif/arman-text-emotion)", "CC BY-NC-SA 4.0"),
}


def source_info(name: str) -> tuple[str, str]:
    for key in sorted(DATA_SOURCES, key=len, reverse=True):
        if name == key or name.startswith(key + "-") or name.startswith(key + "/"):
            return DATA_SOURCES[key]
    return ("user-supplied data", "as supplied by its owner")


def flatten_metrics(results: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 0.9, "per_topic": {...}}}`` → ``{"a.b": 0.9}`` (per-topic tables stay out of the card)."""
    out: dict = {}
    for k, v in results.items():
        if k == "per_topic":
            continue
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_metrics(v, key + "."))
        elif isinstance(v, (int, float)):
            out[key] = v
    return out


def _fmt(v) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def render_card(meta: dict) -> str:
    tr = meta.get("training", {})
    lines = [
        f"# Model card: Bazkhord {meta.get('backend', 'sklearn')} model {meta.get('version')}",
        "",
        f"Created {meta.get('created')}. Persian customer-feedback analysis: overall sentiment (neg/neu/pos, "
        "calibrated), topics of the taxonomy below with per-topic polarity, abstention when no topic is confident.",
        "",
        "## Method",
        "Word (1-2) and character-in-word (2-5) n-gram TF-IDF; multinomial logistic regression for sentiment "
        "with temperature scaling fitted on cross-validated logits; one logistic regression per topic, Platt-"
        "calibrated, with a per-topic threshold tuned by 5-fold cross-validation; a shared topic-polarity "
        "model over each topic's context window, the text's sentiment and the topic identity. Evidence = the "
        "word n-grams of the text that raised the topic's score most.",
        "",
        "## Taxonomy",
        "| id | label | seeds |",
        "|---|---|---|",
    ]
    for t in meta.get("taxonomy", {}).get("topics", []):
        lines.append(f"| `{t['id']}` | {t.get('label_fa', '')} | {'، '.join(t.get('seeds', [])[:8])} |")
    lines += ["", "## Training data", "| set | rows | source | licence |", "|---|---|---|---|"]
    for name, n in sorted(tr.get("sets", {}).items()):
        src, lic = source_info(name)
        lines.append(f"| `{name}` | {n} | {src} | {lic} |")
    counts = tr.get("counts", {})
    if counts:
        lines += ["", "Counts: " + "; ".join(f"{k} = {v}" for k, v in counts.items())]
    if tr.get("cold_start"):
        lines += ["", "Cold start: topic labels were completed with weak labels from the taxonomy's seeds."]
    lines += ["", "## Metrics (held-out data, see `scripts/measure_models.py`)"]
    metrics = meta.get("metrics") or {}
    if metrics:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
    else:
        lines.append("Not measured for this version.")
    lines += [
        "",
        "## Limits",
        "Sentiment labels of the rating-derived sets follow the customer's stars, not a reading of the text. "
        "Topic labels come from one domain (food delivery); other domains need their own taxonomy and labels. "
        "Licences above include non-commercial ones (CC BY-NC-SA 4.0): check them before commercial use.",
        "",
        "## Libraries",
        ", ".join(f"{k} {v}" for k, v in (meta.get("libraries") or {}).items()),
        "",
    ]
    return "\n".join(lines)
