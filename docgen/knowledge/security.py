"""The security knowledge base: checks as data, loaded and validated.

Checks live in ``docgen/knowledge/security/*.yml`` (package data) and, optionally, in a
user folder ``<paths.knowledge>/security/*.yml`` whose records replace built-in ones with
the same ``id`` and add new ones. A broken record is a :class:`KnowledgeError` naming
the file and line, so a typo in a team's own rule never turns into a silent pass.

Each check says what it looks at (resource types, a condition in the shared grammar of
:mod:`docgen.knowledge.conditions`, or a named function for logic YAML cannot express),
what the service does when a property is absent (``defaults``, each with its source),
why it matters, how to fix it (a YAML snippet that docgen's own loader accepts) and
which framework controls it supports, each mapping with its source.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from docgen.diagnostics import Diagnostic, KnowledgeError
from docgen.knowledge import conditions as cond

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
CATEGORIES: tuple[str, ...] = (
    "encryption-at-rest",
    "encryption-in-transit",
    "key-management",
    "public-access",
    "network",
    "iam",
    "secrets",
    "resilience",
    "backup",
    "logging",
    "deletion-protection",
)
#: The pseudo resource type of checks that look at the template as a whole.
TEMPLATE_SCOPE = "template"

_ID = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_TYPE = re.compile(r"^[A-Za-z0-9]+::[A-Za-z0-9]+::[A-Za-z0-9]+$")
# URLs are printed as links on pages: no whitespace, quotes, angle brackets or pipes.
_SOURCE = re.compile(r"^(https://[^\s<>\"'`|\\]+|reference handbook \(SPEC\.md\))$")


# --- records ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Default:
    """What the service does when ``path`` is absent, with the page that says so."""

    path: str
    value: Any
    source: str
    source_kind: str = "property"  # "property" | "attribute"
    when: cond.Condition = cond.ALWAYS
    note: str = ""


@dataclass(frozen=True, slots=True)
class ControlMapping:
    """One framework's controls that a check supports, and where the mapping comes from."""

    framework: str
    ids: tuple[str, ...]
    source: str  # a source id from frameworks.yml
    ref: str = ""  # the rule/check name in that source
    basis: str = "direct"  # "direct" (the source maps this check) | "analogy"


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    title: str
    resource_types: tuple[str, ...]
    severity: str
    category: str
    rationale: str
    remediation: str
    source: str
    file: str
    line: int
    applies_when: cond.Condition = cond.ALWAYS
    not_applicable: str = ""
    expect: cond.Condition | None = None
    function: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    defaults: tuple[Default, ...] = ()
    path: str = ""  # the property a finding points at (file:line)
    message: str = ""  # what a failing finding says (else the evaluated values)
    aliases: tuple[str, ...] = ()
    controls: tuple[ControlMapping, ...] = ()

    @property
    def severity_rank(self) -> int:
        return SEVERITIES.index(self.severity)


