"""Deployment order across the handbook's stacks.

A real deployment is several stacks that need each other: one imports what another
exports (``Fn::ImportValue`` <-> ``Export``), one is a nested stack of another, or
``docgen.yml`` wires a parameter to another stack's output. This module turns those
facts into a dependency graph and a deterministic topological order. It is pure: it
reads the handbook and returns values; pages decide how to show them.

Rules (each shown on the deployment-order page, none written for one example):

* Export names are resolved per environment, with the same values the commands use
  (``docgen.stackinfo``), so ``!Sub "${AWS::StackName}-VpcId"`` matches the importer's
  ``!ImportValue`` of the real stack name. Exports are regional: an import only matches
  an export of a stack in the same region. An import whose name cannot be known before
  deployment is matched as a pattern (unknown parts are wildcards) when exactly one
  handbook stack has a matching export.
* An import that no handbook stack exports is not an error: the export may come from a
  stack outside the handbook. It is reported as a warning that names the export.
* A cycle through exports, nested stacks or required wired parameters cannot be
  deployed: :class:`~docgen.diagnostics.DocgenError` names the stacks and the edges.
* A wired parameter that has a default can be left at its default on the first
  deployment; when honouring it would close a cycle, it becomes a *follow-up*: the
  stack is deployed first without it and updated once the other stack exists.
* A parameter with a default whose description names another stack's output (or an
  output whose description names the parameter) is a *hint*: not an edge, because it
  comes from free text, but shown so the team can wire it (or run the follow-up).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from docgen.analyse.surface import ParameterPart, StackSurface, identifiers, surfaces
from docgen.diagnostics import DocgenError
from docgen.model import Handbook

#: Edge kinds, in the order they are listed on pages.
KINDS = ("nested", "export", "wiring")


@dataclass(frozen=True, slots=True)
class Edge:
    """``before`` must be deployed before ``after``."""

    before: str
    after: str
    kind: str  # "export" | "wiring" | "nested"
    detail: str  # export name, "output -> parameter", or nested logical id
    output: str | None = None
    parameter: str | None = None
    envs: tuple[str, ...] = ()  # environments where an export edge was matched (by name)
    pattern: bool = False  # matched an import expression with unknown parts

    def describe(self) -> str:
        """One line for error messages and lists."""
        if self.kind == "export":
            how = "matched by pattern" if self.pattern else "by name"
            return f"{self.after} imports export {self.detail!r} of {self.before} ({how})"
        if self.kind == "nested":
            return f"{self.after} contains {self.before} as nested stack {self.detail!r}"
        return (f"{self.after} parameter {self.parameter!r} is wired to output "
                f"{self.output!r} of {self.before} (docgen.yml)")


@dataclass(frozen=True, slots=True)
class DanglingImport:
    """An ``Fn::ImportValue`` that no handbook stack exports (maybe from outside)."""

    stack: str
    expression: str  # the import as written (short form)
    names: tuple[str, ...]  # the export names it resolves to (empty: unknown)
    reason: str


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A second deployment of ``stack`` once ``from_stack`` exists.

    ``source`` is ``"config"`` (a wiring in docgen.yml that would otherwise close a
    cycle) or ``"template"`` (a hint read from a parameter or output description).
    ``required`` is True when the follow-up is part of the order (config wiring) and
    False for a hint the team should confirm.
    """

    stack: str
    parameter: str
    from_stack: str
    output: str
    source: str
    reason: str
    default: Any = None
    required: bool = True
    second_pass: bool = True  # False: ``from_stack`` is already deployed before ``stack``


@dataclass(frozen=True, slots=True)
class Warning_:
    """A problem worth showing on the page that does not stop the build."""

    stack: str
    message: str


@dataclass(frozen=True, slots=True)
class DeploymentOrder:
    """The result: stack ids in order, the edges that made it, and what to watch."""

    order: tuple[str, ...]
    edges: tuple[Edge, ...]
    dangling: tuple[DanglingImport, ...] = ()
    follow_ups: tuple[FollowUp, ...] = ()
    hints: tuple[FollowUp, ...] = ()
    nested_in: tuple[tuple[str, str, str], ...] = ()  # (child id, parent id, logical id)
    warnings: tuple[Warning_, ...] = ()
    levels: tuple[tuple[str, ...], ...] = field(default=())  # stacks deployable together

    def depends_on(self, stack_id: str) -> tuple[Edge, ...]:
        """Edges naming what must exist before ``stack_id``."""
        return tuple(e for e in self.edges if e.after == stack_id)

    def dependents(self, stack_id: str) -> tuple[Edge, ...]:
        """Edges naming what needs ``stack_id`` to exist first."""
        return tuple(e for e in self.edges if e.before == stack_id)

    def parent_of(self, stack_id: str) -> tuple[str, str] | None:
        """``(parent id, logical id)`` when the stack is deployed as a nested stack."""
        for child, parent, logical in self.nested_in:
            if child == stack_id:
                return parent, logical
        return None

    def position(self, stack_id: str) -> int:
        return self.order.index(stack_id) + 1 if stack_id in self.order else 0


