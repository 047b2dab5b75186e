"""Read a CloudFormation template file (YAML or JSON) into position-carrying nodes.

The YAML side runs on libyaml (PyYAML's ``CSafeLoader`` parser and composer) and
builds the data itself from the composed node graph, which is where every rule that
generic YAML parsers get wrong for CloudFormation is enforced:

* short-form intrinsic tags become the long form (``!Ref X`` -> ``{"Ref": "X"}``,
  ``!GetAtt A.B.C`` -> ``{"Fn::GetAtt": ["A", "B.C"]}``);
* dates stay strings (``2010-09-09`` is a string to CloudFormation);
* duplicate keys, aliases/anchors, merge keys, unknown tags, null or non-scalar keys,
  multiple documents and over-deep nesting are refused with a line and column;
* what is not a template is refused before parsing: over 1 MB, not a regular file
  (a FIFO would block), binary, not UTF-8; and a template over one of CloudFormation's
  quotas is refused from the composed graph, before the slower build.

JSON is parsed with :mod:`json` (authoritative values) and positioned from libyaml's
composed graph of the same text where libyaml can read it, in one walk over both (no
second build). Nothing here raises on bad input: callers get ``(data or None,
diagnostics)``.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from itertools import accumulate
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from docgen.diagnostics import Diagnostic
from docgen.nodes import DictNode, ListNode

MAX_BYTES = 1_048_576  # CloudFormation's limit for a template read from S3 (1 MB)
MAX_DEPTH = 64
#: CloudFormation's per-template quotas ("Understand CloudFormation quotas",
#: https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
QUOTAS: dict[str, tuple[int, str]] = {
    "Resources": (500, "resources"), "Parameters": (200, "parameters"),
    "Outputs": (200, "outputs"), "Mappings": (200, "mappings"),
}
_FLOW_DEPTH_GUARD = 1000  # beyond this libyaml's recursive composer can crash the process

#: Short-form tags CloudFormation accepts, with the long-form key they stand for.
SHORT_TAGS: dict[str, str] = {
    "!Ref": "Ref",
    "!Condition": "Condition",
    **{
        f"!{name}": f"Fn::{name}"
        for name in (
            "Base64 Cidr FindInMap GetAtt GetAZs ImportValue Join Select Split Sub "
            "Transform If Equals And Or Not ToJsonString Length "
            # Rules-section functions
            "Contains EachMemberEquals EachMemberIn RefAll ValueOf ValueOfAll Implies"
        ).split()
    },
}

_STR = "tag:yaml.org,2002:str"
# A cheap pre-check for YAML anchors/aliases (``&name`` / ``*name`` as a node property);
# only files it matches get the exact event scan. An alias it misses is still refused by
# the builder, which sees the same node twice.
# (it starts with the class [&*] so that the regex engine can skip ahead to candidates;
# the lookbehind then checks the character before it)
_ANCHOR_HINT = re.compile(r"[&*](?<![^\s\[{,].)[A-Za-z0-9_][^\s\[\]{},]*(?=[\s\]},]|$)")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = frozenset(b"[{")
_BRACKETS = re.compile(r"[\[\]{}]")
_COMPACT_PAIR = re.compile(r"[-?:][ \t]+[-?][ \t]")  # two block indicators in a row
_COMPACT_RUN = re.compile(r"^[ \t]*(?:[-?:][ \t]+){2,}", re.M)


class LoadError(Exception):
    """Internal: a refusal with a position, turned into a Diagnostic by ``load_text``."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.line = line
        self.col = col


def _pos(node: Any) -> tuple[int, int]:
    mark = node.start_mark
    return mark.line + 1, mark.column + 1


_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_SAFE = yaml.constructor.SafeConstructor()
#: Plain-scalar conversions by resolved tag; timestamps and ``=`` stay strings
#: (CloudFormation means them as strings).
_CONVERT: dict[str, Any] = {
    "tag:yaml.org,2002:int": _SAFE.construct_yaml_int,
    "tag:yaml.org,2002:float": _SAFE.construct_yaml_float,
    "tag:yaml.org,2002:bool": _SAFE.construct_yaml_bool,
}
#: Converted plain scalars (``80``, ``true``, ``1.5``) by (tag, text): templates repeat
#: the same few, and SafeConstructor's converters are Python. Values are immutable.
_CONVERTED: dict[tuple[str, str], Any] = {}
_MEMO_MAX = 20_000  # bounds both memos in a long-lived process (``mkdocs serve``)
_MISSING = object()


