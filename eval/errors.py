"""The one exception type the harness raises on purpose."""
from __future__ import annotations


class EvalError(ValueError):
    """A problem the user can fix: a missing data root or file, a bad option."""
