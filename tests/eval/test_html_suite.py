"""``python -m eval html --quick`` on a tiny data root built from shipped fixtures."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from eval.__main__ import main
from eval.report import render_markdown

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "html"

PARAGRAPHS = [
    ("The lighthouse on the northern cape was built in 1871 by the harbour board. It is 31 metres tall.",
     [("When was the lighthouse built?", ["1871"]), ("How tall is the lighthouse?", ["31 metres"])]),
    ("The town museum holds a collection of ship models and maps. It opens every day at nine o'clock.",
     [("What does the museum hold?", ["ship models and maps", "ship models"])]),
]


def _explorer_page() -> str:
    parts = []
    for text, qas in PARAGRAPHS:
        qa_html = "".join(
            f'<div class="qa-wrap" data-id="x"><p><strong class="question">{q}</strong></p><ul><li><p><i>Ground '
            f'Truth Answers: </i>' + "".join(f'<span class="answer">{a}</span>' for a in answers) + "</p></li></ul></div>"
            for q, answers in qas)
        parts.append(f'<div class="para-wrap"><div class="row"><div class="col-md-6"><pre>{text}</pre></div>'
                     f'<div class="col-md-6"><div class="qas-wrap">{qa_html}</div></div></div></div>')
    return ("<!DOCTYPE html><html><head><title>SQuAD</title></head><body><div class='navbar'><a href='/'>Home</a>"
            "</div><h1 id='title'>Cape</h1><div>" + "".join(parts) + "</div></body></html>")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    squad = root / "squad" / "explorer_html" / "1.1_dev"
    squad.mkdir(parents=True)
    (squad / "Cape.html.gz").write_bytes(gzip.compress(_explorer_page().encode("utf-8")))
    traf = root / "html_trafilatura_eval"
    (traf / "eval").mkdir(parents=True)
    (traf / "cache").mkdir()
    gold = json.loads((FIXTURES / "traf_gold.json").read_text(encoding="utf-8"))
    evaldata = {}
    for i, (name, entry) in enumerate(gold.items()):
        (traf / "eval" / f"{name}.gz").write_bytes((FIXTURES / f"traf_{name}.gz").read_bytes())
        evaldata[f"https://example.org/{i}"] = {"file": name, **entry}
    (traf / "evaldata.json.gz").write_bytes(gzip.compress(json.dumps(evaldata).encode("utf-8")))
    return root


def test_html_suite_quick(data_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    code = main(["html", "--quick", "--data-root", str(data_root), "--output-dir", str(out),
                 "--methods", "ragprune-bm25,htmlrag-bm25", "--questions", "3", "--pages", "3"])
    assert code == 0
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    for key in ("config", "seed", "tables", "plots", "verdicts", "squad", "trafilatura", "command", "timings"):
        assert key in results
    squad = results["squad"]
    assert squad["n_questions"] == 3
    assert set(squad["recall"]) == {"ragprune-bm25", "htmlrag-bm25 (shipped)", "htmlrag-bm25 (corrected)"}
    assert squad["recall"]["ragprune-bm25"]["1024"] == 1.0  # the whole tiny page fits
    assert squad["over_budget"]["ragprune-bm25"] == 0
    traf = results["trafilatura"]
    assert traf["pages_processed"] == 3 and traf["entries_scored"] == 3
    assert traf["metrics"]["ragprune query-less"]["crashes"] == 0
    assert (out / "results.md").read_text(encoding="utf-8") == render_markdown(results)
    assert (out / "squad_recall.png").exists()


def test_html_suite_rejects_unknown_method(data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["html", "--quick", "--data-root", str(data_root), "--output-dir", str(tmp_path / "r"),
                 "--methods", "ragprune-bm25,nope"])
    assert code == 2 and "nope" in capsys.readouterr().err
