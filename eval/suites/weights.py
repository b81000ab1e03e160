"""Weight-pruning baselines: MiniLM unstructured/N:M/structured pruning, LeNet lottery tickets, data-selected recovery.

``python -m eval weights [--quick]`` (issue 8). On the embedded all-MiniLM-L6-v2 every encoder ``nn.Linear`` is
pruned by random and L1 magnitude (per layer and global, ``torch.nn.utils.prune``), Wanda and SparseGPT at
30/50/70% and the 2:4 and 4:8 patterns, calibrated on real text (NQ Wikipedia passages, SUBJ and TREC sentences).
FFN neurons and heads are removed physically (magnitude, Wanda-style, FLAP-style) and timed against the dense
model. Fidelity: cosine to the dense embeddings and Spearman correlation of pairwise similarities on held-out
SST-2 test sentences, and SQuAD v1.1 dev question -> paragraph recall@1/@5. LeNet-300-100 on MNIST (the 10k test
file split into train/test): IMP with rewinding vs the random re-init control (each level's IMP mask trained
from a fresh random init), gradual magnitude pruning (``CubicSL``), one-shot global magnitude. Recovery:
50%-pruned MiniLM distilled from the dense model on 5-20% of a text corpus selected by ``datapruner`` (random,
prototype, semdedup), and the effect of the calibration set on Wanda/SparseGPT.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
from typing import Any

from datapruner._threads import torch_threads
from eval.data_root import data_file
from eval.errors import EvalError

logger = logging.getLogger(__name__)

SECTIONS = ("unstructured", "structured", "calibration", "mnist", "recovery")

FULL = {
    "n_heldout": 500, "n_questions": 2000, "n_calibration": 128, "n_corpus": 2000,
    "unstructured": {
        "random": ["30%", "50%", "70%"],
        "magnitude": ["30%", "50%", "70%", "2:4", "4:8"],
        "global_magnitude": ["30%", "50%", "70%"],
        "wanda": ["30%", "50%", "70%", "2:4", "4:8"],
        "sparsegpt": ["30%", "50%", "70%", "2:4", "4:8"],
    },
    "structured_methods": ["magnitude", "wanda", "flap"], "structured_sparsities": [0.25, 0.5],
    "latency_batch": 8, "latency_repeats": 7,
    "calibration_methods": ["wanda", "sparsegpt"], "calibration_sources": ["random", "prototype", "semdedup"],
    "mnist": {"n_train": 8000, "n_test": 2000, "epochs": 4, "rounds": 8, "rate": 0.25, "batch_size": 128,
              "lr": 2e-3, "gradual_targets": [0.5, 0.8, 0.9, 0.95], "oneshot_targets": [0.5, 0.8, 0.9, 0.95]},
    "recovery": {"prune": "magnitude", "sparsity": 0.5, "budgets": [0.05, 0.1, 0.2],
                 "methods": ["random", "prototype", "semdedup"], "epochs": 1, "batch_size": 16,
                 "learning_rate": 1e-4},
}

QUICK = {
    "n_heldout": 100, "n_questions": 100, "n_calibration": 16, "n_corpus": 150,
    "unstructured": {"magnitude": ["50%"], "wanda": ["50%"], "sparsegpt": ["50%"]},
    "structured_methods": ["magnitude", "flap"], "structured_sparsities": [0.5],
    "latency_batch": 8, "latency_repeats": 3,
    "calibration_methods": ["wanda"], "calibration_sources": ["random", "prototype"],
    "mnist": {"n_train": 1000, "n_test": 500, "epochs": 1, "rounds": 1, "rate": 0.5, "batch_size": 128,
              "lr": 2e-3, "gradual_targets": [0.8], "oneshot_targets": [0.8]},
    "recovery": {"prune": "magnitude", "sparsity": 0.5, "budgets": [0.1],
                 "methods": ["random", "prototype", "semdedup"], "epochs": 1, "batch_size": 16,
                 "learning_rate": 1e-4},
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the weights suite."""
    parser.add_argument("--model", default=None,
                        help="sentence-transformers model name or path (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--sections", default=",".join(SECTIONS),
                        help=f"comma-separated parts to run (default: all of {','.join(SECTIONS)})")
    parser.add_argument("--patterns", default=None,
                        help="comma-separated patterns to keep from the sweep, e.g. '50%%,2:4'; a percentage also "
                             "filters the structured sparsities (default: all of the configuration)")
    parser.add_argument("--methods", default=None,
                        help="comma-separated pruning methods to keep (unstructured: random, magnitude, "
                             "global_magnitude, wanda, sparsegpt; structured: magnitude, wanda, flap; the "
                             "calibration section: wanda, sparsegpt); default: all")
    parser.add_argument("--n-questions", type=int, default=None,
                        help="SQuAD questions for retrieval (default: 2000, --quick 100)")
    parser.add_argument("--budgets", default=None,
                        help="comma-separated recovery budgets (fractions of the corpus) to keep, e.g. '0.1' "
                             "(default: 0.05,0.1,0.2; --quick 0.1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch CPU threads for pruning, training and evaluation (default: every core)")
    parser.add_argument("--latency-threads", type=int, default=1,
                        help="torch CPU threads while timing dense vs structured-pruned models (default: 1)")


