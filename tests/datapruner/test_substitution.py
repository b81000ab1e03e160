"""Word-substitution copies for distillation: neighbours, copies, the shipped table, and their use in ``train``."""
from __future__ import annotations

import math

import datasets
import numpy as np
import pytest

from datapruner.errors import DataprunerError
from datapruner.selection import select_indices
from datapruner.training.distill import train
from datapruner.training.substitution import (
    SHIPPED_TABLE,
    SUBSTITUTION_DEFAULTS,
    WordNeighbors,
    stack_ids,
    substitution_epochs,
)
from tests.datapruner._train_data import one_torch_thread, sentconv_rows  # noqa: F401 (autouse fixture)

# words on a circle: each word's two nearest words are the ones beside it
CIRCLE = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


class CircleEmbedder:
    identity = "test-circle-embedder-v1"

    def encode(self, texts):
        angles = np.array([CIRCLE.index(t) * 2 * np.pi / len(CIRCLE) for t in texts])
        return np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)


@pytest.fixture()
def circle() -> WordNeighbors:
    return WordNeighbors(CircleEmbedder(), vocabulary=CIRCLE + ["x", "a1"], top_k=2, cache=False)


def test_neighbours_are_the_nearest_other_words(circle):
    assert set(circle.neighbours("Charlie")) == {"bravo", "delta"}
    assert set(circle.neighbours("alpha")) == {"hotel", "bravo"}
    assert circle.neighbours("zulu") == []  # not in the vocabulary; "x" and "a1" were left out of it too
    assert circle.neighbours("x") == []


def test_substitute_swaps_only_known_words_for_neighbours(circle):
    texts = ["Alpha, delta: x?", "", "zulu echo"]
    assert circle.substitute(texts, copies=2, rate=0.0) == texts * 2  # copy-major, untouched at rate 0
    out = circle.substitute(texts, copies=3, rate=1.0, seed=0)
    assert len(out) == 9 and out[1::3] == ["", "", ""]
    for copy in out[0::3]:
        a, d = copy.split(", ")[0], copy.split(", ")[1].split(":")[0]
        assert a in circle.neighbours("alpha") and d in circle.neighbours("delta") and copy.endswith(": x?")
    assert all(c.startswith("zulu ") and c.split()[1] in {"delta", "foxtrot"} for c in out[2::3])
    assert circle.substitute(texts, copies=3, rate=0.5, seed=1) == circle.substitute(texts, copies=3, rate=0.5,
                                                                                      seed=1)


def test_substitute_rate_is_the_share_of_words_swapped(circle):
    text = " ".join(CIRCLE * 50)
    words = np.array([c.split() for c in circle.substitute([text], copies=4, rate=0.3, seed=0)])
    assert 0.25 < (words != np.array(text.split())).mean() < 0.35


@pytest.mark.parametrize("kwargs, match", [({"copies": 0, "rate": 0.5}, "copies"), ({"copies": 1, "rate": 1.5}, "rate")])
def test_substitute_rejects_bad_options(circle, kwargs, match):
    with pytest.raises(DataprunerError, match=match):
        circle.substitute(["alpha"], **kwargs)


def test_too_small_a_vocabulary_is_one_clear_error():
    with pytest.raises(DataprunerError, match="at least top_k"):
        WordNeighbors(CircleEmbedder(), vocabulary=["alpha", "bravo"], top_k=2, cache=False).fit()
    with pytest.raises(DataprunerError, match="list of words"):
        WordNeighbors(vocabulary="alpha bravo")


def test_shipped_table_matches_the_embedded_model():
    vocab, table = SHIPPED_TABLE.load()
    assert len(vocab) > 20_000 and table.shape == (len(vocab), SHIPPED_TABLE.top_k) and vocab == sorted(vocab)
    nb = WordNeighbors(top_k=5)
    assert "town" in nb.neighbours("city") and "film" in nb.neighbours("movie")
    from datapruner.models.embedder import Embedder

    embedder = Embedder()
    for word in ("city", "invented", "who", "love"):
        vectors = embedder.encode([word] + WordNeighbors(top_k=10).neighbours(word))
        sims = vectors[1:] @ vectors[0]
        assert np.all(np.diff(sims) <= 1e-4), word  # nearest first, as the model sees them today


def test_substitution_epochs_keep_the_number_of_steps():
    for epochs, rows, copies, batch in [(400, 490, 32, 256), (40, 2700, 32, 256), (5, 10, 8, 64)]:
        before = epochs * math.ceil(rows / batch)
        per_epoch = math.ceil(rows * (copies + 1) / batch)
        after = substitution_epochs(epochs, rows, copies, batch) * per_epoch
        assert abs(after - before) <= per_epoch / 2  # the nearest whole number of epochs
    assert substitution_epochs(1, 1000, 32, 64) == 1  # fewer steps than one epoch over the copies: one epoch


def test_stack_ids_pads_with_zeros():
    out = stack_ids([np.array([[1, 2, 3]]), np.array([[4], [5]])])
    assert out.tolist() == [[1, 2, 3], [4, 0, 0], [5, 0, 0]] and out.dtype == np.int64


@pytest.fixture(scope="module")
def sst2_sample():
    ds = datasets.Dataset.from_list(sentconv_rows("stsa.binary.train.gz"))
    return ds.select(range(240)), ds.select(range(240, min(len(ds), 340)))


def test_train_adds_copies_when_little_is_kept(sst2_sample):
    data, test = sst2_sample
    small = train(data, test=test, subset=list(range(20)), model_type="fasttext", distill=True, epochs=3)
    assert small.metrics["substitution"] == {k: SUBSTITUTION_DEFAULTS[k] for k in ("copies", "rate", "top_k")}
    assert small.metrics["training"]["epochs"] == substitution_epochs(3, 20, 16, small.metrics["training"]["batch_size"])
    off = train(data, test=test, subset=list(range(20)), model_type="fasttext", distill=True, epochs=3,
                substitution=False)
    assert off.metrics["substitution"] is None and off.metrics["training"]["epochs"] == 3
    large = train(data, subset=list(range(200)), model_type="fasttext", distill=True, epochs=1)
    assert large.metrics["substitution"] is None  # more than max_keep of the rows kept
    plain = train(data, subset=list(range(20)), model_type="fasttext", epochs=1)
    assert plain.metrics["substitution"] is None  # no teacher to label the copies


def test_copies_follow_the_rows_select_keeps_at_max_keep(sst2_sample):
    """On 232 rows, keep 0.3 selects round(69.6) = 70 rows (30.2%): they still get copies, one row more does not."""
    data, _ = sst2_sample
    data = data.select(range(232))
    assert select_indices(np.arange(232.0), keep=SUBSTITUTION_DEFAULTS["max_keep"], strategy="hard").size == 70
    at_max = train(data, subset=list(range(70)), model_type="fasttext", distill=True, epochs=1)
    assert at_max.metrics["substitution"] is not None
    over = train(data, subset=list(range(71)), model_type="fasttext", distill=True, epochs=1)
    assert over.metrics["substitution"] is None


@pytest.mark.parametrize("kwargs, match", [
    ({"substitution": True}, "needs distillation"),
    ({"substitution": True, "distill": True, "model_type": "minilm-linear"}, "needs a fasttext student"),
    ({"substitution": "yes", "distill": True}, "substitution='yes' is not valid"),
])
def test_train_rejects_bad_substitution(sst2_sample, kwargs, match):
    data, _ = sst2_sample
    kwargs = {"model_type": "fasttext", **kwargs}
    with pytest.raises(DataprunerError, match=match):
        train(data, subset=list(range(20)), epochs=1, **kwargs)
