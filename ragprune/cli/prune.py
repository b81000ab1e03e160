"""``ragprune prune``: prune the contexts of every question in a JSON-lines file.

Each input line is ``{"question": str, "contexts": [str, ...], ...}``; each output line keeps every input
field and adds ``"pruned": [str, ...]`` (same length and order as ``contexts``) and ``"rerank": [float, ...]``.
The whole input is validated before the model runs (no field may hold a lone surrogate or a NaN or infinite
number, which the output line could not carry), and the output is written to a temporary file that replaces
``--out`` only when every line succeeded. A name ending in ``.gz`` is read or written as gzip.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

from ragprune._io import atomic_writer, check_out, check_text, read_records
from ragprune.errors import RagpruneError

__all__ = ["add_parser", "run", "EXAMPLES"]


EXAMPLES = [
    "ragprune prune --in retrieved.jsonl --out pruned.jsonl",
    "ragprune prune --in retrieved.jsonl --out pruned.jsonl --threshold 0.3 --max-tokens 512",
]

#: Records sent to the model together (their windows share batches of ``--batch-size``).
_CHUNK = 16


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``prune`` on the ``ragprune`` subparsers."""
    parser = subparsers.add_parser(
        "prune", help="prune the contexts of each question in a JSON-lines file",
        description=__doc__, epilog="examples:\n  " + "\n  ".join(EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--in", dest="in_path", required=True, metavar="IN.jsonl",
                        help='input: one {"question": str, "contexts": [str, ...]} object per line')
    parser.add_argument("--out", required=True, metavar="OUT.jsonl",
                        help="output: the input lines with \"pruned\" and \"rerank\" added (written atomically)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="keep a sentence when its score >= threshold, in [0, 1] (default: the model's)")
    parser.add_argument("--max-tokens", type=int, default=None,
                        help="token budget for the pruned contexts of each question together (default: none)")
    parser.add_argument("--model", default=None,
                        help="checkpoint folder or Hub id (default: the checkpoint shipped with ragprune)")
    parser.add_argument("--batch-size", type=int, default=32,
                        help="at most this many windows per forward pass, grouped by length (default: 32)")
    parser.add_argument("--always-keep-first", action="store_true",
                        help="always keep the first sentence of each context")
    parser.add_argument("--precision", default="auto",
                        help="auto, float32, bfloat16 or int8; auto = bfloat16 where the device has it natively (default: auto)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.set_defaults(func=run)
    return parser


def _check_record(record: dict[str, Any], where: str) -> None:
    question = record.get("question", None)
    if "question" not in record:
        raise RagpruneError(f"{where}: missing key 'question' (expected {{\"question\": str, \"contexts\": [str, ...]}}).")
    if not isinstance(question, str) or not question.strip():
        raise RagpruneError(f"{where}: 'question' must be a non-empty string, got {question!r:.60}.")
    check_text(question, f"{where}: 'question'")
    if "contexts" not in record:
        raise RagpruneError(f"{where}: missing key 'contexts' (expected a list of strings).")
    contexts = record["contexts"]
    if not isinstance(contexts, list):
        raise RagpruneError(f"{where}: 'contexts' must be a list of strings, got {type(contexts).__name__}.")
    for i, context in enumerate(contexts):
        if not isinstance(context, str):
            raise RagpruneError(f"{where}: 'contexts'[{i}] must be a string, got {type(context).__name__}.")
        check_text(context, f"{where}: 'contexts'[{i}]")


def run(args: argparse.Namespace) -> int:
    """Prune ``--in`` into ``--out``; return 0 (errors are raised as :class:`RagpruneError`)."""
    from ragprune.sentence.pruner import ContextPruner

    check_out(args.out, args.in_path)
    pruner = ContextPruner(args.model, threshold=args.threshold, batch_size=args.batch_size, device=args.device,
                           precision=args.precision, always_keep_first=args.always_keep_first)
    if args.max_tokens is not None and args.max_tokens < 1:
        raise RagpruneError(f"--max-tokens={args.max_tokens} is not valid: use a positive integer.")
    records = read_records(args.in_path, check=_check_record, added_keys=("pruned", "rerank"), out=args.out)

    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        tqdm = None
    progress = tqdm(total=len(records), unit="q", desc="prune", disable=None) if tqdm and records else None
    with atomic_writer(args.out) as out:
        for start in range(0, len(records), _CHUNK):
            chunk = records[start:start + _CHUNK]
            results = pruner.prune_batch([r["question"] for r in chunk], [r["contexts"] for r in chunk],
                                         max_tokens=args.max_tokens)
            for record, per_context in zip(chunk, results):
                row = dict(record)
                row["pruned"] = [r.pruned for r in per_context]
                row["rerank"] = [round(float(r.rerank), 6) for r in per_context]
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            if progress is not None:
                progress.update(len(chunk))
    if progress is not None:
        progress.close()
    return 0
