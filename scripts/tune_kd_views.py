"""Choose the distillation views of the data suite's from-scratch families on validation data only.

    PYTHONPATH=. python scripts/tune_kd_views.py --data-root ../shared/data --out eval/results/data/kd_views_tuning.json
    PYTHONPATH=. python scripts/tune_kd_views.py --data-root ../shared/data --out eval/results/data/kd_views_by_keep.json \
        --datasets sst2,trec,subj --keeps 0.5,0.7,0.9

For every dataset x from-scratch family of ``python -m eval data``, 10% of the *training* rows (fixed seed) are held
out as validation; the test sets are never read. A teacher of the family is trained on the other 90%; random subsets
(keep 0.1 and 0.3 unless ``--keeps``, two seeds) train distilled students (alpha = default_alpha(keep)) under
each candidate view: none (plain distillation) or a view of some strength that the teacher labels on every batch
(:mod:`datapruner.training.views`). The JSON lists mean validation accuracy per candidate.
"""
from __future__ import annotations

import json
import time

import numpy as np

from datapruner._atomic import write_json
from datapruner.selection import select_indices
from datapruner.training.distill import default_alpha
from eval.suites import data as suite

CANDIDATES = {"fasttext": [None, ["ngram_dropout", 0.5], ["ngram_dropout", 0.8], ["ngram_dropout", 0.9],
                           ["ngram_dropout", 0.95]],
              "cnn": [None, ["random_shift", 1], ["random_shift", 2], ["random_shift", 3]]}
KEEPS = (0.1, 0.3)
SEEDS = (0, 1)


def main() -> None:
    args = suite.tuning_args(__doc__.splitlines()[0], lambda parser: suite.add_keeps_option(parser, KEEPS))
    runs = []
    for probe in suite.validation_tasks(args.data_root, args.datasets.split(","), list(CANDIDATES)):
        for seed in SEEDS:
            full_acc, teacher = suite._train_eval(probe, np.arange(probe.y_train.size), seed=seed)
            for keep in args.keeps:
                idx = select_indices(np.random.default_rng(seed).random(probe.y_train.size), keep=keep,
                                     strategy="hard", seed=seed)
                for views in CANDIDATES[probe.family]:
                    started = time.perf_counter()
                    acc, _ = suite._train_eval(probe, idx, seed=seed, teacher=teacher, alpha=default_alpha(keep),
                                               views=views or [])
                    runs.append({"dataset": probe.dataset, "family": probe.family, "views": views, "keep": keep,
                                 "seed": seed, "val_accuracy": acc, "teacher_val_accuracy": full_acc,
                                 "seconds": round(time.perf_counter() - started, 2)})
                    print(runs[-1], flush=True)
    means = suite.mean_accuracy(runs, lambda r: f"{r['dataset']}/{r['family']}/keep {r['keep']}",
                                lambda r: json.dumps(r["views"]))
    by_family = {}
    for family, candidates in CANDIDATES.items():
        rows = [d for k, d in means.items() if f"/{family}/" in k]
        if rows:
            by_family[family] = {json.dumps(c): float(np.mean([d[json.dumps(c)] for d in rows])) for c in candidates}
    options = suite.keeps_flag(args.keeps, KEEPS)
    write_json(args.out, {"command": suite.tuning_command("tune_kd_views.py", args, options),
                          "candidates": CANDIDATES, "keeps": args.keeps, "seeds": SEEDS, "summary": means,
                          "mean_val_accuracy_by_family": by_family, "runs": runs}, indent=1)
    print(json.dumps(means, indent=1), "\nmean by family:", json.dumps(by_family, indent=1))


if __name__ == "__main__":
    main()
