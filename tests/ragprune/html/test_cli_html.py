"""``ragprune html``: end to end in-process and in a subprocess, bad input, atomic output."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ragprune.cli.main import main

REPO = Path(__file__).resolve().parents[3]
PAGE = ("<html><head><title>t</title><script>x()</script></head><body><nav><a href='/'>Home</a> <a href='/b'>Blog</a>"
        "</nav><article><p>The lighthouse was built in 1871 by the harbour board of the town.</p>"
        "<p>The museum next to it opens every day at nine in the morning.</p></article>"
        "<footer>Copyright 2024 all rights reserved</footer></body></html>")
RECORDS = [
    {"id": 1, "question": "When was the lighthouse built?", "html": PAGE, "meta": {"k": "v"}},
    {"id": 2, "question": None, "html": PAGE},
    {"id": 3, "question": "Ünïcödé?", "html": "<p>Grüße aus Köln, schöne Grüße.</p>"},
    {"id": 4, "question": "empty page", "html": ""},
]


def _write(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def test_html_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "in.jsonl", RECORDS)
    out = tmp_path / "out.jsonl"
    code = main(["html", "--in", str(src), "--out", str(out), "--max-tokens", "40", "--ranker", "bm25",
                 "--no-trafilatura"])
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(RECORDS)
    for row, record in zip(rows, RECORDS):
        assert {k: row[k] for k in record} == record
        assert set(row) == set(record) | {"pruned_html", "text"}
    assert "1871" in rows[0]["text"] and "museum" not in rows[0]["text"]
    assert rows[0]["pruned_html"].startswith("<") and "<script>" not in rows[0]["pruned_html"]
    assert "Home" not in rows[1]["text"] and "Copyright" not in rows[1]["text"] and "1871" in rows[1]["text"]
    assert "Grüße" in rows[2]["text"]
    assert rows[3]["pruned_html"] == "" and rows[3]["text"] == ""


@pytest.mark.parametrize("line, message", [
    ('{"question": "q"}', "line 2: missing key 'html'"),
    ('{"question": 3, "html": "<p>x</p>"}', "line 2: 'question' must be a string or null"),
    ('{"question": "q", "html": 5}', "line 2: 'html' must be a string"),
    ('{"question": "q", "html": "<p>x</p>"', "line 2 is not valid JSON"),
    ('["not", "an", "object"]', "line 2 must be a JSON object"),
])
def test_bad_lines_fail_with_line_number_and_no_output(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       line: str, message: str) -> None:
    src = _write(tmp_path / "in.jsonl", [RECORDS[0], line])
    out = tmp_path / "out.jsonl"
    code = main(["html", "--in", str(src), "--out", str(out), "--max-tokens", "64", "--ranker", "bm25"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ragprune: error: ") and message in err and err.count("\n") == 1
    assert "Traceback" not in err
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl*"))


def test_existing_output_untouched_on_error(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [RECORDS[0], '{"html": 1}'])
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n", encoding="utf-8")
    assert main(["html", "--in", str(src), "--out", str(out), "--ranker", "bm25"]) == 2
    assert out.read_text(encoding="utf-8") == "previous\n"


def test_bad_max_tokens_and_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "in.jsonl", RECORDS[:1])
    assert main(["html", "--in", str(src), "--out", str(tmp_path / "o.jsonl"), "--max-tokens", "0"]) == 2
    assert "--max-tokens=0" in capsys.readouterr().err
    assert main(["html", "--in", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "nope.jsonl" in capsys.readouterr().err


def test_subprocess_smoke(tmp_path: Path) -> None:
    src = _write(tmp_path / "in.jsonl", RECORDS[:2])
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "ragprune.cli.main", "html", "--in", str(src), "--out", str(out),
                           "--max-tokens", "48", "--ranker", "bm25", "--no-trafilatura"],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2
    bad = _write(tmp_path / "bad.jsonl", ["{oops"])
    proc = subprocess.run([sys.executable, "-m", "ragprune.cli.main", "html", "--in", str(bad), "--out", str(out),
                           "--ranker", "bm25"], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "line 1" in proc.stderr
