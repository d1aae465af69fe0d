"""Simulate an analyst correcting labels: queue order versus random order (issue 6).

Start from the cold-start taxonomy model (taxonomy seeds + unlabelled texts, no topic labels), then
feed the annotated ``snappfood-topics`` labels a batch at a time — in the order the review queue asks
for them, or in random order — retraining after each batch exactly as a training job does (base data
+ gold labels). After each round the model is scored on a fixed held-out slice of snappfood-topics that
is never labelled. Writes a table (markdown + JSON) and an SVG plot of micro-F1 against labels used.

    .venv/bin/python scripts/simulate_analyst.py --out var/simulation            # full run
    .venv/bin/python scripts/simulate_analyst.py --steps 0,50,100 --random-seeds 1  # quick look
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from models.analyzer import Analyzer  # noqa: E402
from models.taxonomy import Taxonomy  # noqa: E402
from models.training_api import train  # noqa: E402
from nlp import get_pipeline  # noqa: E402
from training.compare import compare  # noqa: E402
from training.data import Record, load_records  # noqa: E402
from training.review_queue import Candidate, ReviewQueue, words  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data"


def taxonomy_from_codebook() -> Taxonomy:
    """The snappfood-topics taxonomy with the seed words a customer would write from the codebook."""
    return Taxonomy.load(REPO / "models" / "taxonomies" / "snappfood.yaml")


class Simulation:
    def __init__(self, data_dir: Path, test_size: int, base_size: int, unlabelled_size: int, seed: int):
        topics = load_records(data_dir / "snappfood-topics" / "train.jsonl").records
        rng = random.Random(seed)
        order = list(range(len(topics)))
        rng.shuffle(order)
        clean = get_pipeline().process_batch([r.text for r in topics])
        # masked, normalized text as the store keeps it: the analyst labels what the service stored
        self.all = [Record(id=r.id, text=c.text, sentiment=r.sentiment, topics=r.topics, source=r.source)
                    for r, c in zip(topics, clean, strict=True)]
        self.test = [self.all[i] for i in order[:test_size]]
        self.pool = [self.all[i] for i in order[test_size:]]
        # no snappfood-topics text (raw or normalized) may reach base or unlabelled data
        held = {r.text for r in topics} | {r.text for r in self.all}
        # base data: sentiment-only SnappFood comments (what the service would be configured with)
        base = [r for r in load_records(data_dir / "snappfood" / "train.jsonl").records if r.text not in held]
        rng.shuffle(base)
        self.base = base[:base_size]
        stream = [r.text for r in load_records(data_dir / "snappfood" / "dev.jsonl").records if r.text not in held]
        rng.shuffle(stream)
        self.unlabelled = stream[:unlabelled_size]
        self.taxonomy = taxonomy_from_codebook()
        self.seed = seed
        self.tmp = REPO / "var" / "simulation-models"
        self._fitted: dict[frozenset, Analyzer] = {}

    def fit(self, labelled: list[Record], tag: str) -> Analyzer:
        key = frozenset(r.id for r in labelled)  # the same labels give the same model: train once
        if key in self._fitted:
            return self._fitted[key]
        self._fitted[key] = self._fit(labelled, tag)
        return self._fitted[key]

    def _fit(self, labelled: list[Record], tag: str) -> Analyzer:
        predictor = train([*self.base, *labelled], taxonomy=self.taxonomy, unlabelled=self.unlabelled,
                          seed=self.seed, progress=False)
        out = self.tmp / f"{tag}-{len(labelled)}"
        if out.exists():
            import shutil

            shutil.rmtree(out)
        predictor.save(out)
        return Analyzer.load(out)

    def score(self, analyzer: Analyzer) -> dict:
        res = compare(self.test, analyzer.analyze([r.text for r in self.test]), None,
                      topic_ids=self.taxonomy.ids, n_boot=200, seed=0)
        m = res["metrics"]
        return {"micro_f1": m["topics.micro_f1"]["new"], "macro_f1": m["topics.macro_f1"]["new"],
                "sentiment_accuracy": m["sentiment.accuracy"]["new"]}

    def queue_next(self, analyzer: Analyzer, remaining: list[Record], labelled: list[Record], k: int) -> list[Record]:
        """What the review queue would show next: the model's analyses of the still unlabelled pool."""
        analyses = analyzer.analyze([r.text for r in remaining])
        vocab = set()
        for r in labelled:
            vocab.update(words(r.text))
        cands = [Candidate(id=i, text=r.text, analysis=a.to_dict()) for i, (r, a) in enumerate(zip(remaining, analyses, strict=True))]
        picked = ReviewQueue(limit=k, vocabulary=vocab).select(cands)
        return [remaining[item.candidate.id] for item in picked]

    def run(self, strategy: str, steps: list[int], rseed: int = 0) -> list[dict]:
        rows = []
        labelled: list[Record] = []
        remaining = list(self.pool)
        if strategy == "random":
            random.Random(rseed).shuffle(remaining)
        analyzer = None
        for target in steps:
            need = target - len(labelled)
            if need > 0:
                if strategy == "queue":
                    batch = self.queue_next(analyzer, remaining, labelled, need)
                else:
                    batch = remaining[:need]
                chosen = {id(r) for r in batch}
                remaining = [r for r in remaining if id(r) not in chosen]
                labelled.extend(batch)
            t0 = time.perf_counter()
            analyzer = self.fit(labelled, f"{strategy}-{rseed}")
            row = {"strategy": strategy, "seed": rseed, "labels": len(labelled), **self.score(analyzer),
                   "train_s": round(time.perf_counter() - t0, 1)}
            print(json.dumps(row), file=sys.stderr, flush=True)
            rows.append(row)
        return rows


