"""Deploy page: prerequisites, validation, deploy / change-set / teardown commands.

Every command is built structurally (docgen.commands) and rendered per environment
with the real stack name and region, so it runs as printed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from docgen import commands as c
from docgen import stackinfo
from docgen.intrinsics import render
from docgen.model import Handbook, Parameter, SecretRef, Stack, Template
from docgen.pages import PageContext
from docgen.pages.common import rel_source, tabs

TEMPLATE_BODY_LIMIT = 51_200  # bytes; larger templates must be uploaded to S3
# DeletionPolicy when none is set (CloudFormation DeletionPolicy attribute docs:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html)
DEFAULT_SNAPSHOT_TYPES = {"AWS::RDS::DBCluster"}
_SAFE_SHORTHAND = re.compile(r"^[A-Za-z0-9._/:@+-]*$")


def _shorthand(value: str) -> str:
    if _SAFE_SHORTHAND.match(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _wired_lookup(handbook: Handbook, stack: Stack, target: stackinfo.Target,
                  param: str) -> c.Assign | None:
    for w in stack.config.wiring:
        if w.parameter != param:
            continue
        source = handbook.stack(w.from_stack)
        if source is None:
            return None
        src_target = next((t for t in stackinfo.targets(handbook, source)
                           if t.env == target.env), None)
        if src_target is None:
            return None
        return c.Assign(c.ShellVar(c.var_name(param, "")), c.aws(
            "cloudformation", "describe-stacks", ("--stack-name", src_target.stack_name),
            ("--query", f"Stacks[0].Outputs[?OutputKey=='{w.output}'].OutputValue"),
            ("--output", "text"), region=src_target.region))
    return None


def _secret_lookup(var: str, ref: SecretRef, region: str | None) -> c.Assign:
    if ref.store == "ssm":
        cmd = c.aws("ssm", "get-parameter", ("--name", ref.name), ("--with-decryption", ()),
                    ("--query", "Parameter.Value"), ("--output", "text"), region=region)
    else:
        cmd = c.aws("secretsmanager", "get-secret-value", ("--secret-id", ref.name),
                    ("--query", "SecretString"), ("--output", "text"), region=region)
    return c.Assign(c.ShellVar(var), cmd)


def parameter_plan(handbook: Handbook, stack: Stack, target: stackinfo.Target
                   ) -> tuple[list[c.Assign], list[tuple[str, c.Value]], list[str], list[str]]:
    """(lookups, (name, value) pairs, variables the operator must export, params left at
    a secret default)."""
    lookups: list[c.Assign] = []
    pairs: list[tuple[str, c.Value]] = []
    exports: list[str] = []
    secret_defaults: list[str] = []
    for p in stack.template.parameters:
        wired = _wired_lookup(handbook, stack, target, p.name)
        value = target.parameters.get(p.name)
        if wired is not None:
            lookups.append(wired)
            pairs.append((p.name, wired.var))
        elif isinstance(value, SecretRef):
            lookup = _secret_lookup(c.var_name(p.name, ""), value, target.region)
            lookups.append(lookup)
            pairs.append((p.name, lookup.var))
        elif p.name in target.parameters and not p.no_echo:
            v = value if not isinstance(value, list) else ",".join(map(str, value))
            pairs.append((p.name, render(v) if not isinstance(v, str) else v))
        elif p.no_echo and p.has_default:
            secret_defaults.append(p.name)
        else:
            var = c.var_name(p.name, "")
            exports.append(var)
            pairs.append((p.name, c.ShellVar(var)))
    return lookups, pairs, exports, secret_defaults


def _override(name: str, value: c.Value) -> c.Value:
    if isinstance(value, c.ShellVar):
        return c.Concat((f"{name}=", value))
    return f"{name}={value}"


def _change_set_param(name: str, value: c.Value) -> c.Value:
    if isinstance(value, c.ShellVar):
        return c.Concat((f'ParameterKey={name},ParameterValue="', value, '"'))
    return f"ParameterKey={name},ParameterValue={_shorthand(str(value))}"


def _over_limit(template: Template) -> bool:
    return os.path.getsize(template.path) > TEMPLATE_BODY_LIMIT if os.path.exists(
        template.path) else False


def _body_too_large(template: Template) -> bool:
    """Whether the template file is too big for ``--template-body``: asked per target
    and page, the file's size is read once per loaded template."""
    return template.derived("deploy: larger than a template body",  # type: ignore[no-any-return]
                            _over_limit)


