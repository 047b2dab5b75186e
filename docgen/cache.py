"""Content-hash cache: a run with nothing changed costs hashing, not parsing.

``docgen generate`` runs on every commit and on every keystroke under ``mkdocs serve``;
almost always only one template (or nothing) changed since the previous run. So every
page set (a stack's pages; the handbook-wide pages) gets a key made of the *content* of
everything it is rendered from, and a later run re-uses it when the key is the same.
Keys are made of content, not time stamps: a touched but identical file is a hit.
(A template's size, times and inode only tell whether it must be read again, as in
git's index: one that looks as when an earlier run read it keeps that run's digest.)

The pages themselves are not copied into the cache: ``runbooks/`` holds them. The
manifest of its last write (``tree.json``) records which key each page set was written
for and the size, modification time and inode of every file; a set whose key is
unchanged and whose files still look as written is linked into the new tree without
being read or rendered. A page edited or deleted by hand shows in its file's time or
absence, and its stack is rendered again. (Copies of 26 MB of pages for the corpus cost
a second write of every page; creating files is what costs most on a cold run.)

What a key covers (a change to any of these renders the affected pages again):

* **global** -- the docgen version and the bytes of the docgen package (code and the
  knowledge base under ``docgen/knowledge/``), the page templates (package and the
  user's ``paths.page_templates``), the user's ``paths.knowledge`` folder, the parsed
  ``docgen.yml`` minus the per-stack entries, and live outputs files (``cfn-outputs/``
  and every ``outputs_file``);
* **per stack** -- global + the stack's own ``docgen.yml`` entry + its template bytes +
  its notes folder + the *cross-stack digest*: for every stack its id, name, region,
  role and wiring and the *surface* of its template (Parameters, Outputs, Mappings,
  Conditions, imports, nested stacks -- what per-stack pages read of other stacks:
  exports and imports for "imported by", parameter defaults to resolve export names,
  parameter and output descriptions for the deployment order) + the full
  bytes of the stacks it is wired to in ``docgen.yml`` (pages follow a wiring into the
  other template's resources);
* **handbook-wide pages** -- global + every stack key + the invalid stacks + the
  top-level notes (they summarise all stacks).

So editing a resource in one template re-renders that stack and the handbook-wide
pages; editing an output (a surface change) re-renders every stack, because "imported
by" lists may change. Per-stack page code that reads another stack's *resources*
must reach it through a ``docgen.yml`` wiring, or its pages could be stale.

The handbook-wide pages summarise every stack, yet re-rendering them must not mean
parsing every template again. What they need of each stack is a *stack fact*
(``PageContext.stack_fact``: its security evidence, cost estimates, DR replications,
deploy commands, home-page row), kept by stack key in ``facts.pickle`` and read back
for the stacks whose key did not change; results that read only configs and surfaces
(``PageContext.surface_fact``: the deployment order, the imports of every stack) are
kept under the cross-stack digest. A fact obeys the same rule as a per-stack page: it
reads its own template, the templates it is wired to, and other stacks' surfaces.
Facts are pickles, so they are read only after their MAC checks (below).

The cache lives in ``<project root>/.docgen-cache/`` (outside ``runbooks/``,
gitignored). ``DOCGEN_CACHE=0`` disables it; it is also off when pages carry a
generation time or revision (``site.show_generated_at`` / ``site.show_revision``),
since those differ per run. (The test suite sets ``DOCGEN_CACHE=0`` by default
because tests monkeypatch code, which no content hash can see; cache tests turn it on.)
Cache files carry a MAC made with a per-user key (docgen's user cache folder,
``$DOCGEN_CACHE_DIR`` or ``~/.cache/docgen``): pages the manifest vouches for skip
rendering and escaping, so a ``.docgen-cache`` that arrives with a cloned repository is
ignored. Compiled Jinja page templates are kept per user as well (like ``.pyc``), and
so are the knowledge bases as loaded (pickled, with the MAC; keyed by docgen's package
and the project's knowledge folder): parsing and validating their YAML was a tenth of
a second before any stack could be rendered.
Everything written is exactly what a fresh render gives
(tests compare cached and uncached trees byte for byte); a cache that cannot be read
or written is ignored, never an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import os
import stat
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

from docgen.diagnostics import Diagnostic, DocgenError
from docgen.model import Handbook, ProjectConfig, Stack, StackConfig, Template
from docgen.pages import FACT, SURFACE

CACHE_DIR = ".docgen-cache"
FORMAT = 2  # bump when the layout of cache files changes
LARGE = 1_048_576  # CloudFormation's template size limit (docgen.loader.MAX_BYTES)
_SKIP_DIRS = {"__pycache__", ".git", ".mypy_cache", ".ruff_cache", ".pytest_cache"}


def _h(*parts: Any) -> str:
    """A stable digest of strings/bytes (others through ``repr``)."""
    digest = hashlib.blake2b(digest_size=20)
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_regular(path: str) -> bytes | None:
    """A regular file's bytes, if it is one of at most 1 MB; None otherwise.

    Opened non-blocking and checked before reading: a FIFO or device in a templates
    folder must not hang the run (the loader reports it). Files over the 1 MB template
    limit are not read (the loader refuses them)."""
    return read_regular_stat(path)[0]


def read_regular_stat(path: str) -> tuple[bytes | None, os.stat_result | None]:
    """:func:`read_regular` and the file's status when it was read."""
    try:
        with open(path, "rb", opener=_nonblocking) as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_size > LARGE:
                return None, None
            return fh.read(), info
    except OSError:
        return None, None


