"""Parse and render stacks in forked workers that keep what they parsed.

On a cold run every template must be parsed and every stack rendered. Parsing in the
parent (so that forked renderers inherit the templates) ran a quarter of the work on
one core; sending parsed templates from workers to the parent costs more than parsing
them (pickling nodes). So the templates stay where they are parsed: each worker (a
*crew* member, forked once) parses some of them, and later renders those stacks.

Phase 1, loading: the workers take the templates one at a time, largest first, from
one shared counter (whoever is free takes the next: sizes predict parse times badly,
JSON parses several times faster than YAML) and send back, in a few batches, per
template only what the parent needs of it: the load outcome (valid, diagnostics, the
surface digest of the cache keys), its resource count (to schedule rendering) and its
*surface part* (``docgen.analyse.surface``: what other stacks' pages read of it:
exports, imports, ...).

Phase 2, rendering: the parent computes the keys, decides which stacks to render,
hands the parts of every stack to each worker, then tasks in small batches (two in
flight per worker, so that none waits). First each stack's *facts* (what the handbook pages
read of it; they are most of a stack's analyses, which its pages then reuse), then the
stacks' pages; as soon as every stack's facts are in, the handbook pages are one more
task, for the next free worker (sent the facts the others computed), rendered while
the other worker renders stack pages instead of after everything. A worker gets the
stacks it parsed first (and the pages of those whose facts it computed), largest
first; when they run out, the smallest left of another worker (it parses that
template again: cheaper than idling). Pages are written by the worker (``done``);
their names and file stats, and the facts pickled, come back. The parent never reads
the facts: the cache stores them as sent.

A worker's error (a page template error, say) reaches the parent as the exception it
raised, after every task was attempted, so the one raised is the one a single process
raises first.
"""

from __future__ import annotations

import os
import pickle
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from docgen.diagnostics import Diagnostic, DocgenError
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


#: Phase-1 results travel in batches of this many templates (a message per template
#: woke the parent, which shares the two cores with the workers, 600 times).
BATCH = 64

#: Sent instead of the next message: the worker ends.
_STOP = pickle.dumps(None)

#: Phase-2 tasks: a stack's facts, a stack's pages, the handbook pages.
FACTS, PAGES, HANDBOOK = "facts", "pages", "handbook"


# --- in the worker -------------------------------------------------------------------

def _part(project: ProjectConfig, config: StackConfig, template: Template) -> Any:
    from docgen.analyse.surface import stack_surface

    stack = Stack(config, template)
    return stack_surface(Handbook(project, (stack,)), stack)


def _serve(conn: Any, order: Sequence[int], taken: Any, parse: Parse,
           project: ProjectConfig, configs: Sequence[StackConfig], make: MakeHandbook,
           env: Any, memo: dict[Any, Any], done: Done | None) -> None:
    """A worker: phase 1, then (unless the parent stops it there) phase 2."""
    templates = _load(conn, order, taken, parse, project, configs)
    msg = conn.recv_bytes()
    if msg == _STOP:
        return
    from docgen.analyse.surface import SURFACES

    valid, parts, kept = pickle.loads(msg)
    handbook = make(templates, valid)
    handbook.seed(SURFACES, parts)
    memo.update(kept)
    _render(conn, handbook, env, memo, done)


def _load(conn: Any, order: Sequence[int], taken: Any, parse: Parse,
          project: ProjectConfig, configs: Sequence[StackConfig]) -> dict[int, Template]:
    """Phase 1: parse the next template nobody took yet until none is left; send what
    the parent needs of each (in batches); keep the templates."""
    import gc

    from docgen.cache import surface
    from docgen.gcpause import gc_paused

    templates: dict[int, Template] = {}
    batch: list[tuple[int, Loaded]] = []
    with gc_paused():  # parsing makes many containers and no cycles
        while True:
            with taken.get_lock():
                k = taken.value
                taken.value = k + 1
            if k >= len(order):
                break
            i = order[k]
            tpl, diags = parse(i)
            if tpl is None:
                batch.append((i, Loaded(False, tuple(diags), "", None, 0)))
            else:
                templates[i] = tpl
                batch.append((i, Loaded(True, tuple(diags), surface(tpl),
                                        _part(project, configs[i], tpl), len(tpl.resources))))
            if len(batch) >= BATCH:
                conn.send(batch)
                batch = []
    conn.send(batch)  # shorter than BATCH (maybe empty): the last
    gc.freeze()  # they live as long as this worker: no collection should rescan them
    return templates


def _render(conn: Any, handbook: Handbook, env: Any, memo: dict[Any, Any],
            done: Done | None) -> None:
    """Phase 2: run the tasks the parent sends until it sends None."""
    from docgen.parallel import facts_blobs

    while (task := pickle.loads(conn.recv_bytes())) is not None:
        kind, batch, extra = task
        if kind == HANDBOOK:  # the facts of the stacks other workers had
            for blob in extra:
                memo.update(pickle.loads(blob))
        results: list[tuple[int, Rendered | Failed]] = []
        for n in batch:
            since = len(memo)
            try:
                pages, receipt = _run(kind, handbook, n, env, memo, done)
                blobs = facts_blobs(memo, since)
            except Exception as exc:  # reported; the parent raises it
                results.append((n, Failed(_picklable(exc))))
                continue
            results.append((n, Rendered(pages if receipt is None else {}, receipt, blobs)))
        conn.send((kind, results))


