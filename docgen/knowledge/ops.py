"""The operations knowledge base: typed records loaded from ``knowledge/ops/*.yml``.

Each YAML file holds a list of self-contained records (one AWS service per file).
Every record has an ``id``, a ``kind``, the resource ``types`` it applies to, an
optional ``when`` condition (:mod:`docgen.knowledge.conditions`), its text, optional
structured commands, and a ``source``. The schema is enforced at load time; a broken
record is a :class:`~docgen.diagnostics.KnowledgeError` naming file and line, so a bad
user override fails the build instead of silently vanishing from a page.

Kinds and their fields (``*`` = required)::

  provisioning  minutes*: [low, high]   text*
  failure       title* symptom* cause* steps*  error_codes  stack_states
  pitfall       title* text*  steps
  recovery      action* (skip_update_rollback | retain_on_delete)  text*
  backup        data* settings*  missing  snapshot  restore  variables
  alarm         namespace* metric* statistic* threshold* (number or null)
                threshold_reason (* when threshold is null) comparison* period*
                evaluation_periods* datapoints* dimensions* text*  title
  dashboard     metrics*: [{namespace metric statistic dimensions text}]
  stack_state   state* text* steps*

A step is ``{text, command?, capture?}``; a command is
``{service, operation, waiter?, options: {--opt: value | [values] | []}}`` whose values
may hold placeholders filled in by :mod:`docgen.analyse.ops` for one deployment
target: ``{stack}`` (stack name), ``{logical_id}``, ``{physical_id}`` (the literal name
or a ``describe-stack-resource`` lookup), ``{var:NAME}`` (a value the operator chooses,
declared under ``variables``, or captured by an earlier step's ``capture``),
``{prop:Path}`` (a property's value, or the physical id of the resource it references;
the command is left out when it has none) and ``{prop:Path?}`` (the option is left out
instead), ``{skippable}`` / ``{retainable}`` (one command per recovery candidate). The
``--region`` option is added from the stack's region. Variable names ending in ``_ID``
are reserved for physical-id lookups.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from docgen.diagnostics import Diagnostic, KnowledgeError
from docgen.knowledge import conditions
from docgen.knowledge.conditions import Condition
from docgen.loader import parse_yaml
from docgen.nodes import line_of

KINDS = ("provisioning", "failure", "pitfall", "recovery", "backup", "alarm", "dashboard",
         "stack_state")
RECOVERY_ACTIONS = ("skip_update_rollback", "retain_on_delete")
STACK_STATES = ("CREATE_FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
                "UPDATE_FAILED", "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
                "DELETE_FAILED", "IMPORT_ROLLBACK_FAILED", "CREATE_IN_PROGRESS",
                "UPDATE_IN_PROGRESS", "DELETE_IN_PROGRESS")
COMPARISONS = ("GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold",
               "LessThanOrEqualToThreshold")
STATISTICS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TYPE = re.compile(r"^(AWS|Custom|Alexa)::[A-Za-z0-9]+(::[A-Za-z0-9]+)?$|^Custom::[A-Za-z0-9_@-]+$")
_OPTION = re.compile(r"^--[a-z0-9][a-z0-9-]*$")
_VAR = re.compile(r"^[A-Z][A-Z0-9_]*$")
_PERCENTILE = re.compile(r"^p\d{1,2}(\.\d+)?$")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record was defined (for error messages and the catalogue)."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """An AWS CLI command with placeholders, as written in the knowledge base."""

    service: str
    operation: str
    options: tuple[tuple[str, tuple[str, ...]], ...] = ()
    waiter: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One instruction: text, optionally a command (whose output ``capture`` stores)."""

    text: str
    command: CommandSpec | None = None
    capture: str | None = None


@dataclass(frozen=True, slots=True)
class Setting:
    """A backup-relevant property: what it is, its documented default, and its source."""

    path: str
    source_kind: str  # "property" | "attribute"
    label: str
    default: Any
    text: str