def _looks(info: os.stat_result) -> list[int]:
    """What changes when a file's content may have: size, times, inode, device."""
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev]


#: A file changed less than this before it was read is read again next time (a second
#: change within the same clock tick may leave its times as they were: "racy git"; FAT
#: file systems keep times to 2 s).
RACY_NS = 3_000_000_000


def template_bytes(paths: Sequence[str], store: Store
                   ) -> tuple[list[bytes | None], list[str | None], list[int]]:
    """Each template's bytes (None when not read), digest and size.

    A template that looks exactly as when an earlier run read it (:func:`_looks`) and
    had been unchanged for a second by then keeps that run's digest unread: like git's
    index, and content hashes all the same (a touched but identical file is read,
    hashed, and is a hit). Such a template is read when it must be parsed, and checked
    against that digest (``checked_bytes``). Runs with nothing or one template changed
    read 563 templates fewer for the corpus (~0.025 s)."""
    import time

    now = time.time_ns()
    blobs: list[bytes | None] = []
    digests: list[str | None] = []
    sizes: list[int] = []
    for path in paths:
        full = os.path.abspath(path)  # the key; the file is the one ``path`` names
        known = store.seen.get(full)
        if known is not None:
            try:
                info = os.stat(path)
            except OSError:
                info = None
            if info is not None and stat.S_ISREG(info.st_mode) \
                    and _looks(info) == known[:5] and info.st_ctime_ns < known[6] - RACY_NS:
                blobs.append(None)
                digests.append(known[5])
                sizes.append(info.st_size)
                continue
        data, info = read_regular_stat(path)
        digest = _digest(data) if data is not None else None
        blobs.append(data)
        digests.append(digest)
        sizes.append(len(data) if data is not None else 0)
        if store.folder and digest is not None and info is not None:
            store.seen[full] = [*_looks(info), digest, now]
            store.seen_dirty = True
    return blobs, digests, sizes


def checked_bytes(path: str, digest: str) -> bytes:
    """The bytes of a template known by its looks (:func:`template_bytes`), read now:
    they must be the bytes of that digest, or the keys of this run would not describe
    what it parses."""
    data = read_regular(path)
    if data is None or _digest(data) != digest:
        raise ChangedWhileRunning(f"{path}: changed while docgen was running; run it again")
    return data


class ChangedWhileRunning(DocgenError):
    """A template known by its looks had other bytes when it was read: the run stops,
    and forgets the looks it trusted (see :func:`build`)."""


def _unpickled(blob: bytes) -> Any:
    """``pickle.loads`` of bytes this user's docgen wrote (their MAC checked); None for
    a stale or corrupt pickle (a class since renamed, a truncated file)."""
    import pickle

    try:
        return pickle.loads(blob)
    except (ValueError, EOFError, AttributeError, ImportError, TypeError, IndexError,
            KeyError, pickle.UnpicklingError):
        return None


def _pickled(value: Any) -> bytes | None:
    """``value`` pickled; None when it cannot be."""
    import pickle

    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError):
        return None


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def file_digest(path: str, large: bool = False) -> str | None:
    """Digest of a regular file's bytes; None when it cannot be read (never cached then).
    With ``large``, files over the 1 MB template limit get a size and time stamp
    signature instead (user folders: notes, knowledge)."""
    data = read_regular(path)
    if data is not None:
        return _digest(data)
    if large:
        try:
            info = os.stat(path)
        except OSError:
            return None
        if stat.S_ISREG(info.st_mode) and info.st_size > LARGE:
            return f"large:{info.st_size}:{info.st_mtime_ns}"
    return None


def tree_digest(folder: str | None, *, top_level_only: bool = False) -> str:
    """Digest of every file under ``folder`` (relative names and bytes); '' if absent."""
    if not folder or not os.path.isdir(folder):
        return ""
    parts: list[Any] = []
    for base, dirs, files in os.walk(folder):
        dirs[:] = [] if top_level_only else sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            full = os.path.join(base, name)
            parts += [os.path.relpath(full, folder), file_digest(full, large=True) or "unreadable"]
    return _h(*parts)


def package_dirs() -> list[str]:
    """docgen's own code, knowledge base and page templates (what the version stands for).

    Hashing the bytes, not just ``__version__``, keeps a source checkout honest: an
    edited page function or knowledge file re-renders without a version bump.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    packaged = os.path.join(here, "templates")  # as docgen.render.templates_dir() (no Jinja)
    templates = packaged if os.path.isdir(packaged) else os.path.join(os.path.dirname(here),
                                                                      "templates")
    return list(dict.fromkeys([here, templates]))


def _project_repr(project: ProjectConfig) -> str:
    """The parsed docgen.yml minus the per-stack entries and the output folder."""
    return repr(dataclasses.replace(project, stacks=(), docs_dir=""))


def _outputs_files(project: ProjectConfig, configs: Sequence[StackConfig]) -> list[str]:
    files = [c.outputs_file for c in configs if c.outputs_file]
    for env in project.environments:
        files += list(env.outputs_files.values())
    return [f if os.path.isabs(f) else os.path.join(project.root, f) for f in files]


def _package_digest() -> str:
    """docgen's version and the bytes of its package folders (see :func:`package_dirs`)."""
    import docgen

    return _h(docgen.__version__, *(tree_digest(d) for d in package_dirs()))