def _scalar(node: ScalarNode) -> Any:
    """A non-string scalar's value (strings are handled inline by the builder)."""
    tag = node.tag
    convert = _CONVERT.get(tag)
    if convert is not None:
        key = (tag, node.value)
        value = _CONVERTED.get(key, _MISSING)
        if value is _MISSING:
            value = convert(node)
            if len(_CONVERTED) < _MEMO_MAX:
                _CONVERTED[key] = value
        return value
    if tag == _NULL:
        return None
    if tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"):
        return node.value  # CloudFormation means these as strings
    if tag == _MERGE:
        raise LoadError("YAML merge keys (<<) are not supported by CloudFormation",
                        *_pos(node))
    raise LoadError(f"unsupported YAML tag {tag}", *_pos(node))


def _key(node: Any) -> str:
    """A mapping key that is not a plain string scalar: refused, or its text."""
    if not isinstance(node, ScalarNode):
        raise LoadError("a mapping key must be a plain string, not a "
                        + ("mapping" if isinstance(node, MappingNode) else "sequence"),
                        *_pos(node))
    if node.tag[0] == "!":
        raise LoadError(f"a mapping key cannot be an intrinsic function ({node.tag})",
                        *_pos(node))
    if node.tag == _NULL:
        raise LoadError("a mapping key is null (empty or ~)", *_pos(node))
    if node.tag == _MERGE:
        raise LoadError("YAML merge keys (<<) are not supported by CloudFormation",
                        *_pos(node))
    return node.value  # keys are strings to CloudFormation, whatever they look like


