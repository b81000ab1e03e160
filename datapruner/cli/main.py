"""``datapruner`` command line: wires subcommands together; each lives in its own module.

Each subcommand module has ``add_parser(subparsers)`` (which sets ``func``) and ``run(args) -> int``.
Exit codes: 0 success, 2 user error (one line on stderr, no traceback), 1 crash.
"""
from __future__ import annotations

import argparse
import logging
import sys
import warnings
from typing import Any

from datapruner import __version__
from datapruner.cli import score, select, train
from datapruner.errors import DataprunerError

COMMANDS = [score, select, train]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="datapruner", description="Score training data and keep what matters.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of known errors")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_parser(subparsers)
    return parser


def _quiet_datasets_logger() -> None:
    """datasets logs read failures itself; ours reach the user as one line, so silence the duplicate."""
    from datasets.utils import logging as datasets_logging

    datasets_logging.set_verbosity(logging.CRITICAL)
    datasets_logging.disable_propagation()


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    """Warnings reach a CLI user as one line, like errors, without Python's file and source line."""
    print(f"datapruner: warning: {message}".replace("\n", " "), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="datapruner: %(message)s")
    _quiet_datasets_logger()
    try:
        with warnings.catch_warnings():  # restores the default display afterwards (main may run in-process)
            warnings.showwarning = _show_warning
            return args.func(args)
    except DataprunerError as err:
        if args.debug:
            raise
        print(f"datapruner: error: {err}".replace("\n", " "), file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
