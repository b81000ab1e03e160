"""Issue 9: the bad inputs tried on the CLIs and what each gets (the README table is generated from this list).

Every case runs the CLI in-process and checks the exit code, that stderr ends in one ``<prog>: error:`` line naming
the problem, that there is no traceback, that no output file appears and that the input is unchanged.
``python -m tests.test_reliability_bad_inputs`` prints the Markdown table of what each case actually got.
"""
from __future__ import annotations

import contextlib
import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

Case = tuple[str, str, Callable[[Path], list[str]], int, str]


def _write(folder: Path, name: str, content: bytes | str) -> str:
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(path)


def _rows(n: int = 20, **extra) -> str:
    return "".join(json.dumps({"text": f"row {i}", "label": i % 2, **extra}) + "\n" for i in range(n))


def _select(data: Callable[[Path], str], *args: str) -> Callable[[Path], list[str]]:
    return lambda d: ["select", "--data", data(d), "--method", "random", "--keep=0.5", "--out",
                      str(d / "out" / "kept.jsonl"), *args]


def _nan_scores(d: Path) -> str:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = d / "scores.parquet"
    pq.write_table(pa.table({"row_id": np.arange(20), "score": np.r_[np.nan, np.ones(19)]}), path)
    return str(path)


def _short_scores(d: Path) -> str:
    from datapruner.io import write_scores

    return str(write_scores(d / "short.parquet", [0.1, 0.2, 0.3], meta={"method": "random", "n_rows": 3}))


good = lambda d: _write(d, "train.jsonl", _rows())  # noqa: E731


def _folder(d: Path, name: str) -> Path:
    (d / name).mkdir()
    return d / name


def _parquet(d: Path) -> str:
    import datasets

    path = d / "train.parquet"
    datasets.Dataset.from_list([json.loads(line) for line in _rows().splitlines()]).to_parquet(str(path))
    return str(path)

