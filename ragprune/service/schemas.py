"""Request and response schemas of the ``ragprune serve`` HTTP API (pydantic, validated before any model call).

``/prune`` takes one object of the ``ragprune prune`` input-line shape, ``{"question": str,
"contexts": [str, ...]}`` plus options, and answers with the output-line shape: every input field, plus
``"pruned"`` (one string per context, ``""`` for a dropped one) and ``"rerank"`` (one float per context,
``null`` on a fail-open fallback). A fallback adds ``"fallback": "<reason>"``; a ``"fallback"`` field sent in
is never echoed.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ragprune._io import check_fields
from ragprune.errors import RagpruneError

__all__ = ["MAX_DEPTH", "ErrorResponse", "HealthResponse", "PruneRequest", "RerankRequest"]

MAX_DEPTH = 64  # how deeply a request's extra fields may nest (they are echoed back)


class _Request(BaseModel):
    # Unknown fields are kept and echoed back (the output line keeps every input field).
    model_config = ConfigDict(extra="allow", strict=True)

    question: str = Field(description="the question the contexts should answer (non-empty)")
    contexts: list[str] = Field(description="the retrieved passages, in retrieval order")

    @model_validator(mode="before")
    @classmethod
    def _echoable(cls, data: Any) -> Any:
        """The answer echoes every field, so refuse what it could not encode (a 500 after the model ran)."""
        try:
            if isinstance(data, dict):  # anything else fails the schema without being echoed
                check_fields(data, max_depth=MAX_DEPTH)  # pydantic cannot serialise past 255 levels
        except RagpruneError as err:
            raise PydanticCustomError("not_echoable", str(err)) from None
        return data

    @field_validator("question")
    @classmethod
    def _question_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("question must be a non-empty string")
        return value


class PruneRequest(_Request):
    """Body of ``POST /prune``: one ``ragprune prune`` input line plus options."""

    threshold: float | None = Field(default=None, ge=0.0, le=1.0,
                                    description="keep a sentence when its score >= threshold (default: the model's)")
    max_tokens: int | None = Field(default=None, ge=1,
                                   description="token budget for the pruned contexts of this question together")
    top_k: int | None = Field(default=None, ge=1, description="keep at most this many contexts (highest rerank)")
    min_kept: int = Field(default=1, ge=0, description="never return fewer non-empty contexts than this")


class RerankRequest(_Request):
    """Body of ``POST /rerank``: ``{"question": str, "contexts": [str, ...]}``."""


class ErrorResponse(BaseModel):
    """Every error answer: one line."""

    error: str


class HealthResponse(BaseModel):
    """Body of ``GET /health``."""

    status: Literal["ok", "degraded"]
    model: str
    requests: int
    batches: int
    max_batch_seen: int
    fallbacks: int
    queued: int
