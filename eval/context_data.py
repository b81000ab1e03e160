"""Evaluation sets for context pruning: a question with 5 passages, with gold answers and supporting sentences.

Protocol (seeded; built from files under ``--data-root``):

- **squad**: SQuAD v1.1 dev questions of the articles the checkpoint held out from training. Passages: the
  question's own paragraph (gold) + 2 other paragraphs of the same article + 2 paragraphs of other held-out
  articles, shuffled.
- **nq**: NQ-open oracle questions the checkpoint held out. Passages: the gold Wikipedia passage + the gold
  passages of 4 other held-out questions, shuffled.
- **hotpot**: ``hotpot_dev_distractor_v1.first53`` (dev, never trained on). Passages: the 2 supporting
  paragraphs + 3 of the question's own distractor paragraphs, shuffled; sentences are the dataset's own.
- **squad_v2**: SQuAD v2.0 dev questions of the held-out articles, each with its own paragraph only
  (``answerable`` says whether it has an answer): for the share of unanswerable questions fully pruned and the
  reranking AUC answerable vs unanswerable.

Passage texts are the paragraph texts only (no titles).
"""
from __future__ import annotations

import gzip
import json
import logging
import re
import string
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.data_root import data_file
from eval.errors import EvalError

__all__ = ["Example", "normalize_answer", "load_squad", "load_nq", "load_hotpot", "load_squad_v2", "heldout_split",
           "calibration_questions", "load_heldout_qa", "N_PASSAGES"]

logger = logging.getLogger(__name__)

N_PASSAGES = 5
SQUAD_V1 = "squad/squad_v1.1_dev.json.gz"
SQUAD_V2 = "squad/squad_v2.0_dev.json.gz"
NQ_ORACLE = "nq_oracle/nq-open-oracle.jsonl.gz"
HOTPOT_DEV = "hotpotqa/hotpot_dev_distractor_v1.first53.json.gz"


@dataclass
class Example:
    """One question with its passages and gold annotations (character spans refer to ``passages``)."""

    dataset: str
    qid: str
    question: str
    answers: list[str]
    passages: list[str]
    gold: list[int]  # indices of gold passages
    answer_spans: list[tuple[int, int, int]] = field(default_factory=list)  # (passage, start, end)
    # HotpotQA: every dataset sentence of every passage as (passage, start, end, is_supporting)
    units: list[tuple[int, int, int, bool]] = field(default_factory=list)
    answerable: bool = True
    title: str = ""


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _read_json(path: Path) -> Any:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as err:
        raise EvalError(f"{path} could not be read: {err}") from err


def heldout_split(config: dict[str, Any]) -> tuple[list[str], Any]:
    """Return ``(squad_validation_titles, nq_validation_rule)`` recorded in a checkpoint config.

    The trainer records the articles and NQ questions it held out; the suite evaluates only on those.

    Raises:
        EvalError: If the config does not record a held-out split.
    """
    split = config.get("data_split") or config.get("split") or {}
    titles = None
    for key in ("squad_validation_articles", "validation_articles", "squad_val_articles", "val_articles"):
        if key in split:
            titles = split[key]
            break
        if key in config:
            titles = config[key]
            break
    if not titles:
        raise EvalError("the checkpoint config records no held-out SQuAD articles (data_split."
                        "squad_validation_articles): pass --model a checkpoint written by python -m ragprune.train.")
    nq = None
    for key in ("nq_validation_ids", "nq_validation_questions", "nq_validation_indices", "nq_val_indices"):
        if key in split:
            nq = split[key]
            break
        if key in config:
            nq = config[key]
            break
    return list(titles), nq


def calibration_questions(config: dict[str, Any], data_root: Path) -> dict[str, list[str]]:
    """The SQuAD/NQ questions that chose the checkpoint's default threshold, to leave out of the evaluation
    (redrawn by :func:`ragprune.train.calibration_questions`); empty for a checkpoint that records no training
    options, since there is nothing to redraw them from."""
    from ragprune import RagpruneError
    from ragprune.train import calibration_questions as redraw

    if "training" not in config:
        logger.warning("the checkpoint records no training options: its calibration questions stay in the data")
        return {}
    try:
        return redraw(config, data_root)
    except RagpruneError as err:
        raise EvalError(str(err)) from err


