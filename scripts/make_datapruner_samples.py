"""Derive the small samples shipped in the repo from ../shared/data (run once; outputs are committed).

    python scripts/make_datapruner_samples.py --data-root ../shared/data

- datapruner/data/sst2_sample.jsonl: 1,500 SST-2 training sentences (text, label), the `make demo` dataset.
- tests/fixtures/text_noisy.jsonl: 200 other SST-2 sentences with 10% of labels flipped (`is_noisy` marks them).
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
from pathlib import Path


def read_sst2(path: Path) -> list[dict]:
    rows = []
    with gzip.open(path, "rt", encoding="latin-1") as fh:
        for line in fh:
            label, _, text = line.strip().partition(" ")
            if text:
                rows.append({"text": text, "label": int(label)})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    rows = read_sst2(args.data_root / "text_classification_sentconv" / "stsa.binary.train.gz")
    rng = random.Random(0)
    rng.shuffle(rows)
    write_jsonl(Path("datapruner/data/sst2_sample.jsonl"), rows[:1500])
    noisy = [dict(r) for r in rows[1500:1700]]
    flipped = set(rng.sample(range(len(noisy)), k=len(noisy) // 10))
    for i, row in enumerate(noisy):
        row["is_noisy"] = i in flipped
        if i in flipped:
            row["label"] = 1 - row["label"]
    write_jsonl(Path("tests/fixtures/text_noisy.jsonl"), noisy)


if __name__ == "__main__":
    main()
