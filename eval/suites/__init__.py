"""Benchmark suites: each module has ``add_arguments(parser)`` and ``run(args) -> dict``.

Suites import heavy libraries inside ``run`` so that ``python -m eval --help`` stays fast.
"""
from __future__ import annotations

from eval.suites import context
from eval.suites import data
from eval.suites import html
from eval.suites import load
from eval.suites import scale
from eval.suites import scale_ray
from eval.suites import weights

SUITES: dict = {
    "context": context,
    "data": data,
    "html": html,
    "load": load,
    "scale": scale,
    "scale-ray": scale_ray,
    "weights": weights,
}
