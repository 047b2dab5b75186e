"""The build function behind ``docgen generate``, ``docgen build`` and the MkDocs plugin.

Gather everything first, then write: templates are loaded and every page is rendered
in memory; only when that succeeded is ``runbooks/`` replaced, by building the new
tree beside it and swapping directories, under a lock. A failed run (bad template,
page error, disk error, Ctrl-C) leaves the previous pages exactly as they were.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from docgen.diagnostics import Diagnostic, DocgenError
from docgen.discover import find_templates, stacks_from_files
from docgen.model import Handbook, ProjectConfig, Stack, StackConfig

RUNBOOKS = "runbooks"


@dataclass
class Result:
    """What a generation run produced and found."""

    handbook: Handbook | None
    #: rel path -> text; with the cache, pages runbooks/ already holds are read on demand
    pages: Mapping[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  # stack ids whose template failed
    changed: bool = False
    #: Digest of every page set's key (empty without the cache): names the tree.
    tree_key: str = ""
    #: runbooks/ on disk already holds exactly these pages (``pages`` reads them there).
    unchanged: bool = False
    #: page set key -> its pages (with the cache): recorded in the manifest of runbooks/
    sets: dict[str, list[str]] = field(default_factory=dict)
    #: pages the rendering processes wrote to the prestage folder: [size, mtime, inode]
    #: of each (None: unknown, write_tree looks)
    prestaged: dict[str, list[int]] | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def default_project(root: str = ".", docs_dir: str | None = None) -> ProjectConfig:
    root = os.path.abspath(root)
    return ProjectConfig(root=root, docs_dir=os.path.abspath(docs_dir or os.path.join(root,
                                                                                      "docs_src")))


def stack_configs(project: ProjectConfig, paths: Sequence[str] | None
                  ) -> tuple[tuple[StackConfig, ...], list[Diagnostic]]:
    """Stacks from explicit paths, else docgen.yml's list, else the templates folder."""
    if paths:
        files, diags = find_templates(paths)
        if project.stacks:  # keep docgen.yml settings for the files it describes
            by_path = {os.path.abspath(s.template_path): s for s in project.stacks}
            known = [by_path[os.path.abspath(f)] for f in files if os.path.abspath(f) in by_path]
            rest = stacks_from_files([f for f in files if os.path.abspath(f) not in by_path])
            return (*known, *rest), diags
        return stacks_from_files(files), diags
    if project.stacks:
        return project.stacks, []
    folder = project.templates_dir or os.path.join(project.root, "stacks")
    files, diags = find_templates([folder])
    return stacks_from_files(files), diags


def _load_one(path: str, data: bytes | None = None) -> tuple[object, list[Diagnostic]]:
    from docgen.loader import load_template

    return load_template(path, data)


def load_stacks(configs: Sequence[StackConfig]) -> tuple[list[Stack], list[Diagnostic], list[str]]:
    from docgen.parallel import map_ordered

    stacks: list[Stack] = []
    diags: list[Diagnostic] = []
    invalid: list[str] = []
    for cfg, (template, found) in zip(configs, map_ordered(_load_one,
                                                           [c.template_path for c in configs]),
                                      strict=True):
        diags.extend(found)
        if template is None:
            invalid.append(cfg.id)
        else:
            stacks.append(Stack(cfg, template))  # type: ignore[arg-type]
    return stacks, diags, invalid


#: Called as ``progress(done, total)`` while templates are read (the CLI draws a bar).
Progress = Callable[[int, int], None]


def build(project: ProjectConfig, paths: Sequence[str] | None = None, *,
          keep_going: bool = False, progress: Progress | None = None,
          prestage: str | None = None) -> Result:
    """Load and render everything in memory (no writes to ``runbooks/``).

    Pages whose inputs are unchanged since a previous run come from the content-hash
    cache (``docgen.cache``: byte-identical to a fresh render; templates are then not
    even parsed), the rest are rendered, stacks in parallel when it pays. ``prestage``:
    a folder where the processes that render stacks also write their pages, so that
    writing is spread over the workers (:func:`write_tree` then moves them into place).
    """
    from docgen import cache

    configs, diags = stack_configs(project, paths)
    if not configs and not diags:
        diags.append(Diagnostic(project.root, 1, 1, "no CloudFormation templates found"))
    with _fewer_collections():
        result: Result = cache.build(project, configs, diags, keep_going, progress,
                                     prestage)
    return result


