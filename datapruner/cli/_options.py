"""CLI options defined once, so each flag has one name and one help text everywhere."""
from __future__ import annotations

import argparse
import json
import os
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
    parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    """``--engine local|ray``."""
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="where the work runs: local (this process) or ray (Ray Data; joins RAY_ADDRESS "
                             "if set, else starts a local Ray) (default: local)")


def add_param_option(parser: argparse.ArgumentParser) -> None:
    """``--param KEY=VALUE`` (repeatable) for scorer parameters; values are parsed as JSON when they can be."""
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="scorer parameter, e.g. --param n_clusters=20 (repeatable)")


def parse_params(items: list[str]) -> dict[str, Any]:
    """Turn ``["k=v", ...]`` into a dict, JSON-decoding values where possible."""
    params: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise DataprunerError(f"--param {item!r} is not valid: use KEY=VALUE.")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def label_column(value: str) -> str | None:
    """Map the CLI spelling ``none`` to ``None``."""
    return None if value.lower() == "none" else value


def check_not_input(out: str, data: str) -> None:
    """Refuse to overwrite the input: inputs are never modified."""
    if os.path.exists(data) and os.path.exists(out) and os.path.samefile(out, data):
        raise DataprunerError(f"--out {out} is the input file: write the output somewhere else.")