@dataclass(frozen=True, slots=True)
class Gap:
    """Something missing from a backup configuration, when its condition holds."""

    when: Condition
    text: str


@dataclass(frozen=True, slots=True)
class Procedure:
    title: str
    text: str
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Metric:
    namespace: str
    metric: str
    statistic: str
    dimensions: tuple[tuple[str, str], ...]
    text: str


@dataclass(frozen=True, slots=True)
class Variable:
    """A value the operator chooses (restore time, target name), shown with an example."""

    name: str
    example: str
    text: str


@dataclass(frozen=True, slots=True)
class Record:
    """One knowledge record. Fields not used by a kind keep their empty defaults."""

    id: str
    kind: str
    types: tuple[str, ...]
    when: Condition
    source: tuple[str, ...]
    origin: Origin
    title: str = ""
    text: str = ""
    # provisioning
    minutes: tuple[float, float] | None = None
    # failure / pitfall / stack_state
    symptom: str = ""
    cause: str = ""
    steps: tuple[Step, ...] = ()
    error_codes: tuple[str, ...] = ()
    stack_states: tuple[str, ...] = ()
    state: str = ""
    # recovery
    action: str = ""
    # backup
    data: str = ""
    settings: tuple[Setting, ...] = ()
    missing: tuple[Gap, ...] = ()
    snapshot: tuple[Step, ...] = ()
    restore: tuple[Procedure, ...] = ()
    variables: tuple[Variable, ...] = ()
    # alarm
    namespace: str = ""
    metric: str = ""
    statistic: str = ""
    threshold: float | None = None
    threshold_reason: str = ""
    comparison: str = ""
    period: int = 0
    evaluation_periods: int = 0
    datapoints: int = 0
    dimensions: tuple[tuple[str, str], ...] = ()
    # dashboard
    metrics: tuple[Metric, ...] = ()

    def applies_to(self, resource_type: str) -> bool:
        return resource_type in self.types


# --- validation ------------------------------------------------------------------------


class _Invalid(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line




class _Fields:
    """Typed access to one mapping with the record id in every message."""

    def __init__(self, node: Any, what: str, line: int, allowed: Iterable[str]) -> None:
        if not isinstance(node, dict):
            raise _Invalid(f"{what}: expected a mapping, got {type(node).__name__}", line)
        self.node = node
        self.what = what
        unknown = sorted(set(node) - set(allowed))
        if unknown:
            raise _Invalid(f"{what}: unknown field {unknown[0]!r} (allowed: "
                           f"{', '.join(sorted(allowed))})", line_of(node, unknown[0], line))

    def line(self, key: str) -> int:
        return line_of(self.node, key)

    def fail(self, key: str, message: str) -> _Invalid:
        return _Invalid(f"{self.what}: field '{key}' {message}", self.line(key))

    def has(self, key: str) -> bool:
        return key in self.node

    def get(self, key: str, required: bool = True) -> Any:
        if key not in self.node:
            if required:
                raise _Invalid(f"{self.what}: missing required field '{key}'", line_of(self.node))
            return None
        return self.node[key]

    def text(self, key: str, required: bool = True) -> str:
        value = self.get(key, required)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"must be non-empty text, got {value!r}")
        return " ".join(value.split()) if "\n" in value else value.strip()

    def texts(self, key: str, required: bool = False) -> tuple[str, ...]:
        value = self.get(key, required)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(key, "must be a list of text")
        return tuple(value)

    def integer(self, key: str) -> int:
        value = self.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise self.fail(key, f"must be a positive integer, got {value!r}")
        return value

    def choice(self, key: str, options: Iterable[str], required: bool = True) -> str:
        value = self.get(key, required)
        if value is None:
            return ""
        options = tuple(options)
        if value not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}; got {value!r}")
        return value