def _template_ref(handbook: Handbook, stack: Stack) -> str:
    return rel_source(handbook, stack.template.path)


def target_commands(handbook: Handbook, stack: Stack, target: stackinfo.Target
                    ) -> dict[str, Any]:
    template = stack.template
    path = _template_ref(handbook, stack)
    lookups, pairs, exports, secret_defaults = parameter_plan(handbook, stack, target)
    caps = list(template.capabilities)
    large = _body_too_large(template)
    packaged = bool(template.nested_stacks and any(n.local_path for n in template.nested_stacks))
    deploy_file = "packaged-" + os.path.basename(path) if packaged else path
    package = c.aws("cloudformation", "package", ("--template-file", path),
                    ("--s3-bucket", c.ShellVar("ARTIFACT_BUCKET")),
                    ("--output-template-file", deploy_file), region=target.region) if packaged \
        else None
    deploy = c.aws(
        "cloudformation", "deploy", ("--template-file", deploy_file),
        ("--stack-name", target.stack_name),
        ("--s3-bucket", c.ShellVar("ARTIFACT_BUCKET") if large and not packaged else None),
        ("--parameter-overrides", [_override(n, v) for n, v in pairs] or None),
        ("--capabilities", caps or None), ("--no-fail-on-empty-changeset", ()),
        region=target.region)
    change_set = "docgen-review"
    create_cs = c.aws(
        "cloudformation", "create-change-set", ("--stack-name", target.stack_name),
        ("--change-set-name", change_set),
        ("--template-body", f"file://{deploy_file}") if not large else
        ("--template-url", c.ShellVar("TEMPLATE_URL")),
        ("--parameters", [_change_set_param(n, v) for n, v in pairs] or None),
        ("--capabilities", caps or None), region=target.region)
    review = [
        create_cs,
        _wait("change-set-create-complete", target, ("--change-set-name", (change_set,))),
        c.aws("cloudformation", "describe-change-set", ("--stack-name", target.stack_name),
              ("--change-set-name", change_set),
              ("--query", "Changes[].ResourceChange.[Action,LogicalResourceId,ResourceType,"
                          "Replacement]"),
              ("--output", "table"), region=target.region),
        c.aws("cloudformation", "execute-change-set", ("--stack-name", target.stack_name),
              ("--change-set-name", change_set), region=target.region),
        _wait("stack-update-complete", target),
    ]
    delete = [
        c.aws("cloudformation", "delete-stack", ("--stack-name", target.stack_name),
              region=target.region),
        _wait("stack-delete-complete", target),
    ]
    return {
        "lookups": lookups, "deploy": [*([package] if package else []), *lookups, deploy],
        "wait_create": _wait("stack-create-complete", target),
        "review": [*lookups, *review], "delete": delete, "exports": exports,
        "secret_defaults": secret_defaults, "large": large, "packaged": packaged,
        "events": c.aws("cloudformation", "describe-stack-events",
                        ("--stack-name", target.stack_name),
                        ("--query", "StackEvents[?contains(ResourceStatus,'FAILED')]."
                                    "[Timestamp,LogicalResourceId,ResourceStatusReason]"),
                        ("--output", "table"), region=target.region),
    }


def commands_for(ctx: PageContext, stack: Stack, target: stackinfo.Target) -> dict[str, Any]:
    """:func:`target_commands` of the stack as configured, once per run: the deploy page
    and the deployment order's first pass of the stack (a stack fact) show the same
    commands, and building them twice was a tenth of the deploy page."""
    return ctx.cached(("deploy-commands", stack.id, target.env),  # type: ignore[no-any-return]
                      lambda: target_commands(ctx.handbook, stack, target))


def _wait(waiter: str, target: stackinfo.Target,
          *extra: tuple[str, tuple[c.Value, ...]]) -> c.AwsCommand:
    options: list[tuple[str, tuple[c.Value, ...]]] = [("--stack-name", (target.stack_name,)),
                                                      *extra]
    if target.region:
        options.append(("--region", (target.region,)))
    return c.AwsCommand("cloudformation", "wait " + waiter, tuple(options))


