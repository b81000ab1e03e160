"""Choose how many optimisation steps distilled fastText students get ("patience") on validation data only.

    PYTHONPATH=. python scripts/tune_kd_steps.py --data-root ../shared/data --out eval/results/data/kd_steps_tuning.json

For SST-2, TREC and SUBJ, 10% of the *training* rows (fixed seed) are held out as validation; the test sets are never
read. Random subsets (keep 0.1 and 0.3 unless ``--keeps``; two seeds) train fastText students for ``share`` x the
optimisation steps of full-data training, with distillation on views (the family's views) and, as a control, without
distillation (``--no-control`` skips it): if more steps helped the students without a teacher as much, the gain would
be the schedule's, not the teacher's.
"""
from __future__ import annotations

import argparse
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


def _add_options(parser: argparse.ArgumentParser) -> None:
    suite.add_keeps_option(parser, KEEPS)
    parser.add_argument("--shares", type=suite.comma_separated(float), default=SHARES,
                        help="comma-separated step shares")
    parser.add_argument("--no-control", dest="control", action="store_false",
                        help="skip the students without distillation")
    parser.add_argument("--kd-batch-size", type=int, default=None, help="batch size of the distilled students")
    parser.add_argument("--kd-learning-rate", type=float, default=None, help="learning rate of the distilled students")


def main() -> None:
    args = suite.tuning_args(__doc__.splitlines()[0], _add_options)
    kd_train = {k: v for k, v in (("batch_size", args.kd_batch_size), ("learning_rate", args.kd_learning_rate))
                if v is not None}
    runs = []
    for base in suite.validation_tasks(args.data_root, args.datasets.split(","), ["fasttext"]):
        n_train = base.y_train.size
        for seed in SEEDS:
            _, teacher = suite._train_eval(base, np.arange(n_train), seed=seed)
            for keep in args.keeps:
                idx = select_indices(np.random.default_rng(seed).random(n_train), keep=keep, strategy="hard",
                                     seed=seed)
                for share in args.shares:
                    probe = dataclasses.replace(base, config={**base.config, "min_step_share": share,
                                                             "kd_step_share": share, "kd_train": kd_train})
                    for distill in (True, False) if args.control else (True,):
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
    kinds = ("KD on views", "no KD") if args.control else ("KD on views",)
    by_share = {kind: {str(s): float(np.mean([d[str(s)] for k, d in means.items() if k.endswith(kind)]))
                       for s in args.shares} for kind in kinds}
    options = "".join(f" --{name} {','.join(map(str, value))}" for name, value, default in
                      (("keeps", args.keeps, KEEPS), ("shares", args.shares, SHARES)) if value != default)
    options += "".join(f" --kd-{key.replace('_', '-')} {value}" for key, value in kd_train.items())
    options += "" if args.control else " --no-control"
    write_json(args.out, {"command": suite.tuning_command("tune_kd_steps.py", args, options),
                          "shares": args.shares, "keeps": args.keeps, "seeds": SEEDS, "kd_train": kd_train, "summary": means,
                          "mean_val_accuracy_by_share": by_share, "runs": runs}, indent=1)
    print(json.dumps(means, indent=1), "\nmean by share:", json.dumps(by_share, indent=1))


if __name__ == "__main__":
    main()
