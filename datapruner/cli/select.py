"""``datapruner select``: keep a fraction of the rows and write them in the format ``--out`` names."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from datapruner._atomic import write_json
from datapruner.cli._options import (add_data_options, add_engine_option, add_method_option, add_param_option,
                                     add_seed_option, check_paths, check_replaceable, label_column,
                                     parse_params)

EXAMPLES = [
    "datapruner select --data train.jsonl --method el2n --keep 0.3 --out kept.jsonl --report report.json",
    "datapruner select --data train.parquet --method random --keep 0.5 --strategy balanced --out kept.parquet",
]

logger = logging.getLogger("datapruner")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from datapruner.selection import STRATEGIES

    parser = subparsers.add_parser("select", help="keep the most useful fraction of a dataset",
                                   epilog="examples:\n  " + "\n  ".join(EXAMPLES),
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(parser)
    add_method_option(parser)
    parser.add_argument("--keep", required=True, type=float, help="fraction of rows to keep, in (0, 1]")
    parser.add_argument("--out", required=True,
                        help="output: .jsonl/.json/.csv/.parquet file, or a folder (save_to_disk) without extension")
    parser.add_argument("--strategy", choices=sorted(STRATEGIES), default=None,
                        help="selection strategy (default: the method's own, 'hard' for most)")
    parser.add_argument("--scores", default=None,
                        help="scores .parquet to reuse (made with its own scorer options; --param values that "
                             "differ from them are an error); written after scoring when it does not exist yet")
    parser.add_argument("--strategy-param", dest="strategy_params", action="append", default=[], metavar="KEY=VALUE",
                        help="strategy option, e.g. --strategy-param offset=0.2 (offset), beta=0.2 or n_bins=20 "
                             "(ccs) (repeatable)")
    parser.add_argument("--report", default=None, help="write a JSON report here")
    add_seed_option(parser)
    add_engine_option(parser)
    add_param_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from datapruner.io import check_savable, is_saved_dataset, load_data, save_data
    from datapruner.prune import check_select_options, select_rows

    saved_dataset = not Path(args.out).suffix
    check_paths(inputs={"--data": args.data},
                files={"--out": None if saved_dataset else args.out, "--report": args.report, "--scores": args.scores},
                folders={"--out": args.out if saved_dataset else None})
    if saved_dataset:
        check_replaceable("--out", args.out, ours=is_saved_dataset, what="a saved dataset")
    params = parse_params(args.param, own=args.own_options)
    strategy_params = parse_params(args.strategy_params, "--strategy-param")
    check_select_options(method=args.method, keep=args.keep, strategy=args.strategy,
                         label_column=label_column(args.label_column), seed=args.seed,
                         strategy_params=strategy_params, engine=args.engine, params=params)
    dataset = load_data(args.data, split=args.split)
    check_savable(dataset.features, args.out)  # a column --out cannot hold fails now, not after the scoring
    selection = select_rows(dataset, method=args.method, keep=args.keep, strategy=args.strategy,
                            scores=args.scores, text_column=args.text_column,
                            label_column=label_column(args.label_column), split=args.split, seed=args.seed,
                            engine=args.engine, strategy_params=strategy_params, **params)
    save_data(selection.dataset, args.out)
    if args.report:
        write_json(args.report, {**selection.report, "data": args.data, "out": args.out}, indent=2)
    report = selection.report
    logger.warning("kept %d of %d rows (%s, strategy %s) -> %s", report["rows_out"], report["rows_in"],
                   args.method, report["parameters"]["strategy"], args.out)
    return 0