def global_key(project: ProjectConfig, configs: Sequence[StackConfig],
               package: str | None = None) -> str:
    """``package``: :func:`_package_digest`, when the caller has it already."""
    outputs = sorted(set(_outputs_files(project, configs)))
    return _h(
        "docgen-cache", FORMAT, package if package is not None else _package_digest(),
        "page_templates", tree_digest(project.page_templates_dir),
        "knowledge", tree_digest(project.knowledge_dir),
        "project", _project_repr(project),
        "cfn-outputs", tree_digest(os.path.join(project.root, "cfn-outputs")),
        *(x for f in outputs for x in (f, file_digest(f) or "")),
    )


def surface(template: Template) -> str:
    """What per-stack pages of *other* stacks read of this template (see module doc)."""
    raw = template.raw
    return _h(*(repr(raw.get(section)) for section in
                ("Parameters", "Outputs", "Mappings", "Conditions")),
              repr(template.imports),
              repr([(n.logical_id, n.template_url, n.local_path) for n in template.nested_stacks]))


def _stack_repr(cfg: StackConfig) -> str:
    return repr(cfg)


def _cross_repr(cfg: StackConfig) -> str:
    return repr((cfg.id, cfg.template_path, cfg.name, cfg.region, cfg.role,
                 [(w.parameter, w.from_stack, w.output) for w in cfg.wiring]))


# --- lazily loaded stacks -----------------------------------------------------------


class LazyStack(Stack):
    """A :class:`Stack` whose template is parsed on first access.

    When every page comes from the cache nothing needs the templates, so none are
    parsed; any code that does look (the CLI, the plugin, a page) gets the real
    template, loaded then.
    """

    __slots__ = ("_load", "_loaded")

    def __init__(self, config: StackConfig, template: Template | None = None, *,
                 load: Callable[[], Template] | None = None) -> None:
        object.__setattr__(self, "config", config)
        object.__setattr__(self, "_loaded", template)
        object.__setattr__(self, "_load", load)

    @property  # type: ignore[override]
    def template(self) -> Template:
        loaded: Template | None = self._loaded
        if loaded is None:
            assert self._load is not None
            loaded = self._load()
            object.__setattr__(self, "_loaded", loaded)
        return loaded

    @property
    def is_loaded(self) -> bool:
        return self._loaded is not None

    def __reduce__(self) -> tuple[Any, ...]:
        """Copies and pickles are plain, loaded :class:`Stack` objects."""
        return Stack, (self.config, self.template)


# --- the store ----------------------------------------------------------------------


def enabled(project: ProjectConfig) -> bool:
    """On unless ``DOCGEN_CACHE=0`` or pages carry per-run data (a time, a revision)."""
    setting = os.environ.get("DOCGEN_CACHE", "").strip().lower()
    if setting in ("0", "no", "false", "off"):
        return False
    return not (project.show_generated_at or project.show_revision)


def cache_dir(project: ProjectConfig) -> str:
    return os.path.join(project.root, CACHE_DIR)


def user_secret() -> bytes | None:
    """This user's key for authenticating cache files (created on first use, mode 0600,
    in docgen's per-user cache folder); None when it cannot be had (no cache then).

    Cached pages are trusted output: they skip rendering, and so escaping. A
    ``.docgen-cache`` committed to a repository could otherwise smuggle raw HTML
    into the site; entries without this user's MAC are ignored.
    """
    from docgen.assets import cache_dir as user_cache_dir

    path = os.path.join(user_cache_dir(), "cache-key")
    try:
        with open(path, "rb") as fh:
            key = fh.read()
        if len(key) == 32:
            return key
    except OSError:
        pass
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(os.urandom(32))
        os.chmod(tmp, 0o600)
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # first writer wins; a concurrent run reads the same key
        os.unlink(tmp)
        with open(path, "rb") as fh:
            key = fh.read()
        return key if len(key) == 32 else None
    except OSError:
        return None


def compiled_templates_dir() -> str | None:
    """Jinja's compiled page templates (per user, keyed by template source checksum, like
    Python's ``__pycache__``): a fresh project does not pay for compiling them. Per user,
    not per project: loading compiled code from a repository's folder would run it."""
    from docgen.assets import cache_dir as user_cache_dir

    folder = os.path.join(user_cache_dir(), "jinja-bytecode")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return folder


