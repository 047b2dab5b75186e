"""Parse and render stacks in forked workers that keep what they parsed.

On a cold run every template must be parsed and every stack rendered. Parsing in the
parent (so that forked renderers inherit the templates) ran a quarter of the work on
one core; sending parsed templates from workers to the parent costs more than parsing
them (pickling nodes). So the templates stay where they are parsed: each worker (a
*crew* member, forked once) parses a share of them, and later renders those stacks.

Phase 1, loading: a worker parses its share (balanced by size, largest first) and
sends back, per template, only what the parent needs of it: the load outcome (valid,
diagnostics, the surface digest of the cache keys), its resource count (to schedule
rendering) and its *surface part* (``docgen.analyse.surface``: what other stacks'
pages read of it: exports, imports, ...). Phase 2, rendering: the parent computes the
keys, decides which stacks to render, and hands the parts of every stack to each
worker, then stacks one at a time (two in flight, so a worker never waits): first the
ones it parsed, largest first; when they run out, the smallest one left of another
worker (it parses that template again: cheaper than idling). Pages and facts come back
as from :func:`docgen.parallel.render_stacks`; results are put back in input order.

A worker's error (a page template error, say) reaches the parent as the exception it
raised, after every stack was attempted, so the one raised is the first in input order,
as in one process.
"""

from __future__ import annotations

import os
import pickle
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docgen.diagnostics import Diagnostic
from docgen.model import Handbook, ProjectConfig, Stack, StackConfig, Template

#: parse(config index) -> (template or None, diagnostics)
Parse = Callable[[int], tuple[Any, list[Diagnostic]]]
#: Makes the handbook of phase 2 from the templates a process holds (config index ->
#: template; the others parse on first use) and the config indices of the valid
#: templates: the same handbook in the parent and the workers.
MakeHandbook = Callable[[Mapping[int, Template], Sequence[int]], Handbook]
#: As in docgen.parallel: called after each stack where it was rendered, returns a receipt.
Done = Callable[[int, dict[str, str]], Any]


@dataclass(frozen=True, slots=True)
class Loaded:
    """What the parent learns of one parsed template."""

    valid: bool
    diagnostics: tuple[Diagnostic, ...]
    surface: str  # docgen.cache.surface digest ("" when invalid)
    part: Any  # docgen.analyse.surface.StackSurface, None when invalid
    resources: int


@dataclass(frozen=True, slots=True)
class Rendered:
    """One stack's result: pages (empty when ``receipt`` says the worker wrote them),
    the receipt, and its new facts pickled per stack id (see docgen.parallel)."""

    pages: dict[str, str]
    receipt: Any
    blobs: dict[str, bytes]


@dataclass(frozen=True, slots=True)
class Failed:
    """A stack whose rendering raised ``error``."""

    error: BaseException


def shares(sizes: Mapping[int, int], n: int) -> list[list[int]]:
    """Split indices over ``n`` workers, balanced by size (largest first to the least
    loaded: the longest-processing-time rule); each share largest first."""
    loads = [0] * n
    out: list[list[int]] = [[] for _ in range(n)]
    for i in sorted(sizes, key=lambda i: (-sizes[i], i)):
        w = loads.index(min(loads))
        out[w].append(i)
        loads[w] += sizes[i] + 1
    return out


#: Sent instead of the next message: the worker ends.
_STOP = pickle.dumps(None)


# --- in the worker -------------------------------------------------------------------

def _part(project: ProjectConfig, config: StackConfig, template: Template) -> Any:
    from docgen.analyse.surface import stack_surface

    stack = Stack(config, template)
    return stack_surface(Handbook(project, (stack,)), stack)


def _serve(conn: Any, share: Sequence[int], parse: Parse, project: ProjectConfig,
           configs: Sequence[StackConfig], make: MakeHandbook, env: Any,
           memo: dict[Any, Any], done: Done | None) -> None:
    import gc

    from docgen.cache import surface
    from docgen.gcpause import gc_paused
    from docgen.parallel import _new_facts, _render_with_facts

    templates: dict[int, Template] = {}
    with gc_paused():  # parsing makes many containers and no cycles
        for i in share:
            tpl, diags = parse(i)
            if tpl is None:
                conn.send((i, Loaded(False, tuple(diags), "", None, 0)))
                continue
            templates[i] = tpl
            conn.send((i, Loaded(True, tuple(diags), surface(tpl),
                                 _part(project, configs[i], tpl), len(tpl.resources))))
    gc.freeze()  # they live as long as this worker: no collection should rescan them
    msg = conn.recv_bytes()
    if msg == _STOP:
        return
    from docgen.analyse.surface import SURFACES


    valid, parts, kept = pickle.loads(msg)
    handbook = make(templates, valid)
    handbook.seed(SURFACES, parts)
    memo.update(kept)
    while (n := pickle.loads(conn.recv_bytes())) is not None:
        since = len(memo)
        try:
            pages, receipt = _render_with_facts(handbook, n, env, memo, done)
        except Exception as exc:  # reported; the parent raises it
            conn.send((n, Failed(_picklable(exc))))
            continue
        by_stack: dict[str, dict[Any, Any]] = {}
        for key, value in _new_facts(memo, since).items():
            by_stack.setdefault(key[2] if len(key) == 3 else "", {})[key] = value
        blobs = {sid: pickle.dumps(facts, protocol=pickle.HIGHEST_PROTOCOL)
                 for sid, facts in by_stack.items()}
        conn.send((n, Rendered(pages if receipt is None else {}, receipt, blobs)))


