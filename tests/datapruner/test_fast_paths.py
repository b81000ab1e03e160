"""Performance rewrites give exactly the output of the straightforward code they replace (kept here as references):
array columns read through Arrow, and the class-balanced strategy."""
from __future__ import annotations

import time

import datasets
import numpy as np
import numpy.typing as npt
import pytest

from datapruner.models.embedder import column_features
from datapruner.models.pipeline import ClassifierBundle
from datapruner.selection.balanced import class_quotas, select_balanced
from datapruner.selection.topk import rank_hardest_first


# ===================================================================== array columns through Arrow (embedder, CNN)
def _arrow():  # imported here, so that the other tests of this file run without it
    from datapruner import _arrow as module

    return module


def _numpy_format(ds: datasets.Dataset, column: str) -> np.ndarray:
    """The reference: what column_features and the CNN featurizer read before (one numpy array per row)."""
    return np.asarray(ds.with_format("numpy")[column], dtype=np.float32)


def _values(rng: np.random.Generator, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)  # extremes: rounding to float32
    return (rng.standard_normal(shape) * 1e3).astype(dtype)


DTYPES = ["float32", "float64", "float16", "int64", "int32", "int8", "uint8", "uint64", "bool"]
LAYOUTS = ["list", "fixed-size list", "number", "Array2D", "Array3D", "nested lists"]


def _dataset(layout: str, dtype: str, n: int = 97, seed: int = 0) -> datasets.Dataset:
    rng = np.random.default_rng(seed)
    if layout == "list":
        return datasets.Dataset.from_dict({"v": _values(rng, dtype, (n, 6))})
    if layout == "fixed-size list":
        return datasets.Dataset.from_dict({"v": _values(rng, dtype, (n, 6))}, features=datasets.Features(
            {"v": datasets.List(datasets.Value(dtype), length=6)}))
    if layout == "number":
        return datasets.Dataset.from_dict({"v": _values(rng, dtype, (n,))})
    if layout == "Array2D":
        return datasets.Dataset.from_dict({"v": _values(rng, dtype, (n, 3, 4))}, features=datasets.Features(
            {"v": datasets.Array2D((3, 4), dtype)}))
    if layout == "Array3D":
        return datasets.Dataset.from_dict({"v": _values(rng, dtype, (n, 4, 3, 2))}, features=datasets.Features(
            {"v": datasets.Array3D((4, 3, 2), dtype)}))
    return datasets.Dataset.from_dict({"v": _values(rng, dtype, (n, 2, 5))})  # List(List(...))