def _parse_sections(value: str) -> list[str]:
    chosen = [s.strip() for s in value.split(",") if s.strip()]
    bad = [s for s in chosen if s not in SECTIONS]
    if bad or not chosen:
        raise EvalError(f"--sections={value!r} is not valid: use a comma-separated subset of {list(SECTIONS)}.")
    return chosen


def _pattern(spec: str) -> dict[str, Any]:
    if spec.endswith("%"):
        return {"sparsity": int(spec[:-1]) / 100}
    n, m = spec.split(":")
    return {"nm": (int(n), int(m))}


class _Bench:
    """The dense model, its reference embeddings and the evaluation texts."""

    def __init__(self, args: argparse.Namespace, cfg: dict[str, Any]) -> None:
        import numpy as np

        from eval.weights import calibration as cal
        from eval.weights import encoder, metrics

        root = args.data_root
        rng = np.random.default_rng(args.seed)
        self.dense = encoder.load_encoder(args.model)
        sst = cal.read_sentconv(data_file(root, "text_classification_sentconv/stsa.binary.test.gz"))
        self.heldout = cal.sample_texts(sst, cfg["n_heldout"], seed=args.seed)
        squad = cal.read_squad(data_file(root, "squad/squad_v1.1_dev.json.gz"))
        articles = rng.permutation(max(squad["article"]) + 1)
        chosen, n_q = set(), 0
        for a in articles:  # whole articles until there are enough questions: the paragraphs of those articles
            chosen.add(int(a))
            n_q += sum(1 for g in squad["gold"] if squad["article"][g] == a)
            if n_q >= cfg["n_questions"]:
                break
        para_ids = [i for i, a in enumerate(squad["article"]) if a in chosen]
        remap = {p: j for j, p in enumerate(para_ids)}
        pairs = [(q, remap[g]) for q, g in zip(squad["questions"], squad["gold"]) if g in remap]
        pick = sorted(rng.choice(len(pairs), size=min(cfg["n_questions"], len(pairs)), replace=False))
        self.questions = [pairs[i][0] for i in pick]
        self.gold = [pairs[i][1] for i in pick]
        self.paragraphs = [squad["paragraphs"][p] for p in para_ids]
        pool = cal.text_pool(root)
        self.pool = pool
        self.corpus = cal.sample_texts(pool, cfg["n_corpus"], seed=args.seed + 1)
        corpus_set = set(self.corpus)
        self.calibration_pool = [t for t in pool if t not in corpus_set]
        started = time.perf_counter()
        self.ref_heldout = metrics.encode(self.dense, self.heldout)
        self.ref_questions = metrics.encode(self.dense, self.questions)
        self.ref_paragraphs = metrics.encode(self.dense, self.paragraphs)
        self.dense_recall = metrics.recall_at_k(self.ref_questions, self.ref_paragraphs, self.gold)
        self.encode_s = time.perf_counter() - started
        logger.info("dense: %d held-out, %d questions over %d paragraphs, recall %s (%.0fs)", len(self.heldout),
                    len(self.questions), len(self.paragraphs), self.dense_recall, self.encode_s)

    def evaluate(self, model: Any) -> dict[str, float]:
        """Fidelity and retrieval metrics of a pruned copy of the dense model."""
        from eval.weights import metrics

        emb = metrics.encode(model, self.heldout)
        out = {"cosine": metrics.mean_cosine(emb, self.ref_heldout),
               "spearman": metrics.pairwise_spearman(emb, self.ref_heldout)}
        q = metrics.encode(model, self.questions)
        p = metrics.encode(model, self.paragraphs)
        out.update(metrics.recall_at_k(q, p, self.gold))
        return out


