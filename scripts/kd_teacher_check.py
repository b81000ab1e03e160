"""fastText students on random subsets of SST-2 and TREC: no KD vs a fastText self-teacher vs a MiniLM-head teacher.

    PYTHONPATH=. python scripts/kd_teacher_check.py   # output: eval/results/data/kd_teacher_check.txt
"""
import argparse, numpy as np, torch, time
torch.set_num_threads(1)
from pathlib import Path
from eval.suites import data as D
from datapruner.selection import select_indices
from datapruner.training.distill import default_alpha
from datapruner.training.loop import predict_logits
args = argparse.Namespace(data_root=Path('../shared/data'), quick=False)
for name in ['sst2', 'trec']:
    tasks = {t.family: t for t in D.build_tasks(args, [name], ['minilm_linear', 'fasttext'])}
    ft, ml = tasks['fasttext'], tasks['minilm_linear']
    n = ft.y_train.size
    for seed in [0, 1]:
        acc_ml, teacher_ml = D._train_eval(ml, np.arange(n), seed=seed)
        acc_ft, teacher_ft = D._train_eval(ft, np.arange(n), seed=seed)
        lml, lft = predict_logits(teacher_ml, ml.x_train), predict_logits(teacher_ft, ft.x_train)
        scores = np.random.default_rng(seed).random(n)
        for keep in (0.1, 0.3):
            idx = select_indices(scores, keep=keep, strategy='hard', seed=seed)
            a = default_alpha(keep)
            no, _ = D._train_eval(ft, idx, seed=seed)
            selfkd, _ = D._train_eval(ft, idx, seed=seed, teacher_logits=lft, alpha=a)
            crosskd, _ = D._train_eval(ft, idx, seed=seed, teacher_logits=lml, alpha=a)
            print(name, seed, keep, f'full ft {acc_ft:.3f} ml {acc_ml:.3f} | noKD {no:.3f} selfKD {selfkd:.3f} minilmKD {crosskd:.3f}', flush=True)
