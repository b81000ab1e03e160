"""Does a relative sentence rule beat the ContextPruner's global threshold?

    PYTHONPATH=. python scripts/sentence_rule_check.py --data-root ../shared/data --out eval/results/context/sentence_rule_check.md

Scores every question of the held-out pools once (all held-out SQuAD questions, all held-out NQ questions,
HotpotQA dev first 53; 5 passages each, built as in ``python -m eval context``), then compares, as compression
vs recall curves over the threshold ``t``:

- ``global``: keep a sentence when its score >= t (the ``prune`` rule);
- ``question r``: also require score >= r x the best score among the question's 5 passages;
- ``passage r``: also require score >= r x the best score in its own passage.

A relative rule helps only if some (t, r) reaches higher recall at the same share of tokens removed than the
global curve does (read off the global curve by linear interpolation; a point beats it by more than 0.005 to
count). Nothing here is tuned or shipped; it is a check of where the remaining gap lies.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from datapruner._threads import torch_threads
from eval.context_data import heldout_split, load_hotpot, load_nq, load_squad
from eval.context_methods import evaluate, prepare
from eval.suites.context import _score_ours
from ragprune import ContextPruner

THRESHOLDS = (0.02, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3)
RULES = (("global", 0.0), ("question", 0.3), ("question", 0.5), ("passage", 0.3), ("passage", 0.5),
         ("passage", 0.7))
KEY = {"squad": "has_answer", "nq": "has_answer", "hotpot": "sf_recall"}


def select(scores: list[list[float]], t: float, scope: str, r: float) -> list[list[int]]:
    best_q = max((x for ps in scores for x in ps), default=0.0)
    out = []
    for ps in scores:
        floor = r * (best_q if scope == "question" else max(ps, default=0.0)) if scope != "global" else 0.0
        out.append([i for i, x in enumerate(ps) if x >= t and x >= floor])
    return out


def beats(curves: dict[tuple[str, float], list[tuple[float, float]]]) -> str:
    """Count the relative-rule points whose recall beats the global curve at the same share removed."""
    glob = sorted(curves[("global", 0.0)])
    xs, ys = [x for x, _ in glob], [y for _, y in glob]
    inside = above = 0
    for key, points in curves.items():
        if key[0] == "global":
            continue
        for x, y in points:
            if xs[0] <= x <= xs[-1]:
                inside += 1
                above += int(y > float(np.interp(x, xs, ys)) + 0.005)
    return f"{above} of {inside} (points inside the global curve's range of compression)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    lines = [f"# {__doc__.splitlines()[0]}", "",
             f"Command: `PYTHONPATH=. python scripts/sentence_rule_check.py --data-root {args.data_root} --out {args.out}`",
             "", ("Cells: recall / share of tokens removed (recall: has-answer for SQuAD and NQ, supporting-fact "
                  "recall for HotpotQA)."), ""]
    with torch_threads(2):
        pruner = ContextPruner(None, batch_size=32)
        _, tokenizer, config = pruner._load()
        titles, nq_rule = heldout_split(config)
        rng = np.random.default_rng(0)
        sets = {"squad": load_squad(args.data_root, titles, limit=None, rng=rng),
                "nq": load_nq(args.data_root, nq_rule, limit=None, rng=rng),
                "hotpot": load_hotpot(args.data_root, limit=None, rng=rng)}
        for name, examples in sets.items():
            preps = prepare(examples, tokenizer)
            scores, _, _ = _score_ours(pruner, preps)
            lines += [f"## {name}: {len(preps)} questions x 5 passages", "",
                      "| rule | " + " | ".join(f"t={t:g}" for t in THRESHOLDS) + " |",
                      "|---|" + "---|" * len(THRESHOLDS)]
            curves = {}
            for scope, r in RULES:
                points = []
                for t in THRESHOLDS:
                    m = evaluate(preps, [select(s, t, scope, r) for s in scores])
                    points.append((m["tokens_removed"], m[KEY[name]]))
                curves[(scope, r)] = points
                label = scope if scope == "global" else f"{scope} r={r:g}"
                lines.append(f"| {label} | " + " | ".join(f"{y:.3f} / {x:.1%}" for x, y in points) + " |")
                print(lines[-1], flush=True)
            lines += ["", f"Points of a relative rule above the global curve: {beats(curves)}.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(args.out)


if __name__ == "__main__":
    main()
