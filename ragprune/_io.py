"""JSON-lines reading with line-numbered errors, text and output-path checks, and atomic file writing."""
from __future__ import annotations

import gzip
import io
import json
import logging
import math
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ragprune.errors import RagpruneError

__all__ = ["read_jsonl", "read_records", "check_text", "check_fields", "check_out", "first_existing",
           "atomic_writer", "replaced_dir"]

logger = logging.getLogger(__name__)


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, record)`` for each non-blank line of a JSON-lines file.

    Line numbers start at 1. Blank lines are skipped. A ``.gz`` suffix is read as gzip.

    Args:
        path: The file to read.

    Raises:
        RagpruneError: If the file cannot be read, is not UTF-8, or a line is not a JSON object;
            the message names the file and the line number.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            handle: IO[str] = gzip.open(path, "rt", encoding="utf-8")
        else:
            handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as err:
        raise RagpruneError(f"cannot read {str(path)!r}: {err.strerror or err}.") from err
    with handle:
        line_number = 0
        try:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise RagpruneError(
                        f"{path}: line {line_number} is not valid JSON ({err.msg} at column {err.colno})."
                    ) from err
                except RecursionError as err:
                    raise RagpruneError(f"{path}: line {line_number} is not valid JSON (nested too deeply).") from err
                except ValueError as err:  # an integer longer than sys.get_int_max_str_digits() digits
                    raise RagpruneError(
                        f"{path}: line {line_number} is not valid JSON (a number has too many digits).") from err
                if not isinstance(record, dict):
                    raise RagpruneError(
                        f"{path}: line {line_number} must be a JSON object, got {type(record).__name__}."
                    )
                yield line_number, record
        except UnicodeDecodeError as err:
            raise RagpruneError(f"{path}: line {line_number + 1} is not UTF-8 text.") from err
        except (OSError, EOFError, zlib.error) as err:  # a corrupt or truncated gzip stream
            raise RagpruneError(f"{path}: cannot read line {line_number + 1}: {err}.") from err


