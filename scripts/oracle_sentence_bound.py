"""How much an ideal sentence pruner would remove on the context suite's SQuAD and NQ questions.

    PYTHONPATH=. python scripts/oracle_sentence_bound.py --data-root ../shared/data \
        --out eval/results/context/oracle_sentence_bound.json

The oracle keeps, in the gold passage only, the sentences (``ragprune``'s splitter) that hold a gold answer span, and
drops every other sentence of the 5 passages. Its share of tokens removed is the ceiling for a sentence-level pruner
at full has-answer recall; the shipped model's removal at its default threshold (``eval/results/context``) is set
against it, split into the gold passage and the other four. Same questions as ``python -m eval context``
(``eval.context_data.load_heldout_qa`` with the suite's seed and limits).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from datapruner._atomic import write_json
from eval.context_data import load_heldout_qa
from eval.suites.context import LIMITS
from ragprune import ContextPruner
from ragprune.sentence.splitter import split_sentences


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pruner = ContextPruner()
    _, tokenizer, config = pruner._load()
    sets, _ = load_heldout_qa(args.data_root, config, limits={k: LIMITS[k][0] for k in ("squad", "nq")},
                              rng=np.random.default_rng(args.seed))

    def n_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    out = {"command": f"PYTHONPATH=. python scripts/oracle_sentence_bound.py --data-root {args.data_root} "
                      f"--out {args.out}", "threshold": pruner.default_threshold, "sets": {}}
    for name, examples in sets.items():
        oracle, model, model_gold, gold_share = [], [], [], []
        for ex in examples:
            counts = [n_tokens(p) for p in ex.passages]
            total, g = sum(counts), ex.gold[0]
            spans = split_sentences(ex.passages[g])
            keep = [(a, b) for a, b in spans if any(p == g and s < b and e > a for p, s, e in ex.answer_spans)]
            oracle.append(1 - sum(n_tokens(ex.passages[g][a:b]) for a, b in keep) / total)
            gold_share.append(counts[g] / total)
            kept = [n_tokens(r.pruned) for r in pruner.prune(ex.question, ex.passages)]
            model.append(1 - sum(kept) / total)
            model_gold.append(1 - kept[g] / counts[g])
        out["sets"][name] = {"n": len(examples), "oracle_tokens_removed": float(np.mean(oracle)),
                             "gold_passage_token_share": float(np.mean(gold_share)),
                             "model_tokens_removed": float(np.mean(model)),
                             "model_gold_passage_tokens_removed": float(np.mean(model_gold))}
        print(name, out["sets"][name], flush=True)
    write_json(args.out, out, indent=1)


if __name__ == "__main__":
    main()