DATAPRUNER: list[Case] = [
    ("missing input file", "datapruner", _select(lambda d: str(d / "nope.jsonl")), 2, "does not exist"),
    ("empty file (0 bytes)", "datapruner", _select(lambda d: _write(d, "e.jsonl", b"")), 2, "is empty"),
    ("CSV with a header and no rows", "datapruner", _select(lambda d: _write(d, "h.csv", "text,label\n")), 2,
     "has no rows"),
    ("unknown extension (.txt)", "datapruner", _select(lambda d: _write(d, "t.txt", "hello\n")), 2, "cannot read"),
    ("folder with no data files", "datapruner", _select(lambda d: str(_folder(d, "empty"))), 2, "cannot read"),
    ("invalid UTF-8 bytes", "datapruner", _select(lambda d: _write(d, "b.jsonl", b'{"text": "caf\xe9"}\n')), 2,
     "not valid UTF-8"),
    ("UTF-16 CSV", "datapruner", _select(lambda d: _write(d, "u.csv", "text,label\nhi,1\n".encode("utf-16"))), 2,
     "not valid UTF-8"),
    ("malformed JSON line", "datapruner", _select(lambda d: _write(d, "m.jsonl", _rows(3) + "{oops\n")), 2,
     "cannot read"),
    ("random bytes named .parquet", "datapruner", _select(lambda d: _write(d, "r.parquet", bytes(range(256)))), 2,
     "cannot read"),
    ("missing text column", "datapruner", _select(good, "--text-column", "body"), 2,
     "column 'body' is not in the dataset"),
    ("keep = 0", "datapruner", lambda d: _select(good)(d)[:-3] + ["--keep=0", "--out", str(d / "out/k.jsonl")], 2,
     "keep=0.0 is not valid"),
    ("keep = 1.5", "datapruner", lambda d: _select(good)(d) + ["--keep=1.5"], 2, "keep=1.5 is not valid"),
    ("keep = -0.5", "datapruner", lambda d: _select(good)(d) + ["--keep=-0.5"], 2, "keep=-0.5 is not valid"),
    ("keep = nan", "datapruner", lambda d: _select(good)(d) + ["--keep=nan"], 2, "keep=nan is not valid"),
    ("keep not a number", "datapruner", lambda d: _select(good)(d) + ["--keep=half"], 2,
     "argument --keep: invalid float value"),
    ("unknown method", "datapruner", lambda d: _select(good)(d) + ["--method", "magic"], 2,
     "method='magic' is not valid"),
    ("unknown strategy", "datapruner", _select(good, "--strategy", "best"), 2, "argument --strategy: invalid choice"),
    ("unknown engine", "datapruner", _select(good, "--engine", "spark"), 2, "argument --engine: invalid choice"),
    ("balanced without labels", "datapruner", _select(good, "--strategy", "balanced", "--label-column", "none"), 2,
     "needs labels"),
    ("balanced, label column missing", "datapruner",
     _select(good, "--strategy", "balanced", "--label-column", "y"), 2, "column 'y' is not in the dataset"),
    ("--param without '='", "datapruner", _select(good, "--param", "n_clusters"), 2, "use KEY=VALUE"),
    ("--out is the input file", "datapruner",
     lambda d: ["select", "--data", good(d), "--method", "random", "--keep=0.5", "--out", str(d / "train.jsonl")], 2,
     "is the input file"),
    ("--out with an unknown extension", "datapruner",
     lambda d: ["select", "--data", good(d), "--method", "random", "--keep=0.5", "--out", str(d / "out/k.xlsx")], 2,
     "unknown extension"),
    ("scores file with NaN", "datapruner", lambda d: _select(good, "--scores", _nan_scores(d))(d), 2,
     "NaN or infinite"),
    ("scores file for other data", "datapruner", lambda d: _select(good, "--scores", _short_scores(d))(d), 2,
     "has scores for 3 rows but the data has 20"),
    ("score: --out not .parquet", "datapruner",
     lambda d: ["score", "--data", good(d), "--method", "random", "--out", str(d / "out/s.csv")], 2,
     "written as .parquet"),
    ("score: --out is the input file", "datapruner",
     lambda d: ["score", "--data", _parquet(d), "--method", "random", "--out", str(d / "train.parquet")], 2,
     "is the input file"),
    ("--out is a folder holding the input", "datapruner",
     lambda d: ["select", "--data", good(d), "--method", "random", "--keep=0.5", "--out", str(d)], 2,
     "holds --data"),
    ("--out is a folder that is not a saved dataset", "datapruner",
     lambda d: _select(good)(d)[:-1] + [str(Path(_write(_folder(d, "mine"), "notes.txt", "keep me")).parent)], 2,
     "does not hold a saved dataset"),
    ("--out without extension is a file", "datapruner",
     lambda d: _select(good)(d)[:-1] + [_write(d, "notes", "keep me")], 2, "is a file: name a folder"),
    ("--out below a file", "datapruner",
     lambda d: _select(good)(d)[:-1] + [str(d / "train.jsonl" / "kept.jsonl")], 2, "is a file, not a folder"),
    ("--report is the input file", "datapruner", lambda d: _select(good, "--report", str(d / "train.jsonl"))(d),
     2, "is the input file"),
    ("--report is --out", "datapruner", lambda d: _select(good, "--report", str(d / "out" / "kept.jsonl"))(d), 2,
     "are the same path"),
    ("--report is a folder", "datapruner", lambda d: _select(good, "--report", str(_folder(d, "reports")))(d), 2,
     "is a folder: name a file"),
    ("--out is the scores file", "datapruner",
     lambda d: ["select", "--data", good(d), "--method", "random", "--keep=0.5", "--scores", _short_scores(d),
                "--out", str(d / "short.parquet")], 2,
     "are the same path"),
    ("negative --seed", "datapruner", _select(good, "--seed", "-1"), 2, "argument --seed: -1 is not valid"),
]


def _pages(d: Path, lines: list[str | bytes]) -> str:
    return _write(d, "pages.jsonl", b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines))


def _html(lines: list[str | bytes], *args: str) -> Callable[[Path], list[str]]:
    return lambda d: ["html", "--in", _pages(d, lines), "--out", str(d / "out" / "pruned.jsonl"), "--ranker", "bm25",
                      "--no-trafilatura", *args]


def _prune(lines: list[str], *args: str) -> Callable[[Path], list[str]]:
    return lambda d: ["prune", "--in", _write(d, "retrieved.jsonl", "\n".join(lines) + "\n"), "--out",
                      str(d / "out" / "pruned.jsonl"), *args]


_QA = json.dumps({"question": "Who wrote Hamlet?", "contexts": ["Shakespeare wrote Hamlet."]})
_PAGE = json.dumps({"question": "Who wrote Hamlet?", "html": "<p>Shakespeare wrote Hamlet.</p>"})

