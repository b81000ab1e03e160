"""Tests of ``python -m ragprune.train`` on the shipped fixture (tiny random model, seconds)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import ragprune.train as train_mod
from ragprune.errors import RagpruneError
from ragprune.sentence.model import load_pruner_model
from ragprune.train import build_data, build_parser, encode_examples, main, normalize_answer, split_squad_articles

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ragprune_train"

TINY = [
    "--data-root", str(FIXTURE), "--tiny", "--max-length", "128", "--per-device-train-batch-size", "8",
    "--learning-rate", "1e-3", "--head-learning-rate", "3e-3", "--warmup-ratio", "0.0",
    "--nq-validation", "10", "--nq-train", "30", "--hotpot-validation", "2", "--val-squad", "10", "--val-nq", "5",
    "--val-unanswerable", "5", "--logging-steps", "4", "--squad-unanswerable", "20", "--num-threads", "1",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, Path]:
    out = tmp_path_factory.mktemp("tiny") / "ck"
    code = main(TINY + ["--output-dir", str(out), "--num-train-epochs", "6", "--resume-dir", str(out.parent / "state")])
    return code, out


def test_tiny_training_run_learns_and_saves(tiny_run: tuple[int, Path]) -> None:
    code, out = tiny_run
    assert code == 0
    config = json.loads((out / "config.json").read_text())
    curve = [c["loss"] for c in config["loss_curve"]]
    assert len(curve) >= 12
    # the first window (steps 1-4) starts from the random init; the last three windows must be clearly lower
    first, last = curve[0], sum(curve[-3:]) / 3
    assert last < 0.88 * first, curve
    assert 0.0 <= config["threshold"] <= 1.0
    metrics = config["validation_metrics"]
    for key in ("squad", "nq", "hotpot_train_heldout", "squad_v2_unanswerable"):
        assert key in metrics
    assert 0.0 <= metrics["squad"]["has_answer_recall"] <= 1.0
    assert config["steps"] == config["planned_steps"] and config["stopped_early"] is None
    assert config["command"].startswith("python -m ragprune.train ")
    model, tokenizer, loaded_config = load_pruner_model(out)
    assert loaded_config["threshold"] == config["threshold"]


def test_split_is_by_article_and_recorded(tiny_run: tuple[int, Path]) -> None:
    _, out = tiny_run
    config = json.loads((out / "config.json").read_text())
    train, val = set(config["squad_train_articles"]), set(config["validation_articles"])
    assert train and val and not train & val
    assert config["hotpot_dev_used"] is False
    assert len(config["nq_validation_questions"]) == 10


def test_training_data_never_contains_validation_passages() -> None:
    from ragprune.sentence.model import build_tiny_pruner_model

    _, tokenizer = build_tiny_pruner_model()
    args = build_parser().parse_args(TINY + ["--output-dir", "unused"])
    data = build_data(FIXTURE, tokenizer, args)
    val_passages = {p for it in data["validation"]["squad"] for p in it["passages"]}
    val_passages |= {p for it in data["validation"]["nq"] for p in it["passages"]}
    train_questions = {ex["question"] for ex in data["train"]}
    for ex in data["train"]:
        assert not any(ex["context"] in p for p in val_passages), ex["context"][:80]
    assert not train_questions & {it["question"] for it in data["validation"]["squad"]}
    assert not train_questions & set(data["split"]["nq_validation_questions"])
    assert {"squad_positive", "squad_v2_unanswerable", "nq_positive", "hotpot_supporting"} <= set(data["counts"])
    # the same seed gives the same data
    again = build_data(FIXTURE, tokenizer, args)
    assert [ex["context"] for ex in again["train"]] == [ex["context"] for ex in data["train"]]


def test_split_squad_articles_is_seeded() -> None:
    titles = [f"t{i}" for i in range(40)]
    a = split_squad_articles(titles, n_validation=10, seed=0)
    assert a == split_squad_articles(list(reversed(titles)), n_validation=10, seed=0)
    assert a != split_squad_articles(titles, n_validation=10, seed=1)
    assert len(a[1]) == 10 and not set(a[0]) & set(a[1]) and set(a[0]) | set(a[1]) == set(titles)


def test_token_labels_follow_positive_sentences() -> None:
    from ragprune.sentence.model import build_tiny_pruner_model

    _, tokenizer = build_tiny_pruner_model()
    context = "Paris is the capital of France. Penguins live in the south."
    ex = {"question": "What is the capital of France?", "context": context, "positive_ranges": [(0, 31)]}
    (enc,) = encode_examples(tokenizer, [ex], 64)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    labelled = {t: lab for t, lab in zip(tokens, enc["labels"]) if lab != -100}
    assert labelled["paris"] == 1 and labelled["penguins"] == 0 and labelled["south"] == 0
    assert enc["labels"][0] == -100 and enc["labels"][1] == -100  # [CLS] and question tokens
    assert enc["rerank"] == 1
    (with_sentences,) = encode_examples(tokenizer, [dict(ex, sentence_ranges=[(0, 31), (32, 59)])], 64)
    ids = {t: k for t, k in zip(tokens, with_sentences["sentence_ids"]) if k != -1}
    assert ids["paris"] == 0 and ids["penguins"] == 1 and with_sentences["sentence_ids"][:2] == [-1, -1]
    assert set(enc["sentence_ids"]) == {-1}  # no sentence_ranges: no sentence targets
    (neg,) = encode_examples(tokenizer, [dict(ex, positive_ranges=[])], 64)
    assert neg["rerank"] == 0 and set(neg["labels"]) == {-100, 0}


def test_resume_after_early_stop(tmp_path: Path) -> None:
    out, state = tmp_path / "ck", tmp_path / "state"
    args = TINY + ["--output-dir", str(out), "--resume-dir", str(state), "--max-steps", "4", "--save-steps", "1"]
    assert main(args + ["--max-train-minutes", "1e-9"]) == 0
    first = json.loads((out / "config.json").read_text())
    assert first["steps"] == 1 and first["stopped_early"]
    assert (state / "state.pt").exists()
    assert main(args) == 0
    second = json.loads((out / "config.json").read_text())
    assert second["resumed_from_step"] == 1 and second["steps"] == 4 and second["stopped_early"] is None
    assert not (state / "state.pt").exists()
    # the second run's checkpoint took the first one's place: no temporary folder left, a plain folder's mode
    (tmp_path / "probe").mkdir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "probe", "state"]
    assert out.stat().st_mode == (tmp_path / "probe").stat().st_mode


def test_a_failed_run_leaves_the_previous_checkpoint_as_it_was(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from ragprune.sentence.model import build_tiny_pruner_model, save_pruner_model

    out = tmp_path / "ck"
    model, tokenizer = build_tiny_pruner_model()
    save_pruner_model(model, tokenizer, out, base_model=None,
                      config={"max_length": 128, "threshold": 0.37, "validation_metrics": {"target_met": True}})
    before = {f.name: f.read_bytes() for f in out.iterdir()}

    def crash(*args: object, **kwargs: object) -> dict:
        raise RuntimeError("validation crashed")

    monkeypatch.setattr(train_mod, "validate", crash)  # after the new weights were saved and re-loaded
    with pytest.raises(RuntimeError, match="validation crashed"):
        main(TINY + ["--output-dir", str(out), "--resume-dir", str(tmp_path / "state"), "--max-steps", "1"])
    assert {f.name: f.read_bytes() for f in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]  # the half-finished folder is gone


def _no_work(*args: object, **kwargs: object) -> None:
    raise AssertionError("bad options must be refused before the data is read")


@pytest.mark.parametrize(("where", "needle"), [
    ("afile", "afile is a file, not a folder"), ("afile/sub", "afile is a file, not a folder"),
    ("other", "is a folder that holds no checkpoint"),
])
def test_unusable_output_dir_is_refused_before_any_work(where: str, needle: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("not a folder\n")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("a successful run would replace this folder\n")
    monkeypatch.setattr(train_mod, "build_data", _no_work)
    assert main(TINY + ["--output-dir", str(tmp_path / where), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ragprune.train: error: --output-dir=") and needle in err and "\n" not in err
    assert (tmp_path / "afile").read_text() == "not a folder\n" and (tmp_path / "other" / "notes.txt").exists()


@pytest.mark.parametrize("extra", [
    ["--logging-steps", "0"], ["--save-steps", "0"], ["--num-threads", "0"], ["--num-threads", "-1"],
    ["--eval-batch-size", "0"], ["--squad-unanswerable", "-5"], ["--max-train-examples", "0"], ["--seed", "-1"],
    ["--head-learning-rate", "0"], ["--warmup-ratio", "2"], ["--squad-same-article-negatives", "1.5"],
    ["--learning-rate", "nan"], ["--val-nq", "0"],
])
def test_bad_numeric_options_are_refused_before_any_work(extra: list[str], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(train_mod, "build_data", _no_work)
    assert main(TINY + ["--output-dir", str(tmp_path / "x")] + extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ragprune.train: error: {extra[0]}={extra[1]}") and "\n" not in err


def test_verify_checks_its_numeric_options_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--verify", "--output-dir", str(tmp_path), "--data-root", str(FIXTURE), "--eval-batch-size", "0"]) == 2
    assert capsys.readouterr().err.startswith("ragprune.train: error: --eval-batch-size=0 ")


def test_every_numeric_option_has_a_rule() -> None:
    numeric = {a.dest for a in build_parser()._actions if a.type in (int, float)}
    ruled = {name for names, _, _ in train_mod._NUMERIC_RULES for name in names}
    assert numeric == ruled


@pytest.mark.parametrize(
    ("extra", "needle"),
    [(["--max-length", "5"], "--max-length=5"), (["--target-recall", "1.5"], "--target-recall=1.5"),
     (["--data-root", "/nonexistent/data"], "--data-root="), (["--device", "tpu9"], "--device='tpu9'"),
     (["--nq-negatives", "-1"], "--nq-negatives=-1"), (["--sentence-loss-weight", "-1"], "--sentence-loss-weight=-1")],
)
def test_bad_arguments_exit_2_with_one_line(extra: list[str], needle: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code = main(TINY + ["--output-dir", str(tmp_path / "x")] + extra)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("ragprune.train: error: ") and needle in err and "\n" not in err


def test_normalize_answer() -> None:
    assert normalize_answer("The Eiffel Tower.") == "eiffel tower"
    assert normalize_answer("  A  cat ") == "cat"


def test_verify_recomputes_stored_metrics(tiny_run: tuple[int, Path], tmp_path: Path) -> None:
    from ragprune.train import verify_checkpoint

    _, out = tiny_run
    report = verify_checkpoint(out, FIXTURE, num_threads=1)
    assert report["match"], report
    assert main(["--verify", "--output-dir", str(out), "--data-root", str(FIXTURE), "--num-threads", "1"]) == 0
    # a tampered stored metric is caught
    import shutil

    copy = tmp_path / "ck"
    shutil.copytree(out, copy)
    config = json.loads((copy / "config.json").read_text())
    config["validation_metrics"]["squad"]["tokens_removed"] += 0.01
    (copy / "config.json").write_text(json.dumps(config))
    assert main(["--verify", "--output-dir", str(copy), "--data-root", str(FIXTURE), "--num-threads", "1"]) == 1


def test_calibration_questions_are_the_validation_questions_redrawn_without_tokenizing(tiny_run: tuple[int, Path]) \
        -> None:
    from ragprune.sentence.model import build_tiny_pruner_model
    from ragprune.train import calibration_questions, rebuild_validation_data

    _, out = tiny_run
    config = json.loads((out / "config.json").read_text())
    _, tokenizer = build_tiny_pruner_model()
    args = build_parser().parse_args(TINY + ["--output-dir", "unused"])
    validation = build_data(FIXTURE, tokenizer, args)["validation"]
    assert rebuild_validation_data(config, FIXTURE) == validation  # the same sets as training drew, passages included
    questions = calibration_questions(config, FIXTURE)
    assert questions == {name: [it["question"] for it in validation[name]] for name in ("squad", "nq")}
    assert (len(questions["squad"]), len(questions["nq"])) == (10, 5)  # --val-squad 10, --val-nq 5
    assert set(questions["nq"]) <= set(config["nq_validation_questions"])
    with pytest.raises(RagpruneError, match="does not rebuild the recorded split"):
        calibration_questions({**config, "validation_articles": ["Not an article"]}, FIXTURE)


def test_nq_hard_negatives_are_the_closest_passages_without_the_answer() -> None:
    from ragprune.train import _nq_hard_negatives

    def record(question: str, passage: str, answers: list[str]) -> dict:
        return {"question": question, "answers": answers, "ctxs": [{"text": passage}]}

    nq = [record("who painted the mona lisa", "Leonardo da Vinci painted it in Florence.", ["Leonardo da Vinci"]),
          record("where is the mona lisa kept", "The Mona Lisa hangs in the Louvre, painted by Leonardo da Vinci.",
                 ["the Louvre"]),
          record("when was the mona lisa stolen", "The Mona Lisa portrait was stolen from a museum in 1911.",
                 ["1911"]),
          record("who won the 1998 world cup", "France won the football tournament at home.", ["France"])]
    hard = _nq_hard_negatives(nq, [0], [0, 1, 2, 3], 1)
    assert hard == {0: [2]}  # record 1 is closer but holds the answer; record 0 is the question's own passage
    assert _nq_hard_negatives(nq, [0], [0, 1, 2, 3], 0) == {}


def test_hard_negatives_join_the_training_data() -> None:
    from ragprune.sentence.model import build_tiny_pruner_model

    _, tokenizer = build_tiny_pruner_model()
    args = build_parser().parse_args(TINY + ["--output-dir", "unused", "--nq-hard-negatives", "2"])
    data = build_data(FIXTURE, tokenizer, args)
    assert data["counts"].get("nq_hard_negative", 0) >= 30
    assert all(not ex["positive_ranges"] for ex in data["train"] if ex["source"] == "nq_hard_negative")


def test_nq_negatives_is_an_expected_count() -> None:
    from ragprune.sentence.model import build_tiny_pruner_model

    _, tokenizer = build_tiny_pruner_model()

    def negatives(rate: str) -> int:
        args = build_parser().parse_args(TINY + ["--output-dir", "unused", "--nq-negatives", rate])
        return build_data(FIXTURE, tokenizer, args)["counts"].get("nq_negative", 0)

    # 30 training questions; a draw that holds the question's answer is skipped, so counts sit a little under
    zero, one, two = negatives("0"), negatives("1"), negatives("2")
    assert zero == 0 and 24 <= one <= 30 and 2 * one - 6 <= two <= 60


def test_split_seed_fixes_the_split_while_seed_varies_training_data() -> None:
    from ragprune.sentence.model import build_tiny_pruner_model

    _, tokenizer = build_tiny_pruner_model()

    def data(*extra: str) -> dict:
        return build_data(FIXTURE, tokenizer, build_parser().parse_args(TINY + ["--output-dir", "unused", *extra]))

    a, b = data("--seed", "1", "--split-seed", "0"), data("--seed", "2", "--split-seed", "0")
    assert a["split"] == b["split"] == data("--seed", "0")["split"]
    assert a["validation"] == b["validation"]
    assert [ex["context"] for ex in a["train"]] != [ex["context"] for ex in b["train"]]
    assert data("--seed", "1")["split"] != a["split"]


def test_sentence_mean_loss_matches_a_hand_computation() -> None:
    import math

    import torch

    from ragprune.train import sentence_mean_loss

    logits = torch.tensor([[0.0, 2.0, -1.0, 1.0, 9.0], [3.0, -2.0, 0.0, 0.0, 0.0]])
    labels = torch.tensor([[-100.0, 1.0, 1.0, 0.0, -100.0], [0.0, 0.0, -100.0, -100.0, -100.0]])
    sentence_ids = torch.tensor([[-1, 0, 0, 1, -1], [0, 0, -1, -1, -1]])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    means = [(sig(2.0) + sig(-1.0)) / 2, sig(1.0), (sig(3.0) + sig(-2.0)) / 2]
    targets = [1.0, 0.0, 0.0]
    expected = -sum(t * math.log(m) + (1 - t) * math.log(1 - m) for m, t in zip(means, targets)) / 3
    assert float(sentence_mean_loss(logits, labels, sentence_ids)) == pytest.approx(expected, rel=1e-6)
    assert float(sentence_mean_loss(logits, labels, torch.full_like(sentence_ids, -1))) == 0.0


def test_required_recall_adds_a_margin_that_shrinks_with_the_set() -> None:
    from ragprune.train import required_recall

    assert required_recall(0.95, 0.0, {"squad": 200}) == {"squad": 0.95}
    req = required_recall(0.95, 1.0, {"squad": 200, "nq": 150, "big": 100_000})
    assert req["squad"] == pytest.approx(0.95 + (0.95 * 0.05 / 200) ** 0.5)
    assert req["nq"] > req["squad"] > req["big"] > 0.95
    assert required_recall(0.99, 5.0, {"tiny": 1})["tiny"] == 1.0


def test_soup_of_a_checkpoint_with_itself_is_that_checkpoint(tiny_run: tuple[int, Path], tmp_path: Path) -> None:
    import subprocess
    import sys

    from safetensors.torch import load_file

    _, out = tiny_run
    soup = tmp_path / "soup"
    script = Path(__file__).resolve().parents[2] / "scripts" / "soup_checkpoints.py"
    done = subprocess.run([sys.executable, str(script), str(out), str(out), "--out", str(soup), "--data-root", str(FIXTURE)],
                          capture_output=True, text=True, cwd=script.parents[1], timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    original, averaged = load_file(str(out / "model.safetensors")), load_file(str(soup / "model.safetensors"))
    assert original.keys() == averaged.keys()
    assert all(bool((original[k] == averaged[k]).all()) for k in original)
    config = json.loads((soup / "config.json").read_text())
    stored = json.loads((out / "config.json").read_text())["validation_metrics"]
    assert config["validation_metrics"]["squad"] == pytest.approx(stored["squad"], abs=1e-6)
    assert len(config["soup_of"]) == 2 and (soup / "MODEL_CARD.md").exists()
