"""The option fields both framework adapters declare: LangChain and LlamaIndex components are pydantic models.

Imported only by an adapter whose framework is installed (pydantic comes with it).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict
from typing_extensions import Self

from ragprune.integrations._common import OPTION_DEFAULTS, build_options, check_known
from ragprune.middleware import PruneOptions


class PruneFields(BaseModel):
    """Mix-in for an adapter: the pruners and every middleware option as fields.

    Option values are validated into a :class:`ragprune.middleware.PruneOptions` by our own checks, not
    pydantic's, so a bad value or an unknown keyword raises :class:`ragprune.RagpruneError` with the adapter's
    name: at construction, on assignment (``adapter.top_k = 1``) and in ``model_copy(update=...)``. The options
    are read from the fields at each call, so changed values take effect.
    """

    pruner: Any = None
    html_pruner: Any = None
    threshold: Any = OPTION_DEFAULTS["threshold"]
    max_tokens: Any = OPTION_DEFAULTS["max_tokens"]
    reorder: Any = OPTION_DEFAULTS["reorder"]
    top_k: Any = OPTION_DEFAULTS["top_k"]
    min_kept: Any = OPTION_DEFAULTS["min_kept"]
    on_failure: Any = OPTION_DEFAULTS["on_failure"]
    timeout: Any = OPTION_DEFAULTS["timeout"]
    max_input_chars: Any = OPTION_DEFAULTS["max_input_chars"]
    html: Any = OPTION_DEFAULTS["html"]
    html_output: Any = OPTION_DEFAULTS["html_output"]

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def __init__(self, **kwargs: Any) -> None:
        check_known(type(self).__name__, kwargs, type(self).model_fields)
        build_options(kwargs)
        super().__init__(**kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in OPTION_DEFAULTS:
            self._with({name: value})
        super().__setattr__(name, value)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Copy the adapter; ``update`` is checked like the constructor's keywords (pydantic stores it unchecked)."""
        if update:
            check_known(type(self).__name__, dict(update), type(self).model_fields)
            self._with(update)
        return super().model_copy(update=update, deep=deep)

    @property
    def _options(self) -> PruneOptions:
        """The options as the fields hold them now."""
        return self._with({})

    def _with(self, changes: Mapping[str, Any]) -> PruneOptions:
        """Validate the current option values with ``changes`` applied (raises RagpruneError)."""
        return build_options({**{name: getattr(self, name) for name in OPTION_DEFAULTS}, **changes})
