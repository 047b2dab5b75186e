"""``docgen.yml``: the project's typed configuration.

Every error names its key and line (``docgen.yml:12:5: stacks.dr.region: expected a
string``); unknown keys are errors too, because a typo in a deployment handbook's
config silently changes what operators are told.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from docgen.diagnostics import ConfigError, Diagnostic
from docgen.model import (
    DRConfig,
    Environment,
    OutputWiring,
    ProjectConfig,
    SecretRef,
    StackConfig,
)
from docgen.nodes import DictNode

CONFIG_NAMES = ("docgen.yml", "docgen.yaml")


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path
        self.diags: list[Diagnostic] = []

    def err(self, node: Any, key: str | None, where: str, message: str) -> None:
        mark = node.key_marks.get(key, node.mark) if isinstance(node, DictNode) and key else (
            getattr(node, "mark", (1, 1)))
        self.diags.append(Diagnostic(self.path, mark[0], mark[1], f"{where}: {message}"))

    def mapping(self, parent: DictNode, key: str, where: str, allowed: set[str] | None = None
                ) -> DictNode:
        value = parent.get(key)
        if value is None:
            return DictNode(mark=parent.key_marks.get(key, parent.mark))
        if not isinstance(value, DictNode):
            self.err(parent, key, where, "expected a mapping")
            return DictNode()
        if allowed is not None:
            for k in value:
                if k not in allowed:
                    self.err(value, k, f"{where}.{k}",
                             f"unknown key (expected one of: {', '.join(sorted(allowed))})")
        return value

    def scalar(self, parent: DictNode, key: str, where: str, kind: type | tuple[type, ...],
               default: Any = None, check: Callable[[Any], str | None] | None = None) -> Any:
        if key not in parent or parent[key] is None:
            return default
        value = parent[key]
        if isinstance(value, bool) and kind is not bool and bool not in (
                kind if isinstance(kind, tuple) else (kind,)):
            self.err(parent, key, f"{where}.{key}", f"expected {_kind_name(kind)}, found a boolean")
            return default
        if not isinstance(value, kind):
            self.err(parent, key, f"{where}.{key}",
                     f"expected {_kind_name(kind)}, found {type(value).__name__}")
            return default
        if check:
            problem = check(value)
            if problem:
                self.err(parent, key, f"{where}.{key}", problem)
                return default
        return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", int: "an integer", bool: "true or false", float: "a number"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _param_value(rd: _Reader, node: DictNode, key: str, where: str) -> Any:
    value = node[key]
    if isinstance(value, dict):
        refs = {k: v for k, v in value.items() if k in ("ssm", "secretsmanager")}
        if len(value) == 1 and len(refs) == 1 and isinstance(next(iter(refs.values())), str):
            store, name = next(iter(refs.items()))
            return SecretRef(store, name)
        rd.err(node, key, f"{where}.{key}",
               "a parameter value is a scalar, a list, or {ssm: NAME} / {secretsmanager: ID}")
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    if value is None:
        return ""
    return value if isinstance(value, str) else (
        ("true" if value else "false") if isinstance(value, bool) else str(value))


def _parameters(rd: _Reader, parent: DictNode, where: str) -> dict[str, Any]:
    node = rd.mapping(parent, "parameters", f"{where}.parameters")
    return {k: _param_value(rd, node, k, f"{where}.parameters") for k in node}


def _stack(rd: _Reader, root: str, sid: str, node: Any, where: str) -> StackConfig | None:
    from docgen.discover import slug

    if not isinstance(node, DictNode):
        rd.err(node, None, where, "expected a mapping")
        return None
    allowed = {"template", "name", "region", "role", "description", "owner", "parameters",
               "outputs_file"}
    for k in node:
        if k not in allowed:
            rd.err(node, k, f"{where}.{k}",
                   f"unknown key (expected one of: {', '.join(sorted(allowed))})")
    template = rd.scalar(node, "template", where, str)
    if not template:
        rd.err(node, None, where, "a stack needs `template:` (path to the template file)")
        return None
    wiring = []
    params = rd.mapping(node, "parameters", f"{where}.parameters")
    for pname, spec in params.items():
        pw = f"{where}.parameters.{pname}"
        if not (isinstance(spec, DictNode) and set(spec) == {"stack", "output"}
                and all(isinstance(v, str) for v in spec.values())):
            rd.err(params, pname, pw, "expected {stack: STACK_ID, output: OUTPUT_NAME}")
            continue
        wiring.append(OutputWiring(pname, spec["stack"], spec["output"]))
    role = rd.scalar(node, "role", where, str, "",
                     lambda v: None if v in ("primary", "dr", "") else "expected primary or dr")
    return StackConfig(
        id=slug(sid), template_path=os.path.normpath(os.path.join(root, template)),
        name=rd.scalar(node, "name", where, str) or sid,
        region=rd.scalar(node, "region", where, str),
        description=rd.scalar(node, "description", where, str, ""),
        owner=rd.scalar(node, "owner", where, str, ""), role=role, wiring=tuple(wiring),
        outputs_file=rd.scalar(node, "outputs_file", where, str),
    )


def _environment(rd: _Reader, name: str, node: Any, stack_ids: set[str]) -> Environment:
    where = f"environments.{name}"
    if not isinstance(node, DictNode):
        rd.err(node, None, where, "expected a mapping")
        return Environment(name)
    for k in node:
        if k not in ("parameters", "stacks"):
            rd.err(node, k, f"{where}.{k}", "unknown key (expected parameters, stacks)")
    per_stack: dict[str, dict[str, Any]] = {}
    outputs: dict[str, str] = {}
    stacks = rd.mapping(node, "stacks", f"{where}.stacks")
    for sid, spec in stacks.items():
        sw = f"{where}.stacks.{sid}"
        if sid not in stack_ids:
            rd.err(stacks, sid, sw, f"unknown stack (defined: {', '.join(sorted(stack_ids))})")
            continue
        if not isinstance(spec, DictNode):
            rd.err(stacks, sid, sw, "expected a mapping")
            continue
        for k in spec:
            if k not in ("parameters", "outputs_file"):
                rd.err(spec, k, f"{sw}.{k}", "unknown key (expected parameters, outputs_file)")
        per_stack[sid] = _parameters(rd, spec, sw)
        out_file = rd.scalar(spec, "outputs_file", sw, str)
        if out_file:
            outputs[sid] = out_file
    return Environment(name, _parameters(rd, node, where), per_stack, outputs)


TOP_KEYS = {"title", "description", "paths", "stacks", "environments", "dr", "usage", "site"}


def parse_config(path: str, data: Any) -> tuple[ProjectConfig | None, list[Diagnostic]]:
    """Validate a loaded docgen.yml tree and build the typed config."""
    rd = _Reader(path)
    root = os.path.dirname(os.path.abspath(path))
    if data is None:
        data = DictNode()
    if not isinstance(data, DictNode):
        return None, [Diagnostic(path, 1, 1, "docgen.yml must be a mapping")]
    for k in data:
        if k not in TOP_KEYS:
            rd.err(data, k, k, f"unknown key (expected one of: {', '.join(sorted(TOP_KEYS))})")
    paths = rd.mapping(data, "paths", "paths", {"templates", "docs", "knowledge",
                                                "page_templates", "notes"})

    def path_opt(key: str) -> str | None:
        value = rd.scalar(paths, key, "paths", str)
        return os.path.normpath(os.path.join(root, value)) if value else None

    stacks_node = rd.mapping(data, "stacks", "stacks")
    stacks = []
    seen: set[str] = set()
    for sid, spec in stacks_node.items():
        st = _stack(rd, root, sid, spec, f"stacks.{sid}")
        if st is None:
            continue
        if st.id in seen:
            rd.err(stacks_node, sid, f"stacks.{sid}", f"stack id {st.id!r} is used twice")
            continue
        seen.add(st.id)
        stacks.append(st)
    for st in stacks:
        for w in st.wiring:
            if w.from_stack not in seen:
                rd.err(stacks_node, None, f"stacks.{st.id}.parameters.{w.parameter}",
                       f"wired from unknown stack {w.from_stack!r}")
    envs_node = rd.mapping(data, "environments", "environments")
    envs = tuple(_environment(rd, n, spec, seen) for n, spec in envs_node.items())
    dr = rd.mapping(data, "dr", "dr", {"rto_minutes", "rpo_minutes", "dns"})
    dns = rd.mapping(dr, "dns", "dr.dns", {"name", "hosted_zone_id"})
    site = rd.mapping(data, "site", "site", {"mermaid", "show_generated_at", "show_revision"})
    mermaid = rd.scalar(site, "mermaid", "site", str, "local",
                        lambda v: None if v in ("local", "cdn") else "expected local or cdn")
    usage = rd.mapping(data, "usage", "usage")
    docs = rd.scalar(paths, "docs", "paths", str, "docs_src")
    config = ProjectConfig(
        root=root,
        title=rd.scalar(data, "title", "title", str, "Operations handbook"),
        description=rd.scalar(data, "description", "description", str, ""),
        stacks=tuple(stacks), environments=envs,
        templates_dir=path_opt("templates"), knowledge_dir=path_opt("knowledge"),
        page_templates_dir=path_opt("page_templates"),
        docs_dir=os.path.normpath(os.path.join(root, docs)), notes_dir=path_opt("notes"),
        dr=DRConfig(
            rto_minutes=rd.scalar(dr, "rto_minutes", "dr", int),
            rpo_minutes=rd.scalar(dr, "rpo_minutes", "dr", int),
            dns_name=rd.scalar(dns, "name", "dr.dns", str),
            hosted_zone_id=rd.scalar(dns, "hosted_zone_id", "dr.dns", str),
        ),
        usage={k: v for k, v in usage.items()},
        show_generated_at=rd.scalar(site, "show_generated_at", "site", bool, False),
        show_revision=rd.scalar(site, "show_revision", "site", bool, False),
        config_path=os.path.abspath(path), mermaid_local=mermaid == "local",
    )
    return (None if rd.diags else config), rd.diags


def load_config(path: str) -> ProjectConfig:
    """Read and validate ``path``; raises :class:`ConfigError` with every problem."""
    from docgen.loader import parse_yaml, read_file  # (YAML only when there is a file)

    text, diags = read_file(path)
    data = None
    if text is not None:
        data, diags = parse_yaml(text, path)
    if diags:
        raise ConfigError(f"{path}: invalid configuration", tuple(diags))
    config, diags = parse_config(path, data)
    if config is None:
        raise ConfigError(f"{path}: invalid configuration", tuple(diags))
    return config


def find_config(directory: str = ".") -> str | None:
    for name in CONFIG_NAMES:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    return None