def svg_plot(series: dict[str, list[tuple[int, float]]], title: str) -> str:
    """A small self-contained line chart (no plotting dependency)."""
    w, h, ml, mr, mt, mb = 640, 400, 60, 160, 40, 50
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    x0, x1 = 0, max(xs) or 1
    y0, y1 = max(0.0, min(ys) - 0.05), min(1.0, max(ys) + 0.05)

    def px(x):
        return ml + (x - x0) / (x1 - x0) * (w - ml - mr)

    def py(y):
        return mt + (1 - (y - y0) / ((y1 - y0) or 1)) * (h - mt - mb)

    colors = ["#0f6e6e", "#c0392b", "#7f8c8d", "#8e44ad"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>',
           f'<line x1="{ml}" y1="{h - mb}" x2="{w - mr}" y2="{h - mb}" stroke="black"/>',
           f'<line x1="{ml}" y1="{mt}" x2="{ml}" y2="{h - mb}" stroke="black"/>',
           f'<text x="{(ml + w - mr) / 2}" y="{h - 12}" text-anchor="middle">gold labels used</text>',
           f'<text transform="translate(16 {(mt + h - mb) / 2}) rotate(-90)" text-anchor="middle">topic micro-F1 (held-out)</text>']
    for i in range(6):
        yv = y0 + i * (y1 - y0) / 5
        out.append(f'<line x1="{ml - 4}" y1="{py(yv):.1f}" x2="{w - mr}" y2="{py(yv):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{ml - 8}" y="{py(yv) + 4:.1f}" text-anchor="end">{yv:.2f}</text>')
    for x in sorted(set(xs)):
        out.append(f'<text x="{px(x):.1f}" y="{h - mb + 16}" text-anchor="middle">{x}</text>')
    for k, (name, pts) in enumerate(series.items()):
        c = colors[k % len(colors)]
        path = " ".join(f"{'M' if j == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for j, (x, y) in enumerate(pts))
        out.append(f'<path d="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>' for x, y in pts]
        out.append(f'<rect x="{w - mr + 12}" y="{mt + 20 * k}" width="12" height="12" fill="{c}"/>')
        out.append(f'<text x="{w - mr + 30}" y="{mt + 20 * k + 10}">{name}</text>')
    out.append("</svg>")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=REPO / "var" / "simulation")
    ap.add_argument("--steps", default="0,100,200,400")
    ap.add_argument("--random-seeds", type=int, default=2)
    ap.add_argument("--test-size", type=int, default=200)
    ap.add_argument("--base-size", type=int, default=1000)
    ap.add_argument("--unlabelled-size", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    steps = [int(s) for s in args.steps.split(",")]

    sim = Simulation(args.data, args.test_size, args.base_size, args.unlabelled_size, args.seed)
    rows = sim.run("queue", steps)
    for s in range(args.random_seeds):
        rows += sim.run("random", steps, rseed=s)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "simulation.json").write_text(json.dumps(rows, indent=1))
    queue = {r["labels"]: r for r in rows if r["strategy"] == "queue"}
    rand: dict[int, list[dict]] = {}
    for r in rows:
        if r["strategy"] == "random":
            rand.setdefault(r["labels"], []).append(r)

    def mean(rs, k):
        return sum(r[k] for r in rs) / len(rs)

    lines = [f"| labels | queue micro-F1 | random micro-F1 (mean of {args.random_seeds}) | queue macro-F1 | random macro-F1 |",
             "|---:|---:|---:|---:|---:|"]
    for n in steps:
        q, rs = queue[n], rand.get(n, [])
        lines.append(f"| {n} | {q['micro_f1']:.3f} | {mean(rs, 'micro_f1'):.3f} | {q['macro_f1']:.3f} | "
                     f"{mean(rs, 'macro_f1'):.3f} |" if rs else f"| {n} | {q['micro_f1']:.3f} | | {q['macro_f1']:.3f} | |")
    table = "\n".join(lines)
    (args.out / "simulation.md").write_text(table + "\n")
    series = {"review queue": [(n, queue[n]["micro_f1"]) for n in steps]}
    if rand:
        series[f"random (mean of {args.random_seeds})"] = [(n, mean(rand[n], "micro_f1")) for n in steps]
    (args.out / "simulation.svg").write_text(svg_plot(series, "snappfood-topics: labels used vs held-out micro-F1"))
    print(table)
    print(f"\nwritten: {args.out}/simulation.{{md,json,svg}}", file=sys.stderr)


if __name__ == "__main__":
    main()