def _calibration_batches(bench: _Bench, texts: list[str]) -> list[dict[str, Any]]:
    from eval.weights import encoder

    return encoder.tokenize_batches(bench.dense, texts, batch_size=32, max_length=128)


def _prune_unstructured(model: Any, method: str, pattern: dict[str, Any], batches: list, seed: int) -> None:
    from eval.weights import encoder, magnitude, sparsegpt, wanda

    bert = encoder.bert_of(model)
    linears = encoder.encoder_linears(bert)
    nm, sparsity = pattern.get("nm"), pattern.get("sparsity")
    if method == "random":
        magnitude.random_unstructured(linears, sparsity, seed=seed)
    elif method == "magnitude":
        if nm:
            magnitude.magnitude_nm(linears, *nm)
        else:
            magnitude.l1_unstructured(linears, sparsity)
    elif method == "global_magnitude":
        magnitude.global_l1_unstructured(linears, sparsity)
    elif method == "wanda":
        wanda.prune_wanda(bert, batches, sparsity=sparsity, nm=nm)
    elif method == "sparsegpt":
        sparsegpt.prune_sparsegpt(bert, batches, sparsity=sparsity, nm=nm)
    else:
        raise EvalError(f"method={method!r} is not a known unstructured method.")


def _sparsity(model: Any) -> float:
    from eval.weights import encoder
    from eval.weights.masks import sparsity_of

    return sparsity_of([m.weight for m in encoder.encoder_linears(encoder.bert_of(model)).values()])