class Store:
    """Files under ``.docgen-cache/``: ``loads.json`` (per template bytes: valid?,
    diagnostics, surface), ``facts.pickle`` (every stack's facts, by stack key) and
    ``tree.json`` (the manifest of ``runbooks/``: which page sets it holds, see
    :func:`record_tree`). Page text is not kept here: ``runbooks/`` itself holds it,
    and the manifest says which of its files are still exactly as written."""

    def __init__(self, folder: str | None, read_loads: bool = True) -> None:
        """``folder`` None: a disabled cache (nothing read, nothing written).
        ``read_loads`` False: only for writing other files (``record_tree``)."""
        self.secret = user_secret() if folder else None
        self.folder = folder if folder and self.secret else ""
        self.loads: dict[str, Any] = {}
        self.loads_dirty = False
        #: absolute template path -> its looks when read, digest, time of the read
        #: (see :func:`template_bytes`)
        self.seen: dict[str, list[Any]] = {}
        self.seen_dirty = False
        self._facts: dict[str, bytes] | None = None
        self.used_facts: set[str] = set()
        self.facts_dirty = False
        if not self.folder:
            return
        data = self._read("loads.json") if read_loads else None
        if isinstance(data, dict) and data.get("format") == FORMAT:
            self.loads = data.get("entries", {})
            seen = data.get("seen", {})
            self.seen = {k: v for k, v in seen.items()
                         if isinstance(v, list) and len(v) == 7} if isinstance(seen,
                                                                                dict) else {}

    def _mac(self, body: bytes) -> bytes:
        return hashlib.blake2b(body, key=self.secret or b"", digest_size=32).hexdigest().encode()

    def _read_bytes(self, rel: str) -> bytes | None:
        """A cache file's body, or None when absent or not written by this user (a
        ``.docgen-cache`` that came with a cloned repository is never trusted)."""
        try:
            with open(os.path.join(self.folder, rel), "rb") as fh:
                mac, _, body = fh.read().partition(b"\n")
        except OSError:
            return None
        return body if hmac.compare_digest(mac, self._mac(body)) else None

    def _read(self, rel: str) -> Any:
        body = self._read_bytes(rel)
        try:
            return None if body is None else json.loads(body)
        except ValueError:
            return None

    def _write(self, rel: str, payload: Any) -> None:
        if not self.folder:
            return
        self._write_bytes(rel, json.dumps(payload, ensure_ascii=False,
                                          separators=(",", ":")).encode())

    def manifest(self, folder: str) -> dict[str, Any] | None:
        """What the last write of ``folder`` recorded (:func:`record_tree`), or None."""
        data = self._read("tree.json") if self.folder else None
        if not isinstance(data, dict) or data.get("format") != FORMAT \
                or data.get("folder") != os.path.abspath(folder):
            return None
        if not isinstance(data.get("sets"), dict) or not isinstance(data.get("files"), dict):
            return None
        return data

    def read_pickle(self, rel: str) -> Any:
        """A pickled cache file's value; None when absent, not this user's (it is read
        only after its MAC checks), stale or corrupt."""
        body = self._read_bytes(rel) if self.folder else None
        return None if body is None else _unpickled(body)

    def write_pickle(self, rel: str, value: Any) -> None:
        """Keep ``value`` pickled (not at all when it cannot be pickled)."""
        blob = _pickled(value) if self.folder else None
        if blob is not None:
            self._write_bytes(rel, blob)

    def _all_facts(self) -> dict[str, bytes]:
        """Stack key -> that stack's facts, pickled (read one by one, when asked)."""
        if self._facts is None:
            facts = self.read_pickle("facts.pickle")
            self._facts = {k: v for k, v in facts.items() if isinstance(v, bytes)} \
                if isinstance(facts, dict) else {}
        return self._facts

    def get_facts(self, key: str) -> dict[Any, Any]:
        """The stack facts kept under a stack key (``PageContext.stack_fact``)."""
        self.used_facts.add(key)
        blob = self._all_facts().get(key)
        facts = _unpickled(blob) if blob is not None else None  # (the file's MAC checked)
        return facts if isinstance(facts, dict) else {}

    def put_facts(self, key: str, facts: dict[Any, Any]) -> None:
        blob = _pickled(facts) if self.folder and facts else None
        if blob is not None:  # a fact that cannot be kept is computed again next time
            self.put_facts_blob(key, blob)

    def put_facts_blob(self, key: str, blob: bytes) -> None:
        """Facts already pickled (by the worker that computed them)."""
        if self.folder:
            self._all_facts()[key] = blob
            self.used_facts.add(key)
            self.facts_dirty = True

    def _write_bytes(self, rel: str, body: bytes) -> None:
        full = os.path.join(self.folder, rel)
        tmp = ""
        try:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(full))
            with os.fdopen(fd, "wb") as fh:
                fh.write(self._mac(body) + b"\n" + body)
            os.replace(tmp, full)
        except OSError:  # a read-only or full disk: the cache is optional
            if tmp:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def forget_looks(self) -> None:
        """Drop every template's recorded looks (kept: the load outcomes)."""
        if self.folder:
            self.seen = {}
            entries = {k: v for k, v in self.loads.items() if not k.startswith("uncached-")}
            self._write("loads.json", {"format": FORMAT, "entries": entries, "seen": {}})

    def put_load(self, key: str, entry: dict[str, Any]) -> None:
        self.loads[key] = entry
        self.loads_dirty = True

    def finish(self, live_load_keys: set[str], live_paths: Collection[str] = ()) -> None:
        """Persist the load index (and how this run's templates looked) and the facts
        of this run's stacks (only those: the others are dropped)."""
        if not self.folder:
            return
        if self.loads_dirty or self.seen_dirty:
            keep = {k: v for k, v in self.loads.items() if k in live_load_keys}
            live = {os.path.abspath(p) for p in live_paths}
            self._write("loads.json", {"format": FORMAT, "entries": keep,
                                       "seen": {k: v for k, v in self.seen.items()
                                                if k in live}})
        if self.facts_dirty:
            self.write_pickle("facts.pickle", {k: v for k, v in self._all_facts().items()
                                               if k in self.used_facts})
        for legacy in ("pages", "facts"):  # the per-stack files of earlier versions
            with contextlib.suppress(OSError):
                if os.path.isdir(os.path.join(self.folder, legacy)):
                    import shutil

                    shutil.rmtree(os.path.join(self.folder, legacy), ignore_errors=True)


