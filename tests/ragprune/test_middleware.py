"""ragprune.middleware: the plain-Python call, its options and the failure policy (issue 7)."""
from __future__ import annotations

import doctest
import logging
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import ragprune.middleware as mw
from ragprune.errors import RagpruneError
from ragprune.middleware import PruneOptions, is_html, prune_documents, prune_passages
from tests.ragprune._middleware_fakes import BERLIN, CATS, PARIS, QUESTION, FakeHtmlPruner, FakePruner

HTML = "<html><body><nav><p>Home</p></nav><p>Paris is the capital of France.</p><p>Buy shoes now.</p></body></html>"


def test_strings_in_strings_out_in_retrieval_order():
    out = prune_documents(QUESTION, [CATS, BERLIN, PARIS], pruner=FakePruner())
    assert out == ["Berlin is the capital of Germany. Germany borders France.", "Paris is the capital of France."]


def test_dicts_in_dicts_out_with_metadata_and_extra_keys_kept():
    docs = [{"text": PARIS, "id": "p", "score": 0.3}, {"text": CATS, "id": "c"}]
    out = prune_documents(QUESTION, docs, pruner=FakePruner())
    assert [d["id"] for d in out] == ["p"]
    assert out[0]["text"] == "Paris is the capital of France."
    assert out[0]["score"] == 0.3
    meta = out[0]["ragprune"]
    assert meta["rerank_score"] == 1.0 and meta["kept_sentences"] == [0]
    assert meta["original_length"] == len(PARIS) and meta["fallback"] is None
    assert meta["compression"] == pytest.approx(1 - len(out[0]["text"]) / len(PARIS))
    assert docs[0]["text"] == PARIS  # input not mutated


def test_dicts_custom_text_key_and_no_metadata():
    out = prune_documents(QUESTION, [{"page": PARIS}], pruner=FakePruner(), text_key="page", metadata_key=None)
    assert out == [{"page": "Paris is the capital of France."}]


def test_reorder_by_rerank_score():
    out = prune_documents(QUESTION, [BERLIN, PARIS], pruner=FakePruner(), reorder=True)
    assert out[0].startswith("Paris") and out[1].startswith("Berlin")
    assert prune_documents(QUESTION, [BERLIN, PARIS], pruner=FakePruner())[0].startswith("Berlin")


def test_top_k_keeps_highest_rerank():
    out = prune_documents(QUESTION, [BERLIN, PARIS], pruner=FakePruner(), top_k=1)
    assert out == ["Paris is the capital of France."]


def test_threshold_zero_keeps_everything():
    out = prune_documents(QUESTION, [PARIS, CATS], pruner=FakePruner(), threshold=0.0)
    assert out == [PARIS, CATS]


def test_max_tokens_is_a_budget_over_all_passages():
    pruner = FakePruner()
    docs = [BERLIN, PARIS, BERLIN.replace("Berlin", "Bonn")]
    full = prune_documents(QUESTION, docs, pruner=pruner, min_kept=0)
    full_tokens = sum(pruner.count_tokens(t) for t in full)
    for budget in (1, 5, 6, 9, 12, full_tokens - 1):
        out = prune_documents(QUESTION, docs, pruner=pruner, max_tokens=budget, min_kept=0)
        assert sum(pruner.count_tokens(t) for t in out) <= budget
    # the best sentence (score 1.0, 6 tokens) wins the budget over the 0.5 ones
    assert prune_documents(QUESTION, docs, pruner=pruner, max_tokens=6) == ["Paris is the capital of France."]
    assert prune_documents(QUESTION, docs, pruner=pruner, max_tokens=10_000) == full


def test_budget_keeps_sentence_order_inside_a_passage():
    text = "France has a capital. Cats purr. The capital of France is Paris."
    out = prune_documents(QUESTION, [text], pruner=FakePruner(), threshold=0.0, max_tokens=11)
    assert out == ["France has a capital. The capital of France is Paris."]


