"""Pieces shared by the framework adapters: the option set and the missing-extra error."""
from __future__ import annotations

from typing import Any

from ragprune.errors import RagpruneError
from ragprune.middleware import DEFAULT_MAX_INPUT_CHARS, PruneOptions

#: The middleware options every adapter accepts, with their defaults (see ragprune.middleware.PruneOptions).
OPTION_DEFAULTS: dict[str, Any] = {
    "threshold": None,
    "max_tokens": None,
    "reorder": False,
    "top_k": None,
    "min_kept": 1,
    "on_failure": "open",
    "timeout": None,
    "max_input_chars": DEFAULT_MAX_INPUT_CHARS,
    "html": None,
    "html_output": "text",
}


def build_options(values: dict[str, Any]) -> PruneOptions:
    """Validate the adapter's option values into a PruneOptions (raises RagpruneError)."""
    return PruneOptions(**{name: values.get(name, default) for name, default in OPTION_DEFAULTS.items()})


def missing_extra(adapter: str, extra: str, err: BaseException | None) -> RagpruneError:
    """Return the error raised when an adapter is built without its optional dependency."""
    return RagpruneError(f"{adapter} needs the {extra!r} extra ({err}): pip install 'datapruner[{extra}]'")


def check_known(adapter: str, kwargs: dict[str, Any], fields: Any) -> None:
    """Raise RagpruneError for a keyword the adapter does not have (a typo must not pass silently)."""
    unknown = sorted(set(kwargs) - set(fields))
    if unknown:
        raise RagpruneError(f"{adapter} got unknown option(s) {unknown}: use one of {sorted(fields)}.")