# --- the cached build ---------------------------------------------------------------


def _diag_to_json(d: Diagnostic) -> list[Any]:
    return [d.file, d.line, d.col, d.message, d.severity]


def _diag_from_json(item: list[Any]) -> Diagnostic:
    return Diagnostic(item[0], int(item[1]), int(item[2]), item[3], item[4])


def build(project: ProjectConfig, configs: Sequence[StackConfig], diags: list[Diagnostic],
          keep_going: bool, progress: Callable[[int, int], None] | None = None,
          prestage: str | None = None) -> Any:
    """``generate.build`` with the cache: returns a ``generate.Result``."""
    store = Store(cache_dir(project) if enabled(project) else None)
    try:
        with contextlib.ExitStack() as scope:  # ends the workers, if any, however it ends
            return _build(project, configs, diags, keep_going, progress, prestage, scope,
                          store)
    except ChangedWhileRunning:
        # its looks deceived (a file system whose times are coarser than the racy
        # margin): the next run reads every template again
        store.forget_looks()
        raise


def _build(project: ProjectConfig, configs: Sequence[StackConfig], diags: list[Diagnostic],
           keep_going: bool, progress: Callable[[int, int], None] | None,
           prestage: str | None, scope: contextlib.ExitStack, store: Store) -> Any:
    from docgen.generate import Result, _load_one, prestage_pages

    package = _package_digest()
    gkey = global_key(project, configs, package)
    # Each template is read once: its bytes are hashed for the keys, and those very
    # bytes are what is parsed (a file edited during the run cannot mix two versions);
    # one that looks as when an earlier run read it is read only if it must be parsed
    # (and checked against that digest).
    paths = [c.template_path for c in configs]
    blobs, digests, sizes = template_bytes(paths, store)
    load_keys = [_h("load", gkey, c.template_path, d) if d else "" for c, d in
                 zip(configs, digests, strict=True)]

    # 1. loading: cached outcome per template bytes, parse only the new ones. Many of
    # them (a cold run): forked workers parse them and keep them to render those
    # stacks later (docgen.stackworkers); a few: parsed here.
    templates: dict[int, Template] = {}
    todo = [i for i, k in enumerate(load_keys) if not k or k not in store.loads]

    def parse(i: int) -> tuple[Any, list[Diagnostic]]:
        data, digest = blobs[i], digests[i]
        if data is None and digest is not None:  # known by its looks: read it now
            data = checked_bytes(configs[i].template_path, digest)
        return _load_one(configs[i].template_path, data)

    def loader(i: int) -> Callable[[], Template]:
        def load() -> Template:
            tpl, _ = parse(i)
            if tpl is None:  # cannot be: these very bytes were valid when loaded
                raise DocgenError(f"{configs[i].template_path}: no longer loads")
            return tpl  # type: ignore[return-value]
        return load

    def make_handbook(held: Mapping[int, Template], valid: Sequence[int]) -> Handbook:
        return Handbook(project, tuple(LazyStack(configs[i], held.get(i), load=loader(i))
                                       for i in valid))

    def done(n: int, got: dict[str, str]) -> dict[str, list[int]] | None:
        return prestage_pages(prestage, got) if prestage else None  # (in the worker)

    crew_size = _crew_size(len(todo))
    crew = env = None
    parts: tuple[Any, ...] = ()
    memo: dict[Any, Any] = {}
    loaded: dict[int, tuple[Any, list[Diagnostic]]] = {}
    found: dict[int, Any] = {}  # config index -> stackworkers.Loaded
    if crew_size:
        from docgen.render import warm_up
        from docgen.stackworkers import Crew

        # loaded once, before the fork, instead of once per worker: page modules,
        # compiled page templates, the knowledge bases
        env = _environment(project, store)
        warm_up(env)
        _knowledge(store, package, project, memo)
        crew = scope.enter_context(Crew(
            crew_size[0], crew_size[1], {i: sizes[i] for i in todo}, parse,
            project, configs, make_handbook, env, memo, done))
        found = crew.load(progress)
    else:
        loaded = _parse_here(todo, parse, progress)
    for i in todo:
        if i in found:
            ok = found[i].valid
            found_diags: Sequence[Diagnostic] = found[i].diagnostics
            digest = found[i].surface
        else:
            tpl, found_diags = loaded[i]
            ok = tpl is not None
            digest = surface(tpl) if ok else ""
            if ok:
                templates[i] = tpl
        entry = {"valid": ok, "diagnostics": [_diag_to_json(d) for d in found_diags],
                 "surface": digest}
        if load_keys[i]:
            store.put_load(load_keys[i], entry)
        else:
            store.loads[f"uncached-{i}"] = entry
    entries = [store.loads[k] if k else store.loads[f"uncached-{i}"]
               for i, k in enumerate(load_keys)]
    for entry in entries:
        diags.extend(_diag_from_json(d) for d in entry["diagnostics"])
    valid_idx = [i for i, entry in enumerate(entries) if entry["valid"]]
    invalid_ids = [configs[i].id for i, entry in enumerate(entries) if not entry["valid"]]
    if any(d.is_error for d in diags) and not keep_going:
        store.finish(set(load_keys), paths)
        return Result(None, {}, diags, invalid_ids)

    handbook = make_handbook(templates, valid_idx)
    stacks = handbook.stacks
    if crew is not None:
        from docgen.analyse.surface import SURFACES, stack_surface

        # every stack's surface part: the workers sent those of what they parsed
        parts = tuple(found[i].part if i in found else stack_surface(handbook, st)
                      for i, st in zip(valid_idx, stacks, strict=True))
        handbook.seed(SURFACES, parts)

    # 2. keys
    by_id = {configs[i].id: i for i in valid_idx}
    cross = _h(*(x for i in valid_idx for x in (_cross_repr(configs[i]),
                                                 entries[i]["surface"])))
    notes = project.notes_dir
    stack_keys = []
    for i in valid_idx:
        cfg = configs[i]
        wired = sorted({w.from_stack for w in cfg.wiring})
        stack_keys.append(_h(
            "stack", gkey, _stack_repr(cfg), digests[i], cross,
            tree_digest(os.path.join(notes, cfg.id)) if notes else "",
            *(x for sid in wired for x in (sid, digests[by_id[sid]] if sid in by_id else "-"))))
    hb_key = _h("handbook", gkey, *stack_keys, *invalid_ids,
                tree_digest(notes, top_level_only=True) if notes else "")

    # 3. what runbooks/ holds: the manifest of its last write says which page sets it
    # holds and how each file looked then; files that still look so hold those pages
    runbooks = os.path.join(project.docs_dir, "runbooks")
    tree_key = _h("tree", hb_key, *stack_keys) if store.folder else ""
    manifest = store.manifest(runbooks)
    stats = _tree_stats(runbooks) if manifest is not None else {}
    if manifest is not None and manifest.get("key") == tree_key \
            and manifest["files"] == stats:  # nothing changed: read no page at all
        store.finish({k for k in load_keys if k}, paths)
        sets = dict(manifest["sets"])
        return Result(handbook, Pages({}, runbooks, _names(sets), _names(sets)), diags,
                      invalid_ids,
                      tree_key=tree_key, unchanged=True, sets=sets)
    intact = _intact_sets(manifest, stats) if manifest is not None else {}

    # 4. pages: page sets still intact on disk, render the rest (stacks in parallel
    # when it pays)
    fresh: dict[str, str] = {}
    sets: dict[str, list[str]] = {}
    prestaged: dict[str, list[int]] | None = {} if prestage else None
    missing = [n for n, k in enumerate(stack_keys) if k not in intact]
    if missing or hb_key not in intact:
        from docgen.parallel import render_stacks
        from docgen.render import render_handbook_pages

        if crew is None and len(missing) > 1:  # forked workers render them: parse here
            preload([stacks[n] for n in missing if not stacks[n].is_loaded])
        if env is None:
            env = _environment(project, store)
            _knowledge(store, package, project, memo)
        # Facts of unchanged stacks come from the cache: the handbook-wide pages then
        # parse only the templates that changed (see PageContext.stack_fact).
        keys = {configs[i].id: k for i, k in zip(valid_idx, stack_keys, strict=True)}
        keys[SURFACE] = _h("surface-facts", gkey, cross)
        kept = {sid: store.get_facts(k) for sid, k in keys.items()}
        for facts in kept.values():
            memo.update(facts)
        # Stacks first (in parallel when it pays), each with the facts the handbook
        # pages read of it; then the handbook pages, from those facts (by the crew:
        # while the last stacks' pages render).
        sent: dict[str, tuple[bytes, frozenset[Any]]] = {}  # facts pickled by workers
        hb_pages: dict[str, str] | None = None
        hb_receipt: Any = None
        if crew is not None:
            rendered, hb = _render_by_crew(crew, valid_idx, missing, parts, kept, found,
                                           keys, store, hb_key not in intact)
            if hb is not None:
                hb_pages, hb_receipt = hb.pages, hb.receipt
        else:
            rendered = render_stacks(handbook, missing, env, memo, done, sent)
        for n, (got, receipt) in zip(missing, rendered, strict=True):
            # a worker that wrote a stack's pages sends back their names and file
            # stats, not their text (write_tree moves the files into place)
            fresh.update(got)
            sets[stack_keys[n]] = sorted(got or receipt)
            if prestaged is not None and receipt is not None:
                prestaged.update(receipt)
        if hb_key not in intact:
            if crew is None:
                hb_pages = render_handbook_pages(handbook, env, memo)
            assert hb_pages is not None
            fresh.update(hb_pages)
            sets[hb_key] = sorted(hb_pages or hb_receipt or ())
            if prestaged is not None and hb_receipt is not None:
                prestaged.update(hb_receipt)
        if crew is None:
            _keep_facts(store, memo, kept, keys, sent)  # those of this run
    else:
        for key in (*stack_keys, _h("surface-facts", gkey, cross)):
            store.used_facts.add(key)  # still live: kept by finish()
    for key in (*stack_keys, hb_key):
        if key in intact:
            sets[key] = intact[key]
    store.finish({k for k in load_keys if k}, paths)
    on_disk = _names({k: v for k, v in intact.items() if k in sets})
    return Result(handbook, Pages(fresh, runbooks, _names(sets), on_disk, prestage),
                  diags, invalid_ids,
                  tree_key=tree_key, sets=sets,
                  prestaged=prestaged)


