"""Serving speed of the transformer backend on CPU: torch eager fp32 vs ONNX Runtime fp32 vs ONNX int8.

A network with ParsBERT-base shapes (BERT, 12 layers, hidden 768, 12 heads, vocabulary 100,000; random
weights: speed does not depend on them) plus Bazkhord's heads (8 topics), 64-token inputs, batch 1
and batch 32. Each runtime runs in its own fresh process so that its peak memory (RSS) is its own:
the ONNX processes import neither torch nor transformers, as a serving process does.

Usage: .venv/bin/python bench/transformer.py [--rounds 3] [--seconds 2] [--threads N]
Target: ONNX int8 >= 2.5x the texts/s of torch eager fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEQ = 64
BATCHES = (1, 32)
N_TOPICS = 8


def build(work: Path) -> None:
    """Random ParsBERT-base-shaped FeedbackNet → safetensors + fused ONNX fp32 + dynamic int8."""
    import torch
    from safetensors.torch import save_model
    from transformers import BertConfig

    from models.transformer.export import export_onnx, quantize_int8
    from models.transformer.network import FeedbackNet

    config = BertConfig(vocab_size=100_000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=512)
    torch.manual_seed(0)
    net = FeedbackNet.from_config(config, N_TOPICS).eval()
    config.save_pretrained(str(work))
    save_model(net, str(work / "model.safetensors"))
    export_onnx(net, config, work)
    quantize_int8(work)


def inputs(batch: int):
    import numpy as np

    rng = np.random.default_rng(batch)
    ids = rng.integers(1000, 100_000, size=(batch, SEQ), dtype=np.int64)
    ids[:, 0], ids[:, -1] = 2, 4  # [CLS] ... [SEP] like a real encoding
    return ids, np.ones_like(ids)


def load_runner(runtime: str, work: Path, threads: int):
    if runtime == "torch-fp32":
        import torch

        from models.transformer.runtime import TorchRunner

        torch.set_num_threads(threads)
        return TorchRunner(work, N_TOPICS)
    from models.transformer.runtime import OnnxRunner

    return OnnxRunner(work / ("model.int8.onnx" if runtime == "onnx-int8" else "model.onnx"), threads=threads)


def peak_rss_mib() -> float:
    # VmHWM is this process's own peak (ru_maxrss survives exec and would report the parent's export peak).
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(runtime: str, work: Path, threads: int) -> None:
    """Child process: load one runtime, then answer "BATCH SECONDS" lines with one JSON line each."""
    runner = load_runner(runtime, work, threads)
    for batch in BATCHES:
        runner.run(*inputs(batch))  # warm-up (allocations, kernel selection)
    print(json.dumps({"ready": True, "torch_imported": "torch" in sys.modules}), flush=True)
    for line in sys.stdin:
        batch, seconds = int(line.split()[0]), float(line.split()[1])
        ids, mask = inputs(batch)
        n, start = 0, time.perf_counter()
        while True:
            runner.run(ids, mask)
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        print(json.dumps({"texts_per_s": n * batch / elapsed, "peak_rss_mib": peak_rss_mib()}), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median is reported)")
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per runtime, batch size and round")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--worker", nargs=2, metavar=("RUNTIME", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), args.threads)
        return 0

    runtimes = ("torch-fp32", "onnx-fp32", "onnx-int8")
    files = {"torch-fp32": "model.safetensors", "onnx-fp32": "model.onnx", "onnx-int8": "model.int8.onnx"}
    with tempfile.TemporaryDirectory(prefix="bazkhord-bench-tf-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        build(work)
        sizes = {rt: (work / f).stat().st_size / 2**20 for rt, f in files.items()}
        print(f"ParsBERT-base shapes (12 layers, hidden 768, vocab 100k, random weights) + heads, {SEQ}-token "
              f"inputs, {args.threads} threads; export + quantization {time.perf_counter() - t0:.0f} s")
        procs, info = {}, {}
        for rt in runtimes:  # one at a time, so that each loads without the others' load spikes
            procs[rt] = subprocess.Popen(
                [sys.executable, __file__, "--worker", rt, str(work), "--threads", str(args.threads)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
            )
            info[rt] = json.loads(procs[rt].stdout.readline())
        # Interleaved rounds: a shared, busy machine changes speed over time; every runtime sees
        # every period, and the median of the per-round ratios is what is reported.
        tps: dict[str, dict[int, list[float]]] = {rt: {b: [] for b in BATCHES} for rt in runtimes}
        rss = {}
        try:
            for _ in range(args.rounds):
                for batch in BATCHES:
                    for rt in runtimes:
                        procs[rt].stdin.write(f"{batch} {args.seconds}\n")
                        procs[rt].stdin.flush()
                        reply = json.loads(procs[rt].stdout.readline())
                        tps[rt][batch].append(reply["texts_per_s"])
                        rss[rt] = reply["peak_rss_mib"]
        finally:
            for p in procs.values():
                p.stdin.close()
                p.wait(timeout=60)

    def median(xs: list[float]) -> float:
        return statistics.median(xs)

    print()
    print("| runtime | batch 1 texts/s | batch 32 texts/s | x torch b1 | x torch b32 | weights MiB | peak RSS MiB | torch loaded |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = {}
    for rt in runtimes:
        ratios[rt] = {b: median([x / t for x, t in zip(tps[rt][b], tps["torch-fp32"][b], strict=True)]) for b in BATCHES}
        print(f"| {rt} | {median(tps[rt][1]):.1f} | {median(tps[rt][32]):.1f} | {ratios[rt][1]:.2f} | "
              f"{ratios[rt][32]:.2f} | {sizes[rt]:.0f} | {rss[rt]:.0f} | {'yes' if info[rt]['torch_imported'] else 'no'} |")
    worst = min(ratios["onnx-int8"].values())
    print()
    print(f"median of {args.rounds} interleaved rounds of {args.seconds:g} s; ratios are per-round texts/s over torch's")
    print(f"ONNX int8 / torch eager fp32, worst of batch 1 and 32: {worst:.2f}x (target >= 2.5x: "
          f"{'met' if worst >= 2.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
