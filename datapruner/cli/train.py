"""``datapruner train``: train a model on (a pruned subset of) the data, optionally distilling from a teacher.

Writes ``OUT/model/`` (the student: ``config.json`` + ``model.safetensors``), ``OUT/teacher/`` when the teacher is
trained here, and ``OUT/metrics.json`` (``test_accuracy``, ``n_train``, ``distill``, ``alpha``, ``temperature``, ...),
each atomically. ``--subset`` rows are rows of ``--data``: matched by a ``row_id`` column when both files have one,
otherwise by content on the subset's columns.
"""
from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from datapruner._atomic import atomic_dir, write_json
from datapruner.cli._options import add_data_options, add_seed_option, check_paths, check_replaceable
from datapruner.errors import DataprunerError

EXAMPLES = [
    "datapruner train --data train.jsonl --test test.jsonl --out runs/full",
    "datapruner select --data train.jsonl --method random --keep 0.3 --out kept.jsonl && "
    "datapruner train --data train.jsonl --test test.jsonl --subset kept.jsonl --distill --out runs/kd30",
    "datapruner train --data train.jsonl --test test.jsonl --subset kept.jsonl --teacher runs/full --out runs/kd30b",
]

logger = logging.getLogger("datapruner")


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from datapruner.models.pipeline import MODEL_TYPES

    parser = subparsers.add_parser(
        "train", help="train on a (pruned) subset, optionally with knowledge distillation",
        description=__doc__, epilog="examples:\n  " + "\n  ".join(EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_options(parser, data_help="full training data (the teacher trains on all of it)")
    parser.add_argument("--test", required=True, help="test data, same columns and format choices as --data")
    parser.add_argument("--out", required=True, help="output folder: model/, teacher/ and metrics.json")
    parser.add_argument("--subset", default=None,
                        help="rows of --data to train the student on (e.g. the output of datapruner select); "
                             "default: all of --data")
    parser.add_argument("--distill", action="store_true",
                        help="train the student with the teacher's soft labels (KD loss)")
    parser.add_argument("--teacher", default=None,
                        help="trained teacher: a model folder, or a train --out folder (its teacher/ if it has one, "
                             "else its model/); implies --distill. Without it, --distill trains the teacher on all "
                             "of --data and saves it in OUT/teacher")
    parser.add_argument("--model-type", default="auto", choices=["auto", *sorted(MODEL_TYPES)],
                        help="student model (default: auto = minilm-linear for text, cnn for images, mlp for numbers)")
    parser.add_argument("--teacher-model-type", default=None, choices=["auto", *sorted(MODEL_TYPES)],
                        help="model of the teacher trained here (default: same as --model-type)")
    parser.add_argument("--alpha", type=_float, default=None,
                        help="distillation weight in [0, 1] (default: 0.9 - 0.4 * kept fraction)")
    parser.add_argument("--temperature", type=_float, default=None, help="distillation temperature > 0 (default: 2)")
    parser.add_argument("--no-views", action="store_true",
                        help="distil on the kept rows only; by default the teacher also labels random views of every "
                             "batch (n-gram dropout for fasttext, shifts for cnn) when it reads the student's inputs")
    parser.add_argument("--no-substitution", action="store_true",
                        help="distil without word-substitution copies; by default a fasttext student on views also "
                             "learns from copies of the kept rows with words swapped for near neighbours, labelled "
                             "by the teacher, when at most 30%% of the rows are kept")
    also_teacher = "; also the teacher's when it is trained here with the same model type (default: per model type)"
    parser.add_argument("--epochs", type=int, default=None, help="training epochs of the student" + also_teacher)
    parser.add_argument("--batch-size", type=int, default=None, help="batch size of the student" + also_teacher)
    parser.add_argument("--learning-rate", type=_float, default=None, help="learning rate of the student" + also_teacher)
    add_seed_option(parser)
    parser.set_defaults(func=run)


def _teacher_dir(path: str) -> Path:
    folder = Path(path)
    for candidate in (folder, folder / "teacher", folder / "model"):
        if (candidate / "config.json").is_file():
            return candidate
    raise DataprunerError(f"--teacher {path} is not a trained model: pass a folder written by datapruner train "
                          "(holding model/config.json) or a model folder.")


def run(args: argparse.Namespace) -> int:
    from datapruner.training.distill import DEFAULT_TEMPERATURE, train

    out = Path(args.out)
    check_paths(inputs={"--data": args.data, "--test": args.test, "--subset": args.subset, "--teacher": args.teacher},
                files={}, folders={"--out": args.out})
    check_replaceable("--out", args.out, ours=lambda folder: (folder / "metrics.json").is_file(),
                      what="a datapruner train run")
    if args.label_column.lower() == "none":
        raise DataprunerError("--label-column none is not valid for train: training needs labels.")
    if args.distill is False and args.teacher is None and args.alpha is not None:
        raise DataprunerError("--alpha needs --distill (or --teacher): add it or drop --alpha.")
    for flag in ("views", "substitution"):
        if args.distill is False and args.teacher is None and getattr(args, f"no_{flag}"):
            raise DataprunerError(f"--no-{flag} needs --distill (or --teacher): add it or drop --no-{flag}.")
    if args.teacher is not None and args.teacher_model_type is not None:
        raise DataprunerError("--teacher-model-type is for a teacher trained here: drop it when passing --teacher.")
    teacher = str(_teacher_dir(args.teacher)) if args.teacher is not None else None
    temperature = DEFAULT_TEMPERATURE if args.temperature is None else args.temperature
    show = sys.stderr.isatty() or None
    result = train(args.data, test=args.test, subset=args.subset, model_type=args.model_type,
                   distill=bool(args.distill or teacher), teacher=teacher,
                   teacher_model_type=args.teacher_model_type, alpha=args.alpha, temperature=temperature,
                   text_column=args.text_column, label_column=args.label_column, split=args.split, seed=args.seed,
                   epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                   views=False if args.no_views else None, substitution=False if args.no_substitution else None,
                   show_progress_bar=show)
    metrics = dict(result.metrics)
    with atomic_dir(out) as run_dir:  # the run replaces an earlier one whole: no stale teacher/ is left behind
        run_dir.mkdir()
        result.student.save(run_dir / "model")
        if result.teacher is not None and result.metrics.get("teacher_trained_here"):
            result.teacher.save(run_dir / "teacher")
            metrics["teacher_path"] = str(out / "teacher")
        elif teacher is not None:
            metrics["teacher_path"] = teacher
        metrics.update({"data": args.data, "test": args.test, "subset": args.subset, "model_path": str(out / "model")})
        write_json(run_dir / "metrics.json", metrics, indent=2)
    kd = f", distilled with alpha={metrics['alpha']:.2f} T={metrics['temperature']:g}" if metrics["distill"] else ""
    logger.warning("trained %s on %d of %d rows%s: test accuracy %.4f -> %s", metrics["model_type"],
                   metrics["n_train"], metrics["n_full"], kd, metrics["test_accuracy"], out)
    return 0
