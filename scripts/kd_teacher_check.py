"""fastText students on random subsets of SST-2 and TREC: no KD vs a fastText self-teacher vs a MiniLM-head teacher.

    PYTHONPATH=. python scripts/kd_teacher_check.py --data-root ../shared/data

Checks whether the from-scratch family's gap to full data in ``python -m eval data`` comes from the teacher: the
MiniLM-head teacher has pretrained features and does not memorise its training rows as the fastText teacher does.
Output of one run: ``eval/results/data/kd_teacher_check.txt``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from datapruner.selection import select_indices
from datapruner.training.distill import default_alpha
from datapruner.training.loop import predict_logits
from eval.suites import data as suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    args = argparse.Namespace(data_root=parser.parse_args().data_root, quick=False)
    torch.set_num_threads(1)
    for name in ("sst2", "trec"):
        tasks = {t.family: t for t in suite.build_tasks(args, [name], ["minilm_linear", "fasttext"])}
        fasttext, minilm = tasks["fasttext"], tasks["minilm_linear"]
        n = fasttext.y_train.size
        for seed in (0, 1):
            acc_minilm, teacher_minilm = suite._train_eval(minilm, np.arange(n), seed=seed)
            acc_fasttext, teacher_fasttext = suite._train_eval(fasttext, np.arange(n), seed=seed)
            logits_minilm = predict_logits(teacher_minilm, minilm.x_train)
            logits_fasttext = predict_logits(teacher_fasttext, fasttext.x_train)
            scores = np.random.default_rng(seed).random(n)
            for keep in (0.1, 0.3):
                idx = select_indices(scores, keep=keep, strategy="hard", seed=seed)
                alpha = default_alpha(keep)
                no_kd, _ = suite._train_eval(fasttext, idx, seed=seed)
                self_kd, _ = suite._train_eval(fasttext, idx, seed=seed, teacher_logits=logits_fasttext, alpha=alpha)
                minilm_kd, _ = suite._train_eval(fasttext, idx, seed=seed, teacher_logits=logits_minilm, alpha=alpha)
                print(f"{name} {seed} {keep} full ft {acc_fasttext:.3f} ml {acc_minilm:.3f} | noKD {no_kd:.3f} "
                      f"selfKD {self_kd:.3f} minilmKD {minilm_kd:.3f}", flush=True)


if __name__ == "__main__":
    main()
