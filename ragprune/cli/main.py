"""``ragprune`` command line: wires subcommands together; each lives in its own module.

Each subcommand module has ``add_parser(subparsers)`` and ``run(args) -> int``.
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import Any

from ragprune import __version__
from ragprune.cli import html, prune, serve
from ragprune.errors import RagpruneError

COMMANDS: list = [prune, serve, html]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragprune", description="Prune retrieved context before generation.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of known errors")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    """Warnings reach a CLI user as one line, like the logged ones, without Python's file and source line."""
    print(f"ragprune: WARNING: {message}".replace("\n", " "), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="ragprune: %(levelname)s: %(message)s")
    try:
        with warnings.catch_warnings():  # restores the default display afterwards (main may run in-process)
            warnings.showwarning = _show_warning
            return args.func(args)
    except RagpruneError as err:
        if args.debug:
            raise
        print(f"ragprune: error: {err}".replace("\n", " "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