def _main(conn: Any, *args: Any) -> None:
    """A worker's life; it ends with ``os._exit`` (nothing of the inherited state needs
    tearing down, and no parent's exit handler must run twice)."""
    code = 0
    try:
        _serve(conn, *args)
    except KeyboardInterrupt:
        code = 1
    except BaseException as exc:  # every error goes to the parent
        code = 1
        try:
            conn.send(("error", _picklable(exc)))
        except BaseException:  # the parent is gone: nothing to tell
            pass
    finally:
        os._exit(code)


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # any failure: send the text instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


# --- in the parent ---------------------------------------------------------------------

class WorkerError(Exception):
    """Wraps an exception raised in a worker (``.error``), raised again by the parent."""


class Crew:
    """Forked workers that load, then render, the stacks they hold (see module doc).

    Use as a context manager: leaving it stops the workers (on errors and Ctrl-C too).
    """

    def __init__(self, n: int, ctx: Any, sizes: Mapping[int, int], parse: Parse,
                 project: ProjectConfig, configs: Sequence[StackConfig],
                 make: MakeHandbook, env: Any, memo: dict[Any, Any],
                 done: Done | None) -> None:
        self.shares = shares(sizes, n)
        self.total = len(sizes)
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        for share in self.shares:
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=_main, args=(theirs, share, parse, project, configs,
                                                   make, env, memo, done), daemon=True)
            proc.start()
            theirs.close()
            self.procs.append(proc)
            self.conns.append(ours)
        self.owner = {i: w for w, share in enumerate(self.shares) for i in share}

    def __enter__(self) -> Crew:
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        self.close(now=kind is not None)

    def close(self, now: bool = False) -> None:
        """Stop the workers: they finish what they do and end, or at once (``now``:
        after an error or Ctrl-C, nothing they would send is wanted)."""
        for conn in self.conns:
            if not now:
                try:
                    conn.send_bytes(_STOP)
                except (OSError, ValueError):
                    pass
            conn.close()
        for proc in self.procs:
            if now:
                proc.kill()
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self.conns = []
        self.procs = []

    def _receive(self) -> Iterator[tuple[int, Any]]:
        """Messages as they arrive, as (worker, message); a worker's error is raised."""
        from multiprocessing.connection import wait

        ready = wait(self.conns)
        for conn in ready:
            w = self.conns.index(conn)
            try:
                msg = conn.recv()
            except EOFError:
                raise WorkerError(f"docgen worker {w} ended unexpectedly") from None
            if isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "error":
                raise msg[1]
            yield w, msg

    def load(self, progress: Callable[[int, int], None] | None = None
             ) -> dict[int, Loaded]:
        """Phase 1: every template's :class:`Loaded`, by config index."""
        got: dict[int, Loaded] = {}
        while len(got) < self.total:
            for _, (i, loaded) in self._receive():
                got[i] = loaded
                if progress is not None:
                    progress(len(got), self.total)
        return got

    def render(self, valid: Sequence[int], order: Sequence[int], parts: tuple[Any, ...],
               kept: dict[Any, Any], resources: Mapping[int, int]) -> dict[int, Rendered]:
        """Phase 2: render the handbook stacks at positions ``order`` (the handbook
        holds the templates of config indices ``valid``); results by position.
        ``parts``: every handbook stack's surface part; ``kept``: facts the workers'
        memo should hold (from the cache); ``resources``: resource count by config index.

        Each worker first gets the stacks it parsed, largest first; then the smallest
        left of the others. Errors are raised once every stack was attempted: the one of
        the first stack in ``order``, as one process would have raised it."""
        queues: list[deque[int]] = [deque() for _ in self.conns]
        for n in sorted(order, key=lambda n: (-resources.get(valid[n], 0), n)):
            queues[self.owner.get(valid[n], 0)].append(n)
        message = pickle.dumps((list(valid), parts, kept), protocol=pickle.HIGHEST_PROTOCOL)
        for conn in self.conns:
            conn.send_bytes(message)
        pending = 0

        def give(w: int) -> None:
            nonlocal pending
            queue = queues[w] if queues[w] else max(queues, key=len)
            if queue:
                n = queue.popleft() if queue is queues[w] else queue.pop()
                self.conns[w].send(n)
                pending += 1

        for _ in range(2):  # two in flight each: a worker never waits for its next stack
            for w in range(len(self.conns)):
                give(w)
        got: dict[int, Rendered] = {}
        errors: dict[int, BaseException] = {}
        while pending:
            for w, (n, result) in self._receive():
                pending -= 1
                if isinstance(result, Failed):
                    errors[n] = result.error
                else:
                    got[n] = result
                give(w)
        if errors:
            raise errors[min(errors, key=list(order).index)]
        return got