def _command(node: Any, what: str, line: int) -> CommandSpec:
    f = _Fields(node, what, line, ("service", "operation", "waiter", "options"))
    service = f.text("service")
    operation = f.text("operation")
    waiter = f.text("waiter", required=False) or None
    if (operation == "wait") != (waiter is not None):
        raise f.fail("waiter", "is required with operation 'wait' and only allowed there")
    raw = f.get("options", required=False) or {}
    if not isinstance(raw, dict):
        raise f.fail("options", "must be a mapping of --option: value")
    options: list[tuple[str, tuple[str, ...]]] = []
    for opt, value in raw.items():
        if not isinstance(opt, str) or not _OPTION.match(opt):
            raise _Invalid(f"{what}: option {opt!r} must look like --name", line_of(raw, opt))
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
            raise _Invalid(f"{what}: option {opt} values must be text or numbers",
                           line_of(raw, opt))
        options.append((opt, tuple(str(v) for v in values)))
    return CommandSpec(service, operation, tuple(options), waiter)


def _steps(node: Any, what: str, line: int) -> tuple[Step, ...]:
    if node is None:
        return ()
    if not isinstance(node, list) or not node:
        raise _Invalid(f"{what}: must be a non-empty list of steps", line)
    out = []
    for i, item in enumerate(node):
        where = f"{what}[{i}]"
        f = _Fields(item, where, line_of(node, i, line), ("text", "command", "capture"))
        command = (_command(f.get("command"), f"{where}.command", f.line("command"))
                   if f.has("command") else None)
        capture = f.text("capture", required=False) or None
        if capture is not None and (command is None or not _VAR.match(capture)
                                    or capture.endswith("_ID")):
            raise f.fail("capture", "needs a command and an UPPER_CASE variable name not "
                         "ending in _ID (reserved for physical-id lookups)")
        out.append(Step(f.text("text"), command, capture))
    return tuple(out)


def _condition(f: _Fields, key: str) -> Condition:
    try:
        return conditions.parse(f.get(key, required=False), key)
    except conditions.ConditionError as exc:
        raise _Invalid(f"{f.what}: bad condition: {exc}", f.line(key)) from None


def _dimensions(f: _Fields, key: str) -> tuple[tuple[str, str], ...]:
    raw = f.get(key)
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise f.fail(key, "must be a mapping of dimension name to a value template")
    return tuple((str(k), v) for k, v in raw.items())


def _statistic(f: _Fields, key: str) -> str:
    value = f.text(key)
    if value not in STATISTICS and not _PERCENTILE.match(value):
        raise f.fail(key, f"must be one of {', '.join(STATISTICS)} or a percentile like p90")
    return value


_COMMON = ("id", "kind", "types", "when", "source", "title", "text")
_KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "provisioning": ("minutes",),
    "failure": ("symptom", "cause", "steps", "error_codes", "stack_states"),
    "pitfall": ("steps",),
    "recovery": ("action",),
    "backup": ("data", "settings", "missing", "snapshot", "restore", "variables"),
    "alarm": ("namespace", "metric", "statistic", "threshold", "threshold_reason", "comparison",
              "period", "evaluation_periods", "datapoints", "dimensions"),
    "dashboard": ("metrics",),
    "stack_state": ("state", "steps"),
}


def _record(node: Any, file: str, line: int) -> Record:
    if not isinstance(node, dict):
        raise _Invalid(f"a record is a mapping, got {type(node).__name__}", line)
    rid = node.get("id")
    what = f"record {rid!r}" if isinstance(rid, str) else "record"
    kind = node.get("kind")
    if kind not in KINDS:
        raise _Invalid(f"{what}: unknown kind {kind!r} (known: {', '.join(KINDS)})",
                       line_of(node, "kind", line))
    f = _Fields(node, what, line, _COMMON + _KIND_FIELDS[kind])
    if not isinstance(rid, str) or not _ID.match(rid):
        raise f.fail("id", "must be lower-case words joined by dashes")
    types = f.texts("types", required=kind != "stack_state")
    for t in types:
        if not _TYPE.match(t):
            raise f.fail("types", f"has {t!r}, which is not a resource type like AWS::S3::Bucket")
    if kind != "stack_state" and not types:
        raise f.fail("types", "must name at least one resource type")
    source = f.texts("source", required=True)
    if not source:
        raise f.fail("source", "must cite at least one source")
    common: dict[str, Any] = {
        "id": rid, "kind": kind, "types": types, "when": _condition(f, "when"),
        "source": source, "origin": Origin(file, line),
        "title": f.text("title", required=kind in ("failure", "pitfall")),
    }
    return Record(**common, **_KIND_PARSERS[kind](f))