def load_heldout_qa(data_root: Path, config: dict[str, Any], *, limits: dict[str, int | None],
                    rng: np.random.Generator) -> tuple[dict[str, list[Example]], dict[str, list[str]]]:
    """The context suite's SQuAD and NQ questions, drawn from ``rng`` in the suite's order (SQuAD, then NQ), with
    the checkpoint's calibration questions left out; returns ``(sets, calibration questions)``."""
    titles, nq_rule = heldout_split(config)
    calibration = calibration_questions(config, data_root)
    sets = {"squad": load_squad(data_root, titles, limit=limits["squad"], rng=rng,
                                exclude=calibration.get("squad", ())),
            "nq": load_nq(data_root, nq_rule, limit=limits["nq"], rng=rng, exclude=calibration.get("nq", ()))}
    return sets, calibration


def _answer_spans(context: str, answers: list[str], passage: int) -> list[tuple[int, int, int]]:
    spans = []
    lower = context.lower()
    for answer in answers:
        answer = answer.strip()
        if not answer:
            continue
        at = lower.find(answer.lower())
        if at >= 0:
            spans.append((passage, at, at + len(answer)))
    return sorted(set(spans))


def _shuffle(passages: list[str], gold: list[int], rng: np.random.Generator) -> tuple[list[str], list[int], list[int]]:
    order = rng.permutation(len(passages)).tolist()  # order[new] = old
    new_of_old = {old: new for new, old in enumerate(order)}
    return [passages[i] for i in order], sorted(new_of_old[g] for g in gold), order


def load_squad(data_root: Path, titles: list[str], *, limit: int | None, rng: np.random.Generator,
               exclude: Collection[str] = ()) -> list[Example]:
    """SQuAD v1.1 dev questions of the held-out articles (except the questions in ``exclude``), 1 gold + 4
    distractor paragraphs each."""
    data = _read_json(data_file(data_root, SQUAD_V1))["data"]
    wanted = set(titles)
    articles = [a for a in data if a["title"] in wanted]
    if not articles:
        raise EvalError(f"none of the held-out articles {sorted(wanted)[:3]}... is in {SQUAD_V1}.")
    left_out = set(exclude)
    items = [(a_i, p_i, qa) for a_i, a in enumerate(articles) for p_i, p in enumerate(a["paragraphs"])
             for qa in p["qas"] if qa.get("answers") and qa["question"] not in left_out]
    picked = rng.permutation(len(items))[: limit or len(items)]
    examples = []
    for idx in sorted(picked.tolist()):
        a_i, p_i, qa = items[idx]
        article = articles[a_i]
        same = [j for j in range(len(article["paragraphs"])) if j != p_i]
        others = [(k, j) for k in range(len(articles)) if k != a_i for j in range(len(articles[k]["paragraphs"]))]
        chosen_same = rng.choice(same, size=min(2, len(same)), replace=False).tolist() if same else []
        n_other = N_PASSAGES - 1 - len(chosen_same)
        chosen_other = [others[i] for i in rng.choice(len(others), size=min(n_other, len(others)), replace=False)]
        passages = [article["paragraphs"][p_i]["context"]]
        passages += [article["paragraphs"][j]["context"] for j in chosen_same]
        passages += [articles[k]["paragraphs"][j]["context"] for k, j in chosen_other]
        passages, gold, order = _shuffle(passages, [0], rng)
        answers = sorted({a["text"] for a in qa["answers"]})
        spans = []
        for a in qa["answers"]:
            start = int(a.get("answer_start", -1))
            if start >= 0:
                spans.append((gold[0], start, start + len(a["text"])))
        examples.append(Example("squad", qa["id"], qa["question"], answers, passages, gold,
                                answer_spans=sorted(set(spans)), title=article["title"]))
    return examples


def load_squad_v2(data_root: Path, titles: list[str], *, limit: int | None,
                  rng: np.random.Generator) -> list[Example]:
    """SQuAD v2.0 dev questions of the held-out articles with their own paragraph (about half unanswerable)."""
    data = _read_json(data_file(data_root, SQUAD_V2))["data"]
    wanted = set(titles)
    items = [(a["title"], p["context"], qa) for a in data if a["title"] in wanted for p in a["paragraphs"]
             for qa in p["qas"]]
    unanswerable = [i for i, (_, _, qa) in enumerate(items) if qa.get("is_impossible") or not qa.get("answers")]
    answerable = [i for i in range(len(items)) if i not in set(unanswerable)]
    keep = []
    for group in (unanswerable, answerable):
        n = len(group) if limit is None else min(limit, len(group))
        keep += rng.choice(group, size=n, replace=False).tolist() if n else []
    examples = []
    for i in sorted(keep):
        title, context, qa = items[i]
        ok = not (qa.get("is_impossible") or not qa.get("answers"))
        answers = sorted({a["text"] for a in qa.get("answers", [])}) if ok else []
        examples.append(Example("squad_v2", qa["id"], qa["question"], answers, [context], [0] if ok else [],
                                answer_spans=_answer_spans(context, answers, 0), answerable=ok, title=title))
    return examples