RAGPRUNE: list[Case] = [
    ("html: line is not JSON", "ragprune", _html(["<p>hi</p>"]), 2, "line 1"),
    ("html: random bytes", "ragprune", _html([bytes(range(256))]), 2, "line 1"),
    ("html: 'html' is not a string", "ragprune", _html([json.dumps({"html": 3})]), 2, "'html' must be a string"),
    ("html: missing 'html' key", "ragprune", _html([json.dumps({"question": "q"})]), 2, "missing key 'html'"),
    ("html: --max-tokens 0", "ragprune", _html([json.dumps({"html": "<p>x</p>"})], "--max-tokens=0"), 2,
     "--max-tokens=0 is not valid"),
    ("html: page nested 100,000 levels deep", "ragprune",
     _html([json.dumps({"question": "deep?", "html": "<div>" * 100_000 + "deep text" + "</div>" * 100_000})]), 0,
     ""),
    ("html: empty page, no question", "ragprune", _html([json.dumps({"html": ""})]), 0, ""),
    ("prune: --out is the input file", "ragprune",
     lambda d: ["prune", "--in", _write(d, "in.jsonl", _QA), "--out", str(d / "in.jsonl")], 2, "is the input file"),
    ("html: --out is the input file", "ragprune",
     lambda d: ["html", "--in", _pages(d, [_PAGE]), "--out", str(d / "pages.jsonl")], 2, "is the input file"),
    ("prune: --out is a folder", "ragprune", lambda d: _prune([_QA])(d)[:-1] + [str(d / "out")], 2,
     "is a folder: name a file"),
    ("html: --out is a folder", "ragprune", lambda d: ["html", "--in", _pages(d, [_PAGE]), "--out", str(d / "out")],
     2, "is a folder: name a file"),
    ("prune: --out below a file", "ragprune", lambda d: _prune([_QA])(d)[:-1] + [str(d / "retrieved.jsonl" / "p.jsonl")],
     2, "is a file, not a folder"),
    ("prune: --out in a missing folder", "ragprune", lambda d: _prune([_QA])(d)[:-1] + [str(d / "nope" / "p.jsonl")],
     2, "does not exist"),
    ("prune: lone surrogate in a context", "ragprune",
     _prune([json.dumps({"question": "q", "contexts": ["abc \ud800 def."]})]), 2,
     "line 1: 'contexts'[0] is not valid Unicode text (a lone surrogate at character 4)"),
    ("prune: lone surrogate in the question", "ragprune",
     _prune([json.dumps({"question": "q\udc00?", "contexts": ["abc."]})]), 2,
     "line 1: 'question' is not valid Unicode text (a lone surrogate at character 1)"),
    ("html: lone surrogate in 'html'", "ragprune",
     _html([json.dumps({"question": "q", "html": "<p>abc \ud800 def.</p>"})]), 2,
     "line 1: 'html' is not valid Unicode text (a lone surrogate at character 7)"),
    ("prune: --device tpu", "ragprune", _prune([_QA], "--device", "tpu"), 2, "device='tpu' is not valid"),
    ("html: --device tpu, embedding ranker", "ragprune", _html([_PAGE], "--ranker", "embedding", "--device", "tpu"), 2,
     "device='tpu' is not valid"),
]

CASES = DATAPRUNER + RAGPRUNE


def run_case(case: Case) -> dict:
    """Run one case in a fresh folder; return what it got."""
    from datapruner.cli.main import main as datapruner_main
    from ragprune.cli.main import main as ragprune_main

    name, prog, argv_for, _, _ = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "out").mkdir()
        argv = argv_for(folder)
        before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                code = (datapruner_main if prog == "datapruner" else ragprune_main)(argv)
            except SystemExit as exc:
                code = exc.code
        after = {p: p.read_bytes() for p in before if p.exists()}
        outputs = [p.name for p in (folder / "out").iterdir()]
    lines = [line for line in err.getvalue().splitlines() if line.strip()]
    return {"case": name, "prog": prog, "command": argv[0], "code": code, "stderr": err.getvalue(),
            "error_line": next((ln for ln in lines if ln.startswith((f"{prog}: error:", f"{prog} "))), ""),
            "inputs_unchanged": after == before, "outputs": outputs}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_issue_9_bad_input(case):
    _, prog, _, expected_code, fragment = case
    got = run_case(case)
    assert got["code"] == expected_code, got["stderr"][-1500:]
    assert "Traceback" not in got["stderr"]
    assert got["inputs_unchanged"]
    if expected_code == 2:
        errors = [ln for ln in got["stderr"].splitlines() if ": error:" in ln]
        assert len(errors) == 1 and fragment in errors[0], got["stderr"]
        assert got["outputs"] == [], "a failed run left output behind"
    else:
        assert got["outputs"] == ["pruned.jsonl"]


def markdown_table() -> str:
    """Return the README table: every case, the exit code and the message it actually got."""
    rows = ["| bad input | command | exit | what the user sees |", "|---|---|---|---|"]
    for case in CASES:
        got = run_case(case)
        message = next((ln for ln in got["stderr"].splitlines() if ": error:" in ln), "")
        if got["code"] == 0:
            message = f"handled: {', '.join(got['outputs'])} written"
        rows.append(f"| {case[0]} | `{case[1]} {got['command']}` | {got['code']} | {message.replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
