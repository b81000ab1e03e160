"""Choose how many optimisation steps distilled fastText students get ("patience") on validation data only.

    PYTHONPATH=. python scripts/tune_kd_steps.py --data-root ../shared/data --out eval/results/data/kd_steps_tuning.json

For SST-2, TREC and SUBJ, 10% of the *training* rows (fixed seed) are held out as validation; the test sets are never
read. Random subsets (keep 0.1 and 0.3, two seeds) train fastText students for ``share`` x the optimisation steps of
full-data training, with distillation on views (the family's views) and, as a control, without distillation: if
more steps helped the students without a teacher as much, the gain would be the schedule's, not the teacher's.
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

SHARES = (1.0, 2.0, 4.0)
KEEPS = (0.1, 0.3)
SEEDS = (0, 1)


def main() -> None:
    args = suite.tuning_args(__doc__.splitlines()[0])
    runs = []
    for base in suite.validation_tasks(args.data_root, args.datasets.split(","), ["fasttext"]):
        n_train = base.y_train.size
        for seed in SEEDS:
            _, teacher = suite._train_eval(base, np.arange(n_train), seed=seed)
            for keep in KEEPS:
                idx = select_indices(np.random.default_rng(seed).random(n_train), keep=keep, strategy="hard",
                                     seed=seed)
                for share in SHARES:
                    probe = dataclasses.replace(base, config={**base.config, "min_step_share": share,
                                                             "kd_step_share": share})
                    for distill in (True, False):
                        started = time.perf_counter()
                        acc, _ = suite._train_eval(probe, idx, seed=seed, teacher=teacher if distill else None,
                                                   alpha=default_alpha(keep) if distill else 0.0)
                        runs.append({"dataset": base.dataset, "share": share, "distill": distill, "keep": keep,
                                     "seed": seed, "val_accuracy": acc,
                                     "seconds": round(time.perf_counter() - started, 2)})
                        print(runs[-1], flush=True)
    means = suite.mean_accuracy(
        runs, lambda r: f"{r['dataset']}/keep {r['keep']}/{'KD on views' if r['distill'] else 'no KD'}",
        lambda r: str(r["share"]))
    by_share = {kind: {str(s): float(np.mean([d[str(s)] for k, d in means.items() if k.endswith(kind)]))
                       for s in SHARES} for kind in ("KD on views", "no KD")}
    write_json(args.out, {"command": "PYTHONPATH=. python scripts/tune_kd_steps.py --data-root "
                                     f"{args.data_root} --out {args.out}" + (
                                         f" --datasets {args.datasets}" if args.datasets != ",".join(suite.DATASETS)
                                         else ""),
                          "shares": SHARES, "keeps": KEEPS, "seeds": SEEDS, "summary": means,
                          "mean_val_accuracy_by_share": by_share, "runs": runs}, indent=1)
    print(json.dumps(means, indent=1), "\nmean by share:", json.dumps(by_share, indent=1))


if __name__ == "__main__":
    main()
