"""``datapruner score``: score every row and write the scores to parquet."""
from __future__ import annotations

import argparse
import logging

from datapruner.cli._options import (add_data_options, add_engine_option, add_method_option, add_param_option,
                                     add_seed_option, check_paths, label_column, parse_params)

EXAMPLES = ["datapruner score --data train.jsonl --method el2n --out scores.parquet"]

logger = logging.getLogger("datapruner")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("score", help="score every row of a dataset",
                                   epilog="examples:\n  " + "\n  ".join(EXAMPLES),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(parser)
    add_method_option(parser)
    parser.add_argument("--out", required=True, help="scores file to write (.parquet)")
    add_seed_option(parser)
    add_engine_option(parser)
    add_param_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from datapruner.prune import score

    check_paths(inputs={"--data": args.data}, files={"--out": args.out})
    scores = score(args.data, method=args.method, text_column=args.text_column,
                   label_column=label_column(args.label_column), split=args.split, seed=args.seed,
                   out=args.out, engine=args.engine, **parse_params(args.param, own=args.own_options))
    logger.warning("scored %d rows with %s -> %s", scores.size, args.method, args.out)
    return 0
