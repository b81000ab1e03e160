"""Process measurements shared by the benchmark suites."""
from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_gb() -> float:
    """Return this process's peak resident memory (``VmHWM``) in GB.

    ``ru_maxrss`` is only the fallback: Linux carries it over ``fork`` and ``execve``, so a child started by a
    parent that had touched a large memory map would report the parent's peak.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 ** 2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
