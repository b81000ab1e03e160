"""ContextPruner: invariants (order, threshold 0, max_tokens, window coverage), bad inputs, and signal."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragprune import ContextPruner, PruneResult, RagpruneError
from ragprune.sentence.model import DEFAULT_CHECKPOINT, build_tiny_pruner_model
from ragprune.sentence.pruner import _length_batches, _windows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
NEEDLE = "zebra"


class IdModel(torch.nn.Module):
    """Deterministic fake: a token's keep-logit depends only on its id, so windowing must not change it.

    The rerank logit is +4 when the window's context part holds the word ``zebra``, else -4.
    """

    def __init__(self, needle_id: int) -> None:
        super().__init__()
        self.needle_id = needle_id
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    @staticmethod
    def token_logit(ids: torch.Tensor) -> torch.Tensor:
        return (ids % 7).float() - 3.0

    def forward(self, input_ids, attention_mask, token_type_ids=None):  # noqa: ANN001, ANN201
        self.calls += 1
        context = (token_type_ids == 1) & (attention_mask == 1)
        has_needle = ((input_ids == self.needle_id) & context).any(dim=1)
        rerank = torch.where(has_needle, torch.tensor(4.0), torch.tensor(-4.0))
        return self.token_logit(input_ids) + self.dummy, rerank


@pytest.fixture(scope="module")
def tiny() -> tuple:
    model, tokenizer = build_tiny_pruner_model(seed=0)
    return model, tokenizer


@pytest.fixture(scope="module")
def pruner(tiny) -> ContextPruner:  # noqa: ANN001
    model, tokenizer = tiny
    return ContextPruner((model, tokenizer, {"max_length": 64, "threshold": 0.5}))


@pytest.fixture(scope="module")
def id_pruner(tiny) -> ContextPruner:  # noqa: ANN001
    _, tokenizer = tiny
    needle = tokenizer.convert_tokens_to_ids(NEEDLE)
    return ContextPruner((IdModel(needle), tokenizer, {"max_length": 48, "threshold": 0.5}))


CONTEXT = ("Hamlet is a tragedy by William Shakespeare. It was written around 1600. "
           "Paris is the capital of France. The Seine flows through Paris.")


def _words(draw_list: list[str]) -> str:
    return " ".join(draw_list)


sentence_st = st.lists(st.sampled_from(["alpha", "beta", "gamma", "Delta", "42", "zebra", "river", "x"]),
                       min_size=1, max_size=8).map(lambda ws: " ".join(ws).capitalize() + ".")
context_st = st.lists(sentence_st, min_size=1, max_size=8).map(" ".join)


def is_ordered_subsequence(result: PruneResult) -> bool:
    """The property: kept is strictly ascending and the pruned text shows the kept sentences in that order."""
    if any(b <= a for a, b in zip(result.kept, result.kept[1:])):
        return False
    position = 0
    for i in result.kept:
        found = result.pruned.find(result.sentences[i], position)
        if found < 0:
            return False
        position = found + len(result.sentences[i])
    return True


# ---------------------------------------------------------------- invariants

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(context=context_st, threshold=st.floats(0, 1))
def test_kept_sentences_are_in_original_order(pruner: ContextPruner, context: str, threshold: float) -> None:
    result = pruner.prune("What is alpha?", context, threshold=threshold)[0]
    assert is_ordered_subsequence(result)
    assert result.kept == [i for i, s in enumerate(result.sentence_scores) if s >= threshold]


def test_order_property_rejects_a_reordering_pruner(pruner: ContextPruner) -> None:
    """Known-bad twin: a result whose sentences are emitted by score instead of position fails the property."""
    good = pruner.prune("Who wrote Hamlet?", CONTEXT, threshold=0.0)[0]
    by_score = sorted(good.kept, key=lambda i: -good.sentence_scores[i])
    assert by_score != good.kept  # the twin really differs
    bad = PruneResult(pruned=" ".join(good.sentences[i] for i in by_score), kept=by_score,
                      sentences=good.sentences, sentence_scores=good.sentence_scores, rerank=good.rerank,
                      original_chars=good.original_chars)
    assert is_ordered_subsequence(good)
    assert not is_ordered_subsequence(bad)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(context=context_st)
def test_threshold_zero_keeps_everything(pruner: ContextPruner, context: str) -> None:
    result = pruner.prune("What is beta?", context, threshold=0.0)[0]
    assert result.kept == list(range(len(result.sentences)))
    assert result.pruned == context.strip()
    assert result.compression == pytest.approx(1 - len(context.strip()) / len(context))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contexts=st.lists(context_st, min_size=1, max_size=3), max_tokens=st.integers(1, 60))
def test_max_tokens_is_respected(pruner: ContextPruner, contexts: list[str], max_tokens: int) -> None:
    unbounded = pruner.prune("What is gamma?", contexts, threshold=0.0)
    results = pruner.prune("What is gamma?", contexts, threshold=0.0, max_tokens=max_tokens)
    total = sum(pruner.count_tokens(r.pruned) for r in results)
    assert total <= max_tokens
    for small, full in zip(results, unbounded):
        assert set(small.kept) <= set(full.kept)
        assert is_ordered_subsequence(small)
    if sum(pruner.count_tokens(r.pruned) for r in unbounded) <= max_tokens:
        assert [r.kept for r in results] == [r.kept for r in unbounded]


def test_max_tokens_keeps_the_highest_scoring_sentences(id_pruner: ContextPruner) -> None:
    context = "Alpha beta gamma. River stone. Delta x. Zebra moon."
    full = id_pruner.prune("q?", context, threshold=0.0)[0]
    counts = [id_pruner.count_tokens(s) for s in full.sentences]
    best = max(range(len(counts)), key=lambda i: full.sentence_scores[i])
    result = id_pruner.prune("q?", context, threshold=0.0, max_tokens=counts[best])[0]
    assert result.kept == [best]


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 3000), size=st.integers(2, 300), overlap=st.integers(0, 299))
def test_windows_cover_every_token(n: int, size: int, overlap: int) -> None:
    overlap = min(overlap, size - 1)
    windows = _windows(n, size, overlap)
    covered = set()
    for start, end in windows:
        covered.update(range(start, end))
    assert covered == set(range(n))
    assert all(0 <= start < end <= n and end - start <= size for start, end in windows)
    assert len({end - start for start, end in windows}) == 1  # balanced: one window length
    assert all(a_end - b_start >= overlap for (_, a_end), (b_start, _) in zip(windows, windows[1:]))
    fewest = 1 if n <= size else -(-(n - overlap) // (size - overlap))
    assert len(windows) == fewest


def test_window_coverage_check_rejects_a_tail_dropping_twin() -> None:
    def bad_windows(n: int, size: int, overlap: int) -> list[tuple[int, int]]:  # forgets the end-aligned window
        return [(s, s + size) for s in range(0, max(1, n - size), size - overlap)]

    covered = set()
    for start, end in bad_windows(1000, 100, 25):
        covered.update(range(start, min(end, 1000)))
    assert covered != set(range(1000))


def test_a_context_just_over_the_window_gets_two_short_windows() -> None:
    assert _windows(316, 240, 60) == [(0, 188), (128, 316)]


@settings(max_examples=100, deadline=None)
@given(lengths=st.lists(st.integers(1, 512), max_size=80), batch_size=st.integers(1, 40))
def test_length_batches_partition_the_windows(lengths: list[int], batch_size: int) -> None:
    batches = _length_batches(lengths, batch_size)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)


def test_length_batches_split_off_short_windows_only_when_padding_costs_more() -> None:
    assert _length_batches([250, 10, 12, 11, 10, 13], 32) == [[1, 4, 3, 2, 5], [0]]
    assert _length_batches([200, 210, 205], 32) == [[0, 2, 1]]
    assert sorted(map(len, _length_batches([5] * 5, 2))) == [1, 2, 2]  # the fewest passes of at most 2
    # where a pass costs far more than padding (a GPU), short windows ride along with the long one
    assert _length_batches([250, 10, 12, 11, 10, 13], 32, overhead_tokens=150_000) == [[1, 4, 3, 2, 5, 0]]


def test_long_context_is_windowed_without_dropping_tokens(id_pruner: ContextPruner) -> None:
    body = " ".join(f"Sentence number {i} talks about rivers and stones." for i in range(120))
    context = body + f" The final {NEEDLE} sentence."
    scored = id_pruner._score_tokens([("Where is it?", context)])[0]
    assert scored.n_windows > 10
    ids = id_pruner.tokenizer(context, add_special_tokens=False)["input_ids"]
    expected = torch.sigmoid(IdModel.token_logit(torch.tensor(ids))).numpy()
    assert len(scored.probs) == len(ids)
    assert scored.probs == pytest.approx(expected, abs=1e-6)  # every token, windowed == unwindowed
    # The needle sits only in the last window: the rerank score is the max over windows.
    assert scored.rerank == pytest.approx(1 / (1 + math.exp(-4)))
    assert id_pruner.rerank("Where is it?", [body])[0] == pytest.approx(1 / (1 + math.exp(4)))
    result = id_pruner.prune("Where is it?", context, threshold=0.0)[0]
    assert result.sentences[-1] == f"The final {NEEDLE} sentence."


def test_hundred_thousand_characters_finish(pruner: ContextPruner) -> None:
    context = ("The river flows north through the old town. " * 2300)[:100_000]
    started = time.perf_counter()
    result = pruner.prune("Where does the river flow?", context, threshold=0.0)[0]
    assert time.perf_counter() - started < 60
    assert result.pruned == context.strip()
    assert len(result.sentences) > 2000


def test_batch_equals_single_calls(pruner: ContextPruner) -> None:
    questions = ["Who wrote Hamlet?", "What flows through Paris?"]
    contexts = [[CONTEXT, "Short one."], ["The Seine flows. It is long.", "", CONTEXT]]
    batch = pruner.prune_batch(questions, contexts, threshold=0.5)
    single = [pruner.prune(q, c, threshold=0.5) for q, c in zip(questions, contexts)]
    assert [[r.kept for r in rs] for rs in batch] == [[r.kept for r in rs] for rs in single]
    for rs_b, rs_s in zip(batch, single):
        for b, s in zip(rs_b, rs_s):
            assert b.sentence_scores == pytest.approx(s.sentence_scores, abs=1e-5)
            assert b.rerank == pytest.approx(s.rerank, abs=1e-5)


def test_result_fields(pruner: ContextPruner) -> None:
    [result] = pruner.prune("Who wrote Hamlet?", CONTEXT, threshold=0.5)
    assert result.sentences == ["Hamlet is a tragedy by William Shakespeare.", "It was written around 1600.",
                                "Paris is the capital of France.", "The Seine flows through Paris."]
    assert len(result.sentence_scores) == 4 and all(0 <= s <= 1 for s in result.sentence_scores)
    assert 0 <= result.rerank <= 1 and result.original_chars == len(CONTEXT)
    assert pruner.rerank("Who wrote Hamlet?", [CONTEXT]) == pytest.approx([result.rerank])


def test_always_keep_first(pruner: ContextPruner, tiny) -> None:  # noqa: ANN001
    model, tokenizer = tiny
    keep_first = ContextPruner((model, tokenizer, {"max_length": 64}), always_keep_first=True)
    assert keep_first.prune("Who?", CONTEXT, threshold=1.0)[0].kept == [0]
    assert pruner.prune("Who?", CONTEXT, threshold=1.0)[0].kept == []
    assert keep_first.prune("Who?", "", threshold=1.0)[0].kept == []


def test_score_spans_matches_sentence_scores(pruner: ContextPruner) -> None:
    result = pruner.prune("Who wrote Hamlet?", CONTEXT, threshold=0.0)[0]
    spans, start = [], 0
    for sentence in result.sentences:
        start = CONTEXT.index(sentence, start)
        spans.append((start, start + len(sentence)))
        start += len(sentence)
    assert pruner.score_spans("Who wrote Hamlet?", CONTEXT, spans) == pytest.approx(result.sentence_scores)
    assert pruner.score_spans("Who wrote Hamlet?", CONTEXT, [(3, 3)]) == [0.0]
    assert len(pruner.score_texts("Who?", ["a b", ""])) == 2 and pruner.score_texts("Who?", [""]) == [0.0]


def test_default_threshold_comes_from_config(tiny) -> None:  # noqa: ANN001
    model, tokenizer = tiny
    assert ContextPruner((model, tokenizer, {"threshold": 0.2})).default_threshold == 0.2
    assert ContextPruner((model, tokenizer, {"threshold": 0.2}), threshold=0.7).default_threshold == 0.7
    assert ContextPruner((model, tokenizer, {})).default_threshold == 0.5


# ---------------------------------------------------------------- bad input

def test_empty_context_list_gives_empty_result(pruner: ContextPruner) -> None:
    assert pruner.prune("Who?", []) == []


@pytest.mark.parametrize("context", ["", "   ", "\n\t \n"])
def test_empty_or_whitespace_context_is_defined(pruner: ContextPruner, context: str) -> None:
    [result] = pruner.prune("Who?", context, threshold=0.0)
    assert (result.pruned, result.kept, result.sentences, result.rerank) == ("", [], [], 0.0)
    assert result.original_chars == len(context)
    assert pruner.rerank("Who?", [context]) == [0.0]


@pytest.mark.parametrize("threshold", [-0.1, 1.5, float("nan"), True, "0.5", [0.5]])
def test_invalid_threshold_raises_one_line(pruner: ContextPruner, tiny, threshold) -> None:  # noqa: ANN001
    with pytest.raises(RagpruneError, match=r"^threshold=.* is not valid") as info:
        pruner.prune("Who?", CONTEXT, threshold=threshold)
    assert "\n" not in str(info.value)
    with pytest.raises(RagpruneError, match="threshold"):
        ContextPruner((*tiny, {}), threshold=threshold)


@pytest.mark.parametrize("max_tokens", [0, -5, 2.5, True])
def test_invalid_max_tokens(pruner: ContextPruner, max_tokens) -> None:  # noqa: ANN001
    with pytest.raises(RagpruneError, match=r"^max_tokens=.* is not valid"):
        pruner.prune("Who?", CONTEXT, max_tokens=max_tokens)


@pytest.mark.parametrize(("question", "contexts", "match"), [
    ("", [CONTEXT], "question"),
    ("   ", [CONTEXT], "question"),
    (None, [CONTEXT], "question must be a string"),
    ("Who?", [CONTEXT, 3], r"contexts\[1\] must be a string"),
    ("Who?", 42, "contexts must be a string or a list"),
    ("Who?", ["Fine.", "abc \ud800"], r"^contexts\[1\] is not valid Unicode text \(a lone surrogate at character 4\)"),
    ("Who?", "abc \udfff", r"^contexts is not valid Unicode text \(a lone surrogate at character 4\)"),
    ("W\ud800ho?", [CONTEXT], r"^question is not valid Unicode text \(a lone surrogate at character 1\)"),
])
def test_bad_question_or_contexts(pruner: ContextPruner, question, contexts, match) -> None:  # noqa: ANN001
    with pytest.raises(RagpruneError, match=match) as info:
        pruner.prune(question, contexts)
    assert "\n" not in str(info.value)


def test_bad_batch_shapes(pruner: ContextPruner) -> None:
    with pytest.raises(RagpruneError, match="one list of contexts per question"):
        pruner.prune_batch(["a?", "b?"], [[CONTEXT]])
    with pytest.raises(RagpruneError, match=r"contexts_per_question\[1\]\[0\] must be a string"):
        pruner.prune_batch(["a?", "b?"], [[CONTEXT], [None]])


def test_bad_constructor_options_fail_before_loading() -> None:
    for kwargs, name in [({"batch_size": 0}, "batch_size"), ({"precision": "fp8"}, "precision"),
                         ({"max_question_tokens": 0}, "max_question_tokens"), ({"window_overlap": -1}, "window_overlap")]:
        with pytest.raises(RagpruneError, match=f"^{name}="):
            ContextPruner("/nonexistent/checkpoint", **kwargs)
    with pytest.raises(RagpruneError, match="not a pruner checkpoint"):
        ContextPruner("/nonexistent/checkpoint").prune("Who?", "Text.")


@pytest.mark.parametrize("cuda, expected", [(False, None), (True, "cuda")])
def test_default_device_is_cuda_when_there_is_one(monkeypatch, cuda: bool, expected: str | None) -> None:
    import torch

    import ragprune.sentence.model as model_module

    asked = []

    def fake_load(path, *, device=None):  # noqa: ANN001, ANN202 - records the device the pruner asks for
        asked.append(device)
        raise RagpruneError("stop here")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(model_module, "load_pruner_model", fake_load)
    with pytest.raises(RagpruneError, match="stop here"):
        ContextPruner().prune("Who?", "Text.")
    assert asked == [expected]


def test_bad_device_is_one_line_error() -> None:
    with pytest.raises(RagpruneError, match=r"^device='tpu' is not valid: ") as info:
        ContextPruner(device="tpu").prune("Who?", "Text.")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "int8"])
def test_precisions_agree_and_leave_the_passed_model_alone(tiny, precision: str) -> None:  # noqa: ANN001
    model, tokenizer = tiny
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = {"max_length": 64, "threshold": 0.5}
    reference = ContextPruner((model, tokenizer, config), precision="float32").prune("Who?", [CONTEXT])[0]
    result = ContextPruner((model, tokenizer, config), precision=precision).prune("Who?", [CONTEXT])[0]
    tolerance = {"float32": 0.0, "bfloat16": 0.02, "int8": 0.1}[precision]
    assert result.sentences == reference.sentences
    assert max(abs(a - b) for a, b in zip(result.sentence_scores, reference.sentence_scores)) <= tolerance
    after = model.state_dict()
    assert all(after[k].dtype == v.dtype and torch.equal(after[k], v) for k, v in before.items())


def test_auto_precision_follows_native_bfloat16(tiny) -> None:  # noqa: ANN001
    from ragprune.sentence.pruner import has_native_bfloat16

    model, tokenizer = tiny
    pruner = ContextPruner((model, tokenizer, {"max_length": 64}))
    assert pruner.active_precision is None
    pruner.prune("Who?", [CONTEXT])
    assert pruner.active_precision == ("bfloat16" if has_native_bfloat16("cpu") else "float32")


def test_bad_spans(pruner: ContextPruner) -> None:
    with pytest.raises(RagpruneError, match=r"spans\[0\]=\(5, 2\) is not valid"):
        pruner.score_spans("Who?", "Hello world.", [(5, 2)])
    with pytest.raises(RagpruneError, match=r"spans\[1\]"):
        pruner.score_spans("Who?", "Hello world.", [(0, 5), (0, 99)])


def test_very_long_question_is_truncated_with_a_warning(tiny) -> None:  # noqa: ANN001
    model, tokenizer = tiny
    pruner = ContextPruner((model, tokenizer, {"max_length": 64}))
    question = "Why " + "is the sky blue and the sea green " * 300 + "?"
    with pytest.warns(UserWarning, match="truncated to its first 16 tokens"):
        [result] = pruner.prune(question, CONTEXT, threshold=0.0)
    assert result.kept == [0, 1, 2, 3]
    assert len(pruner._question_ids(question)) == 16


@pytest.mark.parametrize("context", [
    "Москва — столица России. Город стоит на реке Москве.",
    "北京是中国的首都。上海是最大的城市。",
    "القاهرة هي عاصمة مصر. يمر نهر النيل بالمدينة.",
    "Ein Satz. Noch ein Satz mit Umlauten: äöü ß.",
])
def test_non_english_text(pruner: ContextPruner, context: str) -> None:
    [result] = pruner.prune("Какая столица?", context, threshold=0.0)
    assert len(result.sentences) == 2 and result.kept == [0, 1]
    assert result.pruned == context
    assert all(0 <= s <= 1 for s in result.sentence_scores)


# ---------------------------------------------------------------- signal (the trained default checkpoint)

def _checkpoint_ready() -> bool:
    return (DEFAULT_CHECKPOINT / "model.safetensors").exists() and (DEFAULT_CHECKPOINT / "config.json").exists()


@pytest.mark.skipif(not _checkpoint_ready(), reason="the trained default checkpoint is not committed yet")
def test_issue_5_default_model_keeps_gold_sentence() -> None:
    """On held-out SQuAD validation paragraphs the default model keeps the gold sentence and prunes a lot."""
    rows = [json.loads(line) for line in (FIXTURES / "squad_val_gold_sentences.jsonl").read_text().splitlines()]
    pruner = ContextPruner()
    results = pruner.prune_batch([r["question"] for r in rows], [[r["context"]] for r in rows])
    kept_gold = [r["gold_sentence"] in res[0].kept for r, res in zip(rows, results)]
    assert all(r["context"][slice(*r["gold_span"])] in res[0].pruned for r, res in zip(rows, results)
               if r["gold_sentence"] in res[0].kept)
    assert sum(kept_gold) / len(rows) >= 0.8, kept_gold
    compression = sum(res[0].compression for res in results) / len(rows)
    assert compression >= 0.4, compression
    # Off-topic question: the rerank score of a gold paragraph beats that of a paragraph about something else.
    gold = [res[0].rerank for res in results]
    other = pruner.rerank(rows[0]["question"], [r["context"] for r in rows[1:]
                                                 if r["title"] != rows[0]["title"]])
    assert gold[0] > max(other)


@pytest.mark.parametrize("spans", [
    lambda t: [(t.index("The"), len(t)), (0, t.index("The"))],  # out of order: scored the wrong tokens before
    lambda t: [(-3, 5), (5, len(t))],
    lambda t: [(0, 10), (5, len(t))],
    lambda t: [(0, len(t) + 4)],
])
def test_a_custom_splitter_with_bad_spans_is_a_clear_error(tiny, spans) -> None:  # noqa: ANN001
    pruner = ContextPruner((*tiny, {"max_length": 64}), splitter=spans, precision="float32")
    with pytest.raises(RagpruneError, match="spans must lie in the text, ascending, not overlapping"):
        pruner.prune("Who designed the tower?", ["Bananas are yellow. The tower was designed by Eiffel."])


def test_a_custom_splitter_with_good_spans_is_used(tiny) -> None:  # noqa: ANN001
    text = "Bananas are yellow. The tower was designed by Eiffel."
    cut = text.index("The")
    pruner = ContextPruner((*tiny, {"max_length": 64}), splitter=lambda t: [(0, cut - 1), (cut, len(t))],
                           threshold=0.0, precision="float32")
    (result,) = pruner.prune("Who designed the tower?", [text])
    assert result.kept == [0, 1] and result.pruned == text