# --- exports and imports -----------------------------------------------------------------
#
# Other stacks are read only through their surfaces (``docgen.analyse.surface``): small
# per-stack parts that a process which parsed a template can compute and send, so this
# analysis never needs another stack's template.


def _export_table(handbook: Handbook, parts: tuple[StackSurface, ...]
                  ) -> dict[tuple[str | None, str | None, str], list[tuple[str, str]]]:
    """(env, region, export name) -> [(stack id, output name)]."""
    table: dict[tuple[str | None, str | None, str], list[tuple[str, str]]] = {}
    for stack, part in zip(handbook.stacks, parts, strict=True):
        sid = stack.id
        for (env, region), found in zip(part.targets, part.exports, strict=True):
            for name, output in found:
                table.setdefault((env, region, name), []).append((sid, output))
    return table


def _pattern(pattern: str | None) -> re.Pattern[str] | None:
    """The compiled regex of an import name with unknown parts (``re`` caches it)."""
    return re.compile(pattern) if pattern is not None else None


def _import_edges(handbook: Handbook, parts: tuple[StackSurface, ...]
                  ) -> tuple[list[Edge], list[DanglingImport], list[Warning_]]:
    table = _export_table(handbook, parts)
    by_key: dict[tuple[str, str, str, bool], set[str]] = {}  # (before, after, name, pattern)
    dangling: list[DanglingImport] = []
    warnings: list[Warning_] = []
    for stack, part in zip(handbook.stacks, parts, strict=True):
        sid_self = stack.id
        for imp in part.imports:
            unmatched: list[str] = []
            unresolved = False
            matched = False
            for (env, region), name, pattern_text in zip(part.targets, imp.names,
                                                         imp.patterns, strict=True):
                label = env or ""
                if name is not None:
                    found = [(sid, o) for sid, o in table.get((env, region, name), [])
                             if sid != sid_self]
                    if not found and region is not None:
                        # an exporter without a configured region deploys wherever the CLI
                        # points: it can satisfy an import in any region
                        found = [(sid, o) for sid, o in table.get((env, None, name), [])
                                 if sid != sid_self]
                    own = [o for sid, o in table.get((env, region, name), []) if sid == sid_self]
                    if own and not found:
                        warnings.append(Warning_(sid_self, f"imports its own export {name!r}: "
                                                 "CloudFormation refuses this"))
                        continue
                    exporters = sorted({sid for sid, _ in found})
                    if len(exporters) > 1:
                        warnings.append(Warning_(sid_self, (
                            f"export {name!r} is exported by several stacks in the same "
                            f"region ({', '.join(exporters)}); only one deployment can own "
                            "it, so no order is derived from it")))
                        continue
                    if exporters:
                        by_key.setdefault((exporters[0], sid_self, name, False), set()).add(label)
                        matched = True
                    elif name not in unmatched:
                        unmatched.append(name)
                    continue
                pattern = _pattern(pattern_text)
                hits = sorted({(sid, n) for (e, r, n), owners in table.items()
                               if e == env and (r == region or r is None or region is None)
                               and pattern is not None and pattern.match(n)
                               for sid, _ in owners if sid != sid_self})
                exporters = sorted({sid for sid, _ in hits})
                if len(exporters) == 1:
                    for sid, n in hits:
                        by_key.setdefault((sid, sid_self, n, True), set()).add(label)
                    matched = True
                else:
                    unresolved = True
            if unmatched:
                dangling.append(DanglingImport(
                    sid_self, imp.expression, tuple(unmatched),
                    "no stack in the handbook exports it; it may come from a stack outside "
                    "the handbook, which must exist (in the same region) before this one"))
            elif unresolved and not matched:
                dangling.append(DanglingImport(
                    sid_self, imp.expression, (),
                    "its name is not known before deployment and matches no export of a "
                    "single handbook stack; it may come from a stack outside the handbook"))
    edges = [Edge(before, after, "export", name, envs=tuple(sorted(e for e in envs if e)),
                  pattern=pattern)
             for (before, after, name, pattern), envs in sorted(by_key.items())]
    return edges, dangling, warnings


