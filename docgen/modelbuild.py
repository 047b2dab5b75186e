"""From loaded nodes to a checked :class:`docgen.model.Template`.

Structural rules (sections and their shapes) and reference rules (every ``Ref``,
``GetAtt``, ``${}`` in ``Sub``, ``Condition``, ``DependsOn`` and ``FindInMap`` map
name points at something defined) are checked here, each problem reported as a
diagnostic at the position of the offending node.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from docgen.diagnostics import Diagnostic
from docgen.gcpause import gc_paused
from docgen.intrinsics import PSEUDO_PARAMETERS, intrinsic, sub_variables
from docgen.loader import QUOTAS, load_data, quota_message
from docgen.model import (
    NO_DEFAULT,
    Condition,
    Location,
    NestedStack,
    Output,
    Parameter,
    Reference,
    Resource,
    Template,
)
from docgen.nodes import DictNode, locate

LOGICAL_ID = re.compile(r"^[A-Za-z0-9]+$")
IAM_TYPES = {
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::UserToGroupAddition": None,
}
SECTIONS = {
    "AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings",
    "Conditions", "Transform", "Resources", "Outputs", "Hooks", "Globals",
}
MAX_RESOURCES, MAX_PARAMETERS, MAX_OUTPUTS, MAX_MAPPINGS = (
    QUOTAS[s][0] for s in ("Resources", "Parameters", "Outputs", "Mappings"))


class _Checker:
    def __init__(self, path: str, raw: DictNode) -> None:
        self.path = path
        self.raw = raw
        self.diags: list[Diagnostic] = []
        self.macro = False  # a non-AWS transform (macro) may rewrite the template

    def at(self, path: Iterable[str | int]) -> Location:
        line, col = locate(self.raw, tuple(path))
        return Location(self.path, line, col)

    def error(self, path: Iterable[str | int], message: str, severity: str = "error") -> None:
        loc = self.at(path)
        self.diags.append(Diagnostic(self.path, loc.line, loc.col, message, severity))


def _quota(ck: _Checker, section: str, count: int) -> None:
    """CloudFormation refuses a template over a quota ("Template format error: Number of
    resources, N, is greater than maximum allowed"), so that is an error. With a macro
    (a non-AWS transform) the quota applies to the macro's output, which can be smaller
    and which docgen cannot see: CloudFormation may still accept the file, so it is a
    warning. AWS transforms (SAM, LanguageExtensions, Include) only ever add."""
    if count > QUOTAS[section][0]:
        ck.error([section], quota_message(section, count), "warning" if ck.macro else "error")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _num(value: Any) -> float | None:
    try:
        return float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    n = _num(value)
    return int(n) if n is not None else None


Groups = tuple[tuple[str, tuple[str, ...]], ...]


def _interface(raw: DictNode) -> tuple[dict[str, str], dict[str, str], Groups]:
    meta = raw.get("Metadata")
    iface = meta.get("AWS::CloudFormation::Interface") if isinstance(meta, dict) else None
    labels: dict[str, str] = {}
    groups: dict[str, str] = {}
    ordered: list[tuple[str, tuple[str, ...]]] = []
    if not isinstance(iface, dict):
        return labels, groups, ()
    for name, spec in (iface.get("ParameterLabels") or {}).items():
        if isinstance(spec, dict):
            labels[name] = _text(spec.get("default"))
    for group in iface.get("ParameterGroups") or []:
        if not isinstance(group, dict):
            continue
        label = group.get("Label")
        title = _text(label.get("default")) if isinstance(label, dict) else _text(label)
        members = tuple(p for p in group.get("Parameters") or [] if isinstance(p, str))
        ordered.append((title, members))
        for p in members:
            groups.setdefault(p, title)
    return labels, groups, tuple(ordered)


def _parameters(ck: _Checker, raw: DictNode) -> tuple[Parameter, ...]:
    section = raw.get("Parameters") or {}
    if not isinstance(section, dict):
        ck.error(["Parameters"], "Parameters must be a mapping")
        return ()
    labels, groups, _ = _interface(raw)
    out = []
    for name, spec in section.items():
        where = ["Parameters", name]
        if not isinstance(spec, dict) or not isinstance(spec.get("Type"), str):
            ck.error(where, f"parameter {name} must be a mapping with a Type")
            continue
        if not LOGICAL_ID.match(name):
            ck.error(where, f"parameter name {name!r} must be alphanumeric")
        allowed = spec.get("AllowedValues")
        out.append(Parameter(
            name=name, type=spec["Type"], location=ck.at(where),
            default=spec.get("Default", NO_DEFAULT) if "Default" in spec else NO_DEFAULT,
            no_echo=str(spec.get("NoEcho", "false")).lower() == "true",
            description=_text(spec.get("Description")),
            allowed_values=tuple(allowed) if isinstance(allowed, list) else (),
            allowed_pattern=spec.get("AllowedPattern") if isinstance(
                spec.get("AllowedPattern"), str) else None,
            min_length=_int(spec.get("MinLength")), max_length=_int(spec.get("MaxLength")),
            min_value=_num(spec.get("MinValue")), max_value=_num(spec.get("MaxValue")),
            constraint_description=_text(spec.get("ConstraintDescription")),
            label=labels.get(name, ""), group=groups.get(name, ""),
        ))
    _quota(ck, "Parameters", len(out))
    return tuple(out)


def _depends_on(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _resources(ck: _Checker, raw: DictNode) -> tuple[Resource, ...]:
    section = raw.get("Resources")
    if not isinstance(section, dict):
        # A macro may rewrite any shape; without one this is an error.
        ck.error(["Resources"], "Resources must be a mapping of logical IDs to resources",
                 "warning" if ck.macro else "error")
        return ()
    out = []
    for logical_id, spec in section.items():
        where = ["Resources", logical_id]
        if logical_id.startswith("Fn::ForEach::"):
            continue  # expanded by AWS::LanguageExtensions at deploy time
        if not LOGICAL_ID.match(logical_id):
            ck.error(where, f"logical ID {logical_id!r} must be alphanumeric (A-Z, a-z, 0-9)")
            continue
        if not isinstance(spec, dict):
            ck.error(where, f"resource {logical_id} must be a mapping")
            continue
        rtype = spec.get("Type")
        if not isinstance(rtype, str) or not rtype:
            ck.error(where, f"resource {logical_id} has no Type")
            continue
        props = spec.get("Properties")
        if props is not None and not isinstance(props, dict):
            ck.error([*where, "Properties"], f"Properties of {logical_id} must be a mapping")
            props = None
        cond = spec.get("Condition")
        if "Condition" in spec and not isinstance(cond, str):
            ck.error([*where, "Condition"], f"Condition of {logical_id} must be a condition name")
        out.append(Resource(
            logical_id=logical_id, type=rtype, location=ck.at(where),
            properties=props if props is not None else DictNode(),
            depends_on=_depends_on(spec.get("DependsOn")),
            condition=cond if isinstance(cond, str) else None,
            deletion_policy=spec.get("DeletionPolicy"),
            update_replace_policy=spec.get("UpdateReplacePolicy"),
            metadata=spec.get("Metadata") if isinstance(spec.get("Metadata"), dict) else {},
        ))
    if not section and not ck.macro:
        ck.error(["Resources"], "Resources must declare at least one resource")
    _quota(ck, "Resources", len(out))
    return tuple(out)


def _outputs(ck: _Checker, raw: DictNode) -> tuple[Output, ...]:
    section = raw.get("Outputs") or {}
    if not isinstance(section, dict):
        ck.error(["Outputs"], "Outputs must be a mapping")
        return ()
    out = []
    for name, spec in section.items():
        where = ["Outputs", name]
        if name.startswith("Fn::ForEach::"):
            continue  # expanded by AWS::LanguageExtensions at deploy time
        if not LOGICAL_ID.match(name):  # outputs' logical IDs follow the same rule
            ck.error(where, f"output name {name!r} must be alphanumeric (A-Z, a-z, 0-9)")
            continue
        if not isinstance(spec, dict) or "Value" not in spec:
            ck.error(where, f"output {name} must be a mapping with a Value")
            continue
        export = spec.get("Export")
        out.append(Output(
            name=name, location=ck.at(where), value=spec.get("Value"),
            description=_text(spec.get("Description")),
            export_name=export.get("Name") if isinstance(export, dict) else None,
            condition=spec.get("Condition") if isinstance(spec.get("Condition"), str) else None,
        ))
    _quota(ck, "Outputs", len(out))
    return tuple(out)


def _references(owner: str, value: Any, path: tuple[str | int, ...],
                out: list[Reference], imports: list[Any]) -> None:
    """Collect references under ``value``, in document order."""
    _collect(value, list(path), owner, out, imports)


def _collect(node: Any, where: list[str | int], owner: str, out: list[Reference],
             imports: list[Any]) -> None:
    """The walk behind :func:`_references`. It runs over every property of every
    template, so the path is one list extended and trimmed in place (a tuple is made
    only for a reference), and scalars, the bulk of the nodes, are never visited.
    Recursive: loaded templates nest at most ``loader.MAX_DEPTH`` levels."""
    if isinstance(node, dict):
        if len(node) == 1:
            fn = intrinsic(node)
            if fn is not None:
                _intrinsic_reference(owner, fn[0], fn[1], (*where, fn[0]), out, imports)
        items: Iterable[tuple[Any, Any]] = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return
    for key, sub in items:
        if isinstance(sub, (dict, list)):
            where.append(key)
            _collect(sub, where, owner, out, imports)
            where.pop()


def _intrinsic_reference(owner: str, name: str, arg: Any, here: tuple[str | int, ...],
                         out: list[Reference], imports: list[Any]) -> None:
    """The references one intrinsic function call makes."""
    if name == "Ref":
        if isinstance(arg, str):
            out.append(Reference(owner, arg, "Ref", here))
    elif name == "Fn::GetAtt":
        target = arg[0] if isinstance(arg, list) and arg else (
            arg.split(".", 1)[0] if isinstance(arg, str) else None)
        if isinstance(target, str):
            out.append(Reference(owner, target, "GetAtt", here))
    elif name == "Fn::Sub":
        text = arg if isinstance(arg, str) else (
            arg[0] if isinstance(arg, list) and arg else None)
        local = arg[1] if isinstance(arg, list) and len(arg) > 1 and isinstance(
            arg[1], dict) else {}
        if isinstance(text, str):
            for var in sub_variables(text):
                target = var.split(".", 1)[0].strip()
                if var.strip() not in local and target not in local:
                    out.append(Reference(owner, target if "." in var else var.strip(),
                                         "Sub", here))
    elif name == "Condition":
        if isinstance(arg, str):
            out.append(Reference(owner, arg, "Condition", here))
    elif name == "Fn::If":
        if isinstance(arg, list) and arg and isinstance(arg[0], str):
            out.append(Reference(owner, arg[0], "Condition", here))
    elif name == "Fn::FindInMap":
        if isinstance(arg, list) and arg and isinstance(arg[0], str):
            out.append(Reference(owner, arg[0], "FindInMap", here))
    elif name == "Fn::ImportValue":
        imports.append(arg)


def _graph(raw: DictNode, resources: tuple[Resource, ...], outputs: tuple[Output, ...],
           conditions: tuple[Condition, ...]) -> tuple[tuple[Reference, ...], tuple[Any, ...]]:
    refs: list[Reference] = []
    imports: list[Any] = []
    for res in resources:
        base: tuple[str | int, ...] = ("Resources", res.logical_id)
        _references(res.logical_id, res.properties, (*base, "Properties"), refs, imports)
        for dep in res.depends_on:
            refs.append(Reference(res.logical_id, dep, "DependsOn", (*base, "DependsOn")))
        if res.condition:
            refs.append(Reference(res.logical_id, res.condition, "Condition", (*base, "Condition")))
    for out in outputs:
        base = ("Outputs", out.name)
        spec = raw["Outputs"][out.name]
        _references(f"Outputs.{out.name}", {k: v for k, v in spec.items() if k != "Condition"},
                    base, refs, imports)
        if out.condition:
            refs.append(Reference(f"Outputs.{out.name}", out.condition, "Condition",
                                  (*base, "Condition")))
    for cond in conditions:
        _references(f"Conditions.{cond.name}", cond.expression, ("Conditions", cond.name),
                    refs, imports)
    return tuple(refs), tuple(imports)


def _check_references(ck: _Checker, refs: tuple[Reference, ...], params: set[str],
                      resources: set[str], conditions: set[str], mappings: set[str],
                      lenient: bool) -> None:
    """Undefined targets are errors; with a transform (SAM, macros) they may be
    generated at deploy time, so they become warnings."""
    severity = "warning" if lenient else "error"
    for ref in refs:
        target = ref.target
        if ref.kind in ("Ref", "Sub"):
            if target in params or target in resources or target in PSEUDO_PARAMETERS:
                continue
            what = "parameter or resource"
        elif ref.kind == "GetAtt":
            if target in resources:
                continue
            what = "resource"
        elif ref.kind == "DependsOn":
            if target in resources:
                continue
            what = "resource"
        elif ref.kind == "Condition":
            if target in conditions:
                continue
            what = "condition"
        else:
            if target in mappings:
                continue
            what = "mapping"
        ck.error(ref.path, f"{ref.kind} to undefined {what} {target!r} (in {ref.source})",
                 severity)


def _capabilities(resources: tuple[Resource, ...], transforms: tuple[str, ...]) -> tuple[str, ...]:
    caps: list[str] = []
    iam = [r for r in resources if r.type in IAM_TYPES]
    if iam:
        named = any(IAM_TYPES[r.type] and IAM_TYPES[r.type] in r.properties for r in iam)
        caps.append("CAPABILITY_NAMED_IAM" if named else "CAPABILITY_IAM")
    if transforms or any(r.type == "AWS::Serverless::Application" for r in resources):
        caps.append("CAPABILITY_AUTO_EXPAND")
    if transforms and not iam and any(t.startswith("AWS::Serverless") for t in transforms):
        # SAM functions get an execution role generated from the transform.
        caps.insert(0, "CAPABILITY_IAM")
    return tuple(caps)


def _nested(ck: _Checker, resources: tuple[Resource, ...]) -> tuple[NestedStack, ...]:
    out = []
    base = os.path.dirname(ck.path)
    for res in resources:
        if res.type != "AWS::CloudFormation::Stack":
            continue
        url = res.properties.get("TemplateURL")
        local = None
        if isinstance(url, str) and "://" not in url and not url.startswith("https"):
            local = os.path.normpath(os.path.join(base, url))
        out.append(NestedStack(res.logical_id, url, local, res.location))
    return tuple(out)


def _transforms(ck: _Checker, raw: DictNode) -> tuple[str, ...]:
    value = raw.get("Transform")
    if "Transform" in raw and value is None:
        ck.error(["Transform"], "Transform is empty (null)")
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v if isinstance(v, str) else _text(v.get("Name")) if isinstance(v, dict)
                     else "" for v in value)
    if isinstance(value, dict):
        return (_text(value.get("Name")),)
    return ()


def build_template(path: str, raw: Any, fmt: str) -> tuple[Template | None, list[Diagnostic]]:
    """Check a loaded node tree and build the model; None when any error was found."""
    if not isinstance(raw, DictNode):
        kind = "empty" if raw is None else type(raw).__name__
        return None, [Diagnostic(path, 1, 1, f"top level must be a mapping, found {kind}: "
                                 "not a CloudFormation template")]
    ck = _Checker(path, raw)
    if "Resources" not in raw:
        ck.error([], "not a CloudFormation template: no Resources section")
        return None, ck.diags
    version = raw.get("AWSTemplateFormatVersion")
    if "AWSTemplateFormatVersion" in raw and version != "2010-09-09":
        ck.error(["AWSTemplateFormatVersion"],
                 f"AWSTemplateFormatVersion must be '2010-09-09', found {version!r}")
    for key in raw:
        if key not in SECTIONS:
            ck.error([key], f"unknown top-level section {key!r}", "warning")
    description = raw.get("Description")
    if description is not None and not isinstance(description, str):
        ck.error(["Description"], "Description must be a string")
    transforms = _transforms(ck, raw)
    ck.macro = any(not t.startswith("AWS::") for t in transforms)
    parameters = _parameters(ck, raw)
    resources = _resources(ck, raw)
    outputs = _outputs(ck, raw)
    cond_section = raw.get("Conditions") or {}
    conditions = tuple(Condition(n, e, ck.at(["Conditions", n]))
                       for n, e in cond_section.items()) if isinstance(cond_section, dict) else ()
    mappings = raw.get("Mappings") or {}
    if not isinstance(mappings, dict):
        ck.error(["Mappings"], "Mappings must be a mapping")
        mappings = {}
    _quota(ck, "Mappings", len(mappings))
    refs, imports = _graph(raw, resources, outputs, conditions)
    lenient = bool(transforms) or any(
        k.startswith("Fn::ForEach") for k in raw.get("Resources") or {}
    ) or any(r.type.endswith("::MODULE") for r in resources)
    _check_references(ck, refs, {p.name for p in parameters},
                      {r.logical_id for r in resources}, {c.name for c in conditions},
                      set(mappings), lenient)
    if any(d.is_error for d in ck.diags):
        return None, ck.diags
    _, _, groups = _interface(raw)
    template = Template(
        path=path, format=fmt, raw=raw, description=_text(description),
        format_version=version if isinstance(version, str) else None,
        transforms=transforms, parameters=parameters, parameter_groups=groups,
        resources=resources, outputs=outputs, conditions=conditions, mappings=mappings,
        metadata=raw.get("Metadata") if isinstance(raw.get("Metadata"), dict) else {},
        references=refs, nested_stacks=_nested(ck, resources),
        capabilities=_capabilities(resources, transforms), imports=imports,
    )
    return template, ck.diags


def load_template(path: str, data: bytes | None = None
                  ) -> tuple[Template | None, list[Diagnostic]]:
    """Load and check one template file (or its bytes ``data``, already read):
    ``(Template or None, diagnostics)``.

    The cyclic garbage collector is paused meanwhile: loading allocates tens of
    thousands of containers, none of them in a cycle (refcounting frees them), and the
    collector would otherwise rescan them, and everything loaded before, many times
    over (a quarter of the loading time over the corpus, half when templates are kept).
    """
    with gc_paused():
        raw, fmt, diags = load_data(path, data)
        if raw is None:
            return None, diags
        return build_template(path, raw, fmt)


#: Attributes whose value is a credential (``!GetAtt Key.SecretAccessKey``).
SECRET_ATTRIBUTES: dict[str, frozenset[str]] = {
    "AWS::IAM::AccessKey": frozenset({"SecretAccessKey"}),
}


def is_secret_value(template: Template, value: Any) -> bool:
    """Whether ``value`` (an output's Value, say) carries a secret: a NoEcho parameter
    (by ``Ref`` or inside a ``Sub``) or a credential attribute. Pages use it to show
    such a value's live counterpart as hidden, never as text."""
    secrets = {p.name for p in template.parameters if p.no_echo}
    types = {r.logical_id: r.type for r in template.resources}
    refs: list[Reference] = []
    _references("value", value, (), refs, [])
    for ref in refs:
        if ref.kind in ("Ref", "Sub") and ref.target in secrets:
            return True
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        fn = intrinsic(node)
        if fn and fn[0] == "Fn::GetAtt":
            arg = fn[1]
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            if len(parts) == 2 and isinstance(parts[1], str) and \
                    parts[1] in SECRET_ATTRIBUTES.get(types.get(str(parts[0]), ""), ()):
                return True
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
