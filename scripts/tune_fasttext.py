"""Choose the fastText family's training options of ``python -m eval data`` on validation data only.

    PYTHONPATH=. python scripts/tune_fasttext.py --data-root ../shared/data --out eval/results/data/fasttext_tuning.json

For SST-2, TREC and SUBJ, 10% of each *training* set (fixed seed) is held out as validation; the test sets are
never read for this. Every grid point trains one full-data fastText model (seed 0, one torch thread); the
option set with the best mean validation accuracy over the three datasets becomes ``FAMILIES["fasttext"]``.
"""
from __future__ import annotations

import itertools
import json
import time

import numpy as np

from datapruner.models import HashingTokenizer, build_model
from datapruner.training.loop import fit_classifier, predict_logits
from eval.suites import data as suite

GRID = {"learning_rate": [3e-3, 1e-2, 3e-2], "epochs": [5, 10], "dropout": [0.0, 0.5]}


def main() -> None:
    args = suite.tuning_args(__doc__.splitlines()[0])
    network = suite.FAMILIES["fasttext"]["network"]
    tok = HashingTokenizer(n_buckets=network["n_buckets"])
    runs = []
    for name in [d for d in args.datasets.split(",") if suite.DATASETS[d]["kind"] == "text"]:
        split = suite.load_text_dataset(name, args.data_root, quick=False)
        x, y = tok.encode(split.train_texts), split.train_labels
        perm = np.random.default_rng(777).permutation(y.size)
        val, train = perm[: y.size // 10], perm[y.size // 10:]
        for lr, epochs, dropout in itertools.product(*GRID.values()):
            started = time.perf_counter()
            model = build_model("fasttext", n_classes=int(y.max()) + 1, seed=0, n_buckets=network["n_buckets"],
                                dim=network["dim"], dropout=dropout)
            fit_classifier(model, x[train], y[train], epochs=epochs, batch_size=64, learning_rate=lr, seed=0,
                           show_progress_bar=False)
            acc = float((predict_logits(model, x[val]).argmax(1) == y[val]).mean())
            runs.append({"dataset": name, "learning_rate": lr, "epochs": epochs, "dropout": dropout,
                         "val_accuracy": acc, "seconds": round(time.perf_counter() - started, 2)})
            print(runs[-1], flush=True)
    means: dict[tuple, list[float]] = {}
    for r in runs:
        means.setdefault((r["learning_rate"], r["epochs"], r["dropout"]), []).append(r["val_accuracy"])
    ranking = sorted(({"learning_rate": k[0], "epochs": k[1], "dropout": k[2], "mean_val_accuracy": float(np.mean(v))}
                      for k, v in means.items()), key=lambda r: -r["mean_val_accuracy"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": "PYTHONPATH=. python scripts/tune_fasttext.py --data-root "
                                               f"{args.data_root} --out {args.out}",
                                    "grid": GRID, "network": network, "ranking": ranking, "runs": runs}, indent=1))
    print("best:", ranking[0])


if __name__ == "__main__":
    main()
