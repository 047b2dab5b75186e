"""Which files are templates, and what each stack is called.

Without ``docgen.yml`` every template file is one stack named after its file. Stack
ids become folder names under ``runbooks/``, so they are slugged to a safe, portable
form and never collide with each other or with docgen's handbook-wide pages.
"""

from __future__ import annotations

import errno
import os
import re
import unicodedata
from collections.abc import Iterable

from docgen.diagnostics import Diagnostic
from docgen.model import StackConfig

TEMPLATE_EXTENSIONS = (".yaml", ".yml", ".json", ".template")
# Names used by handbook-wide pages (runbooks/<name>.md) and by docgen's own folders.
RESERVED = {"index", "cost", "compliance", "disaster-recovery", "deployment-order", "assets",
            "search", "notes"}
_WINDOWS = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])$")


def slug(name: str) -> str:
    """A lowercase ``[a-z0-9-]`` id that is safe as a folder name on every OS."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    s = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    if not s:
        s = "stack"
    if s in RESERVED or _WINDOWS.match(s):
        s = f"{s}-stack"
    return s[:64].rstrip("-")


def unique_slugs(names: Iterable[str]) -> list[str]:
    """Slug every name; names that slug alike get ``-2``, ``-3``... (never merged)."""
    out: list[str] = []
    used: set[str] = set()
    for name in names:
        base = slug(name)
        candidate, n = base, 2
        while candidate in used:
            candidate, n = f"{base}-{n}", n + 1
        used.add(candidate)
        out.append(candidate)
    return out


def find_templates(paths: Iterable[str]) -> tuple[list[str], list[Diagnostic]]:
    """Template files under ``paths`` (files are taken as given), sorted, de-duplicated."""
    found: list[str] = []
    diags: list[Diagnostic] = []
    for path in paths:
        if os.path.isfile(path):
            found.append(os.path.normpath(path))
            continue
        if not os.path.isdir(path):
            diags.append(Diagnostic(path, 1, 1, "no such file or directory"))
            continue

        def onerror(exc: OSError, root: str = path) -> None:
            diags.append(Diagnostic(exc.filename or root, 1, 1,
                                    f"cannot read directory: {exc.strerror}"))

        for folder, dirs, files in os.walk(path, onerror=onerror):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.endswith(TEMPLATE_EXTENSIONS) and not name.startswith("."):
                    full = os.path.join(folder, name)
                    if os.path.islink(full) and not os.path.exists(full):
                        diags.append(Diagnostic(full, 1, 1, _dangling(full)))
                        continue
                    found.append(os.path.normpath(full))
    return sorted(set(found)), diags


def _dangling(path: str) -> str:
    """Why a symbolic link leads nowhere: a loop reads differently from a missing target."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop: not read"
    return f"broken symbolic link (target {os.readlink(path)!r} does not exist): not read"


def stacks_from_files(files: list[str]) -> tuple[StackConfig, ...]:
    """One stack per file; the parent folder joins the name when stems collide."""
    stems = [os.path.splitext(os.path.basename(f))[0] for f in files]
    names = []
    for f, stem in zip(files, stems, strict=True):
        if stems.count(stem) > 1:
            parent = os.path.basename(os.path.dirname(os.path.abspath(f)))
            names.append(f"{parent}-{stem}")
        else:
            names.append(stem)
    ids = unique_slugs(names)
    return tuple(StackConfig(id=i, template_path=f, name=re.sub(r"[^A-Za-z0-9-]", "-", n)[:128]
                             .strip("-") or i)
                 for i, f, n in zip(ids, files, names, strict=True))
