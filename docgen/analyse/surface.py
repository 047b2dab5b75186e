"""What the handbook-wide surface facts read of one stack, as small picklable parts.

The deployment order (:func:`docgen.analyse.order.analyse`) and the importers of each
output (:func:`docgen.pages.outputs.imported_values`) look at every stack of the
handbook. They do not need the templates themselves: only each stack's exports and
imports resolved per deployment target, its nested stacks, its outputs and parameters
(names, defaults, the words of their descriptions). :func:`stack_surface` computes that
part from one stack's own template and config (and the project's environments), so a
process that parsed the template can send just this part; :func:`surfaces` is the tuple
of parts the analyses read, which such a process can hand over with
:meth:`docgen.model.Handbook.seed` under :data:`SURFACES`.

Everything here is plain data (tuples, strings, frozensets, parameter defaults as the
template has them); a regex is kept as its pattern string and compiled where used.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from docgen import stackinfo
from docgen.intrinsics import condition_value, evaluate, intrinsic, render
from docgen.model import Handbook, Stack

#: Key of :func:`surfaces` in :meth:`Handbook.derived` (and :meth:`Handbook.seed`).
SURFACES = "analyse.surfaces"


class ImportPart(NamedTuple):
    """One ``Fn::ImportValue`` of a stack, resolved per deployment target."""

    expression: str  # the import as written (short form, ``render``)
    #: per target (``StackSurface.targets``): the export name, None when not known
    names: tuple[str | None, ...]
    #: per target: a regex (``^...$``) for a name with unknown parts (``.+``); None when
    #: the name is known or when no part of it is
    patterns: tuple[str | None, ...]


class ParameterPart(NamedTuple):
    name: str
    has_default: bool
    default: Any  # the template's Default as it is (None when there is none)
    #: identifier-like words of the description (read only of a parameter with a
    #: default: empty for the others)
    words: frozenset[str]


@dataclass(frozen=True, slots=True)
class StackSurface:
    """What the handbook-wide analyses read of one stack (besides its config)."""

    path: str  # absolute path of the stack's template
    targets: tuple[tuple[str | None, str | None], ...]  # (environment, region) per target
    #: per target: (export name, output name) of each export whose name is known there and
    #: whose condition is not false (evaluated with the stack's conditions)
    exports: tuple[tuple[tuple[str, str], ...], ...]
    imports: tuple[ImportPart, ...]
    #: export names the imports resolve to, target after target, evaluated without the
    #: stack's conditions (what the outputs page's "imported by" reads)
    imported: tuple[str, ...]
    nested: tuple[tuple[str, str], ...]  # (logical id, absolute local path) of nested stacks
    outputs: tuple[tuple[str, frozenset[str]], ...]  # (name, words of the description)
    parameters: tuple[ParameterPart, ...]


_IDENT = re.compile(r"[A-Za-z0-9_]+")
_NO_WORDS: frozenset[str] = frozenset()


@functools.lru_cache(maxsize=16384)
def _words(text: str) -> frozenset[str]:
    return frozenset(_IDENT.findall(text))


def identifiers(text: str) -> frozenset[str]:
    """The identifier-like words of a description (remembered per text: templates of a
    handbook repeat their parameter descriptions, and scanning them is most of the
    cost of a surface)."""
    return _words(text) if text else _NO_WORDS


_SUB_PART = re.compile(r"\$\{([^}!][^}]*)\}")


def import_pattern(expr: Any, values: dict[str, Any], conds: dict[str, Any],
                   maps: Any) -> str | None:
    """A regex for an import name with unknown parts (``${Unknown}`` -> ``.+``), as a
    pattern string; None when nothing of the name is known."""
    fn = intrinsic(expr)
    if fn is None:
        return None
    name, arg = fn
    if name == "Fn::Sub":
        text, local = (arg, {}) if isinstance(arg, str) else (
            (arg[0], arg[1]) if isinstance(arg, list) and len(arg) == 2 else (None, {}))
        if not isinstance(text, str):
            return None
        scope = dict(values)
        if isinstance(local, dict):
            scope.update({k: evaluate(v, values, conds, maps) for k, v in local.items()})
        pieces: list[str] = []
        pos = 0
        known = False
        for m in _SUB_PART.finditer(text):
            literal = text[pos:m.start()].replace("${!", "${")
            pieces.append(re.escape(literal))
            known = known or bool(literal)
            val = scope.get(m.group(1))
            if isinstance(val, (str, int, float)) and not isinstance(val, bool):
                pieces.append(re.escape(str(val)))
                known = True
            else:
                pieces.append(".+")
            pos = m.end()
        tail = text[pos:].replace("${!", "${")
        pieces.append(re.escape(tail))
        known = known or bool(tail)
        return "^" + "".join(pieces) + "$" if known else None
    if name == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and \
            isinstance(arg[0], str) and isinstance(arg[1], list):
        parts = []
        known = False
        for part in arg[1]:
            val = evaluate(part, values, conds, maps)
            if isinstance(val, (str, int, float)) and not isinstance(val, bool):
                parts.append(re.escape(str(val)))
                known = known or bool(str(val))
            else:
                parts.append(".+")
        return "^" + re.escape(arg[0]).join(parts) + "$" if known else None
    return None


def stack_surface(handbook: Handbook, stack: Stack) -> StackSurface:
    """The part of ``stack`` the handbook-wide analyses read: from its own template and
    config and the project's settings only."""
    template = stack.template
    conds = {c.name: c.expression for c in template.conditions}
    maps = template.mappings
    targets = []
    target_values = []
    for target in stackinfo.targets(handbook, stack):
        targets.append((target.env, target.region))
        target_values.append(stackinfo.pseudo_values(target))

    exports = []
    template_exports = template.exports
    for values in target_values:
        found = []
        for out in template_exports:
            if out.condition and condition_value(out.condition, values, conds,
                                                 maps) is False:
                continue
            name = evaluate(out.export_name, values, conds, maps)
            if isinstance(name, str):
                found.append((name, out.name))
        exports.append(tuple(found))

    imports = []
    for imp in template.imports:
        names: list[str | None] = []
        patterns: list[str | None] = []
        for values in target_values:
            name = evaluate(imp, values, conds, maps)
            if isinstance(name, str):
                names.append(name)
                patterns.append(None)
            else:
                names.append(None)
                patterns.append(import_pattern(imp, values, conds, maps))
        imports.append(ImportPart(render(imp), tuple(names), tuple(patterns)))

    if not conds:  # evaluated without conditions above already
        imported = tuple(name for i in range(len(target_values)) for part in imports
                         if (name := part.names[i]) is not None)
    else:
        found_names = []
        for values in target_values:
            for imp in template.imports:
                v = evaluate(imp, values, {}, maps)
                if isinstance(v, str):
                    found_names.append(v)
        imported = tuple(found_names)

    return StackSurface(
        path=os.path.abspath(template.path),
        targets=tuple(targets),
        exports=tuple(exports),
        imports=tuple(imports),
        imported=imported,
        nested=tuple((n.logical_id, os.path.abspath(n.local_path))
                     for n in template.nested_stacks if n.local_path is not None),
        outputs=tuple((o.name, identifiers(o.description)) for o in template.outputs),
        parameters=tuple(ParameterPart(p.name, True, p.default, identifiers(p.description))
                         if p.has_default else ParameterPart(p.name, False, None, _NO_WORDS)
                         for p in template.parameters),
    )


def surfaces(handbook: Handbook) -> tuple[StackSurface, ...]:
    """Every stack's surface, in ``handbook.stacks`` order (computed once per handbook,
    or seeded by the process that parsed the templates)."""
    return handbook.derived(SURFACES,  # type: ignore[no-any-return]
                            lambda: tuple(stack_surface(handbook, st)
                                          for st in handbook.stacks))
