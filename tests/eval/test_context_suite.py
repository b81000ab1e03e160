"""``python -m eval context --quick`` on the shipped miniature data root with a tiny random checkpoint."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from eval.__main__ import main
from eval.context_data import Example, heldout_split, normalize_answer
from eval.context_methods import Prepared, evaluate, example_metrics, select_budget
from eval.errors import EvalError
from eval.report import render_markdown
from ragprune.sentence.model import build_tiny_pruner_model, save_pruner_model

DATA = Path(__file__).resolve().parents[1] / "fixtures" / "context_eval"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, tokenizer = build_tiny_pruner_model(seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    split = {"squad_validation_articles": ["Oxygen", "Rhine", "Warsaw"], "nq_validation_indices": {"start": 10}}
    save_pruner_model(model, tokenizer, path, config={"max_length": 128, "threshold": 0.5, "data_split": split},
                      base_model=None, exclude_word_embeddings=False, dtype="float32")
    return path


@pytest.fixture(scope="module")
def tiny_embedder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT folder; sentence-transformers loads it with mean pooling (fast stand-in for MiniLM)."""
    model, tokenizer = build_tiny_pruner_model(seed=1)
    path = tmp_path_factory.mktemp("emb") / "tiny-bert"
    model.encoder.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.slow
def test_quick_run_writes_complete_results(tmp_path: Path, tiny_checkpoint: Path, tiny_embedder: Path) -> None:
    out = tmp_path / "results"
    code = main(["context", "--quick", "--data-root", str(DATA), "--model", str(tiny_checkpoint), "--limit", "6",
                 "--embedding-model", str(tiny_embedder), "--output-dir", str(out)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert {"config", "seed", "metrics", "tables", "plots", "verdicts", "timings", "command", "versions"} <= set(results)
    metrics = results["metrics"]
    assert {"squad", "nq", "hotpot", "squad_v2", "latency", "default_precision", "precisions"} <= set(metrics)
    for name in ("squad", "nq", "hotpot"):
        rows = metrics[name]["rows"]
        methods = {r["method"] for r in rows}
        assert methods == {"keep-all", "ours", "embedding", "bm25", "random"}
        keep_all = rows[0]
        assert keep_all["tokens_removed"] == 0 and keep_all["has_answer"] == 1.0
        for r in rows:
            assert 0.0 <= r["tokens_removed"] <= 1.0
        # Thresholds ordered: more tokens removed at a higher threshold.
        ours = sorted((r["threshold"], r["tokens_removed"]) for r in rows if r["method"] == "ours")
        assert all(a[1] <= b[1] + 1e-12 for a, b in zip(ours, ours[1:]))
        matched = [r for r in rows if r.get("budget") == "matched"]
        assert len(matched) == 3
    assert metrics["hotpot"]["rows"][0]["sf_recall"] == 1.0
    assert metrics["squad_v2"]["n_unanswerable"] > 0 and metrics["squad_v2"]["n_answerable"] > 0
    default = metrics["default_precision"]
    assert default in ("float32", "bfloat16")
    assert {"float32", "bfloat16", "int8"} <= set(metrics["latency"])
    assert metrics["latency"][default]["p50_ms"] > 0 and len(metrics["latency"][default]["times_ms"]) > 0
    summary = metrics["precisions"]["summary"]
    assert summary["float32"]["worst_drop_vs_float32"] == 0.0 and summary["float32"]["fit_as_default"]
    assert all(r["drop_vs_float32"] == 0.0 for r in metrics["precisions"]["rows"] if r["precision"] == "float32")
    assert len(results["plots"]) == 3 and all((out / p["file"]).exists() for p in results["plots"])
    assert any("squad: goal" in v for v in results["verdicts"])
    assert results["command"].startswith("python -m eval context --quick")
    # The Markdown is rendered from the JSON only.
    assert (out / "results.md").read_text() == render_markdown(results)


def test_loaders_leave_out_the_calibration_questions() -> None:
    from eval.context_data import load_nq, load_squad

    titles, nq_rule = ["Oxygen", "Rhine", "Warsaw"], {"start": 10}
    squad = load_squad(DATA, titles, limit=None, rng=np.random.default_rng(0))
    nq = load_nq(DATA, nq_rule, limit=None, rng=np.random.default_rng(0))
    left_out = {"squad": {ex.question for ex in squad[::3]}, "nq": {ex.question for ex in nq[::3]}}
    squad_rest = load_squad(DATA, titles, limit=None, rng=np.random.default_rng(0), exclude=left_out["squad"])
    nq_rest = load_nq(DATA, nq_rule, limit=None, rng=np.random.default_rng(0), exclude=left_out["nq"])
    assert {ex.question for ex in squad_rest} == {ex.question for ex in squad} - left_out["squad"]
    assert {ex.question for ex in nq_rest} == {ex.question for ex in nq} - left_out["nq"]
    nq_gold = {ex.question: ex.passages[ex.gold[0]] for ex in nq}
    left_out_passages = {nq_gold[q] for q in left_out["nq"]}
    assert not any(p in left_out_passages for ex in nq_rest for p in ex.passages)  # not even as distractors


def test_hotpot_examples_do_not_depend_on_the_string_hash_seed() -> None:
    import subprocess
    import sys

    code = ("import numpy as np, pathlib; from eval.context_data import load_hotpot; "
            f"exs = load_hotpot(pathlib.Path({str(DATA)!r}), limit=None, rng=np.random.default_rng(0)); "
            "print([ex.passages for ex in exs])")
    root = Path(__file__).resolve().parents[2]
    outputs = {subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                              env={"PATH": "", "PYTHONPATH": str(root), "PYTHONHASHSEED": seed}).stdout
               for seed in ("1", "2", "3")}
    assert len(outputs) == 1 and len(next(iter(outputs))) > 100


def test_calibration_questions_need_a_trainer_checkpoint_and_its_data() -> None:
    from eval.context_data import calibration_questions

    assert calibration_questions({"threshold": 0.5}, DATA) == {}  # no training record: nothing to redraw
    train_data = Path(__file__).resolve().parents[1] / "fixtures" / "ragprune_train"
    with pytest.raises(EvalError, match="does not rebuild the recorded split"):
        calibration_questions({"training": {}, "validation_articles": ["Not an article"]}, train_data)


def test_missing_data_root_is_one_line_error(tmp_path: Path, tiny_checkpoint: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["context", "--quick", "--data-root", str(tmp_path / "nothing"), "--model", str(tiny_checkpoint),
                 "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("eval: error: ") and "--data-root" in err and err.count("\n") == 1


def test_checkpoint_without_split_is_an_error() -> None:
    with pytest.raises(EvalError, match="held-out SQuAD articles"):
        heldout_split({"threshold": 0.5})
    assert heldout_split({"data_split": {"squad_validation_articles": ["A"], "nq_validation_ids": [1]}}) == (["A"], [1])


def _prep(passages: list[str], spans: list[list[tuple[int, int]]], **kw) -> Prepared:  # noqa: ANN003
    kw.setdefault("answers", [])
    ex = Example(dataset="t", qid="1", question="q?", passages=passages, gold=[0], **kw)
    tokens = [[len(p[s:e].split()) for s, e in sp] for p, sp in zip(passages, spans)]
    return Prepared(ex, spans, tokens, sum(map(sum, tokens)), sum(map(len, passages)))


def test_metrics_on_a_hand_made_example() -> None:
    text = "Paris is big. The Eiffel Tower is in Paris. Rome is old."
    spans = [[(0, 13), (14, 43), (44, 56)]]
    prep = _prep([text], spans, answers=["the Eiffel Tower"], answer_spans=[(0, 18, 30)],
                 units=[(0, 0, 13, False), (0, 14, 43, True), (0, 44, 56, False)])
    good = example_metrics(prep, [[1]])
    assert good["has_answer"] == 1.0 and good["answer_sentence"] == 1.0
    assert good["sf_recall"] == 1.0 and good["sf_precision"] == 1.0
    assert good["tokens_removed"] == pytest.approx(1 - 6 / 12)
    bad = example_metrics(prep, [[0, 2]])
    assert bad["has_answer"] == 0.0 and bad["answer_sentence"] == 0.0 and bad["sf_recall"] == 0.0
    assert bad["sf_precision"] == 0.0
    assert example_metrics(prep, [[]])["fully_pruned"] == 1.0
    assert evaluate([prep, prep], [[[1]], [[0]]])["has_answer"] == 0.5


def test_budget_selection_prefers_high_scores_and_fits() -> None:
    text = "a b c. d e. f g h i."
    prep = _prep([text], [[(0, 6), (7, 11), (12, 20)]])
    assert select_budget(prep, [[0.1, 0.9, 0.5]], 2) == [[1]]
    assert select_budget(prep, [[0.1, 0.9, 0.5]], 6) == [[1, 2]]
    assert select_budget(prep, [[0.1, 0.9, 0.5]], 1) == [[]]
    assert select_budget(prep, [list(np.zeros(3))], 100) == [[0, 1, 2]]


def test_normalize_answer() -> None:
    assert normalize_answer("The  Eiffel-Tower!") == "eiffeltower"
    assert normalize_answer("an Apple a day") == "apple day"


def test_latency_questions_are_those_nearest_the_goal_passage_length() -> None:
    from types import SimpleNamespace

    from eval.suites.context import LATENCY_WORDS, _latency_questions

    def prep(words: int) -> SimpleNamespace:
        return SimpleNamespace(example=SimpleNamespace(passages=[" ".join(["w"] * words)] * 5))

    preps = [prep(60), prep(LATENCY_WORDS + 10), prep(300), prep(LATENCY_WORDS - 5), prep(LATENCY_WORDS)]
    assert _latency_questions(preps, 2) == [3, 4]
    assert _latency_questions(preps, 3) == [1, 3, 4]