def test_min_kept_restores_best_sentence_and_zero_allows_empty():
    out = prune_documents(QUESTION, [CATS, "Dogs bark. The capital idea."], pruner=FakePruner(), threshold=0.9)
    assert out == ["The capital idea."]
    out = prune_documents(QUESTION, [{"text": CATS}], pruner=FakePruner())
    assert out[0]["ragprune"]["fallback"] == "min_kept" and out[0]["text"] == "Cats sleep a lot."
    assert prune_documents(QUESTION, [CATS], pruner=FakePruner(), min_kept=0) == []
    assert len(prune_documents(QUESTION, [CATS, CATS, CATS], pruner=FakePruner(), min_kept=2)) == 2
    # more than given: all of them
    assert len(prune_documents(QUESTION, [CATS], pruner=FakePruner(), min_kept=3)) == 1


def test_empty_input():
    assert prune_documents(QUESTION, [], pruner=FakePruner()) == []


def test_is_html_sniffing_and_metadata():
    assert is_html(HTML)
    assert is_html("<!DOCTYPE html><title>x</title>")
    assert is_html("<div><p>a</p><p>b</p></div>")
    assert not is_html("if a < b and b > c then <x>")
    assert not is_html(PARIS)
    assert is_html("plain words", {"content_type": "text/html"})
    assert not is_html(HTML, {"mime_type": "text/plain"})


def test_is_html_skips_leading_comments_in_linear_time():
    """The comment skip was a backtracking regex: 22 leading comments took 0.6 s, each one more doubled it."""
    comments = "<!-- generated file: do not edit -->\n" * 200
    start = time.monotonic()
    assert not is_html(comments + "Shakespeare wrote Hamlet.")
    assert is_html(comments + "<!DOCTYPE html><html><body>x</body></html>")
    assert time.monotonic() - start < 1.0
    assert is_html('<?xml version="1.0"?>\n<!-- a <b> --> <!-- c --><html>')
    assert not is_html("<!-- never closed <html>")


def test_html_goes_through_html_pruner_and_gets_rerank():
    html_pruner, pruner = FakeHtmlPruner(), FakePruner()
    out = prune_documents(QUESTION, [{"text": HTML, "id": 1}, {"text": PARIS, "id": 2}], pruner=pruner,
                          html_pruner=html_pruner)
    assert html_pruner.calls == [HTML]
    assert out[0]["text"] == "Paris is the capital of France."
    assert out[0]["ragprune"]["rerank_score"] == 1.0
    assert pruner.calls == [("prune", 2)]  # the HTML pruner's text is sentence-pruned with the rest
    pruner.calls.clear()
    out = prune_documents(QUESTION, [HTML], pruner=pruner, html_pruner=html_pruner, html_output="html")
    assert out == ["<p>Paris is the capital of France.</p>"] and pruner.calls == [("rerank", 1)]
    # html=False forces text handling
    unused = FakeHtmlPruner()
    out = prune_documents(QUESTION, [{"text": HTML}], pruner=pruner, html_pruner=unused, html=False)
    assert unused.calls == [] and out[0]["ragprune"]["fallback"] is None


def test_html_text_output_is_sentence_pruned_after_the_block_stage():
    page = "<html><body><p>Paris is the capital of France. It rains a lot there.</p><p>Shoes.</p></body></html>"
    out = prune_documents(QUESTION, [{"text": page}], pruner=FakePruner(), html_pruner=FakeHtmlPruner())
    assert out[0]["text"] == "Paris is the capital of France."
    assert out[0]["ragprune"]["original_length"] == len(page) and out[0]["ragprune"]["kept_sentences"] == [0]
    budget = prune_documents(QUESTION, [page, PARIS], pruner=FakePruner(), html_pruner=FakeHtmlPruner(),
                             max_tokens=6)
    assert budget == ["Paris is the capital of France."]


# ---------------------------------------------------------------- failure policy


