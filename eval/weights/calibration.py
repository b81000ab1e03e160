"""Real calibration text and the layer-input statistics that Wanda, SparseGPT and FLAP need.

Statistics are collected **sequentially**, as in the Wanda and SparseGPT papers: the inputs of encoder layer
``l`` are computed by the model whose layers ``< l`` are already pruned. Padding tokens are excluded.
"""
from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eval.errors import EvalError

__all__ = ["read_sentconv", "read_squad", "read_nq_passages", "text_pool", "LinearStats",
           "sequential_calibrate", "collect_stats", "sample_texts"]


def _open_text(path: Path) -> list[str]:
    raw = gzip.open(path, "rb").read() if str(path).endswith(".gz") else Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.splitlines()


def read_sentconv(path: str | Path) -> list[str]:
    """Return the sentences of a ``label text`` per line file (SST-2, SUBJ, MR, CR, TREC; gz or plain)."""
    path = Path(path)
    if not path.exists():
        raise EvalError(f"{path} does not exist: pass --data-root pointing at the shared data folder.")
    out = []
    for line in _open_text(path):
        parts = line.strip().split(" ", 1)
        if len(parts) == 2 and parts[1].strip():
            out.append(parts[1].strip())
    return out


def read_squad(path: str | Path) -> dict[str, list]:
    """Return SQuAD v1.1 as flat lists: ``paragraphs``, ``article`` per paragraph, ``questions``, ``gold``.

    ``gold[i]`` is the paragraph index of ``questions[i]``.
    """
    path = Path(path)
    if not path.exists():
        raise EvalError(f"{path} does not exist: pass --data-root pointing at the shared data folder.")
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        data = json.load(fh)["data"]
    paragraphs, article, questions, gold = [], [], [], []
    for a, entry in enumerate(data):
        for para in entry["paragraphs"]:
            paragraphs.append(para["context"])
            article.append(a)
            for qa in para["qas"]:
                questions.append(qa["question"])
                gold.append(len(paragraphs) - 1)
    return {"paragraphs": paragraphs, "article": article, "questions": questions, "gold": gold}


def read_nq_passages(path: str | Path) -> list[str]:
    """Return the gold Wikipedia passages of the NQ-open oracle file (one per record)."""
    path = Path(path)
    if not path.exists():
        raise EvalError(f"{path} does not exist: pass --data-root pointing at the shared data folder.")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["ctxs"][0]["text"] for line in fh if line.strip()]


def text_pool(data_root: str | Path) -> list[str]:
    """A mixed real-text corpus for calibration and recovery: NQ Wikipedia passages, SUBJ and TREC sentences.

    None of it is SQuAD or SST-2, which the metrics use.
    """
    root = Path(data_root)
    pool = read_nq_passages(root / "nq_oracle/nq-open-oracle.jsonl.gz")
    pool += read_sentconv(root / "text_classification_sentconv/subj.all.gz")
    pool += read_sentconv(root / "text_classification_sentconv/TREC.train.all.gz")
    seen, out = set(), []
    for text in pool:
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


@dataclass
class LinearStats:
    """Running statistics of one Linear layer's inputs over calibration tokens (padding excluded).

    Attributes:
        n_tokens: Number of tokens seen.
        sq_sum: ``sum_t x_tj^2`` per input column, shape ``(in_features,)`` (Wanda's ``||X_j||_2^2``).
        sum: ``sum_t x_tj`` per input column (FLAP's mean and fluctuation).
        xtx: ``sum_t x_t x_t^T``, shape ``(in, in)``, only when the Hessian is requested (SparseGPT).
    """

    n_tokens: int = 0
    sq_sum: Any = None
    sum: Any = None
    xtx: Any = None
    want_hessian: bool = field(default=False, repr=False)

    @staticmethod
    def contribution(x: Any, *, hessian: bool) -> tuple:
        """Return ``(n, sum x^2, sum x, X^T X or None)`` of a ``(tokens, features)`` block of inputs."""
        import torch

        x = x.detach().to(torch.float32)
        x64 = x.to(torch.float64)
        xtx = (x.T @ x).to(torch.float64) if hessian else None
        return x.shape[0], (x64 * x64).sum(0), x64.sum(0), xtx

    def add(self, part: tuple) -> None:
        """Add a :meth:`contribution` to the running sums."""
        import torch

        n, sq, s, xtx = part
        if self.sq_sum is None:
            d = sq.shape[0]
            self.sq_sum = torch.zeros(d, dtype=torch.float64)
            self.sum = torch.zeros(d, dtype=torch.float64)
            if self.want_hessian:
                self.xtx = torch.zeros(d, d, dtype=torch.float64)
        self.n_tokens += n
        self.sq_sum += sq
        self.sum += s
        if self.want_hessian:
            self.xtx += xtx

    def update(self, x: Any) -> None:
        """Add a ``(tokens, features)`` block of inputs."""
        self.add(self.contribution(x, hessian=self.want_hessian))

    @property
    def norm(self) -> Any:
        """``||X_j||_2`` per input column."""
        return self.sq_sum.sqrt()

    @property
    def mean(self) -> Any:
        return self.sum / max(self.n_tokens, 1)

    @property
    def fluctuation(self) -> Any:
        """Sample variance of each input column over tokens (FLAP's fluctuation)."""
        n = max(self.n_tokens, 2)
        return ((self.sq_sum - self.sum * self.sum / n) / (n - 1)).clamp_min(0)

    @property
    def hessian(self) -> Any:
        """``2/n * X^T X`` as in SparseGPT."""
        return 2.0 * self.xtx / max(self.n_tokens, 1)


