"""Benchmark suites: each module has ``add_arguments(parser)`` and ``run(args) -> dict``.

Suites import heavy libraries inside ``run`` so that ``python -m eval --help`` stays fast.
"""
from __future__ import annotations

from eval.suites import context
from eval.suites import scale

SUITES: dict = {
    "context": context,
    "scale": scale,
}
