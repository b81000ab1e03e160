"""The one exception type ragprune raises on purpose."""
from __future__ import annotations


class RagpruneError(ValueError):
    """A problem the user can fix: bad input, an invalid option, a missing extra or model file."""
