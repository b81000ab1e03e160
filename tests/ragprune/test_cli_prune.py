"""``ragprune prune``: end to end in-process and in a subprocess, bad input, atomic output."""
from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ragprune.cli.main import main
from ragprune.sentence.model import build_tiny_pruner_model, save_pruner_model

REPO = Path(__file__).resolve().parents[2]
CONTEXT = "Hamlet is a tragedy by William Shakespeare. It was written around 1600. Paris is in France."


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, tokenizer = build_tiny_pruner_model(seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    save_pruner_model(model, tokenizer, path, config={"max_length": 64, "threshold": 0.5}, base_model=None,
                      exclude_word_embeddings=False, dtype="float32")
    return path


def _write(path: Path, lines: list) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


RECORDS = [
    {"id": 1, "question": "Who wrote Hamlet?", "contexts": [CONTEXT, "Another passage. With two sentences."],
     "meta": {"source": "test"}},
    {"id": 2, "question": "Где Москва?", "contexts": ["", "Москва — столица России."]},
    {"id": 3, "question": "Empty list?", "contexts": []},
]


def test_prune_end_to_end(tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "in.jsonl", RECORDS)
    out = tmp_path / "out.jsonl"
    code = main(["prune", "--in", str(src), "--out", str(out), "--threshold", "0", "--model", str(tiny_checkpoint)])
    assert code == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == len(RECORDS)
    for row, record in zip(rows, RECORDS):
        assert {k: row[k] for k in record} == record  # every input field kept unchanged
        assert len(row["pruned"]) == len(record["contexts"]) == len(row["rerank"])
        assert all(isinstance(x, float) and 0 <= x <= 1 for x in row["rerank"])
    assert rows[0]["pruned"] == [CONTEXT, "Another passage. With two sentences."]  # threshold 0 keeps all
    assert rows[1]["pruned"][0] == "" and rows[1]["rerank"][0] == 0.0


def test_warnings_are_one_line(tmp_path: Path, tiny_checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "in.jsonl", [{"question": "why " * 200, "contexts": [CONTEXT]}])
    code = main(["prune", "--in", str(src), "--out", str(tmp_path / "out.jsonl"), "--model", str(tiny_checkpoint)])
    err = capsys.readouterr().err
    assert code == 0, err
    lines = [line for line in err.splitlines() if "was truncated" in line]
    assert len(lines) == 1 and lines[0].startswith("ragprune: WARNING: a question of ") and ".py:" not in err


def test_threshold_and_budget_shrink_output(tmp_path: Path, tiny_checkpoint: Path) -> None:
    src = _write(tmp_path / "in.jsonl", RECORDS[:1])
    out_all, out_none, out_budget = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    base = ["prune", "--in", str(src), "--model", str(tiny_checkpoint)]
    assert main(base + ["--out", str(out_all), "--threshold", "0"]) == 0
    assert main(base + ["--out", str(out_none), "--threshold", "1"]) == 0
    assert main(base + ["--out", str(out_budget), "--threshold", "0", "--max-tokens", "8"]) == 0
    assert json.loads(out_none.read_text())["pruned"] == ["", ""]
    budget = json.loads(out_budget.read_text())["pruned"]
    assert 0 < sum(len(p) for p in budget) < sum(len(p) for p in json.loads(out_all.read_text())["pruned"])


@pytest.mark.parametrize(("lines", "message"), [
    ([RECORDS[0], "{not json"], "line 2 is not valid JSON"),
    ([RECORDS[0], "", "[1, 2]"], "line 3 must be a JSON object"),
    ([{"contexts": []}], "line 1: missing key 'question'"),
    ([{"question": "q?"}], "line 1: missing key 'contexts'"),
    ([RECORDS[0], {"question": "q?", "contexts": "one string"}], "line 2: 'contexts' must be a list"),
    ([{"question": "q?", "contexts": ["ok", 7]}], r"line 1: 'contexts'\[1\] must be a string"),
    ([{"question": "  ", "contexts": ["ok"]}], "line 1: 'question' must be a non-empty string"),
    ([RECORDS[0], {"id": "\ud800x", "question": "q?", "contexts": ["ok"]}],
     r"line 2: id is not valid Unicode text \(a lone surrogate at character 0\)"),
    (['{"question": "q?", "contexts": ["ok"], "meta": {"score": NaN}}'], "line 1: meta.score is nan: use a finite"),
    (['{"question": "q?", "contexts": ["ok"], "score": -Infinity}'], "line 1: score is -inf: use a finite"),
    ([RECORDS[0], "[" * 5000 + "]" * 5000], r"line 2 is not valid JSON \(nested too deeply\)"),
    (['{"question": "q?", "contexts": ["ok"], "id": ' + "1" * 5000 + "}"],
     r"line 1 is not valid JSON \(a number has too many digits\)"),
])
def test_bad_records_fail_with_line_number_and_no_output(tmp_path: Path, tiny_checkpoint: Path, lines: list,
                                                         message: str, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    code = main(["prune", "--in", str(src), "--out", str(out), "--model", str(tiny_checkpoint)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("ragprune: error: ") and err.count("\n") == 1
    assert __import__("re").search(message, err), err
    assert not out.exists()
    assert list(tmp_path.glob(".out.jsonl*")) == []  # no temp file left behind


def test_html_command_checks_every_field_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Only the command's own fields were checked: a bad extra field crashed the write after the whole run."""
    src = _write(tmp_path / "in.jsonl", [{"id": "\ud800x", "html": "<p>x</p>"}])
    assert main(["html", "--in", str(src), "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err == f"ragprune: error: {src}: line 1: id is not valid Unicode text (a lone surrogate at character 0).\n"


@pytest.mark.parametrize("damage", ["truncated", "corrupt"])
def test_a_damaged_gzip_input_is_a_one_line_error(tmp_path: Path, damage: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A truncated stream raised EOFError and a corrupt one zlib.error: tracebacks, not the OSError handled."""
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in RECORDS * 50).encode())
    if damage == "truncated":
        data = data[:len(data) // 2]
    else:
        data = data[:20] + bytes(b ^ 0xFF for b in data[20:60]) + data[60:]
    src = tmp_path / "in.jsonl.gz"
    src.write_bytes(data)
    assert main(["prune", "--in", str(src), "--out", str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ragprune: error: {src}: cannot read line ") and err.count("\n") == 1


def test_gz_output_is_gzip_and_can_be_fed_back(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """The input is read as gzip by its .gz name; the output of the same name was plain text."""
    src = _write(tmp_path / "in.jsonl", RECORDS)
    first, second = tmp_path / "first.jsonl.gz", tmp_path / "second.jsonl"
    base = ["--threshold", "0", "--model", str(tiny_checkpoint)]
    assert main(["prune", "--in", str(src), "--out", str(first), *base]) == 0
    with gzip.open(first, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    assert [row["id"] for row in rows] == [1, 2, 3] and rows[1]["question"] == "Где Москва?"
    assert main(["prune", "--in", str(first), "--out", str(second), *base]) == 0
    assert [json.loads(line) for line in second.read_text(encoding="utf-8").splitlines()] == rows


def test_existing_output_untouched_on_error(tmp_path: Path, tiny_checkpoint: Path) -> None:
    src = _write(tmp_path / "in.jsonl", [RECORDS[0], "oops"])
    out = tmp_path / "out.jsonl"
    out.write_text("previous\n")
    assert main(["prune", "--in", str(src), "--out", str(out), "--model", str(tiny_checkpoint)]) == 2
    assert out.read_text() == "previous\n"


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)], ids=["umask022", "umask027"])
def test_output_mode_follows_the_umask(tmp_path: Path, tiny_checkpoint: Path, umask: int, mode: int) -> None:
    src = _write(tmp_path / "in.jsonl", RECORDS[:1])
    out = tmp_path / "out.jsonl"
    previous = os.umask(umask)
    try:
        assert main(["prune", "--in", str(src), "--out", str(out), "--model", str(tiny_checkpoint)]) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE(out.stat().st_mode) == mode  # as a plain open(out, "w"), not mkstemp's 0o600


@pytest.mark.parametrize(("flags", "message"), [
    (["--threshold", "1.5"], "threshold=1.5 is not valid"),
    (["--threshold", "-0.2"], "threshold=-0.2 is not valid"),
    (["--max-tokens", "0"], "max-tokens=0 is not valid"),
    (["--batch-size", "0"], "batch_size=0 is not valid"),
    (["--model", "/no/such/checkpoint"], "not a pruner checkpoint"),
    (["--precision", "fp8"], "precision='fp8' is not valid"),
])
def test_bad_options(tmp_path: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write(tmp_path / "in.jsonl", RECORDS[:1])
    code = main(["prune", "--in", str(src), "--out", str(tmp_path / "o.jsonl"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "int8"])
def test_precision_flag_gives_the_same_shape(tmp_path: Path, tiny_checkpoint: Path, precision: str) -> None:
    src = _write(tmp_path / "in.jsonl", RECORDS[:1])
    out = tmp_path / "out.jsonl"
    assert main(["prune", "--in", str(src), "--out", str(out), "--threshold", "0", "--model", str(tiny_checkpoint),
                 "--precision", precision]) == 0
    row = json.loads(out.read_text(encoding="utf-8"))
    assert row["pruned"] == RECORDS[0]["contexts"] and len(row["rerank"]) == 2


def test_missing_input_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "--in", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_subprocess_smoke(tmp_path: Path, tiny_checkpoint: Path) -> None:
    src = _write(tmp_path / "in.jsonl", RECORDS[:2])
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ok = subprocess.run([sys.executable, "-m", "ragprune.cli.main", "prune", "--in", str(src), "--out", str(out),
                         "--model", str(tiny_checkpoint)], capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert [len(json.loads(x)["pruned"]) for x in out.read_text().splitlines()] == [2, 2]
    _write(src, [RECORDS[0], "{broken"])
    bad = subprocess.run([sys.executable, "-m", "ragprune.cli.main", "prune", "--in", str(src), "--out",
                          str(tmp_path / "bad.jsonl"), "--model", str(tiny_checkpoint)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "line 2" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "bad.jsonl").exists()