def _run(kind: str, handbook: Handbook, n: int, env: Any, memo: dict[Any, Any],
         done: Done | None) -> tuple[dict[str, str], Any]:
    """One task: a stack's facts (what the handbook pages read of it), its pages, or
    the handbook pages; (pages, receipt of ``done``)."""
    from docgen.render import render_handbook_pages, render_stack, stack_facts

    if kind == FACTS:
        stack_facts(handbook, n, memo)
        return {}, None
    pages = render_stack(handbook, n, env, memo) if kind == PAGES else \
        render_handbook_pages(handbook, env, memo)
    return pages, (done(n, pages) if done is not None else None)


def _main(conn: Any, inherited: Sequence[Any], *args: Any) -> None:
    """A worker's life; it ends with ``os._exit`` (nothing of the inherited state needs
    tearing down, and no parent's exit handler must run twice). ``inherited``: the
    parent's ends of the pipes, which fork copied here: closed, so that when the parent
    dies (killed, out of memory) the worker reads the end of its pipe and ends too."""
    code = 0
    for other in inherited:
        other.close()
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


def _sender(conn: Any, outbox: queue.SimpleQueue[bytes | None]) -> None:
    """A worker's outbox, written in order until None. A worker that is gone (the run
    failed and ended it) makes the rest fail quietly: the run's own error is what the
    user reads, not this thread's."""
    while (payload := outbox.get()) is not None:
        try:
            conn.send_bytes(payload)
        except Exception:  # a closed or broken pipe: nothing more to send
            while outbox.get() is not None:
                pass
            return


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # any failure: send the text instead
        if isinstance(exc, DocgenError):
            return DocgenError(str(exc), exc.diagnostics)
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


# --- in the parent ---------------------------------------------------------------------

class WorkerError(DocgenError):
    """A worker ended without a word (killed, out of memory): the run stops cleanly."""


