"""The option fields both framework adapters declare: LangChain and LlamaIndex components are pydantic models.

Imported only by an adapter whose framework is installed (pydantic comes with it).
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, PrivateAttr

from ragprune.integrations._common import OPTION_DEFAULTS, build_options, check_known
from ragprune.middleware import PruneOptions


class PruneFields(BaseModel):
    """Mix-in for an adapter: the pruners and every middleware option as fields, validated into ``_options``
    (a :class:`ragprune.middleware.PruneOptions`) before pydantic sees them, so a bad value or an unknown
    keyword raises :class:`ragprune.RagpruneError` with the adapter's name."""

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
    _options: PruneOptions = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        check_known(type(self).__name__, kwargs, type(self).model_fields)
        options = build_options(kwargs)
        super().__init__(**kwargs)
        self._options = options