def _crew_size(parse_count: int) -> tuple[int, Any] | None:
    """(workers, multiprocessing context) when that many templates to parse are worth
    loading and rendering in forked workers (docgen.stackworkers), else None."""
    from docgen.parallel import MIN_STACKS_FOR_POOL, _fork_context, workers

    n = min(workers(), parse_count // MIN_STACKS_FOR_POOL)
    ctx = _fork_context() if n > 1 else None
    return (n, ctx) if ctx is not None else None


def _parse_here(todo: Sequence[int], parse: Callable[[int], tuple[Any, list[Diagnostic]]],
                progress: Callable[[int, int], None] | None
                ) -> dict[int, tuple[Any, list[Diagnostic]]]:
    """Parse templates in this process.

    Parsing makes millions of containers and no cycles: the collector stays off while
    it runs (it rescanned them, ~0.06 s for the corpus), and what it made is then
    frozen for the rest of the build (generate.build unfreezes): the templates live
    as long as the run, and every later collection would scan them again."""
    import gc

    from docgen.gcpause import gc_paused

    out: dict[int, tuple[Any, list[Diagnostic]]] = {}
    with gc_paused():
        for n, i in enumerate(todo):
            if progress is not None:
                progress(n, len(todo))
            out[i] = parse(i)
    gc.freeze()
    return out


def _environment(project: ProjectConfig, store: Store) -> Any:
    """The Jinja environment of the page templates (compiled ones kept per user)."""
    from docgen.render import environment

    env = environment(project.page_templates_dir)
    compiled = compiled_templates_dir() if store.folder else None
    if compiled:
        import jinja2

        env.bytecode_cache = jinja2.FileSystemBytecodeCache(compiled)
    return env


def _knowledge(store: Store, package: str, project: ProjectConfig,
               memo: dict[Any, Any]) -> None:
    """The knowledge bases into ``memo``: as an earlier run loaded them, else loaded
    (and kept). Parsing and validating their YAML costs ~0.045 s; reading them back,
    ~0.005 s. They are kept per user, like the compiled page templates (a new project,
    a cold run, finds them), under a key of docgen's package (its knowledge files) and
    the project's ``paths.knowledge`` folder: its path and every file's bytes."""
    from docgen.render import load_knowledge

    if not store.folder:  # the cache is off: so is this
        load_knowledge(project, memo)
        return
    from docgen.assets import cache_dir as user_cache_dir

    key = _h("knowledge", FORMAT, package, project.knowledge_dir or "",
             tree_digest(project.knowledge_dir))
    user = Store(user_cache_dir(), read_loads=False)
    got = user.read_pickle("knowledge.pickle")
    kept: dict[Any, Any] = got[1] if isinstance(got, tuple) and len(got) == 2 \
        and got[0] == key and isinstance(got[1], dict) else {}
    memo.update(kept)
    added = load_knowledge(project, memo)
    if added:
        user.write_pickle("knowledge.pickle", (key, {**kept, **added}))


def _render_by_crew(crew: Any, valid: Sequence[int], missing: Sequence[int],
                    parts: tuple[Any, ...], kept: Mapping[str, Mapping[Any, Any]],
                    found: Mapping[int, Any], keys: Mapping[str, str], store: Store,
                    handbook_pages: bool) -> tuple[list[tuple[dict[str, str], Any]], Any]:
    """The stacks at ``missing`` rendered by the workers that parsed them: (pages,
    receipt) each, in order; and the handbook pages (a ``stackworkers.Rendered``) when
    asked. The facts the workers computed are stored as they sent them: the parent
    never reads them (a stack whose facts came in several parts has them merged)."""
    import pickle

    got, blobs, hb = crew.render(valid, missing, parts,
                                 {k: v for facts in kept.values() for k, v in facts.items()},
                                 {i: loaded.resources for i, loaded in found.items()},
                                 handbook_pages)
    by_stack: dict[str, list[bytes]] = {}
    for sid, blob in blobs:
        by_stack.setdefault(sid, []).append(blob)
    for sid in sorted(by_stack):  # in order: the cache file does not depend on timing
        if sid not in keys:
            continue
        if len(by_stack[sid]) == 1 and not kept.get(sid):
            store.put_facts_blob(keys[sid], by_stack[sid][0])
        else:
            merged = dict(kept.get(sid, {}))
            for blob in by_stack[sid]:
                merged.update(pickle.loads(blob))
            store.put_facts(keys[sid], merged)
    return [(got[n].pages, got[n].receipt) for n in missing], hb


def _names(sets: Mapping[str, Sequence[str]]) -> list[str]:
    return sorted(rel for rels in sets.values() for rel in rels)


def _intact_sets(manifest: Mapping[str, Any], stats: Mapping[str, list[int]]
                 ) -> dict[str, list[str]]:
    """The page sets of the manifest whose files all still look as they did when written
    (size, modification time, inode: like git's index, an edit by hand shows)."""
    files = manifest["files"]
    out: dict[str, list[str]] = {}
    for key, rels in manifest["sets"].items():
        if isinstance(rels, list) and all(
                isinstance(rel, str) and rel in files and stats.get(rel) == files[rel]
                for rel in rels):
            out[key] = rels
    return out


def _tree_stats(folder: str) -> dict[str, list[int]]:
    """Relative path -> [size, mtime in ns, inode] of every file under ``folder``.

    Every run with nothing changed does this for every page (5,000 for the corpus):
    ``os.scandir`` entries and one ``lstat`` each, no ``os.walk`` (which lists, then
    this looked each file up again by path)."""
    out: dict[str, list[int]] = {}

    def visit(path: str, prefix: str) -> None:
        try:
            entries = os.scandir(path)
        except OSError:
            return
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        visit(entry.path, f"{prefix}{entry.name}/")
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                out[prefix + entry.name] = [st.st_size, st.st_mtime_ns, st.st_ino]

    visit(folder, "")
    return out


def record_tree(project: ProjectConfig, result: Any, folder: str,
                files: dict[str, list[int]] | None = None) -> None:
    """After a write (or a check that nothing needed writing), under the docs folder's
    lock: remember which page sets ``folder`` holds and the size, time and inode of each
    file, so that later runs can trust those files without reading them (like git's
    index: editing a page by hand changes its time, and the next run renders again).
    Without a key (the build could not use the cache) the previous manifest is removed
    instead. ``files``: the stats when the writer knows
    them (else the folder is walked)."""
    if not enabled(project):
        return
    store = Store(cache_dir(project), read_loads=False)
    if not store.folder:
        return
    if not result.tree_key:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(store.folder, "tree.json"))
        return
    store._write("tree.json", {"format": FORMAT, "key": result.tree_key,
                               "folder": os.path.abspath(folder), "sets": result.sets,
                               "files": files if files is not None else _tree_stats(folder)})