def _provisioning(f: _Fields) -> dict[str, Any]:
    value = f.get("minutes")
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not 0 < value[0] <= value[1]):
        raise f.fail("minutes", f"must be [low, high] with 0 < low <= high, got {value!r}")
    return {"minutes": (float(value[0]), float(value[1])), "text": f.text("text")}


def _failure(f: _Fields) -> dict[str, Any]:
    states = f.texts("stack_states")
    for s in states:
        if s not in STACK_STATES:
            raise f.fail("stack_states", f"has unknown stack state {s!r}")
    return {
        "symptom": f.text("symptom"), "cause": f.text("cause"),
        "steps": _steps(f.get("steps"), f"{f.what}.steps", f.line("steps")),
        "error_codes": f.texts("error_codes"), "stack_states": states,
        "text": f.text("text", required=False),
    }


def _pitfall(f: _Fields) -> dict[str, Any]:
    steps = (_steps(f.get("steps"), f"{f.what}.steps", f.line("steps"))
             if f.has("steps") else ())
    return {"text": f.text("text"), "steps": steps}


def _recovery(f: _Fields) -> dict[str, Any]:
    return {"action": f.choice("action", RECOVERY_ACTIONS), "text": f.text("text")}


def _stack_state(f: _Fields) -> dict[str, Any]:
    return {
        "state": f.choice("state", STACK_STATES, required=False), "text": f.text("text"),
        "steps": _steps(f.get("steps"), f"{f.what}.steps", f.line("steps")),
    }


def _backup(f: _Fields) -> dict[str, Any]:
    settings = []
    raw = f.get("settings")
    if not isinstance(raw, list) or not raw:
        raise f.fail("settings", "must be a non-empty list")
    for i, item in enumerate(raw):
        where = f"{f.what}.settings[{i}]"
        s = _Fields(item, where, line_of(raw, i), ("property", "attribute", "label", "default",
                                                  "text"))
        if s.has("property") == s.has("attribute"):
            raise _Invalid(f"{where}: name exactly one of 'property' or 'attribute'",
                           line_of(raw, i))
        kind = "property" if s.has("property") else "attribute"
        if not s.has("default"):
            raise _Invalid(f"{where}: missing required field 'default' (use null when the "
                           "property has no documented default)", line_of(raw, i))
        settings.append(Setting(s.text(kind), kind, s.text("label"), s.get("default"),
                                s.text("text")))
    gaps = []
    for i, item in enumerate(f.get("missing", required=False) or []):
        where = f"{f.what}.missing[{i}]"
        g = _Fields(item, where, line_of(f.get("missing"), i), ("when", "text"))
        if not g.has("when"):
            raise _Invalid(f"{where}: missing required field 'when'", line_of(item))
        gaps.append(Gap(_condition(g, "when"), g.text("text")))
    restores = []
    raw_restore = f.get("restore", required=False) or []
    if not isinstance(raw_restore, list):
        raise f.fail("restore", "must be a list of procedures")
    for i, item in enumerate(raw_restore):
        where = f"{f.what}.restore[{i}]"
        p = _Fields(item, where, line_of(raw_restore, i), ("title", "text", "steps"))
        restores.append(Procedure(p.text("title"), p.text("text"),
                                  _steps(p.get("steps"), f"{where}.steps", p.line("steps"))))
    variables = []
    raw_vars = f.get("variables", required=False) or {}
    if not isinstance(raw_vars, dict):
        raise f.fail("variables", "must map NAME to {example, text}")
    for name, item in raw_vars.items():
        if not _VAR.match(str(name)) or str(name).endswith("_ID"):
            raise _Invalid(f"{f.what}: variable {name!r} must be UPPER_CASE and not end in "
                           "_ID (reserved for physical-id lookups)", line_of(raw_vars, name))
        v = _Fields(item, f"{f.what}.variables.{name}", line_of(raw_vars, name),
                    ("example", "text"))
        variables.append(Variable(str(name), v.text("example"), v.text("text")))
    snapshot = (_steps(f.get("snapshot"), f"{f.what}.snapshot", f.line("snapshot"))
                if f.has("snapshot") else ())
    return {
        "data": f.text("data"), "settings": tuple(settings), "missing": tuple(gaps),
        "snapshot": snapshot, "restore": tuple(restores), "variables": tuple(variables),
        "text": f.text("text", required=False),
    }


