"""Data in and out: load any dataset, save it atomically by extension, persist scores with their parameters."""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from datapruner._atomic import atomic_dir, atomic_file
from datapruner._validation import check_scores
from datapruner.errors import DataprunerError

#: File extensions ``load_data`` and ``save_data`` understand, mapped to the ``datasets`` builder that reads them.
FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
#: What a dataset name looks like (``"imdb"``, ``"stanfordnlp/sst2"``): tried with ``datasets.load_dataset`` when
#: no local file or folder of that name exists.
_DATASET_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?")

__all__ = ["FORMATS", "check_savable", "data_fingerprint", "load_data", "read_scores", "save_data", "write_scores"]


def load_data(data: Any, *, split: str = "train") -> Any:
    """Return a ``datasets.Dataset`` from a Dataset, a DatasetDict, a local file or folder, or a dataset name.

    Args:
        data: An in-memory ``Dataset`` (returned as is); a ``DatasetDict`` (``split`` is taken); a pandas
            ``DataFrame`` (its columns, without the index); a path to a
            ``.jsonl``/``.json``/``.csv``/``.parquet`` file or a ``save_to_disk`` folder; a folder of data files or
            a dataset name (``"stanfordnlp/sst2"``), both read with ``datasets.load_dataset``. A CSV file's column of
            numbers with a leading zero in any cell (``"00005"``) is read as text, exactly as written.
        split: Split to take from a ``DatasetDict`` or a named dataset.

    Raises:
        DataprunerError: If the file is missing, unreadable (bad encoding, malformed) or the split is absent.
    """
    import datasets

    if isinstance(data, datasets.Dataset):
        return data
    if isinstance(data, datasets.DatasetDict):
        return _take_split(data, split)
    if type(data).__module__.startswith("pandas") and type(data).__name__ == "DataFrame":  # without importing pandas
        return datasets.Dataset.from_pandas(data, preserve_index=False)
    if not isinstance(data, (str, os.PathLike)):
        raise DataprunerError(f"data of type {type(data).__name__} is not valid: use a datasets.Dataset, a pandas "
                              "DataFrame, a file path or a dataset name.")
    path = Path(data)
    try:
        if path.is_dir():
            if is_saved_dataset(path):
                loaded = datasets.load_from_disk(str(path))
                return _take_split(loaded, split) if isinstance(loaded, datasets.DatasetDict) else loaded
            # a folder of data files: datasets infers the builder and the splits from the file names
            return _load_by_name(str(path), split, local=True)
        if path.suffix.lower() in FORMATS:
            if not path.is_file():
                raise DataprunerError(f"{path} does not exist.")
            if path.stat().st_size == 0:
                raise DataprunerError(f"{path} is empty: there are no rows to read.")
            _check_utf8(path)
            builder = FORMATS[path.suffix.lower()]
            if builder == "csv":
                return _load_csv(path)
            return datasets.load_dataset(builder, data_files=str(path), split="train")
        head, slash, _ = str(data).partition("/")
        if head and slash and Path(head).is_dir():  # a local path with a typo, not owner/name: no Hub round trip
            raise DataprunerError(f"{path} does not exist.")
        if path.exists() or path.suffix or not _DATASET_NAME.fullmatch(str(data)):
            raise DataprunerError(
                f"cannot read {path}: use a {'/'.join(FORMATS)} file, a folder or a dataset name."
            )
        return _load_by_name(str(data), split, local=False)
    except DataprunerError:
        raise
    except UnicodeDecodeError as err:
        raise DataprunerError(f"cannot read {path}: it is not valid UTF-8 ({err.reason}); convert it to UTF-8.") \
            from err
    except Exception as err:  # datasets/pyarrow raise many types for unreadable input
        if "corresponds to no data" in str(err):  # datasets' words for a file with a header and no rows
            raise DataprunerError(f"{path} has no rows: there is nothing to read.") from err
        raise DataprunerError(f"cannot read {data}: {_first_line(err)}.") from err


#: How pandas reads a CSV here: only an empty cell is missing; texts such as "NA", "null" or "None" stay texts
#: (pandas' default would read them as missing, so a row saved by save_data would not come back as it was).
_CSV_OPTIONS = {"keep_default_na": False, "na_values": [""]}
#: A cell that writes a number with a leading zero ("00005", "-01"): a code (zip code, id), not a quantity.
_LEADING_ZERO = r"\s*[+-]?0\d"