@pytest.mark.parametrize("error", [RuntimeError("CUDA out of memory"), RagpruneError("checkpoint missing")])
def test_model_error_fails_open_unpruned_marked_and_logged(error, caplog):
    docs = [{"text": PARIS}, {"text": CATS}]
    with caplog.at_level(logging.WARNING, logger="ragprune.middleware"):
        out = prune_documents(QUESTION, docs, pruner=FakePruner(fail=error))
    assert [d["text"] for d in out] == [PARIS, CATS]
    assert all(d["ragprune"]["fallback"] == "model_error" for d in out)
    assert any("fail-open" in r.getMessage() for r in caplog.records)


def test_model_error_fails_closed():
    with pytest.raises(RagpruneError, match="model_error.*RuntimeError: boom"):
        prune_documents(QUESTION, [PARIS], pruner=FakePruner(fail=RuntimeError("boom")), on_failure="closed")


def test_html_pruner_error_follows_policy():
    out = prune_documents(QUESTION, [HTML, PARIS], pruner=FakePruner(), html_pruner=FakeHtmlPruner(fail=KeyError("x")))
    assert out == [HTML, PARIS]
    with pytest.raises(RagpruneError):
        prune_documents(QUESTION, [HTML], pruner=FakePruner(), html_pruner=FakeHtmlPruner(fail=KeyError("x")),
                        on_failure="closed")


def test_default_model_loads_before_the_timeout_starts(monkeypatch):
    """The default pruner loaded its model inside the timed call, so a first call always timed out unpruned."""
    class LazyPruner(FakePruner):
        """Loads its model on first use, as ContextPruner does; reading ``tokenizer`` loads it."""
        loaded = False

        @property
        def tokenizer(self):
            if not self.loaded:
                time.sleep(0.5)  # loading the model
                self.loaded = True

        def prune(self, *args, **kwargs):
            _ = self.tokenizer
            return super().prune(*args, **kwargs)

    monkeypatch.setattr("ragprune.sentence.pruner.ContextPruner", LazyPruner)
    monkeypatch.setattr(mw, "_DEFAULTS", {})
    out = prune_documents(QUESTION, [{"text": PARIS}], timeout=0.25)
    assert out[0]["ragprune"]["fallback"] is None and out[0]["text"] == "Paris is the capital of France."


def test_timeout_fails_open_and_closed():
    slow = FakePruner(delay=0.5)
    out = prune_passages(QUESTION, [PARIS, CATS], pruner=slow, options=PruneOptions(timeout=0.05))
    assert [p.text for p in out] == [PARIS, CATS] and {p.fallback for p in out} == {"timeout"}
    with pytest.raises(RagpruneError, match="timeout"):
        prune_documents(QUESTION, [PARIS], pruner=slow, timeout=0.05, on_failure="closed")
    # a fast call under a timeout is pruned normally
    assert prune_documents(QUESTION, [PARIS], pruner=FakePruner(), timeout=5) == ["Paris is the capital of France."]


_TIMEOUT_SCRIPT = textwrap.dedent("""
    import sys, time
    from ragprune.middleware import prune_documents
    from tests.ragprune._middleware_fakes import PARIS, QUESTION, FakePruner, tiny_context_pruner

    class Slow(FakePruner):
        def prune(self, *args, **kwargs):
            out = super().prune(*args, **kwargs)  # sleeps `delay` first
            print("worker finished", flush=True)
            return out

    pruner = Slow(delay=1.0) if sys.argv[1] == "fake" else tiny_context_pruner()
    docs = [{"text": PARIS}] * (1 if sys.argv[1] == "fake" else 30)
    start = time.monotonic()
    out = prune_documents(QUESTION, docs, pruner=pruner, timeout=0.001)
    print(out[0]["ragprune"]["fallback"], time.monotonic() - start < 0.5, flush=True)
""")


