"""The one exception type datapruner raises on purpose."""
from __future__ import annotations


class DataprunerError(ValueError):
    """A problem the user can fix: a bad value, a missing column, an unknown key, an unreadable file.

    Subclasses ``ValueError`` so existing ``except ValueError`` code keeps working.
    """
