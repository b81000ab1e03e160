"""Image columns as Hugging Face stores them: channel-last ``(H, W, C)`` arrays, non-square images, and one-line
errors for shapes that are not images; MNIST-style ``(28, 28)`` and ``(1, 28, 28)`` rows are read as before."""
from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from datapruner import DataprunerError
from datapruner.models.cnn import SmallCNN
from datapruner.models.pipeline import ClassifierBundle
from datapruner.scorers.el2n import EL2NScorer
from datapruner.scorers.forgetting import ForgettingScorer


def _images(x: np.ndarray, feature: datasets.features.features.FeatureType | None = None) -> datasets.Dataset:
    features = None if feature is None else datasets.Features({"img": feature, "label": datasets.Value("int64")})
    return datasets.Dataset.from_dict({"img": x, "label": [i % 2 for i in range(len(x))]}, features=features)


def _el2n(ds: datasets.Dataset) -> np.ndarray:
    return EL2NScorer(ensemble_size=1, epochs=2, cache=False).score(ds, text_column="img")


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (24, 3, 12, 8), dtype=np.uint8)  # channel-first, 12x8


def test_channel_last_images_are_transposed_to_channel_first(rgb):
    last = _images(rgb.transpose(0, 2, 3, 1), datasets.Array3D((12, 8, 3), "uint8"))
    first = _images(rgb, datasets.Array3D((3, 12, 8), "uint8"))
    bundle = ClassifierBundle.create("cnn", train=last, text_column="img", classes=[0, 1])
    assert bundle.config["image_shape"] == [3, 12, 8] and bundle.config["channels_last"] is True
    np.testing.assert_array_equal(bundle.featurize(last), rgb.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(_el2n(last), _el2n(first))  # the same images in either layout: the same scores


@pytest.mark.parametrize("shape", [(32, 32, 3), (20, 28, 1), (16, 16, 4)])
def test_el2n_and_forgetting_score_channel_last_images(shape):
    x = np.random.default_rng(1).integers(0, 255, (16, *shape), dtype=np.uint8)
    ds = _images(x, datasets.Array3D(shape, "uint8"))
    assert np.isfinite(_el2n(ds)).all()
    scores = ForgettingScorer(ensemble_size=1, epochs=2, cache=False).score(ds, text_column="img")
    assert scores.shape == (16,)


@pytest.mark.parametrize("shape", [(3, 28, 20), (28, 20), (1, 9, 31)])
def test_non_square_images(shape):
    x = np.random.default_rng(2).integers(0, 255, (16, *shape), dtype=np.uint8)
    feature = datasets.Array3D(shape, "uint8") if len(shape) == 3 else datasets.Array2D(shape, "uint8")
    assert np.isfinite(_el2n(_images(x, feature))).all()


@pytest.mark.parametrize("shape, match", [
    ((5, 7, 9), r"rows of shape \(5, 7, 9\) are not images: use \(C, H, W\) or \(H, W, C\)"),
    ((3, 3, 2), r"are images of 3x2: the CNN needs at least 4x4"),
    ((2, 30), r"are images of 2x30: the CNN needs at least 4x4"),
])
def test_other_shapes_are_refused_in_one_line(shape, match):
    x = np.random.default_rng(3).integers(0, 255, (8, *shape), dtype=np.uint8)
    feature = datasets.Array3D(shape, "uint8") if len(shape) == 3 else datasets.Array2D(shape, "uint8")
    with pytest.raises(DataprunerError, match=match) as err:
        EL2NScorer(ensemble_size=1, epochs=1, cache=False, proxy="cnn").score(_images(x, feature), text_column="img")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("shape", [(28, 28), (1, 28, 28), (2, 28, 28)])
def test_channel_first_square_images_are_read_as_before(shape):
    x = np.random.default_rng(4).integers(0, 255, (12, *shape), dtype=np.uint8)
    feature = datasets.Array3D(shape, "uint8") if len(shape) == 3 else datasets.Array2D(shape, "uint8")
    ds = _images(x, feature)
    bundle = ClassifierBundle.create("cnn", train=ds, text_column="img", classes=[0, 1])
    c = 1 if len(shape) == 2 else shape[0]
    assert bundle.config["image_shape"] == [c, 28, 28] and "channels_last" not in bundle.config
    assert "image_width" not in bundle.config["network_kwargs"]  # the saved config is the one it always was
    np.testing.assert_array_equal(bundle.featurize(ds), x.reshape(12, c, 28, 28).astype(np.float32) / 255.0)


def test_square_cnn_is_the_same_network_as_before():
    torch.manual_seed(0)
    square = SmallCNN(10)
    torch.manual_seed(0)
    explicit = SmallCNN(10, image_size=28, image_width=28)
    assert square.classifier[1].in_features == 32 * 7 * 7
    for (name, a), (_, b) in zip(square.state_dict().items(), explicit.state_dict().items()):
        assert torch.equal(a, b), name
    wide = SmallCNN(3, in_channels=3, image_size=28, image_width=20)
    assert wide(torch.zeros(2, 3, 28, 20)).shape == (2, 3)
    assert wide.classifier[1].in_features == 32 * 7 * 5


def test_channel_last_bundle_round_trips(tmp_path, rgb):
    last = _images(rgb.transpose(0, 2, 3, 1), datasets.Array3D((12, 8, 3), "uint8"))
    bundle = ClassifierBundle.create("cnn", train=last, text_column="img", classes=[0, 1])
    loaded = ClassifierBundle.load(bundle.save(tmp_path / "m"))
    assert loaded.same_inputs(bundle)
    np.testing.assert_array_equal(loaded.predict_logits(last), bundle.predict_logits(last))