@pytest.mark.parametrize("kind", ["fake", pytest.param("tiny", marks=pytest.mark.slow)])
def test_timed_out_call_returns_at_once_and_the_process_still_exits_cleanly(kind):
    """The late worker was a daemon thread: killed at exit (the fake's work never ended) or, inside torch,
    aborting the interpreter ("terminate called without an active exception", exit code 134)."""
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", _TIMEOUT_SCRIPT, kind], cwd=root, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(root), "HF_HUB_OFFLINE": "1",
                                            "TRANSFORMERS_OFFLINE": "1"})
    assert done.returncode == 0 and "terminate called" not in done.stderr, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert "timeout True" in lines  # failed open, promptly
    if kind == "fake":
        assert lines == ["timeout True", "worker finished"]  # the late worker was joined at exit, not killed


def test_oversize_input_fails_open_without_calling_the_model_and_closed_raises():
    pruner = FakePruner()
    out = prune_documents(QUESTION, [{"text": PARIS}, {"text": CATS}], pruner=pruner, max_input_chars=50)
    assert [d["text"] for d in out] == [PARIS, CATS] and out[0]["ragprune"]["fallback"] == "oversize"
    assert pruner.calls == []
    with pytest.raises(RagpruneError, match="oversize"):
        prune_documents(QUESTION, [PARIS], pruner=pruner, max_input_chars=50, on_failure="closed")


def test_fail_open_never_drops_passages_even_with_min_kept_zero():
    out = prune_documents(QUESTION, [CATS], pruner=FakePruner(fail=OSError("disk")), min_kept=0)
    assert out == [CATS]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("kwargs, name", [
    ({"threshold": 1.5}, "threshold"), ({"threshold": True}, "threshold"), ({"threshold": float("nan")}, "threshold"),
    ({"max_tokens": 0}, "max_tokens"), ({"max_tokens": 2.5}, "max_tokens"), ({"top_k": 0}, "top_k"),
    ({"min_kept": -1}, "min_kept"), ({"min_kept": None}, "min_kept"), ({"on_failure": "ignore"}, "on_failure"),
    ({"timeout": 0}, "timeout"), ({"max_input_chars": 0}, "max_input_chars"), ({"reorder": 1}, "reorder"),
    ({"html": "yes"}, "html"), ({"html_output": "md"}, "html_output"), ({"top_k": 1, "min_kept": 2}, "min_kept"),
])
def test_bad_options_raise_one_line_error_naming_the_parameter(kwargs, name):
    pruner = FakePruner()
    with pytest.raises(RagpruneError) as info:
        prune_documents(QUESTION, [PARIS], pruner=pruner, **kwargs)
    message = str(info.value)
    assert message.startswith(f"{name}=") and "\n" not in message
    assert pruner.calls == []  # validated before any model call


@pytest.mark.parametrize("documents", ["a string", [PARIS, {"text": PARIS}], [{"body": PARIS}], [1, 2], None])
def test_bad_documents_raise(documents):
    with pytest.raises(RagpruneError) as info:
        prune_documents(QUESTION, documents, pruner=FakePruner())
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("documents, kwargs, message", [
    ([{"body": PARIS, 7: "y"}], {}, "documents[0] has no 'text' key (keys: [7, 'body']): pass text_key=..."),
    (["a\ud800b"], {}, "documents[0] is not valid Unicode text (a lone surrogate at character 1)."),
    ([{"text": "a\ud800b"}], {}, "documents[0]['text'] is not valid Unicode text (a lone surrogate at character 1)."),
    ([PARIS.encode()], {}, "documents[0] is bytes: the text must be a str (decode it first)."),
    ([PARIS, bytearray(b"x")], {}, "documents[1] is bytearray: the text must be a str (decode it first)."),
    ([{"text": PARIS.encode()}], {}, "documents[0]['text'] is bytes: the text must be a str (decode it first)."),
    ([{"text": None}], {}, "documents[0]['text']=None is not valid: use a string."),
    ([{"text": PARIS}], {"metadata_key": "text"}, "metadata_key='text' is not valid: use a string other than "
                                                  "text_key='text' (it would replace the text), or None."),
    ([{"page": PARIS}], {"text_key": "page", "metadata_key": "page"}, "metadata_key='page' is not valid"),
    ([{"text": PARIS}], {"text_key": ["text"]}, "text_key=['text'] is not valid: use a string."),
    ([PARIS], {"metadata_key": 3}, "metadata_key=3 is not valid"),
])
def test_bad_document_is_a_one_line_error_before_any_model_call(documents, kwargs, message):
    """A bad document is the caller's error: it was a raw TypeError, a misleading message, a silently
    overwritten text, or (a lone surrogate) a model error that fail-open hid."""
    pruner = FakePruner()
    with pytest.raises(RagpruneError) as info:
        prune_documents(QUESTION, documents, pruner=pruner, **kwargs)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert pruner.calls == []


