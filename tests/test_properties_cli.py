"""Issue 9: property-based tests over the CLIs and the HTML cleaner with arbitrary inputs.

Whatever the input (random bytes, any encoding, malformed records, deep nesting, odd sizes and option values), a
CLI exits 0, or exits 2 with exactly one ``<prog>: error: ...`` line and no traceback; it never leaves a partial or
temporary output file, and never modifies its input. The CLIs run in-process through ``main([...])``.
Each property is bounded (few examples, no deadline) to keep the suite fast.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from datapruner.cli.main import main as datapruner_main

SETTINGS = settings(max_examples=8, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def invoke(main, argv: list[str]) -> tuple[int, str]:
    """Run a CLI in-process; return (exit code, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    return code, err.getvalue()


def check_outcome(code: int, err: str, prog: str, out: Path, folder: Path, inputs: dict[Path, bytes]) -> None:
    """The contract every run must keep, whatever the input."""
    assert code in (0, 2), f"exit code {code}: {err[-1500:]}"
    assert "Traceback" not in err, err[-1500:]
    error_lines = [line for line in err.splitlines() if line.startswith(f"{prog}: error:")]
    if code == 2:
        assert len(error_lines) == 1, err
        assert error_lines[0].strip() != f"{prog}: error:"
        assert not out.exists(), "a failed run left an output file"
    else:
        assert not error_lines
        assert out.exists()
    leftovers = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    for path, content in inputs.items():
        assert path.read_bytes() == content, "the input was modified"


def run_select(data: bytes, suffix: str, *, keep: float = 0.5, strategy: str | None = None,
               out_suffix: str = ".jsonl", extra: list[str] | None = None) -> tuple[int, str, Path]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = folder / f"in{suffix}"
        src.write_bytes(data)
        out = folder / "out" / f"kept{out_suffix}"
        out.parent.mkdir()
        argv = ["select", "--data", str(src), "--method", "random", f"--keep={keep!r}", "--out", str(out)]
        argv += ["--strategy", strategy] if strategy else []
        code, err = invoke(datapruner_main, argv + (extra or []))
        check_outcome(code, err, "datapruner", out, out.parent, {src: data})
        rows = None
        if code == 0:
            from datapruner.io import load_data

            rows = (load_data(str(src)).num_rows, load_data(str(out)).num_rows)
    return code, err, rows


@SETTINGS
@given(data=st.binary(max_size=2048), suffix=st.sampled_from([".jsonl", ".json", ".csv", ".parquet"]))
def test_datapruner_select_arbitrary_bytes(data, suffix):
    code, _, rows = run_select(data, suffix)
    if code == 0:
        n_in, n_out = rows
        assert n_out == min(n_in, max(1, round(0.5 * n_in)))


scalar = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=30))
record = st.dictionaries(st.sampled_from(["text", "label", "other"]), scalar, max_size=3)


@SETTINGS
@given(rows=st.lists(record, max_size=40),
       keep=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1e-9, 0.5, 1.0, 1.5])),
       strategy=st.sampled_from([None, "hard", "easy", "offset", "balanced", "ccs"]),
       out_suffix=st.sampled_from([".jsonl", ".json", ".csv", ".parquet", ""]))
def test_datapruner_select_arbitrary_records_and_options(rows, keep, strategy, out_suffix):
    # Null labels with strategy='balanced' crash today (see the strict xfail below); everything else is fair game.
    assume(strategy != "balanced" or all(r.get("label") is not None for r in rows))
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    code, err, counts = run_select(data, ".jsonl", keep=keep, strategy=strategy, out_suffix=out_suffix)
    if not (isinstance(keep, float) and math.isfinite(keep) and 0 < keep <= 1):
        assert code == 2 and "keep=" in err
    if code == 0:
        n_in, n_out = counts
        assert n_out == min(n_in, max(1, round(keep * n_in)))


def test_issue_9_balanced_with_null_labels_is_a_user_error(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": null}\n')
    code, err = invoke(datapruner_main, ["select", "--data", str(src), "--method", "random", "--keep=1.0",
                                         "--strategy", "balanced", "--out", str(tmp_path / "out.jsonl")])
    assert code == 2 and err.startswith("datapruner: error:")


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "latin-1", "cp1252", "shift_jis", "koi8-r"]


@SETTINGS
@given(texts=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=20),
       encoding=st.sampled_from(ENCODINGS), suffix=st.sampled_from([".csv", ".jsonl"]))
