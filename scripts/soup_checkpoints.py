"""Average the weights of pruner checkpoints trained from one initialisation (a uniform "model soup",
Wortsman et al. 2022), re-validate the average and write it as a checkpoint of its own.

Runs that share ``--split-seed`` and ``--init-seed`` but differ in ``--seed`` (data order, negatives, dropout)
start from the same weights; their average often lies in the same basin and beats each run alone. The soup is
validated on the first run's validation data, which all of them share, and its threshold chosen by the same rule.

    python scripts/soup_checkpoints.py RUN1 RUN2 ... --out SOUP --data-root ../shared/data [--device cuda]
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from safetensors.torch import load_file, save_file

from ragprune.sentence.model import load_pruner_model
from ragprune.train import rebuild_validation_data, validate, write_model_card


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    configs = [json.loads((r / "config.json").read_text()) for r in args.runs]
    for key in ("validation_articles", "nq_validation_questions", "hotpot_train_validation_ids", "encoder_config"):
        if any(c.get(key) != configs[0].get(key) for c in configs):
            raise SystemExit(f"soup_checkpoints: the runs differ in {key}: they must share one split and one shape.")
    states = [load_file(str(r / "model.safetensors")) for r in args.runs]
    soup = {k: (sum(s[k].float() for s in states) / len(states)).to(states[0][k].dtype) if states[0][k].is_floating_point()
            else states[0][k] for k in states[0]}
    args.out.mkdir(parents=True, exist_ok=True)
    for f in args.runs[0].iterdir():
        if f.name.startswith("tokenizer") or f.name == "special_tokens_map.json" or f.name == "vocab.txt":
            shutil.copy(f, args.out / f.name)
    save_file(soup, str(args.out / "model.safetensors"), metadata={"format": "pt"})
    config = dict(configs[0], soup_of=[{"run": str(r), "command": c["command"]} for r, c in zip(args.runs, configs)])
    (args.out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    model, tokenizer, _ = load_pruner_model(args.out, device=args.device)
    t0 = time.time()
    metrics = validate(model, tokenizer, rebuild_validation_data(config, args.data_root),
                       max_length=config["max_length"], target_recall=configs[0]["validation_metrics"]["target_recall"],
                       margin_se=configs[0]["validation_metrics"].get("margin_se", 0.0))
    config.update(threshold=metrics["threshold"], validation_metrics=metrics, validation_seconds=round(time.time() - t0, 1))
    (args.out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    write_model_card(config, args.out)
    m = metrics
    print(json.dumps({"threshold": m["threshold"], "squad": [m["squad"]["has_answer_recall"], m["squad"]["tokens_removed"]],
                      "nq": [m["nq"]["has_answer_recall"], m["nq"]["tokens_removed"]],
                      "hotpot": [m["hotpot_train_heldout"]["supporting_fact_recall"], m["hotpot_train_heldout"]["tokens_removed"]]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
