"""Order-preserving parallel maps for per-template work (loading, rendering).

Both cores pay off only when there is enough work to amortise the worker start-up;
small inputs run in-process. Results come back in input order, so output stays
byte-identical whatever the scheduling. ``DOCGEN_JOBS`` sets the number of workers
(``1``: everything in-process).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from docgen import model

T = TypeVar("T")
R = TypeVar("R")

MIN_ITEMS_FOR_POOL = 64
#: Rendering a stack costs far more than loading one, so fewer stacks pay for a pool.
MIN_STACKS_FOR_POOL = 16

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
    """``[fn(item) for item in items]``, in worker processes when there are many.

    The cyclic garbage collector is paused while results arrive: unpickling loaded
    templates makes tens of thousands of containers per template, none in a cycle,
    which the collector would otherwise rescan over and over (about half of the
    unpickling time). Workers forked meanwhile inherit the pause; they live only as
    long as this call."""
    from docgen.gcpause import gc_paused

    with gc_paused():
        return list(imap_ordered(fn, items))


def imap_ordered(fn: Callable[[T], R], items: Sequence[T],
                 chunks_per_worker: int = 4) -> Iterator[R]:
    """``fn`` over ``items``, results yielded in input order as they arrive (a caller
    can draw progress). ``chunks_per_worker``: more, smaller chunks balance uneven
    items better, at one round trip each (worth it when results are small)."""
    n = workers()
    ctx = _fork_context() if n > 1 and len(items) >= MIN_ITEMS_FOR_POOL else None
    if ctx is None:
        yield from (fn(item) for item in items)
        return
    from concurrent.futures import ProcessPoolExecutor

    chunk = max(1, len(items) // (n * chunks_per_worker))
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        yield from pool.map(fn, items, chunksize=chunk)


# --- rendering stacks in forked workers ------------------------------------------------

_SHARED: dict[str, Any] = {}


#: Called as ``done(stack index, pages)`` in whichever process rendered the stack; what
#: it returns (a receipt) travels back, instead of the pages' text when it is not None.
Done = Callable[[int, dict[str, str]], Any]
Rendered = tuple[dict[str, str], Any]  # a stack's pages and done's receipt


def _new_facts(memo: dict[Any, Any], since: int) -> dict[Any, Any]:
    """The stack facts added to ``memo`` after it had ``since`` entries (a dict keeps
    insertion order: the newest entries are at its end)."""
    from itertools import islice

    from docgen.pages import FACT

    new = list(islice(reversed(memo.items()), len(memo) - since))
    return {k: v for k, v in reversed(new) if isinstance(k, tuple) and k and k[0] == FACT}


def _render_with_facts(handbook: model.Handbook, index: int, env: Any,
                       memo: dict[Any, Any], done: Done | None) -> Rendered:
    """One stack's pages, plus (into ``memo``) the facts the handbook pages read of it."""
    from docgen.render import render_stack, stack_facts

    pages = render_stack(handbook, index, env, memo)
    stack_facts(handbook, index, memo)
    return pages, (done(index, pages) if done is not None else None)


#: A stack's facts as sent by a worker: pickled once there (the parent reads them for
#: the handbook pages and the cache stores these very bytes), and their keys.
FactsBlobs = dict[str, bytes]


def _render_one(index: int) -> tuple[Rendered, FactsBlobs]:
    """In a worker. When ``done`` delivered the pages (its receipt is not None: it wrote
    them), their text stays here: 26 MB for the corpus, pickled, sent and decoded for
    nothing. The new facts go back pickled per stack id (see :data:`FactsBlobs`)."""
    memo = _SHARED["memo"]
    since = len(memo)
    pages, receipt = _render_with_facts(_SHARED["handbook"], index, _SHARED["env"], memo,
                                        _SHARED["done"])
    return ((pages if receipt is None else {}), receipt), facts_blobs(memo, since)


def facts_blobs(memo: dict[Any, Any], since: int) -> FactsBlobs:
    """The stack facts added to ``memo`` after it had ``since`` entries, pickled per
    stack id (as a worker sends them)."""
    import pickle

    by_stack: dict[str, dict[Any, Any]] = {}
    for key, value in _new_facts(memo, since).items():
        by_stack.setdefault(key[2] if len(key) == 3 else "", {})[key] = value
    return {sid: pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL)
            for sid, facts in by_stack.items()}


def render_stacks(handbook: model.Handbook, indices: Sequence[int], env: Any,
                  memo: dict[Any, Any], done: Done | None = None,
                  facts_blobs: dict[str, tuple[bytes, frozenset[Any]]] | None = None
                  ) -> list[Rendered]:
    """Pages of ``handbook.stacks[i]`` for each index, in order (each with the
    receipt ``done`` returned for it).

    With enough stacks, forked workers render them: they inherit the loaded handbook,
    the Jinja environment and the memo of analyses already computed (by the first
    stack, rendered here), and only the pages (their text, or just ``done``'s receipt
    when that wrote them) and the stacks' facts for the handbook pages
    (``render.stack_facts``, into ``memo``) travel back. Each page depends only on its
    inputs and results come back in input order, so the output is the serial output,
    byte for byte.
    ``done`` runs right after each stack in the process that rendered it (it writes the
    pages into the prestage folder: the writing is spread over the workers too).
    ``facts_blobs`` receives, per stack id, the pickled facts a worker sent and their
    keys (the cache stores those bytes instead of pickling the facts again).
    """
    def one(i: int) -> Rendered:
        return _render_with_facts(handbook, i, env, memo, done)

    n = min(workers(), max(1, len(indices) // MIN_STACKS_FOR_POOL))
    ctx = _fork_context() if n > 1 else None
    if ctx is None:
        return [one(i) for i in indices]
    import gc
    import pickle
    from concurrent.futures import ProcessPoolExecutor

    # The first stack renders here: it warms every lazy cache (compiled page templates,
    # knowledge base, shared analyses) once, and the workers inherit them.
    first = one(indices[0])
    _SHARED.update(handbook=handbook, env=env, memo=memo, done=done)
    # The collector would touch every inherited object (copy-on-write copies); frozen,
    # they stay out of its way (generate.build unfreezes when the build ends).
    gc.freeze()
    try:
        # Largest first, in small chunks: the run ends when the last worker does, so
        # the big templates must not come last (a longest-first schedule); results are
        # put back in input order.
        rest = sorted(indices[1:], key=lambda i: -len(handbook.stacks[i].template.resources))
        chunk = max(1, len(rest) // (n * 16))
        got: dict[int, Rendered] = {indices[0]: first}
        with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
            for i, (rendered, blobs) in zip(rest, pool.map(_render_one, rest, chunksize=chunk),
                                            strict=True):
                got[i] = rendered
                for sid, blob in blobs.items():
                    facts = pickle.loads(blob)
                    memo.update(facts)  # for the handbook pages, rendered next
                    if facts_blobs is not None:
                        facts_blobs[sid] = (blob, frozenset(facts))
        return [got[i] for i in indices]
    finally:
        _SHARED.clear()