class _Stop(Exception):
    pass


def _record(modules: dict[str, Any], calls: Sequence[Callable[[], Any]], masks: Sequence[Any], *,
            hessian: bool) -> dict[str, LinearStats]:
    """Run each call with forward hooks on ``modules`` and return their input statistics (masked tokens only)."""
    import torch

    stats = {name: LinearStats(want_hessian=hessian) for name in modules}
    current: dict[str, Any] = {}

    def make_hook(name: str) -> Callable:
        def hook(_module: Any, inputs: tuple, _output: Any) -> None:
            x = inputs[0]
            cache = current["cache"]  # q, k and v read the same tensor: reduce it once
            if id(x) not in cache:
                keep = current["mask"].reshape(-1)
                cache[id(x)] = (x, LinearStats.contribution(x.reshape(-1, x.shape[-1])[keep], hessian=hessian))
            stats[name].add(cache[id(x)][1])
        return hook

    handles = [module.register_forward_hook(make_hook(name)) for name, module in modules.items()]
    try:
        with torch.no_grad():  # not inference_mode: the statistics must stay ordinary tensors
            for call, mask in zip(calls, masks):
                current["mask"], current["cache"] = mask.bool(), {}
                call()
    finally:
        for handle in handles:
            handle.remove()
    return stats


def collect_stats(bert: Any, batches: Sequence[dict[str, Any]], modules: dict[str, Any], *,
                  hessian: bool = False) -> dict[str, LinearStats]:
    """Run ``batches`` through ``bert`` and return the input statistics of each module in ``modules``.

    Args:
        bert: A Hugging Face BERT module.
        batches: Tokenized batches (see :func:`eval.weights.encoder.tokenize_batches`).
        modules: ``{name: nn.Module}`` whose *inputs* are recorded (padding tokens excluded).
        hessian: Also accumulate ``X^T X`` (SparseGPT).
    """
    calls = [lambda batch=batch: bert(**batch) for batch in batches]
    return _record(modules, calls, [b["attention_mask"] for b in batches], hessian=hessian)


def _layer_inputs(bert: Any, batches: Sequence[dict[str, Any]]) -> list[tuple[tuple, dict]]:
    """Capture the exact ``(args, kwargs)`` the first encoder layer receives for each batch."""
    import torch

    captured: list[tuple[tuple, dict]] = []

    def pre_hook(_module: Any, args: tuple, kwargs: dict) -> None:
        captured.append((args, dict(kwargs)))
        raise _Stop

    handle = bert.encoder.layer[0].register_forward_pre_hook(pre_hook, with_kwargs=True)
    try:
        with torch.inference_mode():
            for batch in batches:
                try:
                    bert(**batch)
                except _Stop:
                    pass
    finally:
        handle.remove()
    return captured


def _with_hidden(args: tuple, kwargs: dict, hidden: Any) -> tuple[tuple, dict]:
    if args:
        return (hidden,) + tuple(args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}


def sequential_calibrate(bert: Any, batches: Sequence[dict[str, Any]],
                         prune_layer: Callable[[int, dict[str, Any], dict[str, LinearStats]], None], *,
                         hessian: bool = False) -> None:
    """Prune ``bert`` layer by layer with statistics from the already-pruned layers below.

    The inputs of the first encoder layer are captured once; then for each layer ``l``: the inputs of all its
    Linear modules are recorded, ``prune_layer(l, linears, stats)`` changes the layer in place (``linears`` and
    ``stats`` are keyed by the name inside the layer, e.g. ``"attention.self.query"``), and the pruned layer's
    outputs become the next layer's inputs.
    """
    import torch

    from eval.weights.encoder import encoder_linears

    inputs = _layer_inputs(bert, batches)
    masks = [b["attention_mask"] for b in batches]
    for index, layer in enumerate(bert.encoder.layer):
        linears = {name.split(f"layer.{index}.", 1)[1]: m for name, m in encoder_linears(bert, index).items()}
        calls = [lambda a=a, k=k: layer(*a, **k) for a, k in inputs]
        stats = _record(linears, calls, masks, hessian=hessian)
        prune_layer(index, linears, stats)
        if index + 1 < len(bert.encoder.layer):
            with torch.inference_mode():
                outputs = [layer(*a, **k) for a, k in inputs]
            inputs = [_with_hidden(a, k, o[0] if isinstance(o, tuple) else o) for (a, k), o in zip(inputs, outputs)]


def sample_texts(texts: Sequence[str], n: int, *, seed: int = 0) -> list[str]:
    """``n`` texts drawn without replacement with ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(texts), size=min(n, len(texts)), replace=False)
    return [texts[i] for i in sorted(idx)]
