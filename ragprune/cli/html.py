"""``ragprune html``: prune the HTML page of every line of a JSON-lines file to a token budget.

Each input line is ``{"question": str or null, "html": str, ...}``; each output line keeps every input field and
adds ``"pruned_html"`` (the kept blocks inside their ancestors' tags) and ``"text"`` (their plain text). A null or
missing question selects the query-less mode (boilerplate removed, for indexing). The whole input is validated
before any page is pruned (no field may hold a lone surrogate or a NaN or infinite number, which the output line
could not carry), and the output is written to a temporary file that replaces ``--out`` only when every line
succeeded. A name ending in ``.gz`` is read or written as gzip.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from ragprune._io import atomic_writer, check_out, check_text, read_records
from ragprune.errors import RagpruneError

__all__ = ["add_parser", "run", "EXAMPLES"]


EXAMPLES = [
    "ragprune html --in pages.jsonl --out pruned.jsonl --max-tokens 512",
    "ragprune html --in pages.jsonl --out pruned.jsonl --max-tokens 256 --ranker bm25",
]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``html`` on the ``ragprune`` subparsers."""
    parser = subparsers.add_parser(
        "html", help="prune HTML pages (block tree) to a token budget, per question or query-less",
        description=__doc__, epilog="examples:\n  " + "\n  ".join(EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--in", dest="in_path", required=True, metavar="IN.jsonl",
                        help='input: one {"question": str or null, "html": str} object per line')
    parser.add_argument("--out", required=True, metavar="OUT.jsonl",
                        help='output: the input lines with "pruned_html" and "text" added (written atomically)')
    parser.add_argument("--max-tokens", type=int, default=None,
                        help="token budget of each pruned page, MiniLM tokenizer unless --tokenizer (default: none)")
    parser.add_argument("--ranker", default="bm25", choices=["bm25", "hybrid", "embedding", "labeler"],
                        help="block ranker for lines with a question (default: bm25)")
    parser.add_argument("--max-words", type=int, default=None, help="most words per block (default: 32)")
    parser.add_argument("--model", default=None,
                        help="embedding model name or path (default: the bundled all-MiniLM-L6-v2)")
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer name or path that counts --max-tokens (default: all-MiniLM-L6-v2)")
    parser.add_argument("--no-trafilatura", dest="use_trafilatura", action="store_false",
                        help="query-less mode: use the boilerplate heuristic only")
    parser.add_argument("--batch-size", type=int, default=32, help="blocks per embedding batch (default: 32)")
    parser.add_argument("--device", default=None, help="torch device (default: chosen by sentence-transformers)")
    parser.set_defaults(func=run)
    return parser


def _check_record(record: dict[str, Any], where: str) -> None:
    if "html" not in record:
        raise RagpruneError(f"{where}: missing key 'html' (expected {{\"question\": str or null, \"html\": str}}).")
    if not isinstance(record["html"], str):
        raise RagpruneError(f"{where}: 'html' must be a string, got {type(record['html']).__name__}.")
    check_text(record["html"], f"{where}: 'html'")
    question = record.get("question")
    if question is not None:
        if not isinstance(question, str):
            raise RagpruneError(f"{where}: 'question' must be a string or null, got {type(question).__name__}.")
        check_text(question, f"{where}: 'question'")


def run(args: argparse.Namespace) -> int:
    """Prune ``--in`` into ``--out``; return 0 (errors are raised as :class:`RagpruneError`)."""
    from ragprune.html import HtmlPruner

    check_out(args.out, args.in_path)
    if args.max_tokens is not None and args.max_tokens < 1:
        raise RagpruneError(f"--max-tokens={args.max_tokens} is not valid: use a positive integer.")
    options = {"max_words": args.max_words} if args.max_words is not None else {}
    pruner = HtmlPruner(args.ranker, model=args.model, tokenizer=args.tokenizer, use_trafilatura=args.use_trafilatura,
                        batch_size=args.batch_size, device=args.device, **options)
    records = read_records(args.in_path, check=_check_record, added_keys=("pruned_html", "text"), out=args.out)
    with atomic_writer(args.out) as out:
        for record in records:
            result = pruner.prune(record["html"], record.get("question"), max_tokens=args.max_tokens)
            row = dict(record)
            row["pruned_html"] = result.pruned_html
            row["text"] = result.text
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0