def _left_behind(stack: Stack) -> list[dict[str, str]]:
    out = []
    for res in stack.template.resources:
        policy = res.deletion_policy
        if policy is None and res.type in DEFAULT_SNAPSHOT_TYPES:
            policy = "Snapshot (default for this type)"
        if policy is None and res.type == "AWS::RDS::DBInstance" and \
                "DBClusterIdentifier" not in res.properties:
            policy = "Snapshot (default for this type)"
        if isinstance(policy, str) and policy.split(" ")[0] in (
                "Retain", "RetainExceptOnCreate", "Snapshot"):
            kept = "a final snapshot" if policy.startswith("Snapshot") else "the resource itself"
            out.append({"logical_id": res.logical_id, "type": res.type, "policy": policy,
                        "kept": kept})
        elif policy is not None and not isinstance(policy, str):
            out.append({"logical_id": res.logical_id, "type": res.type,
                        "policy": f"depends: {render(policy)}", "kept": "depends on the value"})
    return out


def prerequisites(handbook: Handbook, stack: Stack) -> dict[str, Any]:
    template = stack.template
    params: tuple[Parameter, ...] = template.parameters
    wired = {w.parameter: w for w in stack.config.wiring}
    required = [p.name for p in params if not p.has_default and p.name not in wired]
    secrets = [p.name for p in params if p.no_echo]
    before = [{"parameter": w.parameter, "stack": w.from_stack, "output": w.output}
              for w in stack.config.wiring]
    imports = [render(i) for i in template.imports]
    return {"capabilities": list(template.capabilities), "required": required,
            "secrets": secrets, "wired": before, "imports": imports,
            "nested": [{"logical_id": n.logical_id, "url": render(n.template_url),
                        "local": n.local_path is not None} for n in template.nested_stacks],
            "transforms": list(template.transforms)}


def context(ctx: PageContext) -> Mapping[str, Any]:
    stack = ctx.stack
    assert stack is not None
    hb = ctx.handbook
    path = _template_ref(hb, stack)
    targets = stackinfo.targets(hb, stack)
    per_target = [(t, commands_for(ctx, stack, t)) for t in targets]
    exports = sorted({e for _, cmds in per_target for e in cmds["exports"]})
    validate = [
        c.aws("cloudformation", "validate-template", ("--template-body", f"file://{path}"),
              region=stack.config.region),
        c.raw("docgen", "validate", "--lint", path),
    ]
    if _body_too_large(stack.template):
        validate = [c.raw("docgen", "validate", "--lint", path)]

    def label(t: stackinfo.Target) -> str | None:
        return t.env

    from docgen.pages import deployment_order as order_page  # imports this module

    result = order_page.deployment_order(ctx)
    sid = stack.id  # a property: read once, not once per item of the scans below
    parent = result.parent_of(sid)
    order = {
        "position": result.position(sid), "total": len(result.order),
        "depends_on": [order_page.edge_item(e) for e in result.depends_on(sid)],
        "dependents": [order_page.edge_item(e) for e in result.dependents(sid)],
        "nested_in": {"parent": parent[0], "logical_id": parent[1]} if parent else None,
        "again_after": [{"from_stack": f.from_stack, "parameter": f.parameter,
                         "output": f.output, "confirmed": f.source == "config"}
                        for f in (*result.follow_ups, *result.hints)
                        if f.stack == sid and f.second_pass],
        "feeds_again": [{"stack": f.stack, "parameter": f.parameter, "output": f.output}
                        for f in (*result.follow_ups, *result.hints)
                        if f.from_stack == sid and f.second_pass],
        "dangling": [{"expression": d.expression, "names": list(d.names)}
                     for d in result.dangling if d.stack == sid],
        "multi": len(result.order) > 1,
    }

    return {
        "template_path": path,
        "order": order,
        "prereq": prerequisites(hb, stack),
        "exports": exports,
        "secret_defaults": sorted({s for _, cmds in per_target for s in cmds["secret_defaults"]}),
        "validate": tabs([(None, validate)]),
        "deploy": tabs([(label(t), cmds["deploy"]) for t, cmds in per_target]),
        "wait": tabs([(label(t), cmds["wait_create"]) for t, cmds in per_target]),
        "review": tabs([(label(t), cmds["review"]) for t, cmds in per_target]),
        "events": tabs([(label(t), cmds["events"]) for t, cmds in per_target]),
        "delete": tabs([(label(t), cmds["delete"]) for t, cmds in per_target]),
        "left_behind": _left_behind(stack),
        "targets": [{"env": t.env, "stack_name": t.stack_name, "region": t.region}
                    for t in targets],
        "large": any(cmds["large"] for _, cmds in per_target),
        "packaged": any(cmds["packaged"] for _, cmds in per_target),
    }
