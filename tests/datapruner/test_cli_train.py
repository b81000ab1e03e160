"""``datapruner train`` end to end, in-process (plus one subprocess smoke run), with good and bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from datapruner.cli.main import main
from datapruner.training.distill import default_alpha
from tests.datapruner._train_data import mnist_arrays, one_torch_thread, sentconv_rows  # noqa: F401 (autouse fixture)

FAST = ["--model-type", "fasttext", "--epochs", "3"]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_cli")
    train = sentconv_rows("TREC.train.all.gz")
    test = sentconv_rows("TREC.test.all.gz")
    paths = {"train": _write_jsonl(root / "train.jsonl", train), "test": _write_jsonl(root / "test.jsonl", test)}
    datasets.Dataset.from_list(test).to_csv(str(root / "test.csv"), index=False)
    datasets.Dataset.from_list(train[::3]).to_parquet(str(root / "subset.parquet"))
    paths["test_csv"], paths["subset"] = root / "test.csv", root / "subset.parquet"
    paths["foreign"] = _write_jsonl(root / "foreign.jsonl", [{"text": "not in the training data", "label": 0}])
    paths["root"] = root
    (root / "own").mkdir()
    (root / "own" / "notes.txt").write_text("the user's own file")
    paths["own"] = root / "own"
    return paths


def _run(args: list[str], capsys) -> tuple[int, str]:
    code = main(["train", *args])
    return code, capsys.readouterr().err


def test_issue_4_train_subset_with_distillation_then_reuse_teacher(files, tmp_path, capsys):
    out = tmp_path / "kd"
    code, err = _run(["--data", str(files["train"]), "--test", str(files["test_csv"]), "--subset",
                      str(files["subset"]), "--distill", "--out", str(out), "--seed", "1", *FAST], capsys)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    n_full = len(sentconv_rows("TREC.train.all.gz"))
    assert metrics["n_train"] == len(range(0, n_full, 3)) and metrics["n_full"] == n_full
    assert metrics["distill"] is True and metrics["temperature"] == 2.0
    assert metrics["alpha"] == pytest.approx(default_alpha(metrics["n_train"] / n_full))
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["seed"] == 1
    assert (out / "model" / "model.safetensors").is_file() and (out / "teacher" / "config.json").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers

    again = tmp_path / "kd_teacher"
    code, err = _run(["--data", str(files["train"]), "--test", str(files["test"]), "--subset", str(files["subset"]),
                      "--teacher", str(out), "--alpha", "0.4", "--temperature", "3", "--out", str(again), *FAST],
                     capsys)
    assert code == 0, err
    m2 = json.loads((again / "metrics.json").read_text())
    assert m2["distill"] is True and m2["alpha"] == 0.4 and m2["temperature"] == 3.0
    assert m2["teacher_trained_here"] is False and not (again / "teacher").exists()
    assert m2["teacher_test_accuracy"] == pytest.approx(metrics["teacher_test_accuracy"])  # same teacher
    assert (out / "model" / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~_umask()

    code, err = _run(["--data", str(files["train"]), "--test", str(files["test"]), "--out", str(out), *FAST], capsys)
    assert code == 0, err  # a rerun without distillation into the same folder replaces the run whole
    assert not (out / "teacher").exists(), "an earlier run's teacher must not be left to be picked up by --teacher"
    assert json.loads((out / "metrics.json").read_text())["distill"] is False


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_train_fasttext_distils_on_views_unless_told_not_to(files, tmp_path, capsys):
    seen = {}
    for flag in ([], ["--no-views"]):
        out = tmp_path / f"ft{len(flag)}"
        code, err = _run(["--data", str(files["train"]), "--test", str(files["test"]), "--subset", str(files["subset"]),
                          "--distill", "--out", str(out), *flag, *FAST], capsys)
        assert code == 0, err
        seen[bool(flag)] = json.loads((out / "metrics.json").read_text())["views"]
    assert seen == {False: ["ngram_dropout", 0.8], True: None}


def test_train_fasttext_adds_substitution_copies_when_little_is_kept(files, tmp_path, capsys):
    rows = [json.loads(line) for line in files["train"].read_text().splitlines()]
    datasets.Dataset.from_list(rows[::5]).to_parquet(str(tmp_path / "fifth.parquet"))
    seen = {}
    for flag in ([], ["--no-substitution"]):
        out = tmp_path / f"sub{len(flag)}"
        code, err = _run(["--data", str(files["train"]), "--subset", str(tmp_path / "fifth.parquet"), "--test",
                          str(files["test"]), "--distill", "--out", str(out), *flag, *FAST], capsys)
        assert code == 0, err
        seen[bool(flag)] = json.loads((out / "metrics.json").read_text())["substitution"]
    assert seen == {False: {"copies": 16, "rate": 0.5, "top_k": 10}, True: None}


def test_train_without_subset_or_distill(files, tmp_path, capsys):
    out = tmp_path / "plain"
    code, err = _run(["--data", str(files["train"]), "--test", str(files["test"]), "--out", str(out), *FAST], capsys)
    assert code == 0, err
    m = json.loads((out / "metrics.json").read_text())
    assert m["distill"] is False and m["alpha"] is None and m["temperature"] is None and m["keep"] == 1.0
    assert not (out / "teacher").exists()


def test_train_on_images_from_a_save_to_disk_folder(tmp_path, capsys):
    images, labels = mnist_arrays()
    ds = datasets.Dataset.from_dict({"pixels": images.reshape(len(images), -1).tolist(), "y": labels.tolist()})
    ds.select(range(300)).save_to_disk(str(tmp_path / "train"))
    ds.select(range(300, 400)).to_parquet(str(tmp_path / "test.parquet"))
    code, err = _run(["--data", str(tmp_path / "train"), "--test", str(tmp_path / "test.parquet"), "--text-column",
                      "pixels", "--label-column", "y", "--epochs", "4", "--out", str(tmp_path / "o")], capsys)
    assert code == 0, err
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["model_type"] == "cnn" and m["test_accuracy"] > 0.3  # flat 784-vectors are read as 28x28 images


@pytest.mark.parametrize("overrides,extra,match", [
    ({"--data": "missing.jsonl"}, [], "does not exist"),
    ({}, ["--text-column", "question"], "column 'question' is not in the dataset"),
    ({}, ["--subset", "{foreign}"], "subset row 0 is not a row of the training data"),
    ({}, ["--alpha", "1.5", "--distill"], "alpha=1.5"),
    ({}, ["--alpha", "0.5"], "--alpha needs --distill"),
    ({}, ["--no-views"], "--no-views needs --distill"),
    ({}, ["--no-substitution"], "--no-substitution needs --distill"),
    ({}, ["--temperature", "0", "--distill"], "temperature=0"),
    ({}, ["--teacher", "{root}"], "is not a trained model"),
    ({}, ["--label-column", "none"], "training needs labels"),
    ({"--out": "{train}"}, [], "is the input file"),
    ({"--out": "{root}"}, [], "holds --data"),
    ({"--out": "{train}/run"}, [], "is a file, not a folder"),
    ({"--out": "{own}"}, [], "does not hold a datapruner train run"),
    ({}, ["--learning-rate", "1e39"], "learning_rate=1e+39 is not valid"),
    ({}, ["--teacher", "{root}", "--teacher-model-type", "mlp"], "--teacher-model-type is for a teacher trained here"),
])
def test_train_bad_input_exits_2_with_one_line(files, tmp_path, capsys, overrides, extra, match):
    names = {k: str(v) for k, v in files.items()}
    args = {"--data": str(files["train"]), "--test": str(files["test"]), "--out": str(tmp_path / "o"),
            **{k: v.format(**names) for k, v in overrides.items()}}
    argv = [x for kv in args.items() for x in kv] + [e.format(**names) for e in extra] + FAST
    code, err = _run(argv, capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("datapruner: error: ") and match in lines[0], err
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_train_cli_subprocess_smoke(files, tmp_path):
    out = tmp_path / "sp"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "datapruner.cli.main", "train", "--data", str(files["train"]),
                           "--test", str(files["test"]), "--out", str(out), "--model-type", "fasttext", "--epochs",
                           "1"], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "test accuracy" in proc.stderr and (out / "metrics.json").is_file()


def test_warnings_are_one_line(files, tmp_path, capsys):
    test = [*sentconv_rows("TREC.test.all.gz")[:50], {"text": "a label never seen in training", "label": 99}]
    code, err = _run(["--data", str(files["train"]), "--test", str(_write_jsonl(tmp_path / "t.jsonl", test)),
                      "--out", str(tmp_path / "o"), *FAST], capsys)
    assert code == 0, err
    warning = [line for line in err.splitlines() if "not seen in training" in line]
    assert warning == ["datapruner: warning: 1 test rows have labels not seen in training; they count as errors."]
    assert "warnings.warn" not in err and ".py:" not in err
