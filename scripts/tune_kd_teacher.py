"""Check the teacher side of the data suite's distillation on validation data only: temperature, teacher width, weight.

    PYTHONPATH=. python scripts/tune_kd_teacher.py --data-root ../shared/data --out eval/results/data/kd_temperature_tuning.json
    PYTHONPATH=. python scripts/tune_kd_teacher.py --data-root ../shared/data --out eval/results/data/kd_teacher_width_check.json \
        --datasets sst2,trec,subj --families fasttext --temperatures 2 --teacher-dims 16,64,128
    PYTHONPATH=. python scripts/tune_kd_teacher.py --data-root ../shared/data --out eval/results/data/kd_alpha_tuning.json \
        --temperatures 2 --alphas 0.5,0.75,0.9,0.95,1

For every dataset x family of ``python -m eval data``, 10% of the *training* rows (fixed seed) are held out as
validation; the test sets are never read. Teachers are trained on the other 90%; random subsets (keep 0.1 and 0.3, two
seeds, unless ``--keeps``) train distilled students (the family's network, views, schedule and, for fastText,
word-substitution copies) for each candidate: a temperature; for fastText optionally a teacher embedding width other
than the student's (the seed paper reports that at small kept fractions a teacher smaller than the student can help
and a larger one can hurt); and a distillation weight, ``default_alpha(keep)`` plus any ``--alphas``.
The JSON lists mean validation accuracy per candidate, per cell and per family.

The two older records (temperature, width) were made before the suite's word-substitution copies, which this script
now gives fastText students at keep <= 0.3 as the suite does; rerun, their fastText figures would change.
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

TEMPERATURES = (1.0, 2.0, 4.0)
KEEPS = (0.1, 0.3)
SEEDS = (0, 1)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--families", default=",".join(suite.FAMILIES), help="comma-separated families")
    parser.add_argument("--temperatures", type=suite.comma_separated(float), default=TEMPERATURES,
                        help="comma-separated distillation temperatures")
    parser.add_argument("--teacher-dims", type=suite.comma_separated(int), default=(),
                        help="comma-separated fastText teacher embedding widths (default: the student's only)")
    parser.add_argument("--alphas", type=suite.comma_separated(float), default=(),
                        help="comma-separated distillation weights probed besides default_alpha(keep)")
    suite.add_keeps_option(parser, KEEPS)


def _teacher_task(probe: suite.Task, dim: int | None) -> suite.Task:
    if dim is None:
        return probe
    return dataclasses.replace(probe, config={**probe.config, "network": {**probe.config["network"], "dim": dim}})


def main() -> None:
    args = suite.tuning_args(__doc__.splitlines()[0], _add_options)
    runs = []
    for probe in suite.validation_tasks(args.data_root, args.datasets.split(","), args.families.split(",")):
        dims = (args.teacher_dims or (None,)) if probe.family == "fasttext" else (None,)
        for seed in SEEDS:
            substitutes = suite.substituted_ids(probe, seed)
            for dim in dims:
                full_acc, teacher = suite._train_eval(_teacher_task(probe, dim), np.arange(probe.y_train.size),
                                                      seed=seed)
                for keep in args.keeps:
                    idx = select_indices(np.random.default_rng(seed).random(probe.y_train.size), keep=keep,
                                         strategy="hard", seed=seed)
                    for temperature in args.temperatures:
                        for alpha in (None, *args.alphas):
                            started = time.perf_counter()
                            acc, _ = suite._train_eval(probe, idx, seed=seed, teacher=teacher,
                                                       alpha=default_alpha(keep) if alpha is None else alpha,
                                                       temperature=temperature, substitutes=substitutes)
                            runs.append({"dataset": probe.dataset, "family": probe.family, "temperature": temperature,
                                         "teacher_dim": dim, "alpha": alpha, "keep": keep, "seed": seed,
                                         "val_accuracy": acc, "teacher_val_accuracy": full_acc,
                                         "seconds": round(time.perf_counter() - started, 2)})
                            print(runs[-1], flush=True)

    def candidate(r: dict) -> str:
        return (f"T={r['temperature']:g}" + ("" if r["teacher_dim"] is None else f", teacher dim {r['teacher_dim']}")
                + ("" if not args.alphas else ", alpha " + ("default" if r["alpha"] is None else f"{r['alpha']:g}")))

    means = suite.mean_accuracy(runs, lambda r: f"{r['dataset']}/{r['family']}/keep {r['keep']}", candidate)
    by_family: dict[str, dict[str, float]] = {}
    for family in args.families.split(","):
        rows = [d for k, d in means.items() if f"/{family}/" in k]
        if rows:
            by_family[family] = {c: float(np.mean([d[c] for d in rows])) for c in rows[0]}
    defaults = (("--families", args.families, ",".join(suite.FAMILIES)),
                ("--temperatures", ",".join(f"{t:g}" for t in args.temperatures),
                 ",".join(f"{t:g}" for t in TEMPERATURES)),
                ("--teacher-dims", ",".join(map(str, args.teacher_dims)), ""),
                ("--alphas", ",".join(f"{a:g}" for a in args.alphas), ""))
    options = "".join(f" {flag} {value}" for flag, value, default in defaults if value != default)
    options += suite.keeps_flag(args.keeps, KEEPS)
    write_json(args.out, {"command": suite.tuning_command("tune_kd_teacher.py", args, options),
                          "suite_temperature": suite.TEMPERATURE,
                          "student_network": suite.FAMILIES["fasttext"]["network"],
                          "keeps": args.keeps, "seeds": SEEDS, "summary": means, "mean_val_accuracy_by_family": by_family,
                          "runs": runs}, indent=1)
    print(json.dumps(means, indent=1), "\nmean by family:", json.dumps(by_family, indent=1))


if __name__ == "__main__":
    main()
