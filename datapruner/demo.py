"""``make demo``: prune the shipped SST-2 sample with the embedded MiniLM encoder and show what was kept and why.

Runs the real CLI (``datapruner select``) on ``datapruner/data/sst2_sample.jsonl`` and writes the kept rows,
the scores and a report under ``demo_output/``.
"""
from __future__ import annotations

import argparse
import json
import sys
from importlib import resources
from pathlib import Path

from datapruner.cli.main import main as cli_main
from datapruner.io import load_data, read_scores


def _shorten(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def run(method: str, keep: float, output_dir: Path) -> int:
    data = resources.files("datapruner") / "data" / "sst2_sample.jsonl"
    out, scores_path, report_path = (output_dir / "kept.jsonl", output_dir / f"{method}_scores.parquet",
                                     output_dir / "report.json")
    argv = ["select", "--data", str(data), "--method", method, "--keep", str(keep), "--out", str(out),
            "--scores", str(scores_path), "--report", str(report_path)]
    print("$ datapruner " + " ".join(argv), flush=True)
    code = cli_main(argv)
    if code != 0:
        return code
    report = json.loads(report_path.read_text(encoding="utf-8"))
    params = report["parameters"]
    print(f"\nkept {report['rows_out']} of {report['rows_in']} rows ({report['kept_fraction']:.0%}) with "
          f"method={params['method']!r}, strategy={params['strategy']!r} "
          f"({'higher score = harder' if params['higher_is_harder'] else 'lower score = harder'})")
    for label, counts in report.get("per_class", {}).items():
        print(f"  class {label}: {counts['before']} -> {counts['after']}")
    summary = report["scores"]
    print(f"  score median: all {summary['all']['median']:.3f}, kept {summary['kept']['median']:.3f}")
    scores, _ = read_scores(scores_path)
    dataset = load_data(str(data))
    kept_rows = set(json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines())
    order = scores.argsort()
    sign = 1 if params["higher_is_harder"] else -1
    hardest = order[::-1] if sign > 0 else order
    print("\nhardest rows (kept by a 'hard' strategy):")
    for i in hardest[:3]:
        flag = "kept" if dataset[int(i)]["text"] in kept_rows else "dropped"
        print(f"  [{flag}] score={scores[i]:.3f} label={dataset[int(i)]['label']}: {_shorten(dataset[int(i)]['text'])}")
    print("easiest rows (most redundant / prototypical):")
    for i in hardest[::-1][:3]:
        flag = "kept" if dataset[int(i)]["text"] in kept_rows else "dropped"
        print(f"  [{flag}] score={scores[i]:.3f} label={dataset[int(i)]['label']}: {_shorten(dataset[int(i)]['text'])}")
    print(f"\nwrote {out}, {scores_path} and {report_path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datapruner.demo", description=__doc__)
    parser.add_argument("--method", default="el2n", help="scorer to demo (default: el2n)")
    parser.add_argument("--keep", type=float, default=0.3, help="fraction kept (default: 0.3)")
    parser.add_argument("--output-dir", type=Path, default=Path("demo_output"))
    args = parser.parse_args(argv)
    return run(args.method, args.keep, args.output_dir)


if __name__ == "__main__":
    sys.exit(main())
