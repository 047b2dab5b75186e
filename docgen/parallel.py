"""Order-preserving parallel maps for per-template work (loading, rendering).

Both cores pay off only when there is enough work to amortise the worker start-up;
small inputs run in-process. Results come back in input order, so output stays
byte-identical whatever the scheduling. ``DOCGEN_JOBS`` sets the number of workers
(``1``: everything in-process).
"""

from __future__ import annotations

import copyreg
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from docgen import model

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS_FOR_POOL = 64
#: Rendering a stack costs far more than loading one, so fewer stacks pay for a pool.
MIN_STACKS_FOR_POOL = 16

# Loaded templates travel back from worker processes by pickle; the "no default"
# marker must come back as the very same object (code tests it with ``is``).
copyreg.pickle(type(model.NO_DEFAULT), lambda _obj: "NO_DEFAULT")


def workers() -> int:
    env = os.environ.get("DOCGEN_JOBS")
    if env and env.isdigit():
        return max(1, int(env))
    return os.cpu_count() or 1


def _fork_context() -> Any:
    """Fork (workers inherit the loaded handbook for free) where it is safe: POSIX, and
    no other threads (``mkdocs serve`` runs a server thread; forking then could copy a
    held lock)."""
    import multiprocessing

    if threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    return multiprocessing.get_context("fork")


def map_ordered(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    n = workers()
    ctx = _fork_context() if n > 1 and len(items) >= MIN_ITEMS_FOR_POOL else None
    if ctx is None:
        return [fn(item) for item in items]
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, len(items) // (n * 4))
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        return list(pool.map(fn, items, chunksize=chunk))


# --- rendering stacks in forked workers ------------------------------------------------

_SHARED: dict[str, Any] = {}


def _render_one(index: int) -> dict[str, str]:
    from docgen.render import render_stack

    return render_stack(_SHARED["handbook"], index, _SHARED["env"], _SHARED["memo"])


def render_stacks(handbook: model.Handbook, indices: Sequence[int], env: Any,
                  memo: dict[Any, Any]) -> list[dict[str, str]]:
    """Pages of ``handbook.stacks[i]`` for each index, in order.

    With enough stacks, forked workers render them: they inherit the loaded handbook,
    the Jinja environment and the memo of analyses already computed (by the handbook
    pages), and only page text travels back. Each page depends only on its inputs and
    pages come back in input order, so the output is the serial output, byte for byte.
    """
    from docgen.render import render_stack

    n = min(workers(), max(1, len(indices) // MIN_STACKS_FOR_POOL))
    ctx = _fork_context() if n > 1 else None
    if ctx is None:
        return [render_stack(handbook, i, env, memo) for i in indices]
    import gc
    from concurrent.futures import ProcessPoolExecutor

    # The first stack renders here: it warms every lazy cache (compiled page templates,
    # knowledge base, shared analyses) once, and the workers inherit them.
    first = render_stack(handbook, indices[0], env, memo)
    _SHARED.update(handbook=handbook, env=env, memo=memo)
    gc.freeze()  # the collector would touch every inherited object: copy-on-write copies
    try:
        rest = indices[1:]
        chunk = max(1, len(rest) // (n * 8))
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
            return [first, *pool.map(_render_one, rest, chunksize=chunk)]
    finally:
        gc.unfreeze()
        _SHARED.clear()

