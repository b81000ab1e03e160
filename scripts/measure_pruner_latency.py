"""Time ``ContextPruner.prune`` per question with 5 passages on one device, and check it keeps the same
sentences as a float32 CPU reference.

Questions come from SQuAD v1.1 dev: the gold paragraph plus 4 other paragraphs of the same article (the first
``--questions`` answerable questions of a seeded shuffle). For a lent GPU, where ``python -m eval context`` (CPU
timings, sentence-transformers baselines) does not run.

    python scripts/measure_pruner_latency.py --data-root ../shared/data --device cuda [--model CHECKPOINT]
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import statistics
import time
from pathlib import Path

import torch

from ragprune import ContextPruner


def squad_questions(data_root: Path, n: int, seed: int) -> list[tuple[str, list[str]]]:
    with gzip.open(data_root / "squad" / "squad_v1.1_dev.json.gz", "rt", encoding="utf-8") as f:
        articles = json.load(f)["data"]
    rng = random.Random(seed)
    items = []
    for art in articles:
        paragraphs = [p["context"] for p in art["paragraphs"]]
        for pi, p in enumerate(art["paragraphs"]):
            for q in p["qas"]:
                others = [c for k, c in enumerate(paragraphs) if k != pi]
                if len(others) >= 4:
                    items.append((q["question"], [p["context"], *rng.sample(others, 4)]))
    rng.shuffle(items)
    return items[:n]


def run(pruner: ContextPruner, questions: list, device: str) -> tuple[list[float], list[list[list[int]]]]:
    times, kept = [], []
    for k, (question, contexts) in enumerate(questions):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        results = pruner.prune(question, contexts)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if k >= 3:  # warm-up
            times.append(1000 * (time.perf_counter() - t0))
        kept.append([r.kept for r in results])
    return times, kept


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    p.add_argument("--model", default=None, help="checkpoint folder (default: the shipped one)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--questions", type=int, default=100)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the reference run too)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    questions = squad_questions(args.data_root, args.questions + 3, args.seed)
    fast = ContextPruner(args.model, device=args.device)
    times, kept = run(fast, questions, args.device)
    reference = ContextPruner(args.model, device="cpu", precision="float32")
    ref_times, ref_kept = run(reference, questions, "cpu")
    pairs = [(a, b) for q, r in zip(kept, ref_kept) for a, b in zip(q, r)]
    same_passages = sum(a == b for a, b in pairs) / len(pairs)
    report = {"device": args.device, "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
              "precision": fast.active_precision, "questions": len(times), "passages_per_question": 5,
              "p50_ms": statistics.median(times), "p95_ms": sorted(times)[int(0.95 * (len(times) - 1))],
              "cpu_float32_p50_ms": statistics.median(ref_times), "cpu_threads": args.threads,
              "passages_with_the_same_kept_sentences_as_cpu_float32": same_passages}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