@pytest.mark.parametrize("question, passages, message", [
    (QUESTION, [PARIS, "x\udc00"], "passages[1] is not valid Unicode text (a lone surrogate at character 1)."),
    ("Who\ud800?", [PARIS], "question is not valid Unicode text (a lone surrogate at character 3)."),
    (QUESTION, [b"x"], "passages[0] is bytes: the text must be a str (decode it first)."),
    (QUESTION, "one passage", "passages='one passage' is not valid: use a list of strings."),
    (QUESTION, None, "passages=None is not valid: use a list of strings."),
])
def test_prune_passages_refuses_bad_text_for_the_adapters_too(question, passages, message):
    with pytest.raises(RagpruneError, match=f"^{re.escape(message)}$"):
        prune_passages(question, passages, pruner=FakePruner())


def test_numpy_numbers_are_accepted_as_options_and_stored_as_python_numbers():
    options = PruneOptions(threshold=np.float32(0.5), max_tokens=np.int64(5), top_k=np.int32(2),
                           min_kept=np.int64(1), timeout=np.float64(5), max_input_chars=np.uint32(10_000))
    assert options == PruneOptions(threshold=0.5, max_tokens=5, top_k=2, min_kept=1, timeout=5.0,
                                   max_input_chars=10_000)
    assert type(options.threshold) is float and type(options.max_tokens) is int and type(options.top_k) is int
    out = prune_documents(QUESTION, [BERLIN, PARIS], pruner=FakePruner(), threshold=np.float32(0.5),
                          max_tokens=np.int64(6))
    assert out == ["Paris is the capital of France."]
    for bad in ({"max_tokens": np.int64(0)}, {"threshold": np.float32(1.5)}, {"threshold": np.bool_(True)},
                {"top_k": np.float64(2.0)}):
        with pytest.raises(RagpruneError, match=f"^{next(iter(bad))}="):
            PruneOptions(**bad)


def test_bad_pruner_output_is_a_model_error():
    class Short(FakePruner):
        def prune(self, question, contexts, **kw):  # one result too few
            return super().prune(question, contexts, **kw)[:-1]
    out = prune_documents(QUESTION, [{"text": PARIS}, {"text": CATS}], pruner=Short())
    assert out[0]["ragprune"]["fallback"] == "model_error"


def test_docstring_examples_run():
    failures, tried = doctest.testmod(mw, verbose=False)[:2]
    assert tried > 0 and failures == 0


# ---------------------------------------------------------------- the real pruners


def test_real_context_pruner_invariants():
    from tests.ragprune._middleware_fakes import tiny_context_pruner

    pruner = tiny_context_pruner()
    docs = [PARIS, BERLIN * 4, CATS]
    assert prune_documents(QUESTION, docs, pruner=pruner, threshold=0.0) == [d.strip() for d in docs]
    out = prune_documents(QUESTION, [{"text": d} for d in docs], pruner=pruner, reorder=True, threshold=0.0)
    scores = [d["ragprune"]["rerank_score"] for d in out]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(pruner.rerank(QUESTION, docs), reverse=True)
    for budget in (3, 10, 25):
        kept = prune_documents(QUESTION, docs, pruner=pruner, threshold=0.0, max_tokens=budget, min_kept=0)
        assert sum(pruner.count_tokens(t) for t in kept) <= budget
        for text in kept:  # every kept sentence comes from an input passage
            assert any(part.strip() in "".join(docs) for part in text.split(". "))
    assert len(prune_documents(QUESTION, docs, pruner=pruner, threshold=1.0)) == 1  # min_kept=1


