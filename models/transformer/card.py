"""MODEL_CARD.md for a transformer artifact: base model, heads, data sets and licences, metrics."""

from __future__ import annotations

from models.card import source_info


def _fmt(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def render_card(meta: dict) -> str:
    tf, training, metrics = meta["transformer"], meta["training"], meta.get("metrics") or {}
    topics = meta["taxonomy"].get("topics", [])
    lines = [
        f"# Bazkhord transformer model {meta['version']}",
        "",
        f"- backend: `transformer`, created {meta['created']}",
        f"- base model: `{tf['base_model']}` ({tf['architecture']}, {tf['layers']} layers, hidden {tf['hidden_size']})",
        f"- heads on the masked mean of the last hidden states: overall sentiment (neg/neu/pos), "
        f"{len(topics)} topics (multi-label, sigmoid, threshold tuned on dev), per-topic polarity (neg/neu/pos)",
        f"- max input length: {tf['max_length']} tokens; serving: `model.int8.onnx` on ONNX Runtime "
        "(dynamic int8, per-channel weights), torch weights in `model.safetensors`",
        f"- training: {tf['epochs']} epoch(s), {tf['steps']} steps, batch {tf['batch_size']}, "
        f"lr {tf['learning_rate']} (heads {tf['head_learning_rate']}), seed {tf['seed']}, device {tf['device']}"
        f"{', mixed precision' if tf.get('mixed_precision') else ''}",
        "",
        "## Data",
        "",
        "| set | records | source and licence |",
        "|---|---|---|",
    ]
    for source, n in sorted(training.get("sets", {}).items()):
        src, licence = source_info(source)
        lines.append(f"| `{source}` | {n} | {src}; {licence} |")
    lines += ["", "Counts: " + "; ".join(f"{k} = {v}" for k, v in training.get("counts", {}).items()), ""]
    lines += ["## Metrics", "",
              "`dev_*`: a seeded held-out split of the training records; `int8_agreement_*`: share of identical",
              "decisions of the int8 ONNX model and the torch fp32 model on held-out (then training) texts.", "",
              "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in metrics.items()]
    lines += [
        "",
        "## Use and limits",
        "",
        "Persian customer feedback like the training data. Labels of rating-derived sets follow the star",
        "rating, not a reading of the text. Topic evidence lists the taxonomy's seed phrases found in the",
        "text; the network's own attributions are not computed. Licences above include non-commercial ones",
        "(CC BY-NC-SA 4.0): check them before commercial use.",
        "",
        "## Libraries",
        ", ".join(f"{k} {v}" for k, v in (meta.get("libraries") or {}).items()),
        "",
    ]
    return "\n".join(lines)
