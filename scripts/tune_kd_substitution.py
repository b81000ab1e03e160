"""Choose the word-substitution copies of distilled fastText students on validation data only.

    PYTHONPATH=. python scripts/tune_kd_substitution.py --data-root ../shared/data --out eval/results/data/kd_substitution_tuning.json
    PYTHONPATH=. python scripts/tune_kd_substitution.py --data-root ../shared/data --out eval/results/data/kd_substitution_by_keep.json \\
        --keeps 0.5,0.7

For SST-2, TREC and SUBJ, 10% of the *training* rows (fixed seed) are held out as validation; the test sets are
never read. A fastText teacher is trained on the other 90%; random subsets (keep 0.1 and 0.3 unless ``--keeps``, two
seeds) train distilled students (alpha = default_alpha(keep), the suite's views and schedule) on the kept rows
alone or on the kept rows plus word-substitution copies (:mod:`datapruner.training.substitution`) in the same
number of optimisation steps. The JSON lists mean validation accuracy per candidate.
"""
from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from datapruner._atomic import write_json
from datapruner.selection import select_indices
from datapruner.training.distill import default_alpha
from eval.suites import data as suite

#: None: the kept rows alone; else copies per row, share of words swapped, neighbours drawn from.
CANDIDATES = [None, {"copies": 8, "rate": 0.3, "top_k": 5}, {"copies": 16, "rate": 0.5, "top_k": 10},
              {"copies": 32, "rate": 0.5, "top_k": 10}, {"copies": 32, "rate": 0.7, "top_k": 10}]
KEEPS = (0.1, 0.3)
SEEDS = (0, 1)


def _variant(task: suite.Task, candidate: dict | None) -> suite.Task:
    config = {k: v for k, v in task.config.items() if k != "substitution"}
    if candidate is None:
        return dataclasses.replace(task, config=config, neighbours=None)
    config["substitution"] = {**candidate, "max_keep": 1.0}  # probe every keep asked for
    return dataclasses.replace(task, config=config, neighbours=suite._neighbours(candidate["top_k"]))


def main() -> None:
    args = suite.tuning_args(__doc__.splitlines()[0], lambda parser: suite.add_keeps_option(parser, KEEPS))
    datasets = [d for d in args.datasets.split(",") if "fasttext" in suite.DATASETS[d]["families"]]
    runs = []
    for probe in suite.validation_tasks(args.data_root, datasets, ["fasttext"]):
        for seed in SEEDS:
            full_acc, teacher = suite._train_eval(probe, np.arange(probe.y_train.size), seed=seed)
            for candidate in CANDIDATES:
                task = _variant(probe, candidate)
                substitutes = suite.substituted_ids(task, seed)
                for keep in args.keeps:
                    idx = select_indices(np.random.default_rng(seed).random(probe.y_train.size), keep=keep,
                                         strategy="hard", seed=seed)
                    started = time.perf_counter()
                    acc, _ = suite._train_eval(task, idx, seed=seed, teacher=teacher, alpha=default_alpha(keep),
                                               substitutes=substitutes)
                    runs.append({"dataset": probe.dataset, "family": probe.family, "substitution": candidate,
                                 "keep": keep, "seed": seed, "val_accuracy": acc, "teacher_val_accuracy": full_acc,
                                 "seconds": round(time.perf_counter() - started, 2)})
                    print(runs[-1], flush=True)
    means = suite.mean_accuracy(runs, lambda r: f"{r['dataset']}/{r['family']}/keep {r['keep']}",
                                lambda r: json.dumps(r["substitution"]))
    by_candidate = {json.dumps(c): float(np.mean([d[json.dumps(c)] for d in means.values()])) for c in CANDIDATES}
    options = suite.keeps_flag(args.keeps, KEEPS)
    write_json(args.out, {"command": suite.tuning_command("tune_kd_substitution.py", args, options),
                          "candidates": CANDIDATES, "keeps": args.keeps, "seeds": SEEDS, "summary": means,
                          "mean_val_accuracy_by_candidate": by_candidate, "runs": runs}, indent=1)
    print(json.dumps(means, indent=1), "\nmean by candidate:", json.dumps(by_candidate, indent=1))


if __name__ == "__main__":
    main()
