"""Train several ``ragprune.train`` configurations side by side and tabulate their validation metrics.

Meant for a lent GPU, where one small cross-encoder leaves most of the card idle: ``--jobs`` trainings share it.

    python scripts/train_sweep.py --sweep sweep.json --out runs --jobs 4 -- --data-root data --device cuda

``sweep.json`` is a list of ``{"name": str, "args": [str, ...]}``; the arguments after ``--`` are added to every
run. Each run writes ``OUT/NAME/`` (checkpoint + ``train.log``); ``OUT/summary.json`` and ``OUT/summary.md``
hold the validation metrics of every finished run (selection is left to the reader: validation data only).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run_one(spec: dict, out: Path, common: list[str]) -> dict:
    folder = out / spec["name"]
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "ragprune.train", "--output-dir", str(folder), *spec["args"], *common]
    t0 = time.time()
    with open(folder / "train.log", "w") as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    row = {"name": spec["name"], "args": spec["args"], "rc": rc, "wall_s": round(time.time() - t0, 1)}
    cfg = folder / "config.json"
    if rc == 0 and cfg.exists():
        config = json.loads(cfg.read_text())
        row.update(steps=config["steps"], train_windows=config["train_windows"],
                   train_seconds=config["train_seconds"], validation=config["validation_metrics"])
    return row


def summary_line(row: dict) -> str:
    if "validation" not in row:
        return f"| {row['name']} | failed (rc {row['rc']}) | | | | |"
    m = row["validation"]
    hp = m["hotpot_train_heldout"]
    return (f"| {row['name']} | {m['threshold']:.2f} | {m['squad']['has_answer_recall']:.3f} / "
            f"{m['squad']['tokens_removed']:.3f} | {m['nq']['has_answer_recall']:.3f} / {m['nq']['tokens_removed']:.3f} | "
            f"{hp['supporting_fact_recall']:.3f} / {hp['tokens_removed']:.3f} | {row['train_seconds']:.0f} |")


def main() -> int:
    argv = sys.argv[1:]
    common = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweep", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args(own)
    specs = json.loads(args.sweep.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda s: run_one(s, args.out, common), specs))
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| run | threshold | SQuAD recall / removed | NQ recall / removed | Hotpot SF recall / removed | train s |",
             "|---|---|---|---|---|---|", *map(summary_line, rows)]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