class _Builder:
    """Turns a composed libyaml node graph into DictNode/ListNode/scalars.

    This runs once per node of every template, so the common cases (string scalars,
    string keys) are handled inline in the mapping/sequence loops, and marks are read
    straight from libyaml's ``start_mark``; the checks and their order (depth, alias,
    tag, key, duplicate) are those of a plain recursive walk.
    """

    __slots__ = ("_seen",)

    def __init__(self, aliases_possible: bool = True) -> None:
        # An alias makes libyaml hand out the same node twice; without a "*" in the
        # text there is none, and the id() bookkeeping is skipped.
        self._seen: set[int] | None = set() if aliases_possible else None

    def build(self, node: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise LoadError(f"nesting deeper than {MAX_DEPTH} levels", *_pos(node))
        kind = type(node)
        if kind is ScalarNode:
            tag = node.tag
            if tag == _STR:
                return node.value
            if tag[0] == "!":
                return self._short_tag(node, depth)
            return _scalar(node)
        seen = self._seen
        if seen is not None:
            key = id(node)
            if key in seen:
                raise LoadError(
                    "YAML aliases are not supported by CloudFormation", *_pos(node)
                )
            seen.add(key)
        if node.tag[0] == "!":
            return self._short_tag(node, depth)
        if kind is MappingNode:
            return self._mapping(node, depth)
        return self._sequence(node, depth)

    def _sequence(self, node: SequenceNode, depth: int) -> ListNode:
        mark = node.start_mark
        out = ListNode.at((mark.line + 1, mark.column + 1))
        marks = out.item_marks
        child = depth + 1
        inline = child <= MAX_DEPTH  # children at this depth pass the depth check
        for item in node.value:
            mark = item.start_mark
            marks.append((mark.line + 1, mark.column + 1))
            if inline and type(item) is ScalarNode and item.tag == _STR:
                out.append(item.value)
            else:
                out.append(self.build(item, child))
        return out

    def _mapping(self, node: MappingNode, depth: int) -> DictNode:
        mark = node.start_mark
        out = DictNode.at((mark.line + 1, mark.column + 1))
        marks = out.key_marks
        child = depth + 1
        inline = child <= MAX_DEPTH
        for key_node, value_node in node.value:
            if type(key_node) is ScalarNode and key_node.tag == _STR:
                key = key_node.value
            else:
                key = _key(key_node)
            mark = key_node.start_mark
            if key in marks:
                raise LoadError(
                    f"duplicate key {key!r} (first defined at line {marks[key][0]})",
                    mark.line + 1, mark.column + 1,
                )
            marks[key] = (mark.line + 1, mark.column + 1)
            if inline and type(value_node) is ScalarNode and value_node.tag == _STR:
                out[key] = value_node.value
            else:
                out[key] = self.build(value_node, child)
        return out

    def _short_tag(self, node: Any, depth: int) -> DictNode:
        long_name = SHORT_TAGS.get(node.tag)
        if long_name is None:
            raise LoadError(f"unknown tag {node.tag}", *_pos(node))
        pos = _pos(node)
        if isinstance(node, ScalarNode):
            value: Any = node.value
            if long_name == "Fn::GetAtt":
                resource, _, attribute = value.partition(".")
                if not attribute:
                    raise LoadError("!GetAtt needs Resource.Attribute", *pos)
                value = ListNode([resource, attribute], mark=pos)
                value.item_marks = [pos, pos]
        elif isinstance(node, SequenceNode):
            value = self._sequence(node, depth)
        else:
            value = self._mapping(node, depth)
        out = DictNode.at(pos)
        out[long_name] = value
        out.key_marks[long_name] = pos
        return out


#: First characters of plain scalars that an implicit resolver may claim (``true``,
#: ``12``, ``~``, ``<<``...); any other plain scalar is a string.
_RESOLVERS = {k: list(v) for k, v in yaml.CSafeLoader.yaml_implicit_resolvers.items()}
_RESOLVABLE = frozenset(_RESOLVERS)
#: Resolved tags of plain scalars by text (see ``_Loader.resolve``).
_PLAIN_TAGS: dict[str, str] = {}


class _Loader(yaml.CSafeLoader):
    """libyaml's C parser and composer; construction is done by :class:`_Builder`.

    The C composer calls back into Python for every node: ``resolve`` to pick a
    scalar's tag (PyYAML's version tries regexes for YAML 1.1 bools, ints, floats,
    nulls, timestamps on every plain scalar), and ``descend_resolver``/``ascend_resolver``
    for path resolvers, which safe loading has none of. Those callbacks are a quarter
    of the composing time; here a quoted scalar or one whose first character no resolver
    claims is a string at once, and the others are resolved once per distinct text.
    """

    # A snapshot: the memo below stays right even if some library later registers a
    # resolver on PyYAML's shared table.
    yaml_implicit_resolvers = _RESOLVERS
    yaml_path_resolvers: dict[Any, Any] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            # with no path resolvers, anything but a plain scalar is a string
            if not implicit[0] or (value and value[0] not in _RESOLVABLE):
                return _STR
            tag = _PLAIN_TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_PLAIN_TAGS) < _MEMO_MAX:
                    _PLAIN_TAGS[value] = tag
            return tag
        return _MAP if kind is MappingNode else _SEQ

    # Called for every node by the C composer; without path resolvers there is nothing
    # to track (PyYAML's versions look that up on every call).
    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


def _check_anchors(text: str) -> LoadError | None:
    """Exact anchor/alias detection, run only when a cheap regex sees a candidate."""
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            line, col = _pos(event)
            kind = "aliases" if isinstance(event, yaml.AliasEvent) else "anchors"
            return LoadError(f"YAML {kind} are not supported by CloudFormation", line, col)
    return None


def _flow_depth(text: str) -> int:
    if text.count("[") + text.count("{") < _FLOW_DEPTH_GUARD:
        return 0  # str.count is C-fast; the regex below is not, and rarely needed
    # bytes.translate deletes every other byte in C (a regex sub is ~50x slower); the
    # brackets are ASCII, so in UTF-8 each is one byte and no other byte equals one
    brackets = text.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS)
    if len(brackets) < _FLOW_DEPTH_GUARD:
        return 0
    return max(accumulate(1 if c in _OPENING else -1 for c in brackets))