@dataclass(frozen=True, slots=True)
class Framework:
    id: str
    name: str
    version: str
    url: str
    short_name: str = ""


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class DataStore:
    """How to describe encryption for one data-bearing resource type."""

    resource_type: str
    label: str
    at_rest: str | None  # check id
    in_transit: str | None  # check id
    at_rest_note: str  # shown when no check decides (the service always encrypts, ...)
    in_transit_note: str
    key_paths: tuple[str, ...]
    default_key: str
    source: str
    #: (condition, key text): the key used when no key is named but a setting picks one
    #: (SSE-KMS without a key id uses the service's AWS managed key)
    default_key_when: tuple[tuple[cond.Condition, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SecurityKB:
    checks: tuple[Check, ...]
    frameworks: tuple[Framework, ...]
    sources: Mapping[str, Source]
    datastores: Mapping[str, DataStore]
    #: resource type -> its checks, filled on first lookup (asked once per resource)
    _for_type: dict[str, tuple[Check, ...]] = field(init=False, default_factory=dict,
                                                    repr=False, compare=False)

    def check(self, check_id: str) -> Check | None:
        for c in self.checks:
            if c.id == check_id:
                return c
        return None

    def checks_for(self, resource_type: str) -> tuple[Check, ...]:
        found = self._for_type.get(resource_type)
        if found is None:
            found = self._for_type[resource_type] = tuple(
                c for c in self.checks if resource_type in c.resource_types)
        return found

    def framework(self, framework_id: str) -> Framework | None:
        for f in self.frameworks:
            if f.id == framework_id:
                return f
        return None


# --- YAML with line numbers -----------------------------------------------------------


class _Map(dict):  # type: ignore[type-arg]
    """A mapping that remembers the line of itself and of each key."""

    line: int = 1
    key_lines: dict[str, int]


class _Seq(list):  # type: ignore[type-arg]
    line: int = 1


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader (libyaml's when available: ~4x faster) that keeps line numbers."""


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> _Map:
    out = _Map()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[str(key)] = key_node.start_mark.line + 1
    return out


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> _Seq:
    out = _Seq(loader.construct_object(n, deep=True) for n in node.value)
    out.line = node.start_mark.line + 1
    return out


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def _read_yaml(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise KnowledgeError(
            f"{path}: cannot read: {exc.strerror}",
            (Diagnostic(path, 1, 1, f"cannot read: {exc.strerror}"),),
        ) from None
    try:
        return yaml.load(text, Loader=_LineLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = str(getattr(exc, "problem", None) or exc)
        raise KnowledgeError(msg, (Diagnostic(path, line, col, msg),)) from None


# --- validation -------------------------------------------------------------------------


class _Ctx:
    """Collects errors for one file so that a user sees every mistake at once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.errors: list[Diagnostic] = []

    def error(self, node: Any, key: str | None, message: str) -> None:
        line = getattr(node, "line", 1)
        if key is not None and isinstance(node, _Map):
            line = node.key_lines.get(key, line)
        self.errors.append(Diagnostic(self.path, line, 1, message))


def _str(
    ctx: _Ctx,
    rec: _Map,
    key: str,
    required: bool = True,
    pattern: re.Pattern[str] | None = None,
    choices: Sequence[str] = (),
) -> str:
    value = rec.get(key)
    if value is None:
        if required:
            ctx.error(rec, None, f"missing required key '{key}'")
        return ""
    if not isinstance(value, str) or not value.strip():
        ctx.error(rec, key, f"'{key}' must be a non-empty string")
        return ""
    if pattern is not None and not pattern.match(value):
        ctx.error(rec, key, f"'{key}' {value!r} does not match {pattern.pattern}")
    if choices and value not in choices:
        ctx.error(rec, key, f"'{key}' must be one of {', '.join(choices)}, not {value!r}")
    return value


def _str_list(ctx: _Ctx, rec: _Map, key: str, required: bool = True) -> tuple[str, ...]:
    value = rec.get(key)
    if value is None:
        if required:
            ctx.error(rec, None, f"missing required key '{key}'")
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        ctx.error(rec, key, f"'{key}' must be a list of strings")
        return ()
    if required and not value:
        ctx.error(rec, key, f"'{key}' must not be empty")
    return tuple(value)


def _condition(ctx: _Ctx, rec: _Map, key: str) -> cond.Condition | None:
    if key not in rec:
        return None
    try:
        return cond.parse(rec[key], key)
    except cond.ConditionError as exc:
        ctx.error(rec, key, str(exc))
        return None


_CHECK_KEYS = {
    "id",
    "title",
    "resource_types",
    "severity",
    "category",
    "applies_when",
    "not_applicable",
    "expect",
    "function",
    "args",
    "defaults",
    "property",
    "rationale",
    "remediation",
    "source",
    "aliases",
    "controls",
    "message",
}


def _defaults(ctx: _Ctx, rec: _Map) -> tuple[Default, ...]:
    raw = rec.get("defaults", [])
    if not isinstance(raw, list):
        ctx.error(rec, "defaults", "'defaults' must be a list")
        return ()
    out = []
    for item in raw:
        if not isinstance(item, _Map):
            ctx.error(raw, None, "each default is a mapping")
            continue
        unknown = set(item) - {"property", "attribute", "value", "source", "when", "note"}
        if unknown:
            ctx.error(item, None, f"unknown key(s) in default: {sorted(unknown)}")
        kind = "attribute" if "attribute" in item else "property"
        path = _str(ctx, item, kind)
        if "value" not in item:
            ctx.error(item, None, "a default needs 'value'")
        source = _str(ctx, item, "source", pattern=_SOURCE)
        when = _condition(ctx, item, "when") or cond.ALWAYS
        out.append(Default(path, item.get("value"), source, kind, when, item.get("note", "")))
    return tuple(out)


def _controls(
    ctx: _Ctx, rec: _Map, frameworks: set[str], sources: set[str]
) -> tuple[ControlMapping, ...]:
    raw = rec.get("controls", [])
    if not isinstance(raw, list):
        ctx.error(rec, "controls", "'controls' must be a list")
        return ()
    out = []
    for item in raw:
        if not isinstance(item, _Map):
            ctx.error(raw, None, "each control mapping is a mapping")
            continue
        unknown = set(item) - {"framework", "ids", "source", "ref", "basis"}
        if unknown:
            ctx.error(item, None, f"unknown key(s) in control mapping: {sorted(unknown)}")
        fw = _str(ctx, item, "framework", choices=sorted(frameworks))
        ids = _str_list(ctx, item, "ids")
        src = _str(ctx, item, "source", choices=sorted(sources))
        basis = item.get("basis", "direct")
        if basis not in ("direct", "analogy"):
            ctx.error(item, "basis", "'basis' is 'direct' or 'analogy'")
        out.append(ControlMapping(fw, ids, src, str(item.get("ref", "")), basis))
    return tuple(out)


def _remediation_loads(ctx: _Ctx, rec: _Map, text: str) -> None:
    """A fix that does not even parse would be worse than none: check it with docgen's
    own template parser (which knows the CloudFormation short tags)."""
    if not text:
        return
    from docgen.loader import parse_yaml

    data, diags = parse_yaml(text, "remediation")
    errors = [d for d in diags if d.is_error]
    if errors or data is None:
        msg = errors[0].message if errors else "empty"
        ctx.error(rec, "remediation", f"remediation is not valid template YAML: {msg}")


def _check(
    ctx: _Ctx, rec: Any, functions: set[str], frameworks: set[str], sources: set[str]
) -> Check | None:
    if not isinstance(rec, _Map):
        ctx.error(rec, None, "each check is a mapping")
        return None
    unknown = set(rec) - _CHECK_KEYS
    if unknown:
        ctx.error(rec, None, f"unknown key(s) {sorted(unknown)}")
    before = len(ctx.errors)
    check_id = _str(ctx, rec, "id", pattern=_ID)
    types = _str_list(ctx, rec, "resource_types")
    for t in types:
        if t != TEMPLATE_SCOPE and not _TYPE.match(t):
            ctx.error(
                rec, "resource_types", f"{t!r} is not a resource type (Service::Provider::Type)"
            )
    expect = _condition(ctx, rec, "expect")
    function = rec.get("function")
    if ("expect" in rec) == ("function" in rec):
        ctx.error(rec, None, "a check has exactly one of 'expect' (a condition) or 'function'")
    if function is not None and function not in functions:
        ctx.error(
            rec,
            "function",
            f"unknown function {function!r} (known: {', '.join(sorted(functions))})",
        )
    args = rec.get("args", {})
    if not isinstance(args, Mapping):
        ctx.error(rec, "args", "'args' must be a mapping")
        args = {}
    remediation = _str(ctx, rec, "remediation")
    _remediation_loads(ctx, rec, remediation)
    check = Check(
        id=check_id,
        title=_str(ctx, rec, "title"),
        resource_types=types,
        severity=_str(ctx, rec, "severity", choices=SEVERITIES),
        category=_str(ctx, rec, "category", choices=CATEGORIES),
        rationale=_str(ctx, rec, "rationale"),
        remediation=remediation,
        source=_str(ctx, rec, "source", pattern=_SOURCE),
        file=ctx.path,
        line=rec.line,
        applies_when=_condition(ctx, rec, "applies_when") or cond.ALWAYS,
        not_applicable=_str(ctx, rec, "not_applicable", required=False),
        expect=expect,
        function=function if isinstance(function, str) else None,
        args=dict(args),
        defaults=_defaults(ctx, rec),
        path=_str(ctx, rec, "property", required=False),
        message=_str(ctx, rec, "message", required=False),
        aliases=_str_list(ctx, rec, "aliases", required=False),
        controls=_controls(ctx, rec, frameworks, sources),
    )
    return check if len(ctx.errors) == before else None


def _catalogue(path: str, data: Any) -> tuple[tuple[Framework, ...], dict[str, Source]]:
    ctx = _Ctx(path)
    frameworks: list[Framework] = []
    sources: dict[str, Source] = {}
    if not isinstance(data, _Map):
        raise KnowledgeError(f"{path}: not a mapping", (Diagnostic(path, 1, 1, "not a mapping"),))
    for rec in data.get("frameworks") or []:
        if isinstance(rec, _Map):
            frameworks.append(
                Framework(
                    _str(ctx, rec, "id", pattern=_ID),
                    _str(ctx, rec, "name"),
                    _str(ctx, rec, "version"),
                    _str(ctx, rec, "url", pattern=_SOURCE),
                    _str(ctx, rec, "short_name", required=False),
                )
            )
    for rec in data.get("sources") or []:
        if isinstance(rec, _Map):
            sid = _str(ctx, rec, "id", pattern=_ID)
            sources[sid] = Source(
                sid, _str(ctx, rec, "title"), _str(ctx, rec, "url", pattern=_SOURCE)
            )
    if ctx.errors:
        raise KnowledgeError(f"{path}: invalid framework catalogue", tuple(ctx.errors))
    return tuple(frameworks), sources


def _datastores(ctx: _Ctx, data: Any) -> dict[str, DataStore]:
    out: dict[str, DataStore] = {}
    for rec in data.get("datastores") or []:
        if not isinstance(rec, _Map):
            ctx.error(data, None, "each data store is a mapping")
            continue
        rtype = _str(ctx, rec, "resource_type", pattern=_TYPE)
        keys = rec.get("key_paths", [])
        out[rtype] = DataStore(
            resource_type=rtype,
            label=_str(ctx, rec, "label"),
            at_rest=rec.get("at_rest"),
            in_transit=rec.get("in_transit"),
            at_rest_note=str(rec.get("at_rest_note", "")),
            in_transit_note=str(rec.get("in_transit_note", "")),
            key_paths=tuple(keys) if isinstance(keys, list) else (),
            default_key=_str(ctx, rec, "default_key"),
            source=_str(ctx, rec, "source", pattern=_SOURCE),
            default_key_when=_key_cases(ctx, rec),
        )
    return out


def _key_cases(ctx: _Ctx, rec: _Map) -> tuple[tuple[cond.Condition, str], ...]:
    out = []
    for item in rec.get("default_key_when") or []:
        if not isinstance(item, _Map) or set(item) != {"when", "key"}:
            ctx.error(item, None, "each default_key_when entry has exactly 'when' and 'key'")
            continue
        when = _condition(ctx, item, "when")
        if when is not None:
            out.append((when, str(item["key"])))
    return tuple(out)


# --- loading ----------------------------------------------------------------------------


def _package_dir() -> Path:
    return Path(__file__).resolve().parent / "security"


def _yaml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())


def load(user_dir: str | None = None) -> SecurityKB:
    """Built-in checks merged with ``<user_dir>/security/*.yml`` (same id replaces).

    Raises :class:`KnowledgeError` with every problem found (file and line).
    """
    return _load_cached(str(user_dir) if user_dir else "")


@functools.lru_cache(maxsize=8)
def _load_cached(user_dir: str) -> SecurityKB:
    from docgen.analyse.securityfns import FUNCTIONS, TEMPLATE_FUNCTIONS

    folders = [_package_dir()]
    if user_dir:
        folders.append(Path(user_dir) / "security")
    frameworks: list[Framework] = []
    sources: dict[str, Source] = {}
    files: list[tuple[Path, Any]] = []
    for folder in folders:
        for path in _yaml_files(folder):
            data = _read_yaml(str(path))
            if isinstance(data, _Map) and ("frameworks" in data or "sources" in data):
                fws, srcs = _catalogue(str(path), data)
                known = {f.id for f in frameworks}
                frameworks.extend(f for f in fws if f.id not in known)
                sources.update(srcs)
            files.append((path, data))
    checks: dict[str, Check] = {}
    stores: dict[str, DataStore] = {}
    errors: list[Diagnostic] = []
    fw_ids = {f.id for f in frameworks}
    for path, data in files:
        ctx = _Ctx(str(path))
        if not isinstance(data, _Map):
            ctx.error(data, None, "a security knowledge file is a mapping")
            errors.extend(ctx.errors)
            continue
        unknown = set(data) - {"checks", "datastores", "frameworks", "sources"}
        if unknown:
            ctx.error(data, None, f"unknown top-level key(s) {sorted(unknown)}")
        raw_checks = data.get("checks") or []
        if not isinstance(raw_checks, list):
            ctx.error(data, "checks", "'checks' must be a list")
            raw_checks = []
        seen_here: set[str] = set()
        for rec in raw_checks:
            check = _check(ctx, rec, {*FUNCTIONS, *TEMPLATE_FUNCTIONS}, fw_ids, set(sources))
            if check is None:
                continue
            if check.id in seen_here:
                ctx.error(rec, "id", f"duplicate check id {check.id!r} in this file")
            seen_here.add(check.id)
            checks[check.id] = check  # later folders (the user's) replace built-ins
        stores.update(_datastores(ctx, data))
        errors.extend(ctx.errors)
    for store in stores.values():
        for ref in (store.at_rest, store.in_transit):
            if ref is not None and ref not in checks:
                errors.append(
                    Diagnostic(
                        str(folders[0]),
                        1,
                        1,
                        f"data store {store.resource_type} names unknown check {ref!r}",
                    )
                )
    if errors:
        raise KnowledgeError("invalid security knowledge base", tuple(errors))
    return SecurityKB(tuple(checks.values()), tuple(frameworks), sources, stores)


def validate_files(paths: Iterable[str]) -> list[Diagnostic]:
    """Diagnostics for the given knowledge folders (used by tests and `docgen validate`)."""
    out: list[Diagnostic] = []
    for p in paths:
        try:
            _load_cached.__wrapped__(p)
        except KnowledgeError as exc:
            out.extend(exc.diagnostics)
    return out
