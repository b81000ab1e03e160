"""``python -m eval SUITE [--quick] [--data-root ../shared/data] [--output-dir eval/results/SUITE]``."""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from pathlib import Path

from datapruner.cli._options import first_existing, non_negative_int
from eval.errors import EvalError
from eval.report import save_results
from eval.suites import SUITES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m eval", description=__doc__)
    subparsers = parser.add_subparsers(dest="suite", required=True)
    for name, module in SUITES.items():
        sub = subparsers.add_parser(name, help=module.__doc__.strip().splitlines()[0])
        sub.add_argument("--quick", action="store_true", help="a small, fast configuration (minutes)")
        sub.add_argument("--data-root", default="../shared/data", type=Path,
                         help="folder holding the full datasets (default: ../shared/data)")
        sub.add_argument("--output-dir", type=Path, default=None,
                         help="where results go (default: eval/results/SUITE, or eval/results/SUITE-quick)")
        sub.add_argument("--seed", type=non_negative_int, default=0, help="base seed for every random choice")
        sub.add_argument("--debug", action="store_true", help="show tracebacks of known errors")
        module.add_arguments(sub)
        sub.set_defaults(module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.output_dir is None:
        args.output_dir = Path("eval/results") / (args.suite + ("-quick" if args.quick else ""))
    blocker = first_existing(args.output_dir)
    if not blocker.is_dir():  # checked now, not after a run of up to an hour
        print(f"eval: error: --output-dir {args.output_dir}: {blocker} is a file, not a folder.", file=sys.stderr)
        return 2
    started = time.perf_counter()
    try:
        results = args.module.run(args)
    except EvalError as err:
        if args.debug:
            raise
        print(f"eval: error: {err}", file=sys.stderr)
        return 2
    results.setdefault("suite", args.suite)
    results["command"] = "python -m eval " + shlex.join(sys.argv[1:] if argv is None else argv)
    results.setdefault("timings", {})["total_s"] = round(time.perf_counter() - started, 2)
    path = save_results(results, args.output_dir)
    print(f"wrote {path} and {path.with_name('results.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