def _line_col(text: str, index: int) -> tuple[int, int]:
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _too_deep(text: str) -> tuple[int, int] | None:
    """Where nesting gets deep enough to crash libyaml's recursive composer, if it does.

    Two shapes reach that depth within 1 MB: flow brackets (``[[[[...``) and compact
    block indicators on one line (``- - - - x``). Indentation alone cannot: each level
    costs a line, and 1 MB holds only ~1,400 indented levels. Both scans are linear and
    run only after a cheap C-level pre-check, so ordinary templates pay almost nothing.
    """
    if _flow_depth(text) > _FLOW_DEPTH_GUARD:
        depth = 0
        for m in _BRACKETS.finditer(text):
            depth += 1 if m.group() in "[{" else -1
            if depth > MAX_DEPTH:
                return _line_col(text, m.start())
    if _COMPACT_PAIR.search(text):
        for m in _COMPACT_RUN.finditer(text):
            run = m.group()
            # beyond the guard only: shorter runs compose safely and the builder then
            # names the exact node; a block scalar's "- - -" divider is no false alarm
            if run.count("-") + run.count("?") + run.count(":") > _FLOW_DEPTH_GUARD:
                return _line_col(text, m.start() + len(run) - len(run.lstrip()))
    return None


def _yaml_error(path: str, exc: yaml.YAMLError, text: str = "") -> Diagnostic:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    context = getattr(exc, "context", None)
    if context == "while scanning a simple key" and getattr(exc, "context_mark", None):
        mark = exc.context_mark  # the stray text itself; libyaml notices a line later
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    lines = text.splitlines()
    if mark and 0 <= mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        problem = "tab character in indentation (YAML allows only spaces)"
        context = None
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return Diagnostic(path, line, col, message)


def quota_message(section: str, count: int) -> str:
    """The one wording of an over-quota section (the loader's pre-check and modelbuild)."""
    limit, noun = QUOTAS[section]
    return f"{count} {noun}; CloudFormation allows at most {limit} per template"


def _over_quota(root: Any) -> LoadError | None:
    """Refuse a template over a CloudFormation quota before building it (a 1 MB file of
    tiny resources would otherwise take most of a second). Templates with a transform
    are left to modelbuild, which decides whether the quota can be judged at all."""
    if not isinstance(root, MappingNode):
        return None
    sections = {k.value: (k, v) for k, v in root.value if isinstance(k, ScalarNode)}
    if "Transform" in sections:
        return None
    for name, (key, value) in sections.items():
        if name in QUOTAS and isinstance(value, MappingNode) and \
                len(value.value) > QUOTAS[name][0]:
            if name == "Resources" and any(str(k.value).startswith("Fn::ForEach")
                                           for k, _ in value.value):
                continue
            return LoadError(quota_message(name, len(value.value)), *_pos(key))
    return None


def _compose(text: str, path: str, template: bool) -> tuple[Any, list[Diagnostic]]:
    """Refusals that need no build, then libyaml's composed node graph of ``text``."""
    try:
        deep = _too_deep(text)
        if deep:
            return None, [Diagnostic(path, *deep, f"nesting deeper than {MAX_DEPTH} levels")]
        if _ANCHOR_HINT.search(text):
            err = _check_anchors(text)
            if err:
                return None, [Diagnostic(path, err.line, err.col, str(err))]
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
        if root is None:
            return None, [Diagnostic(path, 1, 1, "empty file: not a CloudFormation template")]
        over = _over_quota(root) if template else None
        if over:
            raise over
        return root, []
    except LoadError as err:
        return None, [Diagnostic(path, err.line, err.col, str(err))]
    except yaml.composer.ComposerError as exc:
        if "expected a single document" in str(exc):
            mark = exc.problem_mark
            return None, [Diagnostic(path, mark.line + 1, mark.column + 1,
                                     "more than one YAML document in the file")]
        return None, [_yaml_error(path, exc, text)]
    except yaml.YAMLError as exc:
        return None, [_yaml_error(path, exc, text)]


def _build(root: Any, text: str, path: str) -> tuple[Any, list[Diagnostic]]:
    try:
        return _Builder(aliases_possible="*" in text).build(root), []
    except LoadError as err:
        return None, [Diagnostic(path, err.line, err.col, str(err))]