# --- nested stacks and wiring --------------------------------------------------------------


def _nested_edges(handbook: Handbook, parts: tuple[StackSurface, ...]) -> list[Edge]:
    by_path = {part.path: st.id for st, part in zip(handbook.stacks, parts, strict=True)}
    edges = []
    for st, part in zip(handbook.stacks, parts, strict=True):
        for logical_id, local_path in part.nested:
            child = by_path.get(local_path)
            if child is not None and child != st.id:
                edges.append(Edge(child, st.id, "nested", logical_id))
    return edges


def _wiring_edges(handbook: Handbook, parts: tuple[StackSurface, ...]
                  ) -> tuple[list[tuple[Edge, bool, Any]], list[Warning_]]:
    """(edge, soft, default) per wiring; soft = the parameter has a default."""
    out: list[tuple[Edge, bool, Any]] = []
    warnings: list[Warning_] = []
    by_id: dict[str, StackSurface] | None = None
    for st, part in zip(handbook.stacks, parts, strict=True):
        if not st.config.wiring:
            continue
        if by_id is None:  # the first stack with an id, as handbook.stack finds it
            by_id = {s.id: p for s, p in reversed(tuple(zip(handbook.stacks, parts,
                                                             strict=True)))}
        params: dict[str, ParameterPart] = {}
        for p in part.parameters:
            params.setdefault(p.name, p)  # the first, as Template.parameter finds it
        for w in st.config.wiring:
            source = by_id.get(w.from_stack)
            if source is None:
                continue
            if not any(name == w.output for name, _ in source.outputs):
                warnings.append(Warning_(st.id, (
                    f"parameter {w.parameter!r} is wired to output {w.output!r} of "
                    f"{w.from_stack}, which its template does not declare")))
            param = params.get(w.parameter)
            if param is None:
                warnings.append(Warning_(st.id, (
                    f"docgen.yml wires parameter {w.parameter!r}, which the template does "
                    "not declare")))
                continue
            edge = Edge(w.from_stack, st.id, "wiring", f"{w.output} -> {w.parameter}",
                        output=w.output, parameter=w.parameter)
            out.append((edge, param.has_default, param.default))
    return out, warnings


_COMPOUND = re.compile(r"^[A-Za-z][a-z0-9]+(?:[A-Z][A-Za-z0-9]*)+$|_")

#: The identifier-like words of a description (kept in each stack's surface).
_identifiers = identifiers


def _specific(name: str) -> bool:
    """A compound identifier (``ReplicationTargetId``), not a plain word like ``Bucket``."""
    return len(name) >= 5 and _COMPOUND.search(name) is not None


def _hints(handbook: Handbook, parts: tuple[StackSurface, ...]) -> list[FollowUp]:
    """Optional parameters that the templates' own descriptions tie to another stack's output."""
    pairs = tuple(zip(handbook.stacks, parts, strict=True))
    owners_of: dict[str, list[tuple[str, frozenset[str]]]] = {}
    declared: dict[str, list[str]] = {}
    todo: list[tuple[str, ParameterPart]] = []  # parameters with a default, not wired
    for st, part in pairs:
        sid = st.id
        for oname, owords in part.outputs:
            owners_of.setdefault(oname, []).append((sid, owords))
        wired = {w.parameter for w in st.config.wiring}
        for p in part.parameters:
            declared.setdefault(p.name, []).append(sid)
            if p.has_default and p.name not in wired:
                todo.append((sid, p))
    # a parameter's description can only name an output of one stack with a specific name
    named = {oname: owners[0][0] for oname, owners in owners_of.items()
             if len(owners) == 1 and _specific(oname)}
    # the parameters an output's description may name: specific, declared by one stack
    asked = {p.name for sid, p in todo if declared[p.name] == [sid] and _specific(p.name)}
    mentioned_by: dict[str, list[tuple[str, str]]] = {}  # word -> unique outputs naming it
    if asked:
        for oname, owners in sorted(owners_of.items()):
            if len(owners) == 1:
                for word in owners[0][1] & asked:
                    mentioned_by.setdefault(word, []).append((owners[0][0], oname))
    hints = []
    for sid_self, p in todo:
        found: tuple[str, str, str] | None = None
        if p.words:
            for oname in sorted(p.words & named.keys()):
                sid = named[oname]
                if sid != sid_self:
                    found = (sid, oname, f"the description of parameter {p.name} names "
                                         f"output {oname} of stack {sid}")
                    break
        if found is None and p.name in asked:
            for sid, oname in mentioned_by.get(p.name, ()):
                if sid != sid_self:
                    found = (sid, oname, f"the description of output {oname} of stack "
                                         f"{sid} names parameter {p.name}")
                    break
        if found:
            hints.append(FollowUp(sid_self, p.name, found[0], found[1], "template", found[2],
                                  default=p.default, required=False))
    return hints