class Crew:
    """Forked workers that load, then render, the stacks they hold (see module doc).

    Use as a context manager: leaving it stops the workers (on errors and Ctrl-C too).
    Everything the parent sends a worker goes through that worker's *outbox*, written
    by one thread: the loop that reads the workers' results never waits on a full pipe
    (a worker that is itself waiting to send its results would never empty it), and
    one pipe never has two writers.
    """

    def __init__(self, n: int, ctx: Any, sizes: Mapping[int, int], parse: Parse,
                 project: ProjectConfig, configs: Sequence[StackConfig],
                 make: MakeHandbook, env: Any, memo: dict[Any, Any],
                 done: Done | None) -> None:
        order = sorted(sizes, key=lambda i: (-sizes[i], i))  # largest first
        taken = ctx.Value("i", 0)  # how many of ``order`` were taken (shared memory)
        self.total = len(order)
        self.procs: list[Any] = []
        self.conns: list[Any] = []
        self.outboxes: list[queue.SimpleQueue[bytes | None]] = []
        self.senders: list[threading.Thread] = []
        try:
            for _ in range(n):
                ours, theirs = ctx.Pipe()
                proc = ctx.Process(target=_main, args=(
                    theirs, [*self.conns, ours], order, taken, parse, project, configs, make,
                    env, memo, done), daemon=True)
                proc.start()
                theirs.close()
                self.procs.append(proc)
                self.conns.append(ours)
            for conn in self.conns:  # threads only now: a fork copies no thread's lock
                outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
                sender = threading.Thread(target=_sender, args=(conn, outbox), daemon=True)
                sender.start()
                self.outboxes.append(outbox)
                self.senders.append(sender)
        except BaseException:
            self.close(now=True)
            raise
        #: config index -> the worker that parsed it (holds its template)
        self.owner: dict[int, int] = {}

    def __enter__(self) -> Crew:
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        self.close(now=kind is not None)

    def send(self, w: int, message: Any) -> None:
        """Queue ``message`` for worker ``w`` (its sender thread writes it)."""
        self.outboxes[w].put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def close(self, now: bool = False) -> None:
        """Stop the workers: they finish what they do and end, or at once (``now``:
        after an error or Ctrl-C, nothing they would send is wanted). The workers end
        before their pipes close: a sender thread still writing then fails quietly."""
        for outbox in self.outboxes:
            if not now:
                outbox.put(_STOP)
            outbox.put(None)  # the sender thread ends after that
        for proc in self.procs:
            if now:
                proc.kill()
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        for sender in self.senders:
            sender.join()
        for conn in self.conns:
            conn.close()
        self.conns, self.procs, self.outboxes, self.senders = [], [], [], []

    def _receive(self) -> Iterator[tuple[int, Any]]:
        """Messages as they arrive, as (worker, message); a worker's error is raised."""
        from multiprocessing.connection import wait

        ready = wait(self.conns)
        for conn in ready:
            w = self.conns.index(conn)
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                self.procs[w].join(timeout=1)
                raise WorkerError(
                    f"docgen worker {w + 1} ended unexpectedly (exit code "
                    f"{self.procs[w].exitcode}; killed, or out of memory?)") from None
            if isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "error":
                raise msg[1]
            yield w, msg

    def load(self, progress: Callable[[int, int], None] | None = None
             ) -> dict[int, Loaded]:
        """Phase 1: every template's :class:`Loaded`, by config index."""
        got: dict[int, Loaded] = {}
        done = [False] * len(self.conns)
        while not all(done):
            for w, batch in self._receive():
                if len(batch) < BATCH:  # a worker's last batch
                    done[w] = True
                for i, loaded in batch:
                    got[i] = loaded
                    self.owner[i] = w
                if progress is not None:
                    progress(len(got), self.total)
        return got

    def render(self, valid: Sequence[int], order: Sequence[int], parts: tuple[Any, ...],
               kept: dict[Any, Any], resources: Mapping[int, int], handbook_pages: bool
               ) -> tuple[dict[int, Rendered], list[tuple[str, bytes]], Rendered | None]:
        """Phase 2: render the handbook stacks at positions ``order`` (the handbook
        holds the templates of config indices ``valid``), and the handbook pages when
        ``handbook_pages``. ``parts``: every handbook stack's surface part; ``kept``:
        facts the workers' memo should hold (from the cache); ``resources``: resource
        count by config index. Returns each stack's pages by position, every fact
        computed (stack id, pickled facts) and the handbook pages.

        First every stack's facts (what the handbook pages read of it), then the stacks'
        pages: once all facts are in, the handbook pages are one more task, rendered by
        the next free worker (with the facts the others computed) while the rest render
        stack pages, not after them. Each worker first gets the stacks it parsed (and
        the pages of those it computed the facts of), largest first; then the smallest
        left of another. Errors are raised once every task was attempted: the one a
        single process would have raised first (stacks in ``order``, each its pages then
        its facts; the handbook pages last)."""
        rank = {n: (-resources.get(valid[n], 0), n) for n in order}
        facts_q: list[deque[int]] = [deque() for _ in self.conns]
        for n in sorted(order, key=rank.__getitem__):
            facts_q[self.owner.get(valid[n], 0)].append(n)
        pages_q: list[deque[int]] = [deque() for _ in self.conns]
        for w in range(len(self.conns)):
            self.send(w, (list(valid), parts, kept))
        blobs: list[tuple[int, str, bytes]] = []  # (worker, stack id, pickled facts)
        got: dict[int, Rendered] = {}
        errors: dict[tuple[str, int], BaseException] = {}
        inflight = [0] * len(self.conns)
        state = {"facts": 0, "handbook": handbook_pages}

        def take(queues: list[deque[int]], w: int) -> list[int]:
            """Its own, largest first, a few at a time (fewer as they run out: a message
            per stack cost the parent, which shares the cores, ~0.1 s of CPU); else the
            smallest left of another."""
            own = queues[w]
            if own:
                return [own.popleft() for _ in range(max(1, min(16, len(own) // 8)))]
            other = max(queues, key=len)
            return [other.pop()] if other else []

        def give(w: int) -> bool:
            task: tuple[str, list[int], Any]
            if state["handbook"] and state["facts"] == len(order) and not errors:
                state["handbook"] = False
                task = (HANDBOOK, [-1], [b for src, _, b in blobs if src != w])
            elif batch := take(facts_q, w):
                task = (FACTS, batch, None)
            elif batch := take(pages_q, w):
                task = (PAGES, batch, None)
            else:
                return False
            self.send(w, task)
            inflight[w] += 1
            return True

        def fill() -> None:
            """Two tasks in flight per worker (it never waits for its next one), as long
            as there are tasks (new ones appear as facts come in)."""
            for w in range(len(self.conns)):
                while inflight[w] < 2 and give(w):
                    pass

        fill()
        hb: Rendered | None = None
        while any(inflight):
            for w, (kind, results) in self._receive():
                inflight[w] -= 1
                for n, result in results:
                    if isinstance(result, Failed):
                        errors[(kind, n)] = result.error
                    else:
                        blobs.extend((w, sid, b) for sid, b in result.blobs.items())
                        if kind == PAGES:
                            got[n] = result
                        elif kind == HANDBOOK:
                            hb = result
                    if kind == FACTS:
                        state["facts"] += 1
                        pages_q[w].append(n)  # its analyses are in that worker's memo
            fill()
        for key in [k for n in order for k in ((PAGES, n), (FACTS, n))] + [(HANDBOOK, -1)]:
            if key in errors:
                raise errors[key]
        return got, [(sid, b) for _, sid, b in blobs], hb
