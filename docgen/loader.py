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

JSON is parsed with :mod:`json` (authoritative values) and positioned with the same
libyaml pass where libyaml can read it. Nothing here raises on bad input: callers get
``(data or None, diagnostics)``.
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
_ANCHOR_HINT = re.compile(r"(?<![^\s\[{,])[&*][A-Za-z0-9_][^\s\[\]{},]*(?=[\s\]},]|$)")
_BRACKET_DELTA = str.maketrans({"[": "(", "{": "(", "]": ")", "}": ")"})
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


class _Builder:
    """Turns a composed libyaml node graph into DictNode/ListNode/scalars."""

    def __init__(self) -> None:
        self._scalars = yaml.constructor.SafeConstructor()
        self._seen: set[int] = set()

    def build(self, node: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise LoadError(f"nesting deeper than {MAX_DEPTH} levels", *_pos(node))
        if not isinstance(node, ScalarNode):
            key = id(node)
            if key in self._seen:
                raise LoadError(
                    "YAML aliases are not supported by CloudFormation", *_pos(node)
                )
            self._seen.add(key)
        tag = node.tag
        if tag[0] == "!":
            return self._short_tag(node, depth)
        if isinstance(node, MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, SequenceNode):
            return self._sequence(node, depth)
        return self._scalar(node)

    def _sequence(self, node: SequenceNode, depth: int) -> ListNode:
        out = ListNode(mark=_pos(node))
        marks = out.item_marks
        for item in node.value:
            marks.append(_pos(item))
            out.append(self.build(item, depth + 1))
        return out

    def _scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == "tag:yaml.org,2002:int":
            return self._scalars.construct_yaml_int(node)
        if tag == "tag:yaml.org,2002:float":
            return self._scalars.construct_yaml_float(node)
        if tag == "tag:yaml.org,2002:bool":
            return self._scalars.construct_yaml_bool(node)
        if tag == "tag:yaml.org,2002:null":
            return None
        if tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value"):
            return node.value  # CloudFormation means these as strings
        if tag == "tag:yaml.org,2002:merge":
            raise LoadError("YAML merge keys (<<) are not supported by CloudFormation",
                            *_pos(node))
        raise LoadError(f"unsupported YAML tag {tag}", *_pos(node))

    def _key(self, node: Any) -> str:
        if not isinstance(node, ScalarNode):
            raise LoadError("a mapping key must be a plain string, not a "
                            + ("mapping" if isinstance(node, MappingNode) else "sequence"),
                            *_pos(node))
        if node.tag[0] == "!":
            raise LoadError(f"a mapping key cannot be an intrinsic function ({node.tag})",
                            *_pos(node))
        if node.tag == "tag:yaml.org,2002:null":
            raise LoadError("a mapping key is null (empty or ~)", *_pos(node))
        if node.tag == "tag:yaml.org,2002:merge":
            raise LoadError("YAML merge keys (<<) are not supported by CloudFormation",
                            *_pos(node))
        return node.value  # keys are strings to CloudFormation, whatever they look like

    def _mapping(self, node: MappingNode, depth: int) -> DictNode:
        out = DictNode(mark=_pos(node))
        marks = out.key_marks
        for key_node, value_node in node.value:
            key = self._key(key_node)
            if key in out:
                first = marks[key]
                raise LoadError(
                    f"duplicate key {key!r} (first defined at line {first[0]})",
                    *_pos(key_node),
                )
            marks[key] = _pos(key_node)
            out[key] = self.build(value_node, depth + 1)
        return out

    def _short_tag(self, node: Any, depth: int) -> DictNode:
        long_name = SHORT_TAGS.get(node.tag)
        if long_name is None:
            raise LoadError(f"unknown tag {node.tag}", *_pos(node))
        if isinstance(node, ScalarNode):
            value: Any = node.value
            if long_name == "Fn::GetAtt":
                resource, _, attribute = value.partition(".")
                if not attribute:
                    raise LoadError("!GetAtt needs Resource.Attribute", *_pos(node))
                value = ListNode([resource, attribute], mark=_pos(node))
                value.item_marks = [_pos(node), _pos(node)]
        elif isinstance(node, SequenceNode):
            value = self._sequence(node, depth)
        else:
            value = self._mapping(node, depth)
        out = DictNode(mark=_pos(node))
        out[long_name] = value
        out.key_marks[long_name] = _pos(node)
        return out


class _Loader(yaml.CSafeLoader):
    """libyaml's C parser and composer; construction is done by :class:`_Builder`."""


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
    brackets = re.sub(r"[^\[\]{}]", "", text)
    if len(brackets) < _FLOW_DEPTH_GUARD:
        return 0
    steps = brackets.translate(_BRACKET_DELTA)
    return max(accumulate(1 if c == "(" else -1 for c in steps))


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


def parse_yaml(text: str, path: str, template: bool = False) -> tuple[Any, list[Diagnostic]]:
    """Parse YAML text into nodes; ``(None, [diagnostic])`` when refused.

    ``template``: the text is a CloudFormation template, so its quotas are checked on
    the composed graph before the (slower) build."""
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
        return _Builder().build(root), []
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


_JSON_SLASH = re.compile(r"(?<!\\)((?:\\\\)*)\\/")


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
    positioned, diags = parse_yaml(_JSON_SLASH.sub(r"\1/", text.replace("\t", " ")), path,
                                   template)
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


def read_file(path: str) -> tuple[str | None, list[Diagnostic]]:
    """Read a template file's text, refusing what CloudFormation would refuse."""
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
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        reason = "symbolic link loop" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
        return None, [Diagnostic(path, 1, 1, f"cannot read file: {reason}")]
    if len(data) > MAX_BYTES:
        return None, [Diagnostic(path, 1, 1, "file is larger than CloudFormation's 1 MB limit")]
    return decode(data, path)


def is_json(path: str, text: str) -> bool:
    if path.endswith(".json"):
        return True
    if path.endswith((".yaml", ".yml")):
        return False
    return text.lstrip()[:1] in ("{", "[")


def load_data(path: str) -> tuple[Any, str, list[Diagnostic]]:
    """Read and parse ``path``: ``(nodes or None, "yaml"|"json", diagnostics)``."""
    text, diags = read_file(path)
    if text is None:
        return None, "yaml", diags
    if is_json(path, text):
        data, diags = parse_json(text, path, template=True)
        return data, "json", diags
    data, diags = parse_yaml(text, path, template=True)
    return data, "yaml", diags


def load_template(path: str) -> tuple[Any, list[Diagnostic]]:
    """Load and check one template: ``(docgen.model.Template or None, diagnostics)``."""
    from docgen.modelbuild import load_template as _load

    return _load(path)