def parse_yaml(text: str, path: str, template: bool = False) -> tuple[Any, list[Diagnostic]]:
    """Parse YAML text into nodes; ``(None, [diagnostic])`` when refused.

    ``template``: the text is a CloudFormation template, so its quotas are checked on
    the composed graph before the (slower) build."""
    root, diags = _compose(text, path, template)
    if root is None:
        return None, diags
    return _build(root, text, path)


# A backslash pair: "\\" (kept) or "\/" (an escaped slash, which YAML does not know).
# Matching pairs left to right keeps each backslash run aligned; the pattern starts with
# a literal, which the regex engine scans for quickly.
_JSON_SLASH = re.compile(r"\\([\\/])")


def _unescape_slashes(text: str) -> str:
    return _JSON_SLASH.sub(lambda m: "/" if m.group(1) == "/" else m.group(0), text)


def _overlay(values: Any, positioned: Any) -> Any:
    """Values from :mod:`json`, positions from the libyaml pass over the same text."""
    if isinstance(values, dict):
        out = DictNode(mark=getattr(positioned, "mark", (1, 1)))
        pos_marks = getattr(positioned, "key_marks", {})
        for key, value in values.items():
            sub = positioned.get(key) if isinstance(positioned, dict) else None
            out[key] = _overlay(value, sub)
            out.key_marks[key] = pos_marks.get(key, out.mark)
        return out
    if isinstance(values, list):
        lst = ListNode(mark=getattr(positioned, "mark", (1, 1)))
        pos_items = getattr(positioned, "item_marks", [])
        for i, value in enumerate(values):
            sub = positioned[i] if isinstance(positioned, list) and i < len(positioned) else None
            lst.append(_overlay(value, sub))
            lst.item_marks.append(pos_items[i] if i < len(pos_items) else lst.mark)
        return lst
    return values


class _Mismatch(Exception):
    """Internal: libyaml's graph of a JSON text differs from :mod:`json`'s values."""


def _json_nodes(values: Any, node: Any, depth: int = 0) -> Any:
    """:mod:`json`'s values with positions from libyaml's graph, in one walk.

    The same result as building the graph and then :func:`_overlay`-ing the values,
    for the usual case where both agree key for key in the same order; anything else
    (a duplicate key, which :mod:`json` silently collapses, or text the two read
    differently) raises :class:`_Mismatch` and the caller takes that slower path,
    which reports it exactly. The depth check is the builder's, at the same node.
    """
    if depth > MAX_DEPTH:
        raise LoadError(f"nesting deeper than {MAX_DEPTH} levels", *_pos(node))
    kind = type(node)
    if isinstance(values, dict):
        pairs = node.value
        if kind is not MappingNode or node.tag != _MAP or len(pairs) != len(values):
            raise _Mismatch
        mark = node.start_mark
        out = DictNode.at((mark.line + 1, mark.column + 1))
        marks = out.key_marks
        child = depth + 1
        for (key_node, value_node), (key, value) in zip(pairs, values.items(), strict=True):
            if type(key_node) is not ScalarNode or key_node.tag != _STR or \
                    key_node.value != key:
                raise _Mismatch
            mark = key_node.start_mark
            marks[key] = (mark.line + 1, mark.column + 1)
            out[key] = _json_nodes(value, value_node, child)
        return out
    if isinstance(values, list):
        items = node.value
        if kind is not SequenceNode or node.tag != _SEQ or len(items) != len(values):
            raise _Mismatch
        mark = node.start_mark
        lst = ListNode.at((mark.line + 1, mark.column + 1))
        item_marks = lst.item_marks
        child = depth + 1
        for item, value in zip(items, values, strict=True):
            mark = item.start_mark
            item_marks.append((mark.line + 1, mark.column + 1))
            lst.append(_json_nodes(value, item, child))
        return lst
    if kind is not ScalarNode:
        raise _Mismatch
    return values


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json(text: str, path: str, template: bool = False) -> tuple[Any, list[Diagnostic]]:
    """Parse JSON; duplicate keys are refused (CloudFormation rejects them)."""
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Diagnostic(path, exc.lineno, exc.colno, f"JSON syntax error: {exc.msg}")]
    except RecursionError:
        return None, [Diagnostic(path, 1, 1, f"nesting deeper than {MAX_DEPTH} levels")]
    # Positions (and duplicate-key detection with a line) from libyaml, which reads
    # JSON once tabs (only legal as whitespace in JSON) and "\/" escapes are normalised.
    ytext = text.replace("\t", " ")
    if "\\/" in ytext:
        ytext = _unescape_slashes(ytext)
    root, diags = _compose(ytext, path, template)
    positioned = None
    if root is not None:
        try:
            return _json_nodes(values, root), []
        except LoadError as err:
            return None, [Diagnostic(path, err.line, err.col, str(err))]
        except _Mismatch:
            positioned, diags = _build(root, ytext, path)
    if diags and any("duplicate key" in d.message or "nesting" in d.message
                     or "CloudFormation allows at most" in d.message for d in diags):
        return None, diags
    if diags:  # libyaml could not read this JSON: check duplicates without positions
        try:
            json.loads(text, object_pairs_hook=_reject_duplicates)
        except ValueError as exc:
            return None, [Diagnostic(path, 1, 1, str(exc))]
    return _overlay(values, positioned), []


