"""Order-preserving parallel map for per-template work.

Both cores pay off only when there is enough work to amortise the worker start-up;
small inputs run in-process. Results come back in input order, so output stays
byte-identical whatever the scheduling.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS_FOR_POOL = 64


def workers() -> int:
    env = os.environ.get("DOCGEN_JOBS")
    if env and env.isdigit():
        return max(1, int(env))
    return os.cpu_count() or 1


def map_ordered(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    n = workers()
    if n <= 1 or len(items) < MIN_ITEMS_FOR_POOL:
        return [fn(item) for item in items]
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, len(items) // (n * 4))
    with ProcessPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, items, chunksize=chunk))