def prestage_pages(folder: str, pages: dict[str, str]) -> dict[str, list[int]] | None:
    """Write rendered pages under ``folder`` (called in the rendering process) and
    return each file's ``[size, mtime in ns, inode]`` (the parent then needs no walk
    of the folder). Best effort: after a failure (the partial file is removed) it stops
    and returns None, and write_tree checks the folder itself and writes the rest."""
    made: set[str] = set()
    written: dict[str, list[int]] = {}
    for rel, text in pages.items():
        full = os.path.join(folder, *rel.split("/"))
        try:
            _makedirs(os.path.dirname(full), made)
            written[rel] = _write_new(full, text.encode("utf-8"))
        except (OSError, UnicodeEncodeError):
            with contextlib.suppress(OSError):
                os.unlink(full)
            return None
    return written


def _write_new(path: str, data: bytes) -> list[int]:
    """Write a new file with few system calls (``open()`` would add an ``ioctl`` and
    an ``lseek`` per file: ~10% of writing the corpus's 4,900 pages); returns its
    ``[size, mtime in ns, inode]``, as the cache's manifest records them."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        st = os.fstat(fd)
        return [st.st_size, st.st_mtime_ns, st.st_ino]
    finally:
        os.close(fd)


def _makedirs(path: str, made: set[str]) -> None:
    """``os.makedirs`` once per folder (a page per call would ask ~10,000 times)."""
    if path not in made:
        os.makedirs(path, exist_ok=True)
        made.add(path)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the cyclic garbage collector rarely during a build. Parsing and rendering
    allocate millions of short-lived containers and almost no cycles, and the default
    threshold (a collection every 700 net allocations) rescans the growing heap of
    loaded templates again and again: ~10% of a corpus build's CPU time. It still runs,
    so memory stays bounded."""
    import gc

    old = gc.get_threshold()
    gc.set_threshold(100_000, old[1], old[2])
    try:
        yield
    finally:
        gc.unfreeze()  # what the build froze (its loaded templates) is ordinary again
        gc.set_threshold(*old)


@contextlib.contextmanager
def _lock(docs_dir: str) -> Iterator[None]:
    """Serialise runs on one docs folder (a second run waits for the first)."""
    import fcntl

    os.makedirs(docs_dir, exist_ok=True)
    with open(os.path.join(docs_dir, ".docgen.lock"), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def walk_files(folder: str) -> Iterator[tuple[str, str]]:
    """``(relative path with "/", full path)`` of every file under ``folder``, in a
    stable order (nothing when the folder does not exist)."""
    skip = len(os.path.join(folder, ""))  # string slicing: relpath() per file is slow
    for base, dirs, files in os.walk(folder):
        dirs.sort()
        rel_base = base[skip:].replace(os.sep, "/")
        for name in sorted(files):
            yield (f"{rel_base}/{name}" if rel_base else name), os.path.join(base, name)


def read_tree(folder: str) -> dict[str, str]:
    """Every file under ``folder`` keyed by its ``/``-separated relative path."""
    out: dict[str, str] = {}
    for rel, full in walk_files(folder):
        try:
            with open(full, encoding="utf-8") as fh:
                out[rel] = fh.read()
        except (OSError, UnicodeDecodeError):
            out[rel] = "\0unreadable"
    return out


def desired_tree(result: Result, previous: Mapping[str, str]) -> Mapping[str, str]:
    """The pages to have on disk: the new pages, plus the previous pages of stacks whose
    template failed (``--keep-going`` keeps them rather than dropping them)."""
    if not (result.invalid and previous):
        return result.pages
    tree = dict(result.pages)
    for stack_id in result.invalid:
        prefix = f"{stack_id}/"
        for rel, text in previous.items():
            if rel.startswith(prefix):
                tree.setdefault(rel, text)
    return dict(sorted(tree.items()))


_STAGING, _OLD, _PRESTAGE = ".runbooks.new-", ".runbooks.old-", ".runbooks.pre-"


def _recover(docs_dir: str, target: str) -> None:
    """Finish what a killed run left behind (called under the lock, so no run is active):
    put the previous tree back if the swap was cut between its two renames, and remove
    leftover staging folders."""
    leftovers = sorted(n for n in os.listdir(docs_dir) if n.startswith((_STAGING, _OLD)))
    olds = [n for n in leftovers if n.startswith(_OLD)]
    if olds and not os.path.exists(target):
        os.rename(os.path.join(docs_dir, olds[-1]), target)
        leftovers.remove(olds[-1])
    for name in leftovers:
        shutil.rmtree(os.path.join(docs_dir, name), ignore_errors=True)
    for name in os.listdir(docs_dir):  # a running generate's own folder is recent
        full = os.path.join(docs_dir, name)
        if name.startswith(_PRESTAGE) and older_than(full, 3600):
            shutil.rmtree(full, ignore_errors=True)


def older_than(path: str, seconds: float) -> bool:
    """Whether ``path`` was last modified more than ``seconds`` ago (a leftover of a
    killed run, not a running one's); False when it is gone."""
    import time

    try:
        return time.time() - os.path.getmtime(path) > seconds
    except OSError:
        return False


def _files(folder: str) -> dict[str, int]:
    """Relative path -> size in bytes of every file under ``folder`` (no contents read)."""
    out: dict[str, int] = {}
    for rel, full in walk_files(folder):
        with contextlib.suppress(OSError):
            out[rel] = os.lstat(full).st_size
    return out


def _same_files(a: str, b: str) -> bool:
    try:
        with open(a, "rb") as fa:
            data = fa.read()
    except OSError:
        return False
    return _same_bytes(b, data)


def _same_bytes(path: str, data: bytes) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(data) + 1) == data
    except OSError:
        return False