def _unstructured(bench: _Bench, cfg: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    from eval.weights import calibration as cal
    from eval.weights import encoder

    batches = _calibration_batches(bench, cal.sample_texts(bench.calibration_pool, cfg["n_calibration"], seed=seed))
    records = []
    for method, patterns in cfg["unstructured"].items():
        for spec in patterns:
            model = encoder.clone(bench.dense)
            started = time.perf_counter()
            _prune_unstructured(model, method, _pattern(spec), batches, seed)
            prune_s = time.perf_counter() - started
            record = {"method": method, "pattern": spec, "sparsity": _sparsity(model), "prune_s": prune_s,
                      **bench.evaluate(model)}
            logger.info("unstructured %s", record)
            records.append(record)
    return records


def _latency_batch(bench: _Bench, n: int) -> dict[str, Any]:
    from eval.weights import encoder

    return encoder.tokenize_batches(bench.dense, bench.paragraphs[:n], batch_size=n)[0]


def _structured(bench: _Bench, cfg: dict[str, Any], seed: int, latency_threads: int) -> list[dict[str, Any]]:
    from eval.weights import calibration as cal
    from eval.weights import encoder, metrics, structured

    batches = _calibration_batches(bench, cal.sample_texts(bench.calibration_pool, cfg["n_calibration"], seed=seed))
    batch = _latency_batch(bench, cfg["latency_batch"])
    dense_bert = encoder.bert_of(bench.dense)
    dense_params = sum(m.weight.numel() for m in encoder.encoder_linears(dense_bert).values())
    records = []
    for sparsity in cfg["structured_sparsities"]:
        for method in cfg["structured_methods"]:
            model = encoder.clone(bench.dense)
            bert = encoder.bert_of(model)
            started = time.perf_counter()
            structured.prune_structured(bert, batches, sparsity=sparsity, method=method)
            prune_s = time.perf_counter() - started
            params = sum(m.weight.numel() for m in encoder.encoder_linears(bert).values())
            dense_t, pruned_t = [], []
            with torch_threads(latency_threads):
                for _ in range(cfg["latency_repeats"]):  # interleaved, so both see the same machine load
                    dense_t += metrics.latency(dense_bert, batch, repeats=1)
                    pruned_t += metrics.latency(bert, batch, repeats=1)
            dense_ms, pruned_ms = statistics.median(dense_t) * 1e3, statistics.median(pruned_t) * 1e3
            record = {"method": method, "sparsity": sparsity, "linear_params_kept": params / dense_params,
                      "heads_per_layer": structured.n_heads(bert.encoder.layer[0]),
                      "ffn_per_layer": bert.encoder.layer[0].intermediate.dense.out_features,
                      "dense_ms": dense_ms, "pruned_ms": pruned_ms, "speedup": dense_ms / pruned_ms,
                      "speedup_of_min": min(dense_t) / min(pruned_t), "latency_tokens": int(batch["attention_mask"].sum()),
                      "prune_s": prune_s, **bench.evaluate(model)}
            logger.info("structured %s", record)
            records.append(record)
    return records


def _corpus_embeddings(bench: _Bench) -> Any:
    from eval.weights import metrics

    if not hasattr(bench, "_corpus_emb"):
        bench._corpus_emb = metrics.encode(bench.dense, bench.corpus)
    return bench._corpus_emb


def _calibration_choice(bench: _Bench, cfg: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """Wanda/SparseGPT at 50% calibrated on equally many corpus rows chosen by each datapruner method."""
    from eval.weights import encoder
    from eval.weights.recovery import select_budget

    emb = _corpus_embeddings(bench)
    keep = cfg["n_calibration"] / len(bench.corpus)
    records = []
    for source in cfg["calibration_sources"]:
        idx, info = select_budget(bench.corpus, emb, method=source, keep=keep, seed=seed)
        batches = _calibration_batches(bench, [bench.corpus[i] for i in idx])
        for method in cfg["calibration_methods"]:
            model = encoder.clone(bench.dense)
            _prune_unstructured(model, method, {"sparsity": 0.5}, batches, seed)
            record = {"method": method, "calibration": source, "n_texts": len(idx), **info,
                      **bench.evaluate(model)}
            logger.info("calibration %s", record)
            records.append(record)
    return records


def _recovery(bench: _Bench, cfg: dict[str, Any], seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from eval.weights import encoder
    from eval.weights.recovery import distill, select_budget

    rc = cfg["recovery"]
    emb = _corpus_embeddings(bench)
    pruned = encoder.clone(bench.dense)
    _prune_unstructured(pruned, rc["prune"], {"sparsity": rc["sparsity"]}, [], seed)
    baseline = {"method": "none", "budget": 0.0, "n_texts": 0, "sparsity": _sparsity(pruned),
                **bench.evaluate(pruned)}
    logger.info("recovery baseline %s", baseline)
    records = []
    for budget in rc["budgets"]:
        for method in rc["methods"]:
            idx, info = select_budget(bench.corpus, emb, method=method, keep=budget, seed=seed)
            student = encoder.clone(pruned)
            started = time.perf_counter()
            losses = distill(student, [bench.corpus[i] for i in idx], emb[idx], epochs=rc["epochs"],
                             batch_size=rc["batch_size"], learning_rate=rc["learning_rate"], seed=seed)
            record = {"method": method, "budget": budget, "n_texts": len(idx), **info,
                      "train_s": time.perf_counter() - started, "first_loss": losses[0], "last_loss": losses[-1],
                      "sparsity": _sparsity(student), **bench.evaluate(student)}
            logger.info("recovery %s", record)
            records.append(record)
    return baseline, records


def _mnist(args: argparse.Namespace, cfg: dict[str, Any]) -> dict[str, Any]:
    import copy
    import warnings

    import torch.nn.utils.prune as prune

    from eval.weights import gradual, lottery, mnist

    mc = cfg["mnist"]
    root = args.data_root
    images, labels = data_file(root, "mnist/t10k-images-idx3-ubyte.gz"), data_file(root, "mnist/t10k-labels-idx1-ubyte.gz")
    n_images = len(mnist.read_idx(labels))
    n_train = min(mc["n_train"], int(0.8 * n_images))  # smaller files (test fixtures) keep an 80/20 split
    n_test = min(mc["n_test"], n_images - n_train)
    xtr, ytr, xte, yte = mnist.load_mnist_split(images, labels, n_train=n_train, n_test=n_test, seed=args.seed)
    out_split = {"n_train": n_train, "n_test": n_test, "source": "t10k split"}

    def train(model: Any, epochs: int = mc["epochs"]) -> None:
        mnist.train_epochs(model, xtr, ytr, epochs=epochs, lr=mc["lr"], batch_size=mc["batch_size"],
                           seed=args.seed)

    def evaluate(model: Any) -> float:
        return mnist.accuracy(model, xte, yte)

    out: dict[str, Any] = {"split": out_split}
    # one IMP chain (rewind to init); the random re-init control is branched off it: at every level the
    # chain's mask with a fresh random initialisation, trained with the same schedule
    out["imp_init"], out["imp_random"] = lottery.imp_with_random_control(
        mnist.lenet_300_100(seed=args.seed), train, rounds=mc["rounds"], rate=mc["rate"], seed=args.seed,
        evaluate=evaluate)
    for rewind in ("init", "random"):
        logger.info("mnist imp %s %s", rewind, out[f"imp_{rewind}"])
    dense = mnist.lenet_300_100(seed=args.seed)
    train(dense)
    out["dense_accuracy"] = evaluate(dense)
    out["oneshot"], out["oneshot_finetuned"] = [], []
    for target in mc["oneshot_targets"]:
        model = copy.deepcopy(dense)
        layers = lottery.prunable(model)
        prune.global_unstructured([(m, "weight") for m in layers], pruning_method=prune.L1Unstructured,
                                  amount=target)
        out["oneshot"].append({"sparsity": lottery.weight_sparsity(model), "accuracy": evaluate(model)})
        train(model, epochs=1)
        out["oneshot_finetuned"].append({"sparsity": lottery.weight_sparsity(model), "accuracy": evaluate(model)})
    out["gradual"] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao scheduler warnings about get_sl / step order
        for target in mc["gradual_targets"]:
            model = mnist.lenet_300_100(seed=args.seed)
            gradual.gradual_magnitude_pruning(model, xtr, ytr, sparsity=target, epochs=mc["epochs"] + 2,
                                              lr=mc["lr"], batch_size=mc["batch_size"], seed=args.seed)
            out["gradual"].append({"sparsity": lottery.weight_sparsity(model), "accuracy": evaluate(model)})
    logger.info("mnist %s", out)
    return out


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


def _report(results: dict[str, Any], cfg: dict[str, Any]) -> None:
    """Tables, plots and verdicts from the measured records (everything here is derived from results)."""
    tables, plots, verdicts = [], [], []
    dense = results.get("dense", {})
    if "unstructured" in results:
        recs = results["unstructured"]
        tables.append({"title": "Unstructured and N:M pruning of every encoder Linear (MiniLM-L6)",
                       "columns": ["method", "pattern", "sparsity", "cosine", "spearman", "recall@1", "recall@5",
                                   "prune s"],
                       "rows": [["dense", "-", 0.0, 1.0, 1.0, dense["recall@1"], dense["recall@5"], 0.0]]
                       + [[r["method"], r["pattern"], _r(r["sparsity"]), _r(r["cosine"]), _r(r["spearman"]),
                           _r(r["recall@1"]), _r(r["recall@5"]), _r(r["prune_s"], 1)] for r in recs]})
        cos_series, rec_series = [], []
        for method in cfg["unstructured"]:
            for label, pts, style in ((method, [r for r in recs if r["method"] == method
                                               and r["pattern"].endswith("%")], "-o"),
                                      (f"{method} N:M", [r for r in recs if r["method"] == method
                                                         and ":" in r["pattern"]], "x")):
                if pts:
                    x = [r["sparsity"] for r in pts]
                    cos_series.append({"label": label, "x": x, "y": [r["cosine"] for r in pts], "style": style})
                    rec_series.append({"label": label, "x": x, "y": [r["recall@1"] for r in pts], "style": style})
        plots.append({"file": "unstructured_cosine.png", "title": "MiniLM: fidelity vs sparsity",
                      "xlabel": "sparsity of encoder Linear weights", "ylabel": "cosine to dense (held-out SST-2)",
                      "series": cos_series})
        plots.append({"file": "unstructured_recall.png", "title": "MiniLM: SQuAD recall@1 vs sparsity",
                      "xlabel": "sparsity of encoder Linear weights", "ylabel": "recall@1",
                      "series": rec_series + [{"label": "dense", "x": [0.0], "y": [dense["recall@1"]],
                                               "style": "*"}]})
        for method, goal in (("wanda", 0.88), ("sparsegpt", 0.91)):
            hit = [r for r in recs if r["method"] == method and r["pattern"] == "50%"]
            if hit:
                c = hit[0]["cosine"]
                verdicts.append(f"{method} at 50% unstructured: cosine {c:.4f} (goal >= {goal}): "
                                f"{'met' if c >= goal else 'NOT met'}.")
    if "structured" in results:
        recs = results["structured"]
        tables.append({"title": "Structured pruning (heads and FFN neurons removed in every layer)",
                       "columns": ["method", "removed", "linear params kept", "heads/layer", "FFN/layer",
                                   "dense ms", "pruned ms", "speed-up", "speed-up (min)", "cosine", "spearman",
                                   "recall@1",
                                   "recall@5"],
                       "rows": [[r["method"], r["sparsity"], _r(r["linear_params_kept"]), r["heads_per_layer"],
                                 r["ffn_per_layer"], _r(r["dense_ms"], 1), _r(r["pruned_ms"], 1),
                                 _r(r["speedup"], 3), _r(r.get("speedup_of_min", float("nan")), 3), _r(r["cosine"]), _r(r["spearman"]), _r(r["recall@1"]),
                                 _r(r["recall@5"])] for r in recs]})
        plots.append({"file": "structured.png", "title": "Structured pruning: fidelity vs measured speed-up",
                      "xlabel": "speed-up over dense (median latency)", "ylabel": "cosine to dense",
                      "series": [{"label": m, "x": [r["speedup"] for r in recs if r["method"] == m],
                                  "y": [r["cosine"] for r in recs if r["method"] == m]}
                                 for m in cfg["structured_methods"]]})
        half = [r for r in recs if r["sparsity"] == 0.5]
        if half:
            ok = [r["speedup"] >= 1.8 for r in half]
            verdict = "met" if all(ok) else "met by some" if any(ok) else "NOT met"
            speeds = ", ".join(f"{r['method']} {r['speedup']:.2f}x" for r in half)
            verdicts.append(f"50% structured: speed-up {speeds} (goal >= 1.8x): {verdict}.")
    if "calibration_choice" in results:
        recs = results["calibration_choice"]
        tables.append({"title": "Calibration data chosen by datapruner (50% unstructured)",
                       "columns": ["method", "calibration", "texts", "cosine", "spearman", "recall@1", "recall@5"],
                       "rows": [[r["method"], r["calibration"], r["n_texts"], _r(r["cosine"]), _r(r["spearman"]),
                                 _r(r["recall@1"]), _r(r["recall@5"])] for r in recs]})
        for method in cfg["calibration_methods"]:
            vals = [r["cosine"] for r in recs if r["method"] == method]
            if vals:
                verdicts.append(f"calibration choice, {method} 50%: cosine ranges {min(vals):.4f}-{max(vals):.4f} "
                                f"over {', '.join(cfg['calibration_sources'])} (spread {max(vals) - min(vals):.4f}).")
    if "mnist" in results:
        mn = results["mnist"]
        rows = []
        for key in ("imp_init", "imp_random"):
            rows += [[key, _r(r["sparsity"]), _r(r["accuracy"])] for r in mn[key]]
        for key in ("oneshot", "oneshot_finetuned", "gradual"):
            rows += [[key, _r(r["sparsity"]), _r(r["accuracy"])] for r in mn[key]]
        tables.append({"title": f"LeNet-300-100 on MNIST (dense accuracy {mn['dense_accuracy']:.4f})",
                       "columns": ["method", "sparsity", "test accuracy"], "rows": rows})
        labels = {"imp_init": "IMP, rewind to init (lottery)", "imp_random": "IMP mask, random re-init (control)",
                  "oneshot": "one-shot global magnitude", "oneshot_finetuned": "one-shot + 1 epoch fine-tune",
                  "gradual": "gradual (CubicSL)"}
        plots.append({"file": "mnist_accuracy.png", "title": "LeNet-300-100 on MNIST: accuracy vs sparsity",
                      "xlabel": "weight sparsity", "ylabel": "test accuracy",
                      "series": [{"label": labels[k], "x": [r["sparsity"] for r in mn[k]],
                                  "y": [r["accuracy"] for r in mn[k]]} for k in labels]})
        last_init, last_rand = mn["imp_init"][-1], mn["imp_random"][-1]
        verdicts.append(f"lottery ticket at {last_init['sparsity']:.3f} sparsity: rewound {last_init['accuracy']:.4f}"
                        f" vs the same mask randomly re-initialised {last_rand['accuracy']:.4f}.")
    if "recovery" in results:
        base, recs = results["recovery"]["baseline"], results["recovery"]["runs"]
        tables.append({"title": f"Recovery by distillation on datapruner-selected text "
                                f"({cfg['recovery']['prune']} {cfg['recovery']['sparsity']:.0%}, "
                                f"corpus {cfg['n_corpus']} texts)",
                       "columns": ["selection", "budget", "texts", "cosine", "spearman", "recall@1", "recall@5",
                                   "train s"],
                       "rows": [["none (pruned)", 0.0, 0, _r(base["cosine"]), _r(base["spearman"]),
                                 _r(base["recall@1"]), _r(base["recall@5"]), 0.0]]
                       + [[r["method"], r["budget"], r["n_texts"], _r(r["cosine"]), _r(r["spearman"]),
                           _r(r["recall@1"]), _r(r["recall@5"]), _r(r["train_s"], 1)] for r in recs]})
        budgets = cfg["recovery"]["budgets"]
        plots.append({"file": "recovery.png", "title": "Recovery of 50%-pruned MiniLM vs data budget",
                      "xlabel": "fraction of the corpus used for distillation", "ylabel": "cosine to dense",
                      "series": [{"label": m, "x": [r["budget"] for r in recs if r["method"] == m],
                                  "y": [r["cosine"] for r in recs if r["method"] == m]}
                                 for m in cfg["recovery"]["methods"]]
                      + [{"label": "no recovery", "x": budgets, "y": [base["cosine"]] * len(budgets),
                          "style": "--"}]})
        for budget in budgets:
            at = {r["method"]: r["cosine"] for r in recs if r["budget"] == budget}
            verdicts.append(f"recovery at {budget:.0%} budget: cosine " + ", ".join(f"{k} {v:.4f}" for k, v in at.items())
                            + f" (pruned, no recovery {base['cosine']:.4f}).")
    results["tables"], results["plots"], results["verdicts"] = tables, plots, verdicts


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen sections and return the results dict (see the module docstring)."""
    sections = _parse_sections(args.sections)
    for name in ("threads", "latency_threads"):
        if getattr(args, name) < 1:
            raise EvalError(f"--{name.replace('_', '-')}={getattr(args, name)} is not valid: use a positive int.")
    cfg = dict(QUICK if args.quick else FULL)
    if args.patterns:
        wanted = {p.strip() for p in args.patterns.split(",") if p.strip()}
        known = {p for pats in cfg["unstructured"].values() for p in pats}
        if not wanted or not wanted <= known:
            raise EvalError(f"--patterns={args.patterns!r} is not valid: use a subset of {sorted(known)}.")
        cfg["unstructured"] = {m: [p for p in pats if p in wanted] for m, pats in cfg["unstructured"].items()}
        cfg["unstructured"] = {m: pats for m, pats in cfg["unstructured"].items() if pats}
        cfg["structured_sparsities"] = [x for x in cfg["structured_sparsities"] if f"{round(x * 100)}%" in wanted]
    if args.methods:
        wanted = {m.strip() for m in args.methods.split(",") if m.strip()}
        known = set(cfg["unstructured"]) | set(cfg["structured_methods"])
        if not wanted or not wanted <= known:
            raise EvalError(f"--methods={args.methods!r} is not valid: use a subset of {sorted(known)}.")
        cfg["unstructured"] = {m: p for m, p in cfg["unstructured"].items() if m in wanted}
        cfg["structured_methods"] = [m for m in cfg["structured_methods"] if m in wanted]
        cfg["calibration_methods"] = [m for m in cfg["calibration_methods"] if m in wanted]
    if getattr(args, "budgets", None):
        try:
            wanted_b = [float(b) for b in args.budgets.split(",") if b.strip()]
        except ValueError:
            wanted_b = []
        if not wanted_b or any(not 0 < b <= 1 for b in wanted_b):
            raise EvalError(f"--budgets={args.budgets!r} is not valid: use comma-separated fractions in (0, 1].")
        cfg["recovery"] = {**cfg["recovery"], "budgets": wanted_b}
    if args.n_questions is not None:
        if args.n_questions < 10:
            raise EvalError(f"--n-questions={args.n_questions} is not valid: use at least 10.")
        cfg["n_questions"] = args.n_questions
    if any(s != "mnist" for s in sections):
        data_file(args.data_root, "squad/squad_v1.1_dev.json.gz")
    with torch_threads(args.threads):
        return _run(args, sections, cfg)


def _run(args: argparse.Namespace, sections: list[str], cfg: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.manual_seed(args.seed)
    timings: dict[str, float] = {}
    results: dict[str, Any] = {"config": {**cfg, "sections": sections, "threads": args.threads, "latency_threads": args.latency_threads,
                                          "model": args.model or "all-MiniLM-L6-v2 (embedded)"},
                               "seed": args.seed}
    started = time.perf_counter()
    cpu_started = time.process_time()
    load_start = os.getloadavg()
    bench = None
    if any(s != "mnist" for s in sections):
        bench = _Bench(args, cfg)
        results["dense"] = bench.dense_recall
        results["data"] = {"heldout": len(bench.heldout), "questions": len(bench.questions),
                           "paragraphs": len(bench.paragraphs), "corpus": len(bench.corpus),
                           "calibration_pool": len(bench.calibration_pool)}
        timings["dense_encode_s"] = round(time.perf_counter() - started, 2)
    for section in sections:
        started = time.perf_counter()
        if section == "unstructured":
            results["unstructured"] = _unstructured(bench, cfg, args.seed)
        elif section == "structured":
            results["structured"] = _structured(bench, cfg, args.seed, args.latency_threads)
        elif section == "calibration":
            results["calibration_choice"] = _calibration_choice(bench, cfg, args.seed)
        elif section == "mnist":
            results["mnist"] = _mnist(args, cfg)
        elif section == "recovery":
            baseline, runs = _recovery(bench, cfg, args.seed)
            results["recovery"] = {"baseline": baseline, "runs": runs}
        timings[f"{section}_s"] = round(time.perf_counter() - started, 2)
        logger.info("section %s done in %.0fs", section, timings[f"{section}_s"])
    timings["process_cpu_s"] = round(time.process_time() - cpu_started, 2)
    results["timings"] = timings
    results["machine_load"] = {"loadavg_1m_start": round(load_start[0], 1),
                               "loadavg_1m_end": round(os.getloadavg()[0], 1), "cpu_count": os.cpu_count()}
    results["notes"] = [
        "Cosine and Spearman: SST-2 test sentences (held out; never used for calibration or recovery). Retrieval: "
        "SQuAD v1.1 dev questions against all paragraphs of their articles.",
        "Calibration and recovery text: NQ-open gold Wikipedia passages, SUBJ and TREC sentences (no SQuAD, no SST-2); "
        "the recovery corpus and the calibration pool are disjoint.",
        "Wanda and SparseGPT are calibrated sequentially: layer l sees the outputs of the already-pruned layers < l.",
        "Structured pruning removes the same fraction of heads and FFN neurons in every layer; latency is the median "
        "of interleaved dense/pruned forward passes of the BERT module on one batch of SQuAD paragraphs, "
        f"with torch threads = {args.latency_threads}; everything else ran with {args.threads} thread(s).",
    ]
    _report(results, cfg)
    budget = 180 if args.quick else 1800
    wall = sum(v for k, v in timings.items() if k.endswith("_s") and k != "process_cpu_s")
    partial = [f"--{k.replace('_', '-')}" for k in ("patterns", "methods", "n_questions", "budgets")
               if getattr(args, k, None)]
    if sections != list(SECTIONS) or partial:
        scope = f"this partial run (sections {','.join(sections)}" + (f"; {' '.join(partial)}" if partial else "") + ")"
    else:
        scope = "the whole suite"
    results["verdicts"].append(
        f"run time of {scope}: {wall:.0f}s wall, {timings['process_cpu_s']:.0f}s process CPU (goal <= {budget}s), load average "
        f"{results['machine_load']['loadavg_1m_start']}->{results['machine_load']['loadavg_1m_end']} on "
        f"{os.cpu_count()} cores: {'met' if wall <= budget else 'NOT met'}.")
    return results