class Pages(Mapping[str, str]):
    """A run's pages, by where their text is: rendered by this process (``fresh``, in
    memory), written by a worker into the prestage folder (``prestaged``: the text did
    not travel back; it is read there, or in ``folder`` once that folder became the new
    tree), or already in ``folder`` as written by an earlier run (``on_disk``: the
    manifest says so; writing links them). Texts not in memory are read only when
    someone asks (``--check``); writing and the plugin need only names."""

    def __init__(self, fresh: dict[str, str], folder: str, names: Sequence[str],
                 on_disk: Collection[str] = (), prestaged: str | None = None) -> None:
        self.fresh = fresh
        self.folder = folder
        self.names = list(names)
        self._set = set(self.names)
        self.on_disk = set(on_disk).difference(fresh)
        self.prestaged = prestaged

    def __getitem__(self, rel: str) -> str:
        text = self.fresh.get(rel)
        if text is not None:
            return text
        if rel not in self._set:
            raise KeyError(rel)
        parts = rel.split("/")
        if self.prestaged and rel not in self.on_disk:
            with contextlib.suppress(FileNotFoundError), \
                    open(os.path.join(self.prestaged, *parts), encoding="utf-8") as fh:
                return fh.read()
        with open(os.path.join(self.folder, *parts), encoding="utf-8") as fh:
            return fh.read()

    def __contains__(self, rel: object) -> bool:
        return rel in self._set

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def _keep_facts(store: Store, memo: dict[Any, Any], kept: dict[str, dict[Any, Any]],
                keys: dict[str, str],
                blobs: Mapping[str, tuple[bytes, frozenset[Any]]]) -> None:
    """Store each stack's facts computed in this run (with those it already had), and
    the surface facts (filed under the pseudo stack id ``SURFACE``). A stack's facts
    as its worker pickled them are stored as they are, unless this process added some."""
    fresh: dict[str, dict[Any, Any]] = {}
    for key, value in memo.items():
        if isinstance(key, tuple) and len(key) == 3 and key[0] == FACT and key[2] in keys:
            if key not in kept.get(key[2], {}):
                fresh.setdefault(key[2], {})[key] = value
    for stack_id, facts in fresh.items():
        sent = blobs.get(stack_id)
        if sent is not None and not kept.get(stack_id) and sent[1] == facts.keys():
            store.put_facts_blob(keys[stack_id], sent[0])
        else:
            store.put_facts(keys[stack_id], {**kept.get(stack_id, {}), **facts})


def preload(lazy: Sequence[Stack]) -> None:
    """Parse the templates rendering will need before stacks are rendered in forked
    workers, so that each worker inherits them instead of parsing them again."""
    for stack in lazy:
        stack.template  # noqa: B018 -- a LazyStack parses on first access