def _adopt(prestaged: str, staging: str, encoded: dict[str, bytes],
           written: Mapping[str, list[int]] | None) -> dict[str, list[int]]:
    """Make the pages the rendering processes wrote the start of the new tree: the
    prestage folder takes the staging folder's place (one rename instead of a file
    per page). Returns the pages already in it, with their ``[size, mtime, inode]``;
    anything else there is removed. The folder was written from these very pages by
    this run's processes and only this user can write it (mkdtemp: 0700); the size
    check catches a write cut short. ``written``: what those processes report having
    written completely (then the folder holds exactly that, and is not walked)."""
    if written is not None:  # exactly these files are complete (a failed stack's
        # other pages, if any, are overwritten from their text by write_tree)
        if not written:
            return {}
        if not os.path.isdir(prestaged):  # their text is only there: nothing to write
            raise FileNotFoundError(errno.ENOENT, "pages written by the workers are gone",
                                    prestaged)
        os.rmdir(staging)
        os.rename(prestaged, staging)
        return dict(written)
    found = _files(prestaged)
    if not found:
        return {}
    os.rmdir(staging)
    os.rename(prestaged, staging)
    ready: dict[str, list[int]] = {}
    for rel, size in found.items():
        full = os.path.join(staging, *rel.split("/"))
        if rel in encoded and len(encoded[rel]) == size:
            ready[rel] = _stat(full)
        else:
            os.unlink(full)
    return ready


def _stat(path: str) -> list[int]:
    st = os.lstat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _place(src: str, dst: str, data: bytes | None, made: set[str]) -> list[int]:
    """Put a page into the staging tree: a hard link to the unchanged file on disk
    (``data`` None) or the new bytes. Links make a one-page change cost one write, not
    a rewrite of every page; where links are not possible the bytes are copied.
    Returns the file's ``[size, mtime, inode]``."""
    _makedirs(os.path.dirname(dst), made)
    if data is None:
        try:
            os.link(src, dst)
            return _stat(dst)
        except OSError:
            with open(src, "rb") as fh:
                data = fh.read()
    return _write_new(dst, data)