def _alarm(f: _Fields) -> dict[str, Any]:
    threshold = f.get("threshold")
    if threshold is not None and (isinstance(threshold, bool)
                                  or not isinstance(threshold, (int, float))):
        raise f.fail("threshold", f"must be a number or null, got {threshold!r}")
    reason = f.text("threshold_reason", required=threshold is None)
    datapoints = f.integer("datapoints")
    evaluation = f.integer("evaluation_periods")
    if datapoints > evaluation:
        raise f.fail("datapoints", "cannot exceed evaluation_periods")
    return {
        "namespace": f.text("namespace"), "metric": f.text("metric"),
        "statistic": _statistic(f, "statistic"),
        "threshold": None if threshold is None else float(threshold),
        "threshold_reason": reason, "comparison": f.choice("comparison", COMPARISONS),
        "period": f.integer("period"), "evaluation_periods": evaluation,
        "datapoints": datapoints, "dimensions": _dimensions(f, "dimensions"),
        "text": f.text("text"),
    }


def _dashboard(f: _Fields) -> dict[str, Any]:
    raw = f.get("metrics")
    if not isinstance(raw, list) or not raw:
        raise f.fail("metrics", "must be a non-empty list")
    metrics = []
    for i, item in enumerate(raw):
        m = _Fields(item, f"{f.what}.metrics[{i}]", line_of(raw, i),
                    ("namespace", "metric", "statistic", "dimensions", "text"))
        metrics.append(Metric(m.text("namespace"), m.text("metric"), _statistic(m, "statistic"),
                              _dimensions(m, "dimensions"), m.text("text")))
    return {"metrics": tuple(metrics), "text": f.text("text", required=False)}


_KIND_PARSERS = {
    "provisioning": _provisioning, "failure": _failure, "pitfall": _pitfall,
    "recovery": _recovery, "backup": _backup, "alarm": _alarm, "dashboard": _dashboard,
    "stack_state": _stack_state,
}


# --- loading -----------------------------------------------------------------------------


def parse_file(text: str, path: str) -> tuple[tuple[Record, ...], list[Diagnostic]]:
    """Parse one knowledge file. Every broken record is reported, none is kept half-read."""
    data, diags = parse_yaml(text, path)
    if diags:
        return (), diags
    if not isinstance(data, list):
        return (), [Diagnostic(path, line_of(data), 1, "a knowledge file is a list of records")]
    records: list[Record] = []
    errors: list[Diagnostic] = []
    seen: dict[str, int] = {}
    for i, node in enumerate(data):
        line = line_of(data, i)
        try:
            record = _record(node, path, line)
        except _Invalid as exc:
            errors.append(Diagnostic(path, exc.line, 1, str(exc)))
            continue
        if record.id in seen:
            errors.append(Diagnostic(path, line, 1, f"duplicate id {record.id!r} "
                                     f"(first defined on line {seen[record.id]})"))
            continue
        seen[record.id] = line
        records.append(record)
    return tuple(records), errors


def _read_dir(files: Iterable[tuple[str, str]]) -> tuple[list[Record], list[Diagnostic]]:
    records: list[Record] = []
    diags: list[Diagnostic] = []
    for path, text in files:
        recs, errs = parse_file(text, path)
        records.extend(recs)
        diags.extend(errs)
    return records, diags


