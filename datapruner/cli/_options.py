"""CLI options defined once, so each flag has one name and one help text everywhere."""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datapruner.errors import DataprunerError


def add_data_options(parser: argparse.ArgumentParser, *, data_help: str = "training data") -> None:
    """``--data``, ``--split``, ``--text-column``, ``--label-column``."""
    parser.add_argument("--data", required=True,
                        help=f"{data_help}: .jsonl/.json/.csv/.parquet file, save_to_disk folder, folder of data files "
                             "or dataset name (the last two read with datasets.load_dataset)")
    parser.add_argument("--split", default="train", help="split of a dataset dict or named dataset (default: train)")
    parser.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    parser.add_argument("--label-column", default="label",
                        help="label column (default: label); 'none' for label-free data")


def add_method_option(parser: argparse.ArgumentParser) -> None:
    """``--method`` with the registry's names in the help."""
    from datapruner.scorers import SCORERS

    parser.add_argument("--method", required=True, help=f"scorer: one of {', '.join(sorted(SCORERS))}")


def add_seed_option(parser: argparse.ArgumentParser) -> None:
    """``--seed``."""
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of every random choice (default: 0)")


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    """``--engine local|ray``."""
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="where the work runs: local (this process) or ray (Ray Data; joins RAY_ADDRESS "
                             "if set, else starts a local Ray) (default: local)")


def add_param_option(parser: argparse.ArgumentParser) -> None:
    """``--param KEY=VALUE`` (repeatable) for scorer parameters; values are parsed as JSON when they can be.

    Add it last: it records the command's other options as ``args.own_options`` (name -> flag), the arguments
    the command passes itself, which a ``--param`` of the same name would pass a second time.
    """
    own = {action.dest: action.option_strings[0] for action in parser._actions
           if action.option_strings and action.dest != "help"}
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="scorer parameter, e.g. --param n_clusters=20 (repeatable)")
    parser.set_defaults(own_options=own)


def parse_params(items: list[str], flag: str = "--param", *, own: dict[str, str] | None = None) -> dict[str, Any]:
    """Turn ``["k=v", ...]`` into a dict, JSON-decoding values where possible; refuse a key in ``own``
    (argument name -> the flag that sets it)."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise DataprunerError(f"{flag} {item!r} is not valid: use KEY=VALUE.")
        if own and key in own:
            raise DataprunerError(f"{flag} {key} is not valid: use {own[key]}.")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def label_column(value: str) -> str | None:
    """Map the CLI spelling ``none`` to ``None``."""
    return None if value.lower() == "none" else value


def non_negative_int(text: str) -> int:
    """argparse ``type`` for ``--seed``: numpy seeds must be >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is not valid: use an integer >= 0")
    return value


def check_paths(*, inputs: dict[str, str | None], files: dict[str, str | None],
                folders: dict[str, str | None] | None = None) -> None:
    """Refuse, before any work, outputs that would overwrite an input, another output or a folder that is not ours.

    ``inputs`` are read; ``files`` and ``folders`` are written (a ``folders`` entry replaces a ``save_to_disk``
    folder, or creates or fills a run folder). Inputs are never modified, and a long run must not fail at its last
    step because its output cannot be written.
    """
    outputs = {flag: (Path(p), False) for flag, p in files.items() if p}
    outputs.update({flag: (Path(p), True) for flag, p in (folders or {}).items() if p})
    sources = {flag: Path(p) for flag, p in inputs.items() if p and Path(p).exists()}
    taken: dict[Path, str] = {}
    for flag, (path, is_folder) in outputs.items():
        resolved = path.resolve()
        if resolved in taken:
            raise DataprunerError(f"{flag} and {taken[resolved]} are the same path {path}: give each its own.")
        taken[resolved] = flag
        for source_flag, source in sources.items():
            source = source.resolve()
            clash = ("is the input file" if resolved == source else
                     f"holds {source_flag} {inputs[source_flag]}" if source.is_relative_to(resolved) else
                     f"is inside {source_flag} {inputs[source_flag]}"
                     if source.is_dir() and resolved.is_relative_to(source) else None)
            if clash:
                raise DataprunerError(f"{flag} {path} {clash}: write the output somewhere else.")
        _check_writable(flag, path, is_folder)


def first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists: what decides whether ``path`` can be created."""
    return next(p for p in (path, *path.parents) if p.exists() or p == p.parent)


def _check_writable(flag: str, path: Path, is_folder: bool) -> None:
    parent = first_existing(path.parent)
    if not parent.is_dir():
        raise DataprunerError(f"{flag} {path} cannot be written: {parent} is a file, not a folder.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataprunerError(f"{flag} {path} cannot be written: no permission to write in {parent}.")
    if not is_folder and path.is_dir():
        raise DataprunerError(f"{flag} {path} is a folder: name a file.")
    if is_folder and path.exists() and not path.is_dir():
        raise DataprunerError(f"{flag} {path} is a file: name a folder.")


def check_replaceable(flag: str, path: str, *, ours: Callable[[Path], bool], what: str) -> None:
    """An output folder is replaced whole: refuse a non-empty one that ``ours`` does not recognise as ``what``."""
    folder = Path(path)
    if folder.is_dir() and any(folder.iterdir()) and not ours(folder):
        raise DataprunerError(f"{flag} {path} is a folder that does not hold {what}: it would be replaced; "
                              "remove it or name another.")