def _load_csv(path: Path) -> Any:
    """Read a CSV with the types pandas infers, except that a column of numbers with a leading zero in any cell
    stays text: read as numbers, "00005" would become 5, be saved back as 5 and match no row of the file."""
    import datasets
    import pandas as pd
    import pyarrow as pa

    dataset = datasets.load_dataset("csv", data_files=str(path), split="train", **_CSV_OPTIONS)
    numeric = [name for name, feature in dataset.features.items() if isinstance(feature, datasets.Value)
               and (pa.types.is_integer(feature.pa_type) or pa.types.is_floating(feature.pa_type))]
    codes: set[str] = set()
    if numeric:
        for chunk in pd.read_csv(path, dtype=str, chunksize=1 << 16, **_CSV_OPTIONS):
            codes.update(c for c in numeric if chunk[c].str.match(_LEADING_ZERO, na=False).any())
    if not codes:
        return dataset
    features = datasets.Features({name: datasets.Value("string") if name in codes else feature
                                  for name, feature in dataset.features.items()})
    return datasets.load_dataset("csv", data_files=str(path), split="train", features=features, **_CSV_OPTIONS)


def is_saved_dataset(path: Path) -> bool:
    """Whether ``path`` was written by ``save_to_disk`` (a Dataset or a DatasetDict)."""
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def _load_by_name(name: str, split: str, *, local: bool) -> Any:
    """``datasets.load_dataset(name, split=split)`` for a folder of data files (``local``) or a dataset name, its
    failure in one line. Without network a hub name fails after datasets' retries, at once with ``HF_HUB_OFFLINE=1``,
    unless it is in the local cache."""
    import datasets

    try:
        return datasets.load_dataset(name, split=split)
    except Exception as err:  # the outer message names the problem ("Couldn't reach ... on the Hub", "Unknown split")
        what = "" if local else " (there is no local file or folder of that name)"
        raise DataprunerError(f"cannot read {name}{what} with datasets.load_dataset: {_one_line(err)}.") from err


def _take_split(dataset_dict: Any, split: str) -> Any:
    if split not in dataset_dict:
        raise DataprunerError(f"split={split!r} is not in the dataset: available splits are {sorted(dataset_dict)}.")
    return dataset_dict[split]


def _check_utf8(path: Path) -> None:
    """Reject text files that are not UTF-8 up front: some readers would otherwise load them garbled."""
    if path.suffix.lower() == ".parquet":
        return
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                raise DataprunerError(f"cannot read {path}: it is not valid UTF-8 (first bad byte at offset "
                                      f"{offset + err.start}); convert it to UTF-8.") from None
            offset += len(chunk)


def _first_line(err: BaseException) -> str:
    """Return the innermost cause's first line, which names the real problem."""
    cause = err
    while cause.__cause__ is not None or cause.__context__ is not None:
        cause = cause.__cause__ or cause.__context__
    return _one_line(cause)


