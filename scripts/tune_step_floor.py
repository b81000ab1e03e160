"""Choose ``min_step_share`` of the data suite's families (how many optimisation steps a subset gets, as a share of
full-data training) on validation data only.

    PYTHONPATH=. python scripts/tune_step_floor.py --data-root ../shared/data --out eval/results/data/step_floor_tuning.json

For every dataset x family of ``python -m eval data``, 10% of the *training* rows (fixed seed) are held out as
validation; the test sets are never read. Random subsets (keep 0.1 and 0.3, two seeds) of the remaining rows
train students without distillation under each candidate share; the JSON lists mean validation accuracy per share.
"""
from __future__ import annotations

import dataclasses
import json
import time

import numpy as np

from datapruner._atomic import write_json
from datapruner.selection import select_indices
from eval.suites import data as suite

SHARES = (0.0, 0.25, 0.5, 1.0)
KEEPS = (0.1, 0.3)
SEEDS = (0, 1)


def main() -> None:
    args = suite.tuning_args(__doc__.splitlines()[0])
    runs = []
    families = [f for f in suite.FAMILIES if f != "minilm_linear"]
    for base in suite.validation_tasks(args.data_root, args.datasets.split(","), families):
        n_train = base.y_train.size
        for share in SHARES:
            config = {**base.config, "min_step_share": share}
            probe = dataclasses.replace(base, config=config)
            for keep in KEEPS:
                for seed in SEEDS:
                    idx = select_indices(np.random.default_rng(seed).random(n_train), keep=keep, strategy="hard",
                                         seed=seed)
                    started = time.perf_counter()
                    acc, _ = suite._train_eval(probe, idx, seed=seed)
                    runs.append({"dataset": base.dataset, "family": base.family, "share": share, "keep": keep,
                                 "seed": seed, "epochs": suite.subset_epochs(config, idx.size, n_train),
                                 "val_accuracy": acc, "seconds": round(time.perf_counter() - started, 2)})
                    print(runs[-1], flush=True)
    summary = suite.mean_accuracy(runs, lambda r: f"{r['dataset']}/{r['family']}/keep {r['keep']}",
                                  lambda r: str(r["share"]))
    mean_by_share = {str(s): float(np.mean([d[str(s)] for d in summary.values()])) for s in SHARES}
    write_json(args.out, {"command": "PYTHONPATH=. python scripts/tune_step_floor.py --data-root "
                                     f"{args.data_root} --out {args.out}",
                          "shares": SHARES, "keeps": KEEPS, "seeds": SEEDS, "summary": summary,
                          "mean_val_accuracy_by_share": mean_by_share, "runs": runs}, indent=1)
    print(json.dumps(summary, indent=1), "\nmean by share:", mean_by_share)


if __name__ == "__main__":
    main()