def _nq_heldout(records: list[dict[str, Any]], rule: Any) -> list[int]:
    if rule is None:
        raise EvalError("the checkpoint config records no held-out NQ questions (data_split.nq_validation_ids).")
    if isinstance(rule, dict) and "start" in rule:
        return list(range(int(rule["start"]), int(rule.get("stop", len(records)))))
    values = list(rule)
    if values and all(isinstance(v, int) for v in values):
        return [v for v in values if 0 <= v < len(records)]
    wanted = set(values)
    return [i for i, r in enumerate(records) if r["question"] in wanted]


def load_nq(data_root: Path, rule: Any, *, limit: int | None, rng: np.random.Generator,
            exclude: Collection[str] = ()) -> list[Example]:
    """Held-out NQ-open oracle questions (except the questions in ``exclude``, which are not used as distractors
    either): the gold passage + 4 gold passages of other held-out questions."""
    path = data_file(data_root, NQ_ORACLE)
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            records = [json.loads(line) for line in fh if line.strip()]
    except (OSError, ValueError) as err:
        raise EvalError(f"{path} could not be read: {err}") from err
    left_out = set(exclude)
    pool = [i for i in _nq_heldout(records, rule) if records[i]["question"] not in left_out]
    pool = [i for i in pool if records[i]["ctxs"] and
            any(normalize_answer(a) and normalize_answer(a) in normalize_answer(records[i]["ctxs"][0]["text"])
                for a in records[i]["answers"])]
    if len(pool) < N_PASSAGES:
        raise EvalError(f"only {len(pool)} held-out NQ questions with an answer in their passage.")
    picked = rng.permutation(len(pool))[: limit or len(pool)]
    examples = []
    for p in sorted(picked.tolist()):
        i = pool[p]
        rec = records[i]
        others = rng.choice([j for j in pool if j != i], size=N_PASSAGES - 1, replace=False).tolist()
        passages = [rec["ctxs"][0]["text"]] + [records[j]["ctxs"][0]["text"] for j in others]
        passages, gold, _ = _shuffle(passages, [0], rng)
        answers = sorted(set(rec["answers"]))
        examples.append(Example("nq", str(i), rec["question"], answers, passages, gold,
                                answer_spans=_answer_spans(passages[gold[0]], answers, gold[0]),
                                title=rec["ctxs"][0].get("title", "")))
    return examples


def load_hotpot(data_root: Path, *, limit: int | None, rng: np.random.Generator) -> list[Example]:
    """HotpotQA dev (first 53): 2 supporting + 3 distractor paragraphs of the question's own 10."""
    records = _read_json(data_file(data_root, HOTPOT_DEV))
    picked = rng.permutation(len(records))[: limit or len(records)]
    examples = []
    for r_i in sorted(picked.tolist()):
        rec = records[r_i]
        support = {(t, int(s)) for t, s in rec["supporting_facts"]}
        titles = [t for t, _ in rec["context"]]
        # supporting titles in file order (not the set's, whose order changes with PYTHONHASHSEED between runs)
        gold_titles = [t for t in dict.fromkeys(t for t, _ in rec["supporting_facts"]) if t in titles]
        distractors = [t for t in titles if t not in gold_titles]
        chosen = rng.choice(len(distractors), size=min(N_PASSAGES - len(gold_titles), len(distractors)),
                            replace=False).tolist()
        use = gold_titles + [distractors[i] for i in chosen]
        paragraphs = dict((t, s) for t, s in rec["context"])
        order = rng.permutation(len(use)).tolist()
        use = [use[i] for i in order]
        passages, units, gold = [], [], []
        for p_i, title in enumerate(use):
            text = ""
            for s_i, sentence in enumerate(paragraphs[title]):
                sentence = sentence.strip()
                if not sentence:
                    continue
                if text:
                    text += " "
                start = len(text)
                text += sentence
                units.append((p_i, start, len(text), (title, s_i) in support))
            passages.append(text)
            if title in gold_titles:
                gold.append(p_i)
        answers = [rec["answer"]]
        spans = [s for p in gold for s in _answer_spans(passages[p], answers, p)]
        examples.append(Example("hotpot", rec["_id"], rec["question"], answers, passages, sorted(gold),
                                answer_spans=spans, units=units, title=use[0]))
    return examples