def read_records(path: str | os.PathLike[str], *, check: Callable[[dict[str, Any], str], None],
                 added_keys: Sequence[str], out: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Return every record of a JSON-lines input, each validated before any work starts.

    A bad line fails the whole run before a model is called or an output is written: ``check`` validates the
    command's fields, :func:`check_fields` every field (each is echoed into the output line). Records that already
    hold one of ``added_keys`` (the fields the command writes) are logged, since those fields get replaced.

    Args:
        path: The JSON-lines input.
        check: Called as ``check(record, "PATH: line N")``; raises RagpruneError for a bad record.
        added_keys: The fields the command adds to each output record.
        out: The output path (named in the warning for an empty input).
    """
    records: list[dict[str, Any]] = []
    for line_number, record in read_jsonl(path):
        where = f"{path}: line {line_number}"
        check(record, where)
        try:
            check_fields(record)
        except RagpruneError as err:
            raise RagpruneError(f"{where}: {err}") from None
        records.append(record)
    if not records:
        logger.warning("%s holds no records; writing an empty %s", path, out)
    clobbered = sorted({key for record in records for key in added_keys if key in record})
    if clobbered:
        logger.warning("input records already have %s; they are replaced", clobbered)
    return records


def check_text(text: str, name: str) -> None:
    """Refuse a string holding a lone surrogate (a valid JSON escape such as ``"\\ud800"``, but not Unicode text):
    tokenizers and UTF-8 output cannot take it, and fail with an unrelated TypeError or UnicodeEncodeError.

    Raises:
        RagpruneError: Naming ``name`` and the character position of the first lone surrogate.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise RagpruneError(f"{name} is not valid Unicode text (a lone surrogate at character {err.start}).") from None


def check_fields(data: dict[str, Any], *, max_depth: int | None = None) -> None:
    """Refuse what an output line that echoes ``data`` could not hold, before any model runs.

    That is a lone surrogate in any key or string (see :func:`check_text`), a NaN or infinite number (JSON has
    neither: Python reads and writes ``NaN``, other readers refuse it) and, with ``max_depth``, deeper nesting.
    Iterative, so it cannot overflow.

    Raises:
        RagpruneError: Naming the field by its dotted path (``meta.k.0``).
    """
    stack: list[tuple[str, int, Any]] = [("", 0, data)]
    while stack:
        path, depth, value = stack.pop()
        if max_depth is not None and depth > max_depth:
            raise RagpruneError(f"{path.partition('.')[0]} is nested more than {max_depth} levels deep: flatten it.")
        if isinstance(value, str):
            check_text(value, path)
        elif isinstance(value, float) and not math.isfinite(value):
            raise RagpruneError(f"{path} is {value!r}: use a finite number (JSON has no NaN or Infinity).")
        elif isinstance(value, dict):
            for key, item in value.items():
                check_text(key, f"a key in {path}" if path else "a key")  # the bad key cannot go into the message
                stack.append((f"{path}.{key}" if path else key, depth + 1, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{i}", depth + 1, item) for i, item in enumerate(value))


def check_out(out: str | os.PathLike[str], in_path: str | os.PathLike[str]) -> None:
    """Refuse an ``--out`` that cannot take the output, before any model loads or any work is done.

    Raises:
        RagpruneError: If ``out`` is the input file (it would be overwritten), an existing folder, or its folder
            is missing or a regular file.
    """
    out_path, in_file = Path(out), Path(in_path)
    if out_path.resolve() == in_file.resolve() or (
            out_path.exists() and in_file.exists() and os.path.samefile(out_path, in_file)):
        raise RagpruneError(f"--out {out} is the input file: name another file.")
    if out_path.is_dir():
        raise RagpruneError(f"--out {out} is a folder: name a file.")
    folder = out_path.parent
    if not folder.is_dir():
        blocker = first_existing(folder)
        if not blocker.is_dir():
            raise RagpruneError(f"--out {out}: {blocker} is a file, not a folder.")
        raise RagpruneError(f"--out {out}: folder {folder} does not exist.")


def first_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists: what decides whether ``path`` can be created."""
    return next(p for p in (path, *path.parents) if p.exists() or p == p.parent)


def _umask() -> int:
    """The process umask (reading it means setting it, so it is put back at once; 0o077 meanwhile is the safe side)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


@contextmanager
def atomic_writer(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """Open a temporary text file next to ``path``; move it onto ``path`` only if the block succeeds.

    A ``path`` ending in ``.gz`` is written gzip-compressed, as :func:`read_jsonl` reads it.

    If the block raises (including on Ctrl-C), the temporary file is removed and ``path`` is left as it was,
    so readers never see a partial output file. The file gets the mode a plain ``open(path, "w")`` gives
    (``0o666`` less the umask), not the ``0o600`` of the temporary file.

    Raises:
        RagpruneError: If the folder of ``path`` does not exist or is not writable.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise RagpruneError(f"cannot write {str(path)!r}: {err.strerror or err}.") from err
    try:
        with os.fdopen(fd, "wb") as raw:
            gz = path.suffix == ".gz"
            with gzip.open(raw, "wt", encoding="utf-8") if gz else io.TextIOWrapper(raw, encoding="utf-8") as handle:
                yield handle
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def replaced_dir(path: Path) -> Iterator[Path]:
    """Yield a not-yet-existing folder beside ``path`` to fill; on success it takes the place of ``path``.

    A folder already at ``path`` is swapped out with two renames and deleted; on failure the new folder is deleted
    and ``path`` is left as it was, so a crashed run never destroys a previous good checkpoint.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        new, old = holder / "content", holder / "old"
        yield new
        if path.exists():
            os.replace(path, old)
        try:
            os.replace(new, path)
        except OSError:
            if old.exists():
                os.replace(old, path)
            raise
    finally:
        shutil.rmtree(holder, ignore_errors=True)
