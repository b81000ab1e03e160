"""Scoped thread counts for torch and faiss: set for a block, then put back what was there before.

Small models and small k-means problems run faster on one thread (thread hand-offs and OpenMP barrier
spin-waits cost more than a second core gains, much more on a busy machine), so several places narrow the
count for one step; these context managers are the one way they do it.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

__all__ = ["torch_threads", "faiss_threads"]


@contextlib.contextmanager
def _scoped(get: Callable[[], int], set_: Callable[[int], None], n: int | None) -> Iterator[None]:
    previous = get()
    if n is not None:
        set_(n)
    try:
        yield
    finally:
        set_(previous)


def torch_threads(n: int | None) -> contextlib.AbstractContextManager[None]:
    """Run the block with ``n`` torch intra-op threads (``None``: leave the count), then restore the previous one."""
    import torch

    return _scoped(torch.get_num_threads, torch.set_num_threads, n)


def faiss_threads(n: int | None) -> contextlib.AbstractContextManager[None]:
    """Run the block with ``n`` faiss OpenMP threads (``None``: leave the count), then restore the previous one."""
    import faiss

    return _scoped(faiss.omp_get_max_threads, faiss.omp_set_num_threads, n)
