"""``python -m eval data``: loaders, statistics, verdicts, and a tiny end-to-end run on the shipped fixtures."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from eval.errors import EvalError
from eval.report import render_markdown, save_results
from eval.suites import SUITES
from eval.suites import data as suite

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data_suite"


class HashEmbedder:
    """A tiny stand-in for MiniLM: a normalised bag of hashed words (no model, no download)."""

    identity = "test-hash-embedder-v1"

    def encode(self, texts):
        out = np.zeros((len(texts), 32), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 32] += 1.0
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def test_registered_and_loaders_read_latin1_and_idx():
    assert SUITES["data"] is suite
    texts, labels = suite.read_sentconv(FIXTURES / "text_classification_sentconv" / "subj.all.gz")
    assert len(texts) == len(labels) == 400 and set(labels.tolist()) == {0, 1}
    assert any(any(ord(c) > 127 for c in t) for t in texts)  # the Latin-1 line was decoded, not dropped
    images = suite.read_idx(FIXTURES / "mnist" / "t10k-images-idx3-ubyte.gz")
    labels = suite.read_idx(FIXTURES / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (400, 28, 28) and labels.shape == (400,) and labels.max() <= 9


def test_subj_split_is_fixed_and_disjoint():
    a = suite.load_text_dataset("subj", FIXTURES, quick=False)
    b = suite.load_text_dataset("subj", FIXTURES, quick=False)
    assert a.train_source[1].tolist() == b.train_source[1].tolist()
    assert not set(a.train_source[1]) & set(a.test_source[1])
    assert len(a.test_texts) == 40 and len(a.train_texts) == 360


def test_mean_ci_matches_student_t():
    scipy_stats = pytest.importorskip("scipy.stats")
    values = [1.0, 2.5, 0.5, 1.7]
    mean, lo, hi = suite.mean_ci(values)
    ref = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert mean == pytest.approx(np.mean(values)) and lo == pytest.approx(ref[0], abs=1e-3)
    assert hi == pytest.approx(ref[1], abs=1e-3)
    assert np.isnan(suite.mean_ci([1.0])[1])


def _synthetic(kd_bonus: float) -> dict:
    runs, sweep = [], []
    for seed in range(3):
        base = {"dataset": "toy", "family": "f", "seed": seed}
        runs.append({**base, "method": "full", "keep": 1.0, "distill": False, "accuracy": 0.90 + 0.001 * seed})
        runs.append({**base, "method": "full", "keep": 1.0, "distill": True, "accuracy": 0.905})
        for m, offset in (("random", 0.0), ("el2n_hard", -0.02)):
            for keep in (0.1, 0.3):
                acc = 0.8 + keep / 2 + offset + 0.002 * seed
                runs.append({**base, "method": m, "keep": keep, "distill": False, "accuracy": acc})
                runs.append({**base, "method": m, "keep": keep, "distill": True,
                             "accuracy": acc + kd_bonus + 0.001 * seed})
        for keep, best in ((0.1, 0.9), (0.3, 0.5)):
            for alpha in (0.5, 0.9):
                sweep.append({**base, "keep": keep, "alpha": alpha, "accuracy": 0.8 + (alpha == best) * 0.01})
    return {"toy/f": {"runs": runs, "alpha_sweep": sweep}}


def test_summarize_verdicts_follow_the_numbers():
    good = suite.summarize(_synthetic(0.03), keeps=(0.1, 0.3, 1.0), methods=["random", "el2n_hard"])
    claims = good["claims"]
    assert claims["kd_lifts_every_method"]["positive"] == claims["kd_lifts_every_method"]["cells"] == 4
    assert claims["kd_lifts_every_method"]["significant_positive"] == 4
    assert claims["random_with_kd"]["random_comparable"] == 2
    assert claims["best_alpha"] == [{"task": "toy/f", "best_alpha": {"0.1": 0.9, "0.3": 0.5}}]
    assert good["verdicts"][0].endswith("Holds here.") and good["verdicts"][2].endswith("Consistent with the claim here.")
    gain = [g for g in good["kd_gains"] if g["method"] == "random" and g["keep"] == 0.1][0]
    assert gain["gain"] == pytest.approx(3.1) and gain["ci95"][0] < 3.1 < gain["ci95"][1]
    goal = [g for g in good["goals"] if g["keep"] == 0.3][0]
    assert goal["best_method"] == "random" and goal["gap"] == pytest.approx(90.1 - (95.0 + 0.2 + 3.1), abs=1e-6)
    bad = suite.summarize(_synthetic(-0.03), keeps=(0.1, 0.3, 1.0), methods=["random", "el2n_hard"])
    assert bad["claims"]["kd_lifts_every_method"]["significant_negative"] == 4
    assert bad["verdicts"][0].endswith("Does not hold here.")


def test_bad_options_raise_eval_error():
    args = argparse.Namespace(datasets="sst2,imagenet", families="fasttext", methods="random", seeds=1, seed=0,
                              quick=True, data_root=FIXTURES)
    with pytest.raises(EvalError, match="--datasets"):
        suite.run(args)


@pytest.mark.slow  # measured 16 s at load ~9, 99-110 s at load 10-25 on the shared 2-core machine
def test_issue_4_quick_run_on_fixtures_writes_consistent_results(tmp_path, monkeypatch):
    # plumbing test: the real families, but trained briefly so the whole run takes seconds
    tiny = {name: {**fam, "train": {**fam["train"], "epochs": 2}, "min_steps": 25}
            for name, fam in suite.FAMILIES.items()}
    monkeypatch.setattr(suite, "FAMILIES", tiny)
    monkeypatch.setattr(suite, "QUICK_ALPHA_GRID", (0.5,))
    args = argparse.Namespace(datasets="trec,mnist", families="minilm_linear,fasttext,cnn",
                              methods="random,balanced,prototype,semdedup,ngram_coverage", seeds=1, seed=0,
                              quick=True, data_root=FIXTURES, output_dir=tmp_path, jobs=2)
    results = suite.run(args, embedder=HashEmbedder())  # two spawned workers get the patched family config
    assert {"config", "verdicts", "tables", "plots", "runs", "alpha_sweep", "kd_gains", "goals", "timings"} <= set(
        results)
    tasks = {(r["dataset"], r["family"]) for r in results["runs"]}
    assert tasks == {("trec", "minilm_linear"), ("trec", "fasttext"), ("mnist", "cnn")}
    for r in results["runs"]:
        assert 0.0 <= r["accuracy"] <= 1.0
        assert (r["alpha"] is None) == (not r["distill"])
    n_pruned = 2 * 2  # pruned fractions (0.1, 0.3) x {KD, no KD}
    assert len(results["runs"]) == 2 * (5 * n_pruned + 2) + (4 * n_pruned + 2)  # ngram_coverage: text tasks only
    assert not [r for r in results["runs"] if r["dataset"] == "mnist" and r["method"] == "ngram_coverage"]
    mnist_full = [r["accuracy"] for r in results["runs"] if r["dataset"] == "mnist" and r["method"] == "full"]
    assert min(mnist_full) > 0.2  # 200 training images, briefly trained: still well above chance (0.1)
    path = save_results(results, tmp_path)
    saved = json.loads(path.read_text())
    assert (tmp_path / "results.md").read_text() == render_markdown(saved)
    assert {p["file"] for p in results["plots"]} == {"trec_minilm_linear.png", "trec_fasttext.png", "mnist_cnn.png"}
    assert all((tmp_path / p["file"]).is_file() for p in results["plots"])

    # the same runs in one process, and a rerun resumes from the per-seed partial files without training
    sequential = suite.run(argparse.Namespace(**{**vars(args), "jobs": 1, "output_dir": tmp_path / "seq",
                                                 "datasets": "trec", "families": "minilm_linear"}),
                           embedder=HashEmbedder())
    in_pool = [r for r in results["runs"] if r["family"] == "minilm_linear"]
    assert sequential["runs"] == in_pool
    monkeypatch.setattr(suite, "run_seed", lambda *a, **k: pytest.fail("a finished seed was trained again"))
    resumed = suite.run(args, embedder=HashEmbedder())
    assert resumed["runs"] == results["runs"]
    other_root = tmp_path / "other_data"  # the same files, one of them changed: the finished results do not apply
    shutil.copytree(FIXTURES, other_root)
    changed = next((other_root / "text_classification_sentconv").glob("*"))
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    with pytest.raises(pytest.fail.Exception, match="a finished seed was trained again"):
        suite.run(argparse.Namespace(**{**vars(args), "data_root": other_root, "jobs": 1}), embedder=HashEmbedder())


def test_subset_epochs_give_small_subsets_a_share_of_full_training_steps() -> None:
    family = {"train": {"epochs": 10, "batch_size": 10}, "min_steps": 5, "min_step_share": 0.5}
    assert suite.subset_epochs(family, 1000, 1000) == 10  # full data: the family's epochs
    epochs = suite.subset_epochs(family, 100, 1000)  # 10% of the rows: 10 steps per epoch
    assert epochs * 10 >= 0.5 * 10 * 100 and (epochs - 1) * 10 < 0.5 * 10 * 100
    assert suite.subset_epochs({**family, "min_step_share": 0.0}, 100, 1000) == 10
    assert suite.subset_epochs({**family, "min_step_share": 0.0, "min_steps": 200}, 100, 1000) == 20
    patient = {**family, "kd_step_share": 2.0}
    assert suite.subset_epochs(patient, 100, 1000, distill=True) == 4 * epochs  # share 2.0 instead of 0.5
    assert suite.subset_epochs(patient, 100, 1000) == epochs  # the share for distilled students only
    assert suite.subset_epochs(family, 100, 1000, distill=True) == epochs  # no kd_step_share: min_step_share


def test_kd_step_share_bands_and_kd_train_options_apply_to_distilled_students_only() -> None:
    family = {"train": {"epochs": 10, "batch_size": 10, "learning_rate": 0.1}, "min_steps": 5, "min_step_share": 1.0,
              "kd_train": {"batch_size": 40, "learning_rate": 0.4}, "kd_step_share": ((0.1, 4.0), (1.0, 2.0))}
    assert suite.train_options(family) == family["train"]
    assert suite.train_options(family, distill=True) == {"epochs": 10, "batch_size": 40, "learning_rate": 0.4}
    # keep 0.1 (100 of 1000 rows) falls in the first band: 4x the 250 full-data steps at batch 40 = 1000 steps of 3
    assert suite.subset_epochs(family, 100, 1000, distill=True) == 334
    # keep 0.3 falls in the second band: 2x 250 = 500 steps, 8 per epoch
    assert suite.subset_epochs(family, 300, 1000, distill=True) == 63
    # without a teacher: the family's own batch and min_step_share, 1x 1000 steps of 10 per epoch
    assert suite.subset_epochs(family, 100, 1000) == 100


def test_workers_exit_when_the_suite_is_killed(tmp_path) -> None:  # noqa: ANN001
    """SIGKILL/SIGTERM of `python -m eval data` left its spawned workers training on (seen: two for 30 min)."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "suite.py"
    script.write_text(
        "import os, time\n"
        "from eval.suites.data import _pool\n"
        "if __name__ == '__main__':\n"
        "    pool = _pool(1)\n"
        "    print(pool.submit(os.getpid).result(), flush=True)\n"
        "    pool.submit(time.sleep, 120)\n"
        "    time.sleep(120)\n", encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=root,
                              env={**os.environ, "PYTHONPATH": str(root)})
    try:
        worker = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        os.kill(worker, signal.SIGKILL)
        raise AssertionError("the worker outlived its killed parent by 30 s")
    finally:
        parent.kill()