def test_datapruner_select_any_encoding(texts, encoding, suffix):
    if suffix == ".csv":
        body = "text,label\n" + "".join(f'"{t.replace(chr(34), chr(34) * 2)}",{i % 2}\n' for i, t in enumerate(texts))
    else:
        body = "".join(json.dumps({"text": t, "label": i % 2}, ensure_ascii=False) + "\n"
                       for i, t in enumerate(texts))
    code, err, _ = run_select(body.encode(encoding, errors="replace"), suffix)
    if encoding in ("utf-16", "utf-16-le"):
        assert code == 2 and "UTF-8" in err  # never silently read as garbage


# ----------------------------------------------------------------------------------------------------- ragprune html
def html_tree(depth: int = 4):
    tags = st.sampled_from(["div", "p", "span", "section", "ul", "li", "table", "tr", "td", "script", "style",
                            "nav", "a", "b", "pre", "h1", "article", "footer", "svg", "xmp", "textarea"])
    text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
    return st.recursive(text, lambda inner: st.builds(
        lambda tag, attrs, children: f"<{tag}{attrs}>{''.join(children)}</{tag}>", tags,
        st.sampled_from(["", " class='nav'", " hidden", " style='display:none'", " id=x"]),
        st.lists(inner, max_size=4)), max_leaves=30)


pages = st.one_of(
    html_tree(),
    st.text(max_size=500),
    st.binary(max_size=500).map(lambda b: b.decode("latin-1")),
    st.builds(lambda n, tag, word: f"<{tag}>" * n + word + f"</{tag}>" * (n // 2),
              st.integers(1, 4000), st.sampled_from(["div", "b", "span", "p"]), st.text(max_size=10)),
)


def run_ragprune(command: str, content: bytes, extra: list[str]) -> tuple[int, str, Path, int]:
    from ragprune.cli.main import main as ragprune_main

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        src = folder / "in.jsonl"
        src.write_bytes(content)
        out = folder / "out" / "pruned.jsonl"
        out.parent.mkdir()
        code, err = invoke(ragprune_main, [command, "--in", str(src), "--out", str(out), *extra])
        check_outcome(code, err, "ragprune", out, out.parent, {src: content})
        n_out = len(out.read_text(encoding="utf-8").splitlines()) if code == 0 else -1
    return code, err, out, n_out


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(st.fixed_dictionaries({"html": pages}, optional={
    "question": st.one_of(st.none(), st.text(max_size=40))}), max_size=4),
       max_tokens=st.sampled_from([None, 1, 16, 300]))
def test_ragprune_html_arbitrary_pages(records, max_tokens):
    content = "".join(json.dumps(r) + "\n" for r in records).encode()
    extra = ["--ranker", "bm25", "--no-trafilatura"] + ([f"--max-tokens={max_tokens}"] if max_tokens else [])
    code, err, _, n_out = run_ragprune("html", content, extra)
    assert code == 0, err  # well-formed records always succeed, whatever the HTML inside
    assert n_out == len(records)


@SETTINGS
@given(content=st.one_of(st.binary(max_size=600), st.lists(
    st.one_of(st.binary(max_size=60), st.text(max_size=60).map(str.encode),
              st.dictionaries(st.sampled_from(["html", "question", "contexts"]), scalar).map(
                  lambda d: json.dumps(d).encode())), max_size=5).map(b"\n".join)),
       max_tokens=st.sampled_from([None, 0, -3, 8]))
def test_ragprune_html_arbitrary_input_files(content, max_tokens):
    extra = ["--ranker", "bm25", "--no-trafilatura"] + ([f"--max-tokens={max_tokens}"] if max_tokens is not None else [])
    code, err, _, _ = run_ragprune("html", content, extra)
    if max_tokens is not None and max_tokens < 1:
        assert code == 2


# ------------------------------------------------------------------------------------------------- the HTML cleaner
@settings(max_examples=60, deadline=None, derandomize=True)
@given(page=st.one_of(pages, st.binary(max_size=1500)))
def test_html_cleaner_never_crashes(page):
    from ragprune.html import build_block_tree, clean_tree, decode_html, parse_html, serialize
    from ragprune.html.clean import node_text

    text = decode_html(page)
    assert isinstance(text, str)
    root = clean_tree(parse_html(page))
    html = serialize(root)
    assert isinstance(html, str) and "<script" not in html and "<style" not in html
    for block in build_block_tree(root):
        assert isinstance(block.text if hasattr(block, "text") else node_text(root), str)


def test_html_cleaner_handles_very_deep_nesting_linearly():
    from ragprune.html import clean_tree, parse_html, serialize

    page = "<div>" * 100_000 + "deep text" + "</div>" * 100_000
    assert "deep text" in serialize(clean_tree(parse_html(page)))


@pytest.mark.parametrize("bad", [None, 3, ["<p>x</p>"]])
def test_html_cleaner_rejects_non_text_with_its_error(bad):
    from ragprune.errors import RagpruneError
    from ragprune.html import decode_html

    with pytest.raises(RagpruneError):
        decode_html(bad)
