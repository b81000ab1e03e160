"""Check n-gram coverage selection against random subsets for fastText students, on validation data only.

    PYTHONPATH=. python scripts/tune_coverage.py --data-root ../shared/data --out eval/results/data/coverage_tuning.json

For SST-2, TREC and SUBJ, 10% of the *training* rows (fixed seed) are held out as validation; the test sets are
never read. A fastText teacher is trained on the other 90%; subsets of keep 0.1 and 0.3 (two seeds) chosen by each
candidate train fastText students with distillation on views (alpha = default_alpha(keep), as in the suite) and
without it. Candidates: random, class-balanced random, and the ``ngram_coverage`` scorer over all rows or per class.
The JSON lists mean validation accuracy per candidate, with and without distillation.
"""
from __future__ import annotations

import time

import numpy as np

from datapruner._atomic import write_json
from datapruner.scorers import get_scorer
from datapruner.selection import select_indices
from datapruner.training.distill import default_alpha
from eval.suites import data as suite

#: candidate -> (scorer, its parameters, selection strategy)
CANDIDATES = {"random": ("random", {}, "hard"), "balanced": ("random", {}, "balanced"),
              "ngram_coverage": ("ngram_coverage", {"per_class": False}, "hard"),
              "ngram_coverage_per_class": ("ngram_coverage", {"per_class": True}, "hard")}
KEEPS = (0.1, 0.3)
SEEDS = (0, 1)


def main() -> None:
    args = suite.tuning_args(__doc__.splitlines()[0])
    datasets = [d for d in args.datasets.split(",") if suite.DATASETS[d]["kind"] == "text"]
    runs = []
    for probe in suite.validation_tasks(args.data_root, datasets, ["fasttext"]):
        n = probe.y_train.size
        for seed in SEEDS:
            full_acc, teacher = suite._train_eval(probe, np.arange(n), seed=seed)
            for name, (scorer_name, params, strategy) in CANDIDATES.items():
                scorer = get_scorer(scorer_name, seed=seed, **params)
                started = time.perf_counter()
                scores = scorer.score(probe.scorer_data, text_column="text", label_column="label")
                score_s = time.perf_counter() - started
                for keep in KEEPS:
                    idx = select_indices(scores, keep=keep, strategy=strategy, labels=probe.y_train,
                                         higher_is_harder=scorer.higher_is_harder, seed=seed)
                    for distill in (False, True):
                        started = time.perf_counter()
                        acc, _ = suite._train_eval(probe, idx, seed=seed, teacher=teacher if distill else None,
                                                   alpha=default_alpha(keep) if distill else 0.0)
                        runs.append({"dataset": probe.dataset, "candidate": name, "keep": keep, "distill": distill,
                                     "seed": seed, "val_accuracy": acc, "teacher_val_accuracy": full_acc,
                                     "score_seconds": round(score_s, 2),
                                     "seconds": round(time.perf_counter() - started, 2)})
                        print(runs[-1], flush=True)
    summary = {}
    for distill in (False, True):
        label = "kd" if distill else "no_kd"
        part = [r for r in runs if r["distill"] == distill]
        summary[label] = suite.mean_accuracy(part, lambda r: f"{r['dataset']}/keep {r['keep']}",
                                             lambda r: r["candidate"])
        summary[label].update(suite.mean_accuracy(part, lambda r: "mean", lambda r: r["candidate"]))
    write_json(args.out, {"command": "PYTHONPATH=. python scripts/tune_coverage.py --data-root "
                                     f"{args.data_root} --out {args.out}",
                          "candidates": CANDIDATES, "keeps": KEEPS, "seeds": SEEDS, "summary": summary,
                          "runs": runs}, indent=1)
    for label, table in summary.items():
        print(label, table)


if __name__ == "__main__":
    main()
