"""HTML block-tree pruning: SQuAD explorer pages (has-answer recall vs budget) and the trafilatura corpus.

Part 1 -- question mode. Each SQuAD v1.1 dev explorer page (``squad/explorer_html/1.1_dev``) is stripped of
its question/answer widgets (``div.qas-wrap``), so answers only appear in the article paragraphs. For a sample
of questions (one page per question), every method prunes the page to 128/256/512/1024 tokens (all-MiniLM-L6-v2
tokenizer, HTML tags counted) and we record whether a gold answer is in the pruned text, and the time per page.
Methods, all in the same run: ragprune ``HtmlPruner`` (BM25, the default; hybrid BM25 + MiniLM cascade), htmlrag's
``BM25HTMLPruner`` and ``EmbedHTMLPruner`` (local MiniLM) as shipped (``prune_HTML``) and with a corrected
selection of their own top-ranked blocks, and plain-text pruning of the page text by ``ContextPruner`` when a
checkpoint is available. The ragprune defaults were chosen on the SQuAD v2.0 dev pages (other articles).

Part 2 -- query-less mode. Pages of the trafilatura evaluation corpus (``html_trafilatura_eval``; all 1,029 in
the full run) are pruned without a question (raw bytes in, charset decoded by the pruner); per gold entry, the
share of ``with`` snippets kept and ``without`` snippets removed, side by side with trafilatura's extractor on
every page, and with the heuristic alone and htmlrag's ``clean_html`` on a seeded sample of pages (they are
slower). Crashes are counted (goal: zero).
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
import re
import time
from pathlib import Path
from typing import Any

from eval.data_root import data_file
from eval.errors import EvalError

logger = logging.getLogger(__name__)

BUDGETS = (128, 256, 512, 1024)
_WS = re.compile(r"\s+")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--questions", type=int, default=None,
                        help="SQuAD questions sampled (default: 60, quick: 12)")
    parser.add_argument("--pages", type=int, default=None,
                        help="trafilatura corpus pages (default: all 1,029; quick: 60)")
    parser.add_argument("--baseline-pages", type=int, default=None,
                        help="pages (seeded sample) on which the slower part-2 comparisons (heuristic only, htmlrag "
                             "clean_html) also run (default: 150; quick: every quick page)")
    parser.add_argument("--squad-split", default="1.1_dev", choices=["1.1_dev", "2.0_dev"],
                        help="explorer pages used for part 1 (default: 1.1_dev; 2.0_dev was used for choosing defaults)")
    parser.add_argument("--methods", default="all",
                        help="comma-separated part-1 methods, or 'all' (ragprune-hybrid, ragprune-bm25, htmlrag-bm25, "
                             "htmlrag-embed, contextpruner; ragprune-embedding only when named)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch CPU threads for every method (default 1: on a shared, oversubscribed CPU more "
                             "threads are slower; the same setting applies to ragprune and htmlrag)")
    parser.add_argument("--skip-trafilatura", action="store_true", help="run part 1 only")
    parser.add_argument("--skip-squad", action="store_true", help="run part 2 only")


def _norm(text: str) -> str:
    return _WS.sub(" ", text).strip().lower()


def _has_answer(text: str, answers: list[str]) -> bool:
    text = _norm(text)
    return any(_norm(a) in text for a in answers if a.strip())


# ------------------------------------------------------------------------------------------------ SQuAD

def squad_pages(folder: Path) -> list[tuple[str, str, list[tuple[str, list[str]]]]]:
    """Return ``(name, page_html_without_qa, [(question, answers)])`` for each explorer page of ``folder``."""
    import lxml.html

    pages = []
    for path in sorted(folder.glob("*.html.gz")):
        if path.name.startswith("index"):
            continue
        raw = gzip.open(path).read()
        doc = lxml.html.fromstring(raw)
        qas = []
        for qa in doc.xpath('//div[contains(concat(" ", normalize-space(@class), " "), " qa-wrap ")]'):
            questions = qa.xpath('.//strong[contains(@class, "question")]')
            answers = [a.text_content() for a in qa.xpath('.//span[@class="answer"]')]
            if questions and answers:
                qas.append((questions[0].text_content().strip(), answers))
        for el in doc.xpath('//div[contains(concat(" ", normalize-space(@class), " "), " qas-wrap ")]'):
            el.getparent().remove(el)
        html = lxml.html.tostring(doc, encoding="unicode", doctype="<!DOCTYPE html>")
        if qas:
            pages.append((path.name[:-len(".html.gz")], html, qas))
    return pages


class _Htmlrag:
    """htmlrag as shipped plus a corrected top-block selection over its own rankings."""

    def __init__(self, kind: str, tokenizer: Any, model_path: str) -> None:
        from htmlrag import BM25HTMLPruner, EmbedHTMLPruner

        self.kind = kind
        self.tokenizer = tokenizer
        if kind == "bm25":
            self.pruner = BM25HTMLPruner()
        else:
            self.pruner = EmbedHTMLPruner(embed_model=model_path, local_inference=True)

    def rank(self, html: str, question: str) -> tuple[Any, str, list[int]]:
        from htmlrag import build_block_tree, clean_html

        simplified = clean_html(html)
        block_tree, simplified = build_block_tree(simplified, max_node_words=256)  # README: real-world setting
        rankings = self.pruner.calculate_block_rankings(question, simplified, block_tree)
        return block_tree, simplified, rankings

    def shipped(self, simplified: str, block_tree: Any, rankings: list[int], budget: int) -> str:
        from bs4 import BeautifulSoup

        pruned = self.pruner.prune_HTML(simplified, block_tree, rankings, self.tokenizer, budget)
        return BeautifulSoup(pruned, "html.parser").get_text(" ")

    def corrected(self, block_tree: Any, rankings: list[int], budget: int) -> str:
        import bs4

        kept, total = [], 0
        for idx in rankings:
            tag, _path, is_leaf = block_tree[idx]
            if is_leaf:
                piece, text = str(tag), tag.get_text(" ")
            else:
                strings = [str(c) for c in tag.contents if isinstance(c, bs4.element.NavigableString)]
                piece = text = " ".join(strings)
            cost = len(self.tokenizer.encode(piece, add_special_tokens=False))
            if total + cost <= budget:
                kept.append((idx, text))
                total += cost
        return "\n".join(text for _, text in sorted(kept))


def _run_squad(args: argparse.Namespace, n_questions: int, methods: set[str]) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from ragprune.html import HtmlPruner
    from ragprune.html.rankers import default_model

    folder = data_file(args.data_root, f"squad/explorer_html/{args.squad_split}")
    pages = squad_pages(folder)
    if not pages:
        raise EvalError(f"no explorer pages with questions under {folder}.")
    rng = random.Random(args.seed)
    pool = [(p, i) for p, (_, _, qas) in enumerate(pages) for i in range(len(qas))]
    sample = sorted(rng.sample(pool, min(n_questions, len(pool))))
    model_path = default_model()
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    tokenizer.model_max_length = 10**9

    runners: dict[str, Any] = {}
    if "ragprune-hybrid" in methods:
        runners["ragprune-hybrid"] = HtmlPruner(ranker="hybrid")
    if "ragprune-bm25" in methods:
        runners["ragprune-bm25"] = HtmlPruner(ranker="bm25")
    if "ragprune-embedding" in methods:
        runners["ragprune-embedding"] = HtmlPruner(ranker="embedding")
    htmlrag: dict[str, _Htmlrag] = {}
    for kind in ("bm25", "embed"):
        if f"htmlrag-{kind}" in methods:
            htmlrag[kind] = _Htmlrag(kind, tokenizer, model_path)
    context_pruner = None
    text_source = HtmlPruner(ranker="bm25", cache_size=0)  # the page's plain text for the text baseline
    notes: list[str] = []
    if "contextpruner" in methods:
        try:
            from ragprune.sentence.pruner import ContextPruner

            context_pruner = ContextPruner()
            context_pruner.count_tokens("warm up")
            context_pruner.prune("warm up?", ["Warm up."])
        except Exception as err:  # noqa: BLE001 - report the reason, run the rest
            context_pruner = None
            notes.append(f"ContextPruner plain-text baseline not run: {type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''}")

    names = [m for m in runners] + [f"htmlrag-{k} (shipped)" for k in htmlrag] + \
        [f"htmlrag-{k} (corrected)" for k in htmlrag] + (["contextpruner (page text)"] if context_pruner else [])
    hits = {m: {b: 0 for b in BUDGETS} for m in names}
    over_budget = {m: 0 for m in names}
    seconds = {m: [] for m in names}
    errors = {m: 0 for m in names}
    per_item = []
    # warm up models (loading time is not per-page time)
    for pruner in runners.values():
        pruner.prune("<p>warm up text</p>", "warm up", max_tokens=16)
    for kind, runner in htmlrag.items():
        try:
            runner.rank("<html><body><p>warm up</p><p>text</p></body></html>", "warm")
        except Exception:  # noqa: BLE001 - a warm-up only
            pass

    for n, (p, i) in enumerate(sample):
        name, html, qas = pages[p]
        question, answers = qas[i]
        item: dict[str, Any] = {"page": name, "question": question}
        for method, pruner in runners.items():
            pruner._pages.clear()  # cold page: parse, clean, embed from scratch (fair per-page time)
            ranker = pruner.ranker_
            for sub in getattr(ranker, "rankers", [ranker]):
                if hasattr(sub, "_cache"):
                    sub._cache.clear()
            for j, budget in enumerate(BUDGETS):
                t0 = time.perf_counter()
                result = pruner.prune(html, question, max_tokens=budget)
                if j == 0:
                    seconds[method].append(time.perf_counter() - t0)
                ok = _has_answer(result.text, answers)
                hits[method][budget] += ok
                over_budget[method] += result.token_count > budget
                item[f"{method}@{budget}"] = ok
        for kind, runner in htmlrag.items():
            t0 = time.perf_counter()
            try:
                block_tree, simplified, rankings = runner.rank(html, question)
            except Exception as err:  # noqa: BLE001 - count the peer's crashes
                errors[f"htmlrag-{kind} (shipped)"] += 1
                errors[f"htmlrag-{kind} (corrected)"] += 1
                logger.info("htmlrag-%s ranking failed: %s", kind, type(err).__name__)
                continue
            rank_s = time.perf_counter() - t0
            shipped_s, corrected_s = [], []
            for budget in BUDGETS:
                t1 = time.perf_counter()
                try:
                    text = runner.shipped(simplified, block_tree, rankings, budget)
                except Exception:  # noqa: BLE001 - e.g. its AssertionError on single-block pages
                    errors[f"htmlrag-{kind} (shipped)"] += 1
                    text = ""
                shipped_s.append(time.perf_counter() - t1)
                ok = _has_answer(text, answers)
                hits[f"htmlrag-{kind} (shipped)"][budget] += ok
                item[f"htmlrag-{kind} (shipped)@{budget}"] = ok
                t1 = time.perf_counter()
                text = runner.corrected(block_tree, rankings, budget)
                corrected_s.append(time.perf_counter() - t1)
                ok = _has_answer(text, answers)
                hits[f"htmlrag-{kind} (corrected)"][budget] += ok
                item[f"htmlrag-{kind} (corrected)@{budget}"] = ok
            seconds[f"htmlrag-{kind} (shipped)"].append(rank_s + sum(shipped_s) / len(shipped_s))
            seconds[f"htmlrag-{kind} (corrected)"].append(rank_s + sum(corrected_s) / len(corrected_s))
        if context_pruner is not None:
            method = "contextpruner (page text)"
            page_text = "\n".join(block.text for block in text_source.blocks(html))
            for j, budget in enumerate(BUDGETS):
                t0 = time.perf_counter()
                result = context_pruner.prune(question, [page_text], max_tokens=budget)[0]
                if j == 0:
                    seconds[method].append(time.perf_counter() - t0)
                ok = _has_answer(result.pruned, answers)
                hits[method][budget] += ok
                over_budget[method] += context_pruner.count_tokens(result.pruned) > budget
                item[f"{method}@{budget}"] = ok
        per_item.append(item)
        if (n + 1) % 10 == 0:
            logger.info("squad: %d/%d questions", n + 1, len(sample))

    total = len(sample)
    recall = {m: {b: hits[m][b] / total for b in BUDGETS} for m in names}
    mean_s = {m: (sum(seconds[m]) / len(seconds[m]) if seconds[m] else None) for m in names}
    return {"recall": recall, "seconds_per_page": mean_s, "errors": errors, "over_budget": over_budget,
            "n_questions": total, "n_pages": len({p for p, _ in sample}), "items": per_item, "notes": notes}


# ------------------------------------------------------------------------------------------- trafilatura

def _snippet_scores(text: str, with_: list[str], without: list[str]) -> tuple[int, int, int, int]:
    text = _norm(text)
    tp = sum(_norm(s) in text for s in with_)
    fp = sum(_norm(s) in text for s in without)
    return tp, len(with_) - tp, fp, len(without) - fp


def _run_trafilatura(args: argparse.Namespace, n_pages: int | None, n_sample: int | None) -> dict[str, Any]:
    from bs4 import BeautifulSoup

    from ragprune.html import HtmlPruner, decode_html
    from ragprune.html.rankers import _trafilatura_text

    root = data_file(args.data_root, "html_trafilatura_eval")
    gold = json.loads(gzip.open(data_file(args.data_root, "html_trafilatura_eval/evaldata.json.gz")).read())
    by_file: dict[str, list[dict[str, Any]]] = {}
    for entry in gold.values():
        by_file.setdefault(entry["file"], []).append(entry)
    files = sorted(list((root / "eval").glob("*.gz")) + list((root / "cache").glob("*.gz")))
    rng = random.Random(args.seed)
    if n_pages is not None:
        files = sorted(rng.sample(files, min(n_pages, len(files))))
    sample = set(files) if n_sample is None else set(rng.sample(files, min(n_sample, len(files))))
    pruner = HtmlPruner(ranker="bm25")  # the query-less mode uses no ranker
    heuristic = HtmlPruner(ranker="bm25", use_trafilatura=False)
    # Same call (and options) as the query-less mode makes; computed once per page and timed here, then
    # reused by the pruner through its cache: ragprune's time below includes this extraction time.
    traf = "trafilatura.extract"
    ours = "ragprune query-less"
    methods = [traf, ours, "ragprune heuristic only", "htmlrag clean_html"]  # traf first: it fills the cache
    everywhere = {ours, traf}
    counts = {m: [0, 0, 0, 0] for m in methods}  # tp, fn, fp, tn over all pages
    counts_sample = {m: [0, 0, 0, 0] for m in methods}  # the same over the sample of pages
    seconds = {m: 0.0 for m in methods}
    runs = {m: 0 for m in methods}
    crashes = {m: 0 for m in methods}
    crash_examples: dict[str, list[str]] = {m: [] for m in methods}
    scored = {"all": 0, "sample": 0}
    htmlrag_clean = None
    try:
        from htmlrag import clean_html as htmlrag_clean
    except ImportError:
        pass
    for k, path in enumerate(files):
        raw = gzip.open(path).read()
        name = path.name[:-3]
        in_sample = path in sample
        outputs: dict[str, str | None] = {}
        traf_s = 0.0
        for method in methods:
            if method not in everywhere and not in_sample:
                continue
            t0 = time.perf_counter()
            try:
                if method == traf:
                    outputs[method] = _trafilatura_text(decode_html(raw)) or ""
                elif method == ours:
                    outputs[method] = pruner.prune(raw).text
                elif method == "ragprune heuristic only":
                    outputs[method] = heuristic.prune(raw).text
                elif htmlrag_clean is not None:
                    cleaned = htmlrag_clean(decode_html(raw))
                    outputs[method] = BeautifulSoup(cleaned, "html.parser").get_text(" ")
                else:
                    outputs[method] = None
            except Exception as err:  # noqa: BLE001 - crashes are what we count
                crashes[method] += 1
                if len(crash_examples[method]) < 5:
                    crash_examples[method].append(f"{name}: {type(err).__name__}")
                outputs[method] = ""
            elapsed = time.perf_counter() - t0
            if method == traf:
                traf_s = elapsed
            seconds[method] += elapsed + (traf_s if method == ours else 0.0)
            runs[method] += 1
        pruner._pages.clear()
        heuristic._pages.clear()
        for entry in by_file.get(name, []):
            scored["all"] += 1
            scored["sample"] += in_sample
            for method, text in outputs.items():
                if text is None:
                    continue
                values = _snippet_scores(text, entry["with"], entry["without"])
                for slot, value in enumerate(values):
                    if method in everywhere:
                        counts[method][slot] += value
                    if in_sample:
                        counts_sample[method][slot] += value
        if (k + 1) % 50 == 0:
            logger.info("trafilatura corpus: %d/%d pages", k + 1, len(files))

    def summary(c: list[int]) -> dict[str, float]:
        tp, fn, fp, tn = c
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        return {"with_kept": recall, "without_removed": tn / (tn + fp) if tn + fp else 0.0,
                "precision": precision, "recall": recall,
                "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
                "accuracy": (tp + tn) / (tp + fn + fp + tn) if tp + fn + fp + tn else 0.0}

    metrics = {}
    for method in methods:
        metrics[method] = {
            "all_pages": summary(counts[method]) if method in everywhere else None,
            "sample": summary(counts_sample[method]),
            "seconds_per_page": seconds[method] / max(runs[method], 1), "pages_run": runs[method],
            "crashes": crashes[method], "crash_examples": crash_examples[method],
        }
    return {"metrics": metrics, "pages_processed": len(files), "pages_total": len(files),
            "pages_sample": len(sample), "entries_scored": scored["all"], "entries_scored_sample": scored["sample"]}


# ------------------------------------------------------------------------------------------------ suite

def run(args: argparse.Namespace) -> dict[str, Any]:
    all_methods = {"ragprune-hybrid", "ragprune-bm25", "ragprune-embedding", "htmlrag-bm25", "htmlrag-embed",
                   "contextpruner"}
    methods = (all_methods - {"ragprune-embedding"} if args.methods == "all"
               else {m.strip() for m in args.methods.split(",") if m.strip()})
    unknown = methods - all_methods
    if unknown:
        raise EvalError(f"--methods has unknown names {sorted(unknown)}: use any of {sorted(all_methods)}.")
    if args.torch_threads < 1:
        raise EvalError(f"--torch-threads={args.torch_threads} is not valid: use a positive integer.")
    import torch

    torch.set_num_threads(args.torch_threads)
    n_questions = args.questions if args.questions is not None else (12 if args.quick else 60)
    n_pages = args.pages if args.pages is not None else (60 if args.quick else None)
    config = {"questions": n_questions, "pages": n_pages or "all", "budgets": list(BUDGETS),
              "squad_split": args.squad_split, "methods": sorted(methods), "tokenizer": "all-MiniLM-L6-v2",
              "htmlrag_max_node_words": 256, "ragprune_defaults": _ragprune_defaults(),
              "torch_threads": args.torch_threads}
    results: dict[str, Any] = {"config": config, "seed": args.seed, "tables": [], "plots": [], "verdicts": [],
                               "notes": [], "timings": {}}
    if not args.skip_squad:
        t0 = time.perf_counter()
        squad = _run_squad(args, n_questions, methods)
        results["timings"]["squad_s"] = round(time.perf_counter() - t0, 2)
        results["squad"] = squad
        results["notes"] += squad.pop("notes")
        rows = []
        for method, by_budget in squad["recall"].items():
            sec = squad["seconds_per_page"][method]
            rows.append([method] + [round(by_budget[b], 3) for b in BUDGETS]
                        + [round(sec, 3) if sec is not None else "n/a", squad["errors"][method],
                           squad["over_budget"][method]])
        results["tables"].append({
            "title": f"SQuAD explorer pages ({args.squad_split}, QA widgets removed): has-answer recall by token "
                     f"budget ({squad['n_questions']} questions on {squad['n_pages']} pages)",
            "columns": ["method"] + [f"recall@{b}" for b in BUDGETS] + ["s/page", "errors", "over budget"],
            "rows": rows})
        results["plots"].append({
            "file": "squad_recall.png", "title": "Has-answer recall vs token budget (SQuAD explorer pages)",
            "xlabel": "max tokens (MiniLM tokenizer)", "ylabel": "has-answer recall", "xscale": "log",
            "series": [{"label": m, "x": list(BUDGETS), "y": [squad["recall"][m][b] for b in BUDGETS]}
                       for m in squad["recall"]]})
        results["verdicts"] += _squad_verdicts(squad)
    if not args.skip_trafilatura:
        t0 = time.perf_counter()
        n_sample = args.baseline_pages if args.baseline_pages is not None else (None if args.quick else 150)
        traf = _run_trafilatura(args, n_pages, n_sample)
        results["timings"]["trafilatura_s"] = round(time.perf_counter() - t0, 2)
        results["trafilatura"] = traf
        columns = ["method", "with kept", "without removed", "precision", "recall", "F1", "s/page", "pages",
                   "crashes"]
        for scope, title in (("all_pages", f"all {traf['pages_processed']} pages, {traf['entries_scored']} gold entries"),
                             ("sample", f"seeded sample of {traf['pages_sample']} pages, "
                                        f"{traf['entries_scored_sample']} gold entries, every method")):
            rows = []
            for method, m in traf["metrics"].items():
                values = m[scope]
                if values is None:
                    continue
                rows.append([method] + [round(values[k], 3) for k in ("with_kept", "without_removed", "precision",
                                                                      "recall", "f1")]
                            + [round(m["seconds_per_page"], 3), m["pages_run"], m["crashes"]])
            results["tables"].append({"title": f"Trafilatura corpus, query-less mode ({title})",
                                      "columns": columns, "rows": rows})
        results["verdicts"] += _traf_verdicts(traf)
        results["notes"].append(
            "trafilatura.extract is called with include_comments=False, include_tables=True (the call the query-less "
            "mode makes); it runs once per page, and ragprune's s/page includes that extraction time.")
    return results


def _ragprune_defaults() -> dict[str, Any]:
    from ragprune.html import HtmlPruner

    pruner = HtmlPruner()
    return {"ranker": pruner.ranker, "max_words": pruner.max_words, "rerank_top_k": pruner.rerank_top_k,
            "context_weight": pruner.context_weight}


def _squad_verdicts(squad: dict[str, Any]) -> list[str]:
    out = []
    recall = squad["recall"]
    sec = squad["seconds_per_page"]
    default = f"ragprune-{_ragprune_defaults()['ranker']}"
    if default in recall:
        r = recall[default]
        out.append(f"{default} (the default ranker) has-answer recall {r[128]:.3f} at 128 tokens (goal >= 0.85: "
                   f"{'met' if r[128] >= 0.85 else 'NOT met'}) and {r[512]:.3f} at 512 (goal >= 0.96: "
                   f"{'met' if r[512] >= 0.96 else 'NOT met'}).")
    peer = sec.get("htmlrag-embed (corrected)") or sec.get("htmlrag-embed (shipped)")
    for method in (default, "ragprune-hybrid"):
        if peer and sec.get(method):
            ratio = peer / sec[method]
            out.append(f"Time per page: {method} {sec[method]:.3f} s (cold: parse, clean, rank, select) vs htmlrag "
                       f"EmbedHTMLPruner {peer:.3f} s: {ratio:.1f}x faster (goal >= 5x: {'met' if ratio >= 5 else 'NOT met'}).")
    for kind in ("bm25", "embed"):
        shipped = recall.get(f"htmlrag-{kind} (shipped)")
        corrected = recall.get(f"htmlrag-{kind} (corrected)")
        if shipped and corrected:
            out.append(f"htmlrag-{kind}: shipped prune_HTML {shipped[512]:.3f} at 512, its own ranking with a corrected "
                       f"selection {corrected[512]:.3f}.")
    over = {m: v for m, v in squad["over_budget"].items() if v}
    out.append("Every ragprune output was within its token budget." if not any(
        v for m, v in over.items() if m.startswith("ragprune")) else f"Over-budget outputs: {over}.")
    return out


def _traf_verdicts(traf: dict[str, Any]) -> list[str]:
    m = traf["metrics"]
    ours, base = m["ragprune query-less"], m["trafilatura.extract"]
    out = [f"Query-less mode processed {ours['pages_run']}/{traf['pages_total']} pages with {ours['crashes']} crashes; "
           f"with kept {ours['all_pages']['with_kept']:.3f}, without removed {ours['all_pages']['without_removed']:.3f}, "
           f"F1 {ours['all_pages']['f1']:.3f} (trafilatura.extract: F1 {base['all_pages']['f1']:.3f}, "
           f"with kept {base['all_pages']['with_kept']:.3f}, without removed {base['all_pages']['without_removed']:.3f})."]
    hr = m["htmlrag clean_html"]["sample"]
    out.append(f"On the {traf['pages_sample']}-page sample: htmlrag clean_html F1 {hr['f1']:.3f}, heuristic-only "
               f"F1 {m['ragprune heuristic only']['sample']['f1']:.3f}, ragprune query-less "
               f"F1 {ours['sample']['f1']:.3f}.")
    return out