def write_tree(docs_dir: str, tree: Mapping[str, str], keep: Sequence[str] = (),
               prestaged: str | None = None, known: Collection[str] = (),
               record: Callable[[str, dict[str, list[int]] | None], None] | None = None,
               written: Mapping[str, list[int]] | None = None) -> bool:
    """Replace ``docs_dir/runbooks`` with ``tree`` atomically; False when already equal.

    ``keep``: stack ids whose pages on disk stay as they are, byte for byte
    (``--keep-going`` keeps the previous pages of invalid templates). They are read
    under the lock, so a concurrent run cannot slip stale pages in between.
    ``known``: pages whose file on disk is known to hold them (the cache's manifest
    says so): linked into the new tree without being read.
    ``record``: called under the lock once the folder holds ``tree``, with the folder
    and ``[size, mtime, inode]`` of each of its files when known (None: look), for the
    cache's manifest of it, which a concurrent run must not interleave.
    ``written``: what the rendering processes report having written to ``prestaged``.

    Only pages whose size matches the file on disk are read back to compare; the new
    tree is built beside the old one from the pages the rendering processes already
    wrote (``prestaged``: that folder becomes the new tree), hard links to the
    unchanged files, and the other changed pages, then swapped in with two renames.
    """
    target = os.path.join(docs_dir, RUNBOOKS)
    with _lock(docs_dir):
        _recover(docs_dir, target)
        current = _files(target)
        prefixes = tuple(f"{k}/" for k in keep)
        carried = {rel for rel in current
                   if rel not in tree and prefixes and rel.startswith(prefixes)}
        known = {rel for rel in known if rel in current}
        pre = written if prestaged and written is not None else {}
        # pages written by the workers are compared file to file (their text is not
        # here); the rest are encoded, and read back only when the sizes match
        encoded = {rel: tree[rel].encode("utf-8") for rel in tree
                   if rel not in known and rel not in pre}
        unchanged = known | {rel for rel, data in encoded.items()
                             if current.get(rel) == len(data)
                             and _same_bytes(os.path.join(target, *rel.split("/")), data)}
        unchanged |= {rel for rel, st in pre.items()
                      if current.get(rel) == st[0] and _same_files(
                          os.path.join(prestaged, *rel.split("/")),  # type: ignore[arg-type]
                          os.path.join(target, *rel.split("/")))}
        if set(current) == set(tree) | carried and len(unchanged) == len(tree):
            if record is not None:
                record(target, None)
            return False
        staging = tempfile.mkdtemp(prefix=_STAGING, dir=docs_dir)
        old = ""
        swapped = False
        made: set[str] = set()
        try:
            files = _adopt(prestaged, staging, encoded, written) if prestaged else {}
            for rel in tree:
                if rel not in files:
                    parts = rel.split("/")
                    files[rel] = _place(os.path.join(target, *parts),
                                        os.path.join(staging, *parts),
                                        None if rel in unchanged else encoded[rel], made)
            for rel in sorted(carried):
                parts = rel.split("/")
                files[rel] = _place(os.path.join(target, *parts),
                                    os.path.join(staging, *parts), None, made)
            if os.path.exists(target):
                moved = os.path.join(docs_dir, _OLD + os.path.basename(staging)[len(_STAGING):])
                os.rename(target, moved)
                old = moved
            os.rename(staging, target)
            swapped = True
            if record is not None:
                record(target, files)
        finally:
            if not swapped:
                if old and not os.path.exists(target):
                    os.rename(old, target)  # put the previous tree back
                    old = ""
                shutil.rmtree(staging, ignore_errors=True)
            if old and swapped:
                shutil.rmtree(old, ignore_errors=True)
    return True


def generate(project: ProjectConfig, paths: Sequence[str] | None = None, *,
             keep_going: bool = False, progress: Progress | None = None) -> Result:
    """Build and write; raises nothing for bad templates (see ``Result.errors``)."""
    from docgen import cache

    prestage = _prestage_folder(project.docs_dir)
    try:
        result = build(project, paths, keep_going=keep_going, progress=progress,
                       prestage=prestage)
        if result.handbook is None or result.unchanged:
            return result
        target = os.path.join(project.docs_dir, RUNBOOKS)
        try:
            # the invalid stacks' previous pages are picked up under the lock, by write_tree
            result.changed = write_tree(
                project.docs_dir, desired_tree(result, {}), keep=result.invalid,
                prestaged=prestage, known=getattr(result.pages, "on_disk", ()),
                written=result.prestaged,
                record=lambda folder, files: cache.record_tree(project, result, folder,
                                                               files))
        except OSError as exc:
            raise DocgenError(f"cannot write {target}: {exc.strerror or exc}") from exc
        return result
    finally:
        if prestage:
            shutil.rmtree(prestage, ignore_errors=True)


def _prestage_folder(docs_dir: str) -> str | None:
    """A private folder beside ``runbooks/`` (same file system: pages move by rename)."""
    try:
        os.makedirs(docs_dir, exist_ok=True)
        return tempfile.mkdtemp(prefix=_PRESTAGE, dir=docs_dir)
    except OSError:
        return None  # write_tree reports an unwritable folder


@dataclass
class Staleness:
    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    summaries: dict[str, str] = field(default_factory=dict)

    @property
    def up_to_date(self) -> bool:
        return not (self.stale or self.missing or self.extra)


def check(project: ProjectConfig, result: Result) -> Staleness:
    """Compare freshly rendered pages with ``runbooks/`` on disk (writes nothing)."""
    on_disk = read_tree(os.path.join(project.docs_dir, RUNBOOKS))
    want = desired_tree(result, on_disk if result.invalid else {})
    out = Staleness()
    for rel in sorted(set(want) | set(on_disk)):
        if rel not in on_disk:
            out.missing.append(rel)
        elif rel not in want:
            out.extra.append(rel)
        elif want[rel] != on_disk[rel]:
            out.stale.append(rel)
            diff = list(difflib.unified_diff(on_disk[rel].splitlines(), want[rel].splitlines(),
                                             lineterm="", n=0))
            added = sum(1 for d in diff if d.startswith("+") and not d.startswith("+++"))
            removed = sum(1 for d in diff if d.startswith("-") and not d.startswith("---"))
            out.summaries[rel] = f"+{added} -{removed} lines"
    return out
