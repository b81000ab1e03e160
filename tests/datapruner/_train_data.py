"""Shared helpers for the training tests: small real datasets from ``tests/fixtures/data_suite``."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data_suite"


def sentconv_rows(name: str) -> list[dict]:
    """Rows ``{"text", "label"}`` of a shipped sentconv sample (Latin-1 lines decoded as such)."""
    rows = []
    for raw in gzip.open(FIXTURES / "text_classification_sentconv" / name, "rb").read().splitlines():
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            line = raw.decode("latin-1")
        label, _, text = line.strip().partition(" ")
        if text:
            rows.append({"text": text, "label": int(label)})
    return rows


def mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 400 shipped MNIST images ``(400, 28, 28)`` uint8 and labels ``(400,)``."""
    images = np.frombuffer(gzip.open(FIXTURES / "mnist" / "t10k-images-idx3-ubyte.gz", "rb").read(),
                           dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(gzip.open(FIXTURES / "mnist" / "t10k-labels-idx1-ubyte.gz", "rb").read(),
                           dtype=np.uint8, offset=8)
    return images, labels.astype(np.int64)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Train the tiny test models on one thread: on a shared 2-core machine two threads stall each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