def _package_files() -> list[tuple[str, str]]:
    root = resources.files("docgen.knowledge") / "ops"
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith((".yml", ".yaml")):
            out.append((f"docgen/knowledge/ops/{entry.name}", entry.read_text("utf-8")))
    return out


def _user_files(folder: str) -> list[tuple[str, str]]:
    ops = os.path.join(folder, "ops")
    if not os.path.isdir(ops):
        return []
    out = []
    for name in sorted(os.listdir(ops)):
        if name.endswith((".yml", ".yaml")):
            path = os.path.join(ops, name)
            with open(path, encoding="utf-8") as fh:
                out.append((path, fh.read()))
    return out


@dataclass(frozen=True, slots=True)
class OpsKnowledge:
    """All ops records, with lookups by kind and resource type."""

    records: tuple[Record, ...]
    #: (kind, resource type or None) -> records, filled on first lookup: pages ask per
    #: resource, and scanning every record each time was most of a troubleshooting page
    _of_kind: dict[tuple[str, str | None], tuple[Record, ...]] = field(
        init=False, default_factory=dict, repr=False, compare=False)

    def of_kind(self, kind: str, resource_type: str | None = None) -> tuple[Record, ...]:
        key = (kind, resource_type)
        found = self._of_kind.get(key)
        if found is None:
            # a corpus asks for some 400 types x 7 kinds: filter the kind's records, not all
            found = self._of_kind.get((kind, None))
            if found is None:
                found = self._of_kind[(kind, None)] = tuple(
                    r for r in self.records if r.kind == kind)
            if resource_type is not None:
                found = tuple(r for r in found if resource_type in r.types)
            self._of_kind[key] = found
        return found

    def by_id(self, record_id: str) -> Record | None:
        for r in self.records:
            if r.id == record_id:
                return r
        return None

    def types(self) -> frozenset[str]:
        return frozenset(t for r in self.records for t in r.types)

    def kinds_for(self, resource_type: str) -> frozenset[str]:
        return frozenset(r.kind for r in self.records if resource_type in r.types)


def merge(base: Iterable[Record], overrides: Iterable[Record]) -> tuple[Record, ...]:
    """User records replace package records with the same id (in place); new ids append."""
    over = {r.id: r for r in overrides}
    out = [over.pop(r.id, r) for r in base]
    out.extend(r for r in over.values())
    return tuple(out)


def load(user_folder: str | None = None) -> OpsKnowledge:
    """Load the package knowledge base, then the user's ``<folder>/ops/*.yml`` over it.

    Raises :class:`KnowledgeError` listing every broken record with file and line.
    The package part is parsed once per process; user files are read on every call so
    that ``mkdocs serve`` picks up edits.
    """
    base, diags = _package_records()
    user: list[Record] = []
    if user_folder:
        user, more = _read_dir(_user_files(user_folder))
        diags.extend(more)
    dupes = _duplicate_ids(base)
    diags.extend(dupes)
    if diags:
        raise KnowledgeError(f"{len(diags)} problem(s) in the ops knowledge base",
                             tuple(sorted(diags)))
    return OpsKnowledge(merge(base, user))


def _duplicate_ids(records: Iterable[Record]) -> list[Diagnostic]:
    seen: dict[str, Record] = {}
    out = []
    for r in records:
        if r.id in seen:
            first = seen[r.id].origin
            out.append(Diagnostic(r.origin.file, r.origin.line, 1,
                                  f"duplicate id {r.id!r} (first defined at {first})"))
        else:
            seen[r.id] = r
    return out


_PACKAGE_CACHE: list[tuple[list[Record], list[Diagnostic]]] = []


def _package_records() -> tuple[list[Record], list[Diagnostic]]:
    if not _PACKAGE_CACHE:
        _PACKAGE_CACHE.append(_read_dir(_package_files()))
    records, diags = _PACKAGE_CACHE[0]
    return list(records), list(diags)

