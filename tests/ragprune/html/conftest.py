"""Shared fixtures for the HTML pruner tests: shipped pages, a fake embedder, a token counter."""
from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "html"


@pytest.fixture(scope="session")
def boilerplate_page() -> str:
    return (FIXTURES / "boilerplate.html").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def squad_page() -> str:
    return gzip.open(FIXTURES / "squad_page.html.gz", "rt", encoding="utf-8").read()


@pytest.fixture(scope="session")
def squad_qas() -> list[dict]:
    return json.loads((FIXTURES / "squad_qas.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def traf_pages() -> list[tuple[bytes, dict]]:
    gold = json.loads((FIXTURES / "traf_gold.json").read_text(encoding="utf-8"))
    return [(gzip.decompress((FIXTURES / f"traf_{name}.gz").read_bytes()), entry) for name, entry in gold.items()]


class FakeEmbedder:
    """Bag-of-words hashing 'embedding': deterministic, no model, similar texts get similar vectors."""

    dim = 256

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(self, texts, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(len(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, hash(word) % self.dim] += 1.0
        return out


@pytest.fixture()
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()