def decode(data: bytes, path: str) -> tuple[str | None, list[Diagnostic]]:
    """Bytes -> text: UTF-8 (a BOM is allowed), anything else refused with its line."""
    if b"\x00" in data[:8192]:
        return None, [Diagnostic(path, 1, 1, "binary file, not a CloudFormation template")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return None, [Diagnostic(path, line, col,
                                 f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); "
                                 "CloudFormation templates must be UTF-8")]
    return text.removeprefix("\ufeff"), []


def _open_nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def read_file(path: str, data: bytes | None = None) -> tuple[str | None, list[Diagnostic]]:
    """Read a template file's text, refusing what CloudFormation would refuse.
    ``data``: the file's bytes, already read by the caller (the cache reads each
    template once, to hash it, and parses those very bytes)."""
    if data is None:
        data, diags = _read_bytes(path)
        if data is None:
            return None, diags
    if len(data) > MAX_BYTES:
        return None, [Diagnostic(path, 1, 1, "file is larger than CloudFormation's 1 MB limit")]
    return decode(data, path)


def _read_bytes(path: str) -> tuple[bytes | None, list[Diagnostic]]:
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            return None, [Diagnostic(path, 1, 1, f"cannot read file: {kind}")]
        size = info.st_size
        if size > MAX_BYTES:
            return None, [Diagnostic(path, 1, 1, f"file is {size:,} bytes; CloudFormation's "
                                     f"limit for a template is {MAX_BYTES:,} bytes (1 MB)")]
        # non-blocking, and checked again once open: swapped for a FIFO meanwhile, it
        # must still not hang the run
        with open(path, "rb", opener=_open_nonblocking) as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                return None, [Diagnostic(path, 1, 1, "cannot read file: not a regular file")]
            return fh.read(MAX_BYTES + 1), []
    except OSError as exc:
        reason = "symbolic link loop" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        return None, [Diagnostic(path, 1, 1, f"cannot read file: {reason}")]


def is_json(path: str, text: str) -> bool:
    if path.endswith(".json"):
        return True
    if path.endswith((".yaml", ".yml")):
        return False
    return text.lstrip()[:1] in ("{", "[")


def load_data(path: str, data: bytes | None = None) -> tuple[Any, str, list[Diagnostic]]:
    """Read and parse ``path`` (or its bytes ``data``): ``(nodes or None, "yaml"|"json",
    diagnostics)``."""
    text, diags = read_file(path, data)
    if text is None:
        return None, "yaml", diags
    if is_json(path, text):
        data, diags = parse_json(text, path, template=True)
        return data, "json", diags
    data, diags = parse_yaml(text, path, template=True)
    return data, "yaml", diags


def load_template(path: str, data: bytes | None = None) -> tuple[Any, list[Diagnostic]]:
    """Load and check one template: ``(docgen.model.Template or None, diagnostics)``."""
    from docgen.modelbuild import load_template as _load

    return _load(path, data)