def test_real_html_pruner_then_sentence_pruner():
    from tests.ragprune._middleware_fakes import real_html_pruner, tiny_context_pruner

    page = ("<html><body><nav><a href='/'>Home</a> <a href='/x'>Shop</a></nav><p>Paris is the capital of France.</p>"
            "<p>Berlin is the capital of Germany.</p></body></html>")
    out = prune_documents(QUESTION, [{"text": page, "id": 1}], pruner=tiny_context_pruner(),
                          html_pruner=real_html_pruner(), threshold=0.0)
    assert "<" not in out[0]["text"] and "Paris is the capital of France." in out[0]["text"]
    assert out[0]["ragprune"]["fallback"] is None and out[0]["ragprune"]["original_length"] == len(page)
    html_out = prune_documents(QUESTION, [page], pruner=tiny_context_pruner(), html_pruner=real_html_pruner(),
                               html_output="html", max_tokens=16)
    assert html_out[0].startswith("<") and "Paris" in html_out[0]


def test_html_page_whose_blocks_are_all_over_budget_gives_its_best_sentence_not_the_page():
    """No block fits max_tokens=16, so the HTML stage keeps nothing; its best block must still reach the sentence
    stage (and the min_kept restore), instead of the restore returning the raw page with its style, nav and footer."""
    from tests.ragprune._middleware_fakes import real_html_pruner

    page = ("<html><head><style>body{color:red}</style></head><body><nav><a href='/'>Home</a> <a href='/n'>News</a>"
            "</nav><p>Paris is the capital and largest city of France. It has many museums and the Eiffel tower.</p>"
            "<p>Berlin is the capital and largest city of Germany. It is known for its history and its wall.</p>"
            "<footer>Copyright 2024 Example Inc. All rights reserved.</footer></body></html>")
    html_pruner, best = real_html_pruner(), "Berlin is the capital and largest city of Germany."
    assert html_pruner.prune(page, "What is the capital of Germany?", max_tokens=16).text == ""  # the premise
    out = prune_documents("What is the capital of Germany?", [{"text": page}], pruner=FakePruner(),
                          html_pruner=html_pruner, max_tokens=16)
    assert out[0]["text"] == best and out[0]["ragprune"]["fallback"] is None
    restored = prune_documents("Capital of Germany today?", [{"text": page}], pruner=FakePruner(),
                               html_pruner=html_pruner, max_tokens=16, threshold=1.0)
    assert restored[0]["text"] == best and restored[0]["ragprune"]["fallback"] == "min_kept"
    as_html = prune_documents("What is the capital of Germany?", [{"text": page}], pruner=FakePruner(),
                              html_pruner=html_pruner, max_tokens=16, html_output="html")
    assert as_html[0]["ragprune"]["fallback"] == "min_kept"  # the best block's text, not the raw page
    assert as_html[0]["text"].startswith("<p>Berlin is the capital") and "<style>" not in as_html[0]["text"]


@pytest.mark.slow
def test_issue_7_readme_example_runs_as_written():
    """docs/middleware_example.py (the README's retriever -> ragprune -> LLM prompt example) runs offline."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from ragprune.sentence.model import DEFAULT_CHECKPOINT

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(root / "docs" / "middleware_example.py")], cwd=root,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Question: When was the Eiffel Tower completed?" in done.stdout
    assert "completed on 31 March 1889" in done.stdout  # the answer sentence reaches the prompt
    lines = [line for line in done.stdout.splitlines() if line.startswith("# rerank=")]
    assert 1 <= len(lines) <= 3
    if (Path(DEFAULT_CHECKPOINT) / "config.json").exists():  # with the shipped model it really prunes
        assert all("fallback=None" in line for line in lines), done.stdout
