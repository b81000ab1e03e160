"""A trainable classifier bundle: featurizer + network + class names, saved and loaded as one folder.

Model types (``model_type``):

==================  ==========================================================================================
``minilm-linear``   frozen sentence embeddings (embedded all-MiniLM-L6-v2 by default, cached on disk) + linear head
``minilm-mlp``      the same embeddings + a one-hidden-layer MLP head
``fasttext``        hashed word + bigram embeddings trained from scratch (no pretrained weights)
``mlp``             numeric / vector feature column + MLP (features standardised with the training statistics)
``cnn``             images (rows of ``H x W``, ``C x H x W``, ``H x W x C`` or flat ``H*W`` arrays) + a small CNN
==================  ==========================================================================================

``auto`` picks ``minilm-linear`` for a text column, ``cnn`` for 2-d/3-d array rows (or flat rows whose length is
a square such as 784) and ``mlp`` for other numeric columns.

Image rows of 3 dimensions are channel-first ``(C, H, W)`` when the first dimension is 1, 3 or 4 (or the other two
are equal, as square ``(C, H, H)`` rows always were); otherwise they are channel-last ``(H, W, C)`` when the last
dimension is 1, 3 or 4 (how Hugging Face usually stores images, e.g. ``Array3D((32, 32, 3), "uint8")``) and are
transposed to channel-first. Other shapes are refused. Height and width may differ; both must be at least 4.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from datapruner._atomic import atomic_dir, give_normal_mode
from datapruner._validation import check_columns, check_option
from datapruner.errors import DataprunerError

if TYPE_CHECKING:
    import datasets
    import torch

__all__ = ["MODEL_TYPES", "TRAINING_DEFAULTS", "ClassifierBundle", "infer_model_type"]

#: model type -> network architecture in :data:`datapruner.models.ARCHITECTURES` and its constructor arguments.
MODEL_TYPES: dict[str, dict[str, Any]] = {
    "minilm-linear": {"architecture": "linear", "kwargs": {}},
    "minilm-mlp": {"architecture": "mlp", "kwargs": {"hidden": [256], "dropout": 0.1}},
    "fasttext": {"architecture": "fasttext", "kwargs": {"n_buckets": 2 ** 18, "dim": 64, "dropout": 0.0}},
    "mlp": {"architecture": "mlp", "kwargs": {"hidden": [256], "dropout": 0.1}},
    "cnn": {"architecture": "cnn", "kwargs": {}},
}

#: Default ``fit_classifier`` options per model type (measured on SST-2 / TREC / SUBJ / MNIST, see eval/suites/data).
#: ``min_steps``: on a small subset, epochs are raised until at least this many optimisation steps are taken.
TRAINING_DEFAULTS: dict[str, dict[str, Any]] = {
    "minilm-linear": {"epochs": 20, "batch_size": 64, "learning_rate": 1e-3, "weight_decay": 0.01, "min_steps": 300},
    "minilm-mlp": {"epochs": 20, "batch_size": 64, "learning_rate": 1e-3, "weight_decay": 0.01, "min_steps": 300},
    "fasttext": {"epochs": 5, "batch_size": 64, "learning_rate": 1e-2, "weight_decay": 0.0, "min_steps": 200},
    "mlp": {"epochs": 30, "batch_size": 64, "learning_rate": 1e-3, "weight_decay": 0.01, "min_steps": 300},
    "cnn": {"epochs": 8, "batch_size": 64, "learning_rate": 2e-3, "weight_decay": 0.0, "min_steps": 300},
}

_FORMAT_VERSION = 1


def _column_kind(dataset: datasets.Dataset, column: str) -> tuple[str, tuple[int, ...]]:
    """Return ("text", ()) or ("array", row_shape) for a dataset column."""
    import datasets as hf

    feature = dataset.features[column]
    if isinstance(feature, hf.Value) and feature.dtype in ("string", "large_string"):
        return "text", ()
    if isinstance(feature, hf.Value) and feature.dtype.startswith(("int", "uint", "float", "bool")):
        return "array", (1,)
    if len(dataset) == 0:
        return "array", ()
    try:
        first = np.asarray(dataset.with_format("numpy")[0][column], dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise DataprunerError(
            f"column {column!r} has type {feature} which cannot be used as features: use text or numbers.") from err
    return "array", tuple(first.shape) or (1,)


def infer_model_type(dataset: datasets.Dataset, column: str) -> str:
    """Return the ``auto`` model type for ``dataset[column]`` (see the module docstring)."""
    check_columns(dataset.column_names, column)
    kind, shape = _column_kind(dataset, column)
    if kind == "text":
        return "minilm-linear"
    if len(shape) in (2, 3):
        return "cnn"
    if len(shape) == 1 and shape[0] >= 16 and math.isqrt(shape[0]) ** 2 == shape[0]:
        return "cnn"
    return "mlp"


class ClassifierBundle:
    """A featurizer, a network and the class names, trained together and saved as one folder.

    Build one with :meth:`create` (from the training data), train ``bundle.network`` on ``bundle.featurize(...)``
    with :func:`datapruner.training.loop.fit_classifier`, then :meth:`save`; :meth:`load` restores it.

    Attributes:
        model_type: One of ``sorted(MODEL_TYPES)``.
        classes: Class names in id order (``network`` predicts ids ``0..len(classes)-1``).
        config: Everything needed to rebuild the featurizer and the network (JSON-serialisable).
        network: The ``torch.nn.Module``.
    """

    def __init__(self, model_type: str, *, classes: list[Any], config: dict[str, Any],
                 network: torch.nn.Module) -> None:
        self.model_type = model_type
        self.classes = list(classes)
        self.config = config
        self.network = network
        self._embedder: Any = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, model_type: str, *, train: datasets.Dataset, text_column: str, classes: list[Any],
               seed: int = 0, embedding_model: str | None = None, **network_kwargs: Any) -> ClassifierBundle:
        """Return an untrained bundle for ``model_type`` sized from the training data.

        Args:
            model_type: One of ``sorted(MODEL_TYPES)`` or ``"auto"``.
            train: Training data; only used for feature sizes and standardisation statistics.
            text_column: Feature column (text, numbers or arrays).
            classes: Class names in id order.
            seed: Seeds the initial weights.
            embedding_model: Sentence-transformers name or path for the ``minilm-*`` types (``None``: embedded
                all-MiniLM-L6-v2).
            **network_kwargs: Override the architecture's defaults in :data:`MODEL_TYPES`.
        """
        from datapruner.models.factory import build_model

        if model_type == "auto":
            model_type = infer_model_type(train, text_column)
        check_option("model_type", model_type, MODEL_TYPES)
        check_columns(train.column_names, text_column)
        if len(classes) < 2:
            raise DataprunerError(f"the training data has {len(classes)} class: at least 2 are needed.")
        spec = MODEL_TYPES[model_type]
        kwargs = {**spec["kwargs"], **network_kwargs}
        config: dict[str, Any] = {"architecture": spec["architecture"], "network_kwargs": kwargs,
                                  "text_column": text_column, "embedding_model": embedding_model}
        kind, shape = _column_kind(train, text_column)
        if model_type == "fasttext" or model_type.startswith("minilm"):
            if kind != "text":
                raise DataprunerError(f"model_type={model_type!r} needs a text column, but column "
                                      f"{text_column!r} holds arrays: use model_type='mlp' or 'cnn'.")
        elif kind == "text":
            raise DataprunerError(f"model_type={model_type!r} needs a numeric or array column, but column "
                                  f"{text_column!r} holds text: use 'minilm-linear' or 'fasttext'.")
        bundle = cls(model_type, classes=classes, config=config, network=None)  # type: ignore[arg-type]
        if model_type == "fasttext":
            from datapruner.models.fasttext import HashingTokenizer

            config["tokenizer"] = HashingTokenizer(n_buckets=int(kwargs["n_buckets"])).get_config()
            in_dim = None
        elif model_type == "cnn":
            image_shape, channels_last = _image_shape(shape, text_column)
            config["image_shape"] = list(image_shape)
            if channels_last:  # rows are (H, W, C): featurize transposes them to (C, H, W)
                config["channels_last"] = True
            kwargs.setdefault("in_channels", config["image_shape"][0])
            kwargs.setdefault("image_size", config["image_shape"][1])
            if config["image_shape"][2] != config["image_shape"][1]:
                kwargs.setdefault("image_width", config["image_shape"][2])
            raw = bundle._raw_array(train)
            config["scale"] = 255.0 if raw.size and float(raw.max()) > 1.5 else 1.0
            in_dim = None
        else:
            feats = bundle._dense_unscaled(train)
            mean = feats.mean(axis=0)
            std = feats.std(axis=0)
            std[std < 1e-6] = 1.0
            config["mean"], config["std"] = mean.tolist(), std.tolist()
            in_dim = feats.shape[1]
        config["in_dim"] = in_dim
        bundle.network = build_model(spec["architecture"], n_classes=len(classes), in_dim=in_dim, seed=seed,
                                     **kwargs)
        return bundle

    # ------------------------------------------------------------------ features
    def _raw_array(self, dataset: datasets.Dataset) -> npt.NDArray[np.float32]:
        column = self.config["text_column"]
        check_columns(dataset.column_names, column)
        from datapruner._arrow import float32_column

        try:
            arr = float32_column(dataset, column)  # through Arrow: no Python object per row
        except (TypeError, ValueError) as err:
            raise DataprunerError(f"column {column!r} holds ragged or missing values: {err}.") from err
        if arr.ndim == 1:
            arr = arr[:, None]
        if not np.isfinite(arr).all():
            raise DataprunerError(f"column {column!r} holds NaN or infinite values: clean them first.")
        return arr

    def _dense_unscaled(self, dataset: datasets.Dataset) -> npt.NDArray[np.float32]:
        if self.model_type.startswith("minilm"):
            from datapruner.models.embedder import column_features

            return np.asarray(column_features(dataset, self.config["text_column"],
                                              model=self.config.get("embedding_model")), dtype=np.float32)
        arr = self._raw_array(dataset)
        return arr.reshape(arr.shape[0], -1)

    def featurize(self, dataset: datasets.Dataset) -> npt.NDArray[Any]:
        """Return the network's input for every row of ``dataset`` (embeddings, token ids or images)."""
        column = self.config["text_column"]
        check_columns(dataset.column_names, column)
        if self.model_type == "fasttext":
            from datapruner.models.fasttext import HashingTokenizer

            texts = dataset.with_format(None)[column]
            if any(t is None for t in texts):
                raise DataprunerError(f"column {column!r} has missing texts: fill or drop them first.")
            return HashingTokenizer(**self.config["tokenizer"]).encode(texts)
        if self.model_type == "cnn":
            arr = self._raw_array(dataset)
            c, h, w = self.config["image_shape"]
            if arr[0].size != c * h * w:
                raise DataprunerError(f"column {column!r} rows have {arr[0].size} values; this model expects "
                                      f"images of {c}x{h}x{w}.")
            if self.config.get("channels_last"):
                arr = np.ascontiguousarray(arr.reshape(arr.shape[0], h, w, c).transpose(0, 3, 1, 2))
            return (arr.reshape(arr.shape[0], c, h, w) / float(self.config["scale"])).astype(np.float32)
        feats = self._dense_unscaled(dataset)
        mean = np.asarray(self.config["mean"], dtype=np.float32)
        if feats.shape[1] != mean.shape[0]:
            raise DataprunerError(f"column {column!r} gives {feats.shape[1]} features; this model expects "
                                  f"{mean.shape[0]}.")
        return ((feats - mean) / np.asarray(self.config["std"], dtype=np.float32)).astype(np.float32)

    def same_inputs(self, other: ClassifierBundle) -> bool:
        """Return whether ``other``'s network reads the same features as this one's (same type and featurizer)."""
        keys = ("tokenizer", "image_shape", "channels_last", "scale", "mean", "std", "embedding_model")
        return other.model_type == self.model_type and all(
            other.config.get(k) == self.config.get(k) for k in keys)

    def predict_logits(self, dataset: datasets.Dataset) -> npt.NDArray[np.float32]:
        """Return logits ``(n_rows, n_classes)`` for ``dataset``."""
        from datapruner.training.loop import predict_logits

        return predict_logits(self.network, self.featurize(dataset))

    # ------------------------------------------------------------------ persistence
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` and ``model.safetensors`` to ``directory`` atomically (replacing it); return it."""
        from safetensors.torch import save_file

        directory = Path(directory)
        with atomic_dir(directory) as tmp:
            tmp.mkdir()
            state = {k: v.detach().contiguous().cpu() for k, v in self.network.state_dict().items()}
            save_file(state, str(tmp / "model.safetensors"))
            give_normal_mode(tmp / "model.safetensors")
            meta = {"format_version": _FORMAT_VERSION, "model_type": self.model_type, "classes": self.classes,
                    "config": self.config}
            (tmp / "config.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> ClassifierBundle:
        """Return the bundle saved in ``directory`` (a folder written by :meth:`save`)."""
        from safetensors.torch import load_file

        from datapruner.models.factory import build_model

        directory = Path(directory)
        config_path = directory / "config.json"
        if not config_path.is_file() or not (directory / "model.safetensors").is_file():
            raise DataprunerError(f"{directory} is not a saved model: it needs config.json and model.safetensors.")
        try:
            meta = json.loads(config_path.read_text(encoding="utf-8"))
            config = meta["config"]
            network = build_model(config["architecture"], n_classes=len(meta["classes"]),
                                  in_dim=config.get("in_dim"), **config["network_kwargs"])
            network.load_state_dict(load_file(str(directory / "model.safetensors")))
        except (OSError, KeyError, ValueError, RuntimeError) as err:
            raise DataprunerError(f"{directory} could not be loaded as a model: {str(err).splitlines()[0]}") \
                from err
        network.eval()
        return cls(meta["model_type"], classes=meta["classes"], config=config, network=network)

    def __repr__(self) -> str:
        return f"ClassifierBundle(model_type={self.model_type!r}, classes={self.classes!r})"


#: Channel counts an image row can have (grey, RGB, RGBA): how a channel dimension is told from a side.
_CHANNELS = (1, 3, 4)
#: The CNN max-pools twice by 2: smaller sides would leave nothing to classify.
_MIN_SIDE = 4


def _image_shape(shape: tuple[int, ...], column: str) -> tuple[tuple[int, int, int], bool]:
    """Return ``((channels, height, width), channels_last)`` for image rows of ``shape`` (see the module docstring)."""
    shape = tuple(int(s) for s in shape)
    channels_last = False
    if len(shape) == 3:
        if shape[0] in _CHANNELS or shape[1] == shape[2]:
            c, h, w = shape  # channel-first (square rows with other channel counts: as they always were)
        elif shape[-1] in _CHANNELS:
            (h, w, c), channels_last = shape, True
        else:
            raise DataprunerError(
                f"column {column!r} rows of shape {shape} are not images: use (C, H, W) or (H, W, C) arrays with "
                f"C in {list(_CHANNELS)} channels, or model_type='mlp'.")
    elif len(shape) == 2:
        (h, w), c = shape, 1
    elif len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        c, h, w = 1, math.isqrt(shape[0]), math.isqrt(shape[0])
    else:
        raise DataprunerError(f"column {column!r} rows of shape {shape} are not images: use model_type='mlp'.")
    if min(h, w) < _MIN_SIDE:
        raise DataprunerError(f"column {column!r} rows of shape {shape} are images of {h}x{w}: the CNN needs at "
                              f"least {_MIN_SIDE}x{_MIN_SIDE}; use model_type='mlp'.")
    return (c, h, w), channels_last