def _one_line(err: BaseException) -> str:
    """``"Type: first line of the message"`` without a closing period (the caller's sentence adds one)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0].rstrip('.')}" if text else type(err).__name__


def save_data(dataset: Any, out: str | os.PathLike[str]) -> Path:
    """Write ``dataset`` to ``out`` atomically, in the format its extension names; return the path.

    ``.jsonl`` (JSON lines), ``.json`` (one JSON array), ``.csv``, ``.parquet``; a path without extension is a
    ``save_to_disk`` folder. The file appears whole or not at all: a temporary file is renamed into place. JSON
    writes times as ISO text.

    Raises:
        DataprunerError: For an unknown extension or a column the format cannot hold (:func:`check_savable`).
    """
    check_savable(dataset.features, out)
    out = Path(out)
    suffix = out.suffix.lower()
    if not suffix:
        with atomic_dir(out) as tmp_dir:
            dataset.save_to_disk(str(tmp_dir))
        return out
    with atomic_file(out, suffix=f".tmp{suffix}") as tmp:
        if suffix in (".jsonl", ".json"):
            # times as ISO text to the finest unit of the data (pandas' default, epoch ms, drops microseconds)
            dataset.to_json(str(tmp), lines=suffix == ".jsonl", orient="records", force_ascii=False,
                            date_format="iso", date_unit=_time_unit(dataset.features.arrow_schema))
        elif suffix == ".csv":
            dataset.to_csv(str(tmp), index=False)
        else:
            dataset.to_parquet(str(tmp))
    return out


def check_savable(features: Any, out: str | os.PathLike[str]) -> None:
    """Refuse an ``out`` whose format cannot hold the columns of ``features``, before any work is done.

    Only parquet and ``save_to_disk`` folders hold every type: JSON and CSV are text, so bytes (``binary``
    columns, images) have no place in them, and a CSV cell holds one value, not a list or a struct.
    """
    import pyarrow as pa

    suffix = Path(out).suffix.lower()
    if suffix and suffix not in FORMATS:
        raise DataprunerError(f"out={str(out)!r} has an unknown extension: use {', '.join(FORMATS)} or no extension "
                              "for a save_to_disk folder.")
    if FORMATS.get(suffix) not in ("json", "csv"):
        return
    for field in features.arrow_schema:
        kinds = _types_within(field.type)  # kinds[0] is the column's own type (an extension type's storage)
        if suffix == ".csv" and pa.types.is_nested(kinds[0]):
            raise DataprunerError(f"column {field.name!r} holds lists or structs ({field.type}), which {suffix} "
                                  "cannot hold: drop or flatten the column, or write .jsonl or .parquet.")
        if any(pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
               for t in kinds):
            raise DataprunerError(f"column {field.name!r} holds bytes ({field.type}), which {suffix} cannot hold: "
                                  "drop the column, or write .parquet or a folder.")


def _types_within(kind: Any) -> list[Any]:
    """``kind`` and every arrow type nested in it (list items, struct fields)."""
    import pyarrow as pa

    if isinstance(kind, pa.ExtensionType):
        kind = kind.storage_type
    return [kind, *(t for i in range(kind.num_fields) for t in _types_within(kind.field(i).type))]


def _time_unit(schema: Any) -> str:
    """``"ns"`` when a column holds nanosecond times, else ``"us"``: the unit that writes every time exactly."""
    return "ns" if any(getattr(t, "unit", None) == "ns" for field in schema for t in _types_within(field.type)) \
        else "us"


def data_fingerprint(dataset: Any, columns: list[str] | None = None) -> str:
    """Return a content hash of ``dataset`` (optionally only ``columns``): same rows, same fingerprint.

    Used to key caches and to check that a scores file belongs to the data it is applied to.
    """
    import pyarrow as pa

    if columns is not None:
        dataset = dataset.select_columns(columns)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(len(dataset)).encode())
    for batch in dataset.with_format("arrow").iter(batch_size=65536):
        table = batch.replace_schema_metadata(None).combine_chunks()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        digest.update(sink.getvalue().to_pybytes())
    return digest.hexdigest()


def write_scores(path: str | os.PathLike[str], scores: npt.ArrayLike, *, meta: dict[str, Any]) -> Path:
    """Write scores to parquet, one row per data row (``row_id``, ``score``), ``meta`` in the file's metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix.lower() != ".parquet":
        raise DataprunerError(f"scores file {str(path)!r} must end in .parquet.")
    values = check_scores(scores)
    table = pa.table({"row_id": np.arange(values.size, dtype=np.int64), "score": values})
    table = table.replace_schema_metadata({b"datapruner": json.dumps(meta, default=str).encode()})
    with atomic_file(path) as tmp:
        pq.write_table(table, str(tmp))
    return path


def read_scores(path: str | os.PathLike[str]) -> tuple[npt.NDArray[np.float64], dict[str, Any]]:
    """Return ``(scores, meta)`` from a file written by ``write_scores``, scores ordered by ``row_id``."""
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
    except Exception as err:
        raise DataprunerError(f"cannot read scores file {path}: {_first_line(err)}.") from err
    if not {"row_id", "score"} <= set(table.column_names):
        raise DataprunerError(f"{path} is not a scores file: it needs the columns 'row_id' and 'score'.")
    raw = (table.schema.metadata or {}).get(b"datapruner", b"{}")
    meta = json.loads(raw.decode())
    row_id = table.column("row_id").to_numpy()
    order = np.argsort(row_id, kind="stable")
    if not np.array_equal(row_id[order], np.arange(row_id.size)):
        raise DataprunerError(f"{path} does not have one score per row id 0..n-1.")
    return check_scores(table.column("score").to_numpy()[order]), meta
