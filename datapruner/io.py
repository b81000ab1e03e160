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

__all__ = ["FORMATS", "data_fingerprint", "load_data", "read_scores", "save_data", "write_scores"]


def load_data(data: Any, *, split: str = "train") -> Any:
    """Return a ``datasets.Dataset`` from a Dataset, a DatasetDict, a local file or folder, or a dataset name.

    Args:
        data: An in-memory ``Dataset`` (returned as is); a ``DatasetDict`` (``split`` is taken); a pandas
            ``DataFrame`` (its columns, without the index); a path to a
            ``.jsonl``/``.json``/``.csv``/``.parquet`` file or a ``save_to_disk`` folder; a folder of data files or
            a dataset name (``"stanfordnlp/sst2"``), both read with ``datasets.load_dataset``.
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
            # CSV: only an empty cell is missing; texts such as "NA", "null" or "None" stay texts (pandas' default
            # would read them as missing, so a row saved by save_data would not come back as it was)
            options = {"keep_default_na": False, "na_values": [""]} if builder == "csv" else {}
            return datasets.load_dataset(builder, data_files=str(path), split="train", **options)
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
    ``save_to_disk`` folder. The file appears whole or not at all: a temporary file is renamed into place.
    """
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix and suffix not in FORMATS:
        raise DataprunerError(f"out={str(out)!r} has an unknown extension: use {', '.join(FORMATS)} or no extension "
                              "for a save_to_disk folder.")
    if not suffix:
        with atomic_dir(out) as tmp_dir:
            dataset.save_to_disk(str(tmp_dir))
        return out
    with atomic_file(out, suffix=f".tmp{suffix}") as tmp:
        if suffix == ".jsonl":
            dataset.to_json(str(tmp), lines=True, force_ascii=False)
        elif suffix == ".json":
            dataset.to_json(str(tmp), lines=False, orient="records", force_ascii=False)
        elif suffix == ".csv":
            dataset.to_csv(str(tmp), index=False)
        else:
            dataset.to_parquet(str(tmp))
    return out


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