# --- graph -----------------------------------------------------------------------------------


def _reachable(adj: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        for nxt in adj.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def _find_cycle(ids: list[str], edges: Iterable[Edge]) -> list[str] | None:
    """One cycle as a list of stack ids (first == last), in handbook order, or None."""
    adj: dict[str, list[str]] = {i: [] for i in ids}
    for e in edges:
        if e.after not in adj.setdefault(e.before, []):
            adj[e.before].append(e.after)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in adj.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for i in ids:
        if state.get(i) is None:
            found = visit(i)
            if found:
                return found
    return None


def _cycle_error(cycle: list[str], edges: list[Edge]) -> DocgenError:
    lines = []
    for a, b in itertools.pairwise(cycle):
        for e in edges:
            if e.before == a and e.after == b:
                lines.append(f"  {a} -> {b}: {e.describe()}")
    path = " -> ".join(cycle)
    return DocgenError(
        "deployment order: the stacks depend on each other in a cycle, so none of them can "
        f"be deployed first: {path}\n" + "\n".join(lines) + "\n"
        "Break the cycle: move the shared resource to its own stack, or give a wired "
        "parameter a default so that it can be filled by a second deployment.")


def _toposort(ids: list[str], edges: list[Edge]) -> tuple[list[str], list[tuple[str, ...]]]:
    """Kahn's algorithm; ties broken by handbook order, so the result is deterministic."""
    rank = {sid: i for i, sid in enumerate(ids)}
    preds: dict[str, set[str]] = {i: set() for i in ids}
    for e in edges:
        if e.before != e.after:
            preds[e.after].add(e.before)
    done: list[str] = []
    levels: list[tuple[str, ...]] = []
    placed: set[str] = set()
    while len(done) < len(ids):
        ready = sorted((i for i in ids if i not in placed and preds[i] <= placed),
                       key=rank.__getitem__)
        if not ready:  # pragma: no cover - cycles are found before sorting
            break
        levels.append(tuple(ready))
        done.extend(ready)
        placed.update(ready)
    return done, levels


def analyse(handbook: Handbook) -> DeploymentOrder:
    """The deployment order of the handbook's stacks (raises DocgenError on a cycle)."""
    ids = [st.id for st in handbook.stacks]
    parts = surfaces(handbook)
    export_edges, dangling, warnings = _import_edges(handbook, parts)
    nested = _nested_edges(handbook, parts)
    wiring, wiring_warnings = _wiring_edges(handbook, parts)
    warnings.extend(wiring_warnings)
    hard = [*nested, *export_edges, *(e for e, soft, _ in wiring if not soft)]
    self_loops = [e for e in hard if e.before == e.after]
    cycle = [self_loops[0].before, self_loops[0].before] if self_loops else _find_cycle(ids, hard)
    if cycle:
        raise _cycle_error(cycle, hard)
    adj: dict[str, set[str]] = {}
    for e in hard:
        adj.setdefault(e.before, set()).add(e.after)
    follow_ups: list[FollowUp] = []
    edges = list(hard)
    for e, soft, default in wiring:
        if not soft:
            continue
        if e.before == e.after or _reachable(adj, e.after, e.before):
            follow_ups.append(FollowUp(
                e.after, e.parameter or "", e.before, e.output or "", "config",
                f"docgen.yml wires it to output {e.output} of stack {e.before}, which itself "
                f"needs stack {e.after} first; the parameter has a default, so {e.after} is "
                "deployed without it first and updated afterwards", default=default))
            continue
        edges.append(e)
        adj.setdefault(e.before, set()).add(e.after)
    order, levels = _toposort(ids, edges)
    position = {sid: i for i, sid in enumerate(order)}
    hints = [FollowUp(h.stack, h.parameter, h.from_stack, h.output, h.source, h.reason,
                      h.default, required=False,
                      second_pass=position[h.from_stack] > position[h.stack])
             for h in _hints(handbook, parts)]
    kind_rank = {k: i for i, k in enumerate(KINDS)}
    edges.sort(key=lambda e: (position[e.after], position[e.before], kind_rank[e.kind],
                              e.detail))
    nested_in = tuple((e.before, e.after, e.detail) for e in nested)
    return DeploymentOrder(tuple(order), tuple(edges), tuple(dangling), tuple(follow_ups),
                           tuple(hints), nested_in, tuple(warnings), tuple(levels))