def _views(ds: datasets.Dataset) -> dict[str, datasets.Dataset]:
    """The dataset as is and through an indices mapping (select, shuffle, filter) or a slice."""
    n = len(ds)
    return {"plain": ds, "shuffled": ds.shuffle(seed=1), "selected": ds.select([n - 1, 3, 3, 0, n // 2]),
            "contiguous": ds.select(range(5, n - 7)), "filtered": ds.filter(lambda _, i: i % 3 == 1, with_indices=True),
            "sliced shuffled": ds.shuffle(seed=2).select(range(10, 40))}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_arrow_read_equals_the_numpy_format(layout, dtype, monkeypatch):
    if layout in ("Array2D", "Array3D") and dtype == "float16":
        pytest.skip("datasets has no float16 arrays")
    base = _dataset(layout, dtype)
    for chunk_values in (1 << 24, 40):  # one chunk, or a few rows per chunk
        monkeypatch.setattr(_arrow(), "_CHUNK_VALUES", chunk_values)
        for name, ds in _views(base).items():
            expected = _numpy_format(ds, "v")
            got = _arrow()._via_arrow(ds, "v")  # the fast path itself: it must not fall back for these columns
            assert got.dtype == expected.dtype == np.float32 and got.shape == expected.shape, name
            np.testing.assert_array_equal(got, expected, err_msg=f"{layout} {dtype} {name}")


def test_arrow_read_across_arrow_chunks_and_from_disk(tmp_path):
    parts = [_dataset("list", "float32", n=n, seed=s) for s, n in enumerate((10, 1, 33))]
    joined = datasets.concatenate_datasets(parts)
    assert joined.data.column("v").num_chunks > 1
    saved = joined.save_to_disk(str(tmp_path / "d")) or datasets.load_from_disk(str(tmp_path / "d"))
    for ds in (joined, joined.shuffle(seed=0), saved, saved.select([40, 2, 17])):
        np.testing.assert_array_equal(_arrow()._via_arrow(ds, "v"), _numpy_format(ds, "v"))


@pytest.mark.parametrize("rows", [
    [[1.0, 2.0], [3.0]],  # ragged
    [[1.0, None], [3.0, 4.0]],  # a missing value inside a row
    [[1.0, 2.0], None],  # a missing row
    [1.0, None],  # a missing number
])
def test_other_columns_are_read_the_old_way_with_the_same_result_or_error(rows):
    ds = datasets.Dataset.from_dict({"v": rows})
    try:
        expected = _numpy_format(ds, "v")
    except ValueError as err:
        with pytest.raises(ValueError, match=str(err)[:30]):
            _arrow().float32_column(ds, "v")
        return
    np.testing.assert_array_equal(_arrow().float32_column(ds, "v"), expected)


def test_embedding_columns_and_images_do_not_walk_rows_through_the_numpy_format(monkeypatch):
    x = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
    emb = datasets.Dataset.from_dict({"emb": x, "label": [0, 1] * 150}).shuffle(seed=0)
    img = datasets.Dataset.from_dict(
        {"img": np.random.default_rng(1).integers(0, 255, (30, 8, 8), dtype=np.uint8), "label": [0, 1] * 15},
        features=datasets.Features({"img": datasets.Array2D((8, 8), "uint8"), "label": datasets.Value("int64")}))
    expected_emb, expected_img = _numpy_format(emb, "emb"), _numpy_format(img, "img")[:, None] / 255.0
    real = datasets.Dataset.__getitem__

    def no_numpy_columns(self, key):
        if isinstance(key, str) and self.format["type"] == "numpy":
            raise AssertionError(f"column {key!r} read row by row through the numpy format")
        return real(self, key)

    monkeypatch.setattr(datasets.Dataset, "__getitem__", no_numpy_columns)
    np.testing.assert_array_equal(column_features(emb, "emb"), expected_emb)
    bundle = ClassifierBundle.create("cnn", train=img, text_column="img", classes=[0, 1])
    np.testing.assert_array_equal(bundle.featurize(img), expected_img.astype(np.float32))


# ===================================================================================== class-balanced strategy
def _reference_class_quotas(class_sizes: npt.NDArray[np.int64], n_keep: int) -> npt.NDArray[np.int64]:
    """``class_quotas`` before the rewrite, verbatim."""
    quotas = np.zeros_like(class_sizes)
    remaining = n_keep
    open_classes = list(np.argsort(class_sizes, kind="stable"))
    while remaining > 0 and open_classes:
        share = remaining // len(open_classes)
        smallest = open_classes[0]
        room = class_sizes[smallest] - quotas[smallest]
        if share >= room:
            quotas[smallest] += room
            remaining -= room
            open_classes.pop(0)
            continue
        for c in open_classes:
            quotas[c] += share
        remaining -= share * len(open_classes)
        for c in sorted(open_classes)[:remaining]:
            quotas[c] += 1
        remaining = 0
    return quotas


def _reference_select_balanced(hardness, n_keep, *, labels):
    """``select_balanced`` before the rewrite, verbatim."""
    classes, inverse = np.unique(labels, return_inverse=True)
    sizes = np.bincount(inverse, minlength=classes.size).astype(np.int64)
    quotas = _reference_class_quotas(sizes, n_keep)
    order = rank_hardest_first(hardness)
    chosen = []
    for c in range(classes.size):
        members = order[inverse[order] == c]
        chosen.append(members[: quotas[c]])
    return np.sort(np.concatenate(chosen))


@pytest.mark.parametrize("seed", range(6))
def test_balanced_equals_the_reference(seed):
    rng = np.random.default_rng(seed)
    for _ in range(150):
        n = int(rng.integers(1, 400))
        n_classes = int(rng.choice([1, 2, 3, 10, 60, n]))
        labels = rng.integers(0, n_classes, n)
        if rng.random() < 0.3:  # string classes, some tiny
            labels = np.array(["a", "bb", "c", "dd", "e"])[np.minimum(labels, 4)]
        hardness = rng.integers(0, 4, n).astype(float) if rng.random() < 0.5 else rng.random(n)  # ties or none
        n_keep = int(rng.integers(1, n + 1)) if rng.random() < 0.8 else max(1, round(0.01 * n))
        got = select_balanced(hardness, n_keep, labels=labels)
        expected = _reference_select_balanced(hardness, n_keep, labels=labels)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("seed", range(3))
def test_class_quotas_equal_the_reference(seed):
    rng = np.random.default_rng(seed)
    for _ in range(300):
        sizes = rng.integers(0, 30, int(rng.integers(1, 50)))
        if sizes.sum() == 0:
            continue
        n_keep = int(rng.integers(1, sizes.sum() + 1))
        got, expected = class_quotas(sizes, n_keep), _reference_class_quotas(sizes, n_keep)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


def test_balanced_is_not_quadratic_in_the_classes():
    """200,000 rows in 50,000 classes: 63-81 s before (a pass over every row per class), ~0.1 s now."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 50_000, 200_000)
    hardness = rng.random(200_000)
    started = time.perf_counter()
    kept = select_balanced(hardness, 60_000, labels=labels)
    assert time.perf_counter() - started < 10.0
    assert kept.size == 60_000
