"""The rendering speed-ups must not change a byte: each fast path is checked against the
slow form it replaced (Jinja macros, Jinja's own attribute lookup, scans of the model,
the copying expansion of property trees)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docgen.analyse.expand import ABSENT, Expander
from docgen.commands import WRAP_AT, AwsCommand, Concat, ShellVar, word
from docgen.loader import load_template
from docgen.render import environment

# Text that exercises every escape: punctuation, backticks, newlines, controls, non-ASCII.
TEXT = st.text(alphabet=st.sampled_from(list("ab $`|<>&*_[]()#\"'\\\n\r\t\x00\x85\u2028é")),
               max_size=12)

# The macros the filters replaced, as they were in the page templates and in
# macros.md.j2 (whose macros now call the filters).
OLD_MACROS = """\
{% macro commands(blocks, lang="bash") -%}
{% if blocks|length == 1 and blocks[0].label is none %}
{{ blocks[0].script|fence(lang) }}
{% else %}
{% for b in blocks %}
=== "{{ b.label|html }}"

{{ b.script|fence(lang)|indent(4, first=True) }}

{% endfor %}
{% endif %}
{%- endmacro %}
{% macro list_or_none(items, none_text) -%}
{% if items %}{% for i in items %}{{ i|code }}{% if not loop.last %}, {% endif %}{% endfor %}{% else %}{{ none_text }}{% endif %}
{%- endmacro %}
{% macro sources(items) -%}
<small>Source: {% for s in items %}{% if s.url %}<a href="{{ s.url|html }}">{{ s.url|html }}</a>{% else %}{{ s.text|md }}{% endif %}{% if not loop.last %}; {% endif %}{% endfor %}</small>
{%- endmacro %}
{% macro steps(items) %}
{% for s in items %}
{{ loop.index }}. {{ s|md }}
{% endfor %}
{% endmacro %}
"""


@dataclass(frozen=True)
class Block:
    label: str | None
    script: str


def _both(macro_call: str, filter_call: str, **values: Any) -> tuple[str, str]:
    env = environment()
    head = OLD_MACROS
    old = env.from_string(head + "<{{ " + macro_call + " }}>").render(**values)
    new = env.from_string("<{{ " + filter_call + " }}>").render(**values)
    return old[old.index("<"):], new


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.none() | TEXT, TEXT), max_size=3), st.booleans())
def test_commands_filter_is_the_macro(blocks: list[tuple[str | None, str]], as_dicts: bool
                                      ) -> None:
    items: list[Any] = [({"label": lb, "script": sc} if as_dicts else Block(lb, sc))
                        for lb, sc in blocks]
    old, new = _both("commands(blocks)", "blocks|commands", blocks=items)
    assert new == old


def test_shipped_macros_are_the_filters() -> None:
    """macros.md.j2 (for project page templates) prints what the filters print."""
    env = environment()
    blocks = [Block("dev", "aws s3 ls\n"), Block("prod", "aws s3 ls 'a b'\n")]
    head = '{% from "macros.md.j2" import commands, list_or_none %}'
    for macro, filtered, values in (
            ("commands(b)", "b|commands", {"b": blocks}),
            ("commands(b[:1])", "b[:1]|commands", {"b": [Block(None, "echo x\n")]}),
            ("list_or_none(i, 'none')", "i|code_list('none')", {"i": ["a|b", 3]}),
            ("list_or_none(i, 'none')", "i|code_list('none')", {"i": []})):
        old = env.from_string(head + "<{{ " + macro + " }}>").render(**values)
        assert old == env.from_string("<{{ " + filtered + " }}>").render(**values)


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT | st.integers(), max_size=4), TEXT)
def test_code_list_filter_is_the_macro(items: list[Any], none_text: str) -> None:
    old, new = _both("list_or_none(items, none_text)", "items|code_list(none_text)",
                     items=items, none_text=none_text)
    assert new == old


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT | st.integers(), max_size=4), st.sampled_from(["", "—", "none"]),
       st.sampled_from([", ", "<br>", " → "]))
def test_code_list_filter_is_the_loop(items: list[Any], none_text: str, sep: str) -> None:
    """The Jinja loops the page templates had, inline code joined by ``sep``."""
    env = environment()
    loop = ("<{% for i in items %}{{ i|code }}{% if not loop.last %}" + sep +
            "{% endif %}{% else %}" + none_text + "{% endfor %}>")
    new = '<{{ items|code_list("' + none_text + '", "' + sep + '") }}>'
    assert env.from_string(new).render(items=items) == env.from_string(loop).render(items=items)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({"url": st.just("") | TEXT, "text": TEXT}), max_size=3),
       st.lists(TEXT, max_size=4))
def test_sources_and_numbered_filters_are_the_macros(sources: list[dict[str, str]],
                                                     steps: list[str]) -> None:
    old, new = _both("sources(items)", "items|sources", items=sources)
    assert new == old
    old, new = _both("steps(items)", "items|numbered", items=steps)
    assert new == old


def test_attribute_lookup_matches_jinja() -> None:
    """Dict keys first, but dict methods, objects, missing names and strictness as Jinja."""
    plain = jinja2.Environment(undefined=jinja2.StrictUndefined)
    ours = environment()
    row = {"name": "a", "items": "shadowed", "n": 0}
    cases = ["{{ row.name }}", "{{ row.n }}", "{{ row.items()|list|length }}",
             "{{ row.get('name') }}", "{{ obj.label }}", "{{ row.missing is defined }}",
             "{{ obj.missing is defined }}", "{{ pair.real }}"]
    values = {"row": row, "obj": Block("x", "y"), "pair": 3}
    for source in cases:
        assert ours.from_string(source).render(**values) == \
            plain.from_string(source).render(**values), source
    for source in ("{{ row.missing }}", "{{ obj.missing }}"):
        with pytest.raises(jinja2.UndefinedError):
            ours.from_string(source).render(**values)


TEMPLATE = """\
Parameters:
  Env: {Type: String, AllowedValues: [dev, prod]}
  Size: {Type: Number, Default: 2}
Conditions:
  IsProd: {"Fn::Equals": [{Ref: Env}, prod]}
Resources:
  Q1: {Type: AWS::SQS::Queue}
  Q2:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: {"Fn::GetAtt": [Q1, Arn]}}
  Q3: {Type: AWS::SNS::Topic, Properties: {TopicName: {Ref: Env}}}
Outputs:
  O: {Value: {Ref: Q3}}
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = tmp_path_factory.mktemp("t") / "t.yaml"
    path.write_text(TEMPLATE)
    tpl, diags = load_template(str(path))
    assert tpl is not None, diags
    return tpl


def test_model_lookups_match_scans(template: Any) -> None:
    for res in template.resources:
        assert template.resource(res.logical_id) is res
        assert template.resources_of_type(res.type) == tuple(
            r for r in template.resources if r.type == res.type)
    for types in (("AWS::SNS::Topic", "AWS::SQS::Queue"), ("AWS::SQS::Queue", "AWS::SQS::Queue"),
                  ("AWS::SNS::Topic", "Nope"), ()):
        assert template.resources_of_type(*types) == tuple(
            r for r in template.resources if r.type in types)
    assert template.resource("Nope") is None and template.resource({"Ref": "x"}) is None
    assert template.parameter("Env").name == "Env" and template.parameter("Nope") is None
    for name in ("Env", "Q1", "Q3", "IsProd", "Nope"):
        assert template.users_of(name) == tuple(sorted(
            {r.source for r in template.references if r.target == name}))


def _reference_expand(ex: Expander, node: Any, env: Any = ()) -> list[tuple[Any, Any]]:
    """The expansion as it was: every key and item copies the partial result."""
    if isinstance(node, dict) and len(node) == 1 and (
            next(iter(node)) == "Ref" or next(iter(node)).startswith("Fn::")):
        return ex.expand(node, env)  # intrinsics themselves are unchanged
    if isinstance(node, dict):
        results: list[tuple[Any, Any]] = [(env, {})]
        for key, sub in node.items():
            results = [(e2, acc if val is ABSENT else {**acc, key: val})
                       for e, acc in results for e2, val in _reference_expand(ex, sub, e)]
        return results
    if isinstance(node, list):
        results_l: list[tuple[Any, Any]] = [(env, [])]
        for sub in node:
            results_l = [(e2, acc if val is ABSENT else [*acc, val])
                         for e, acc in results_l for e2, val in _reference_expand(ex, sub, e)]
        return results_l
    return [(env, node)]


LEAF = st.sampled_from(["a", 1, True, None, {"Ref": "Env"}, {"Ref": "AWS::NoValue"},
                        {"Ref": "Size"}, {"Fn::If": ["IsProd", "p", {"Ref": "AWS::NoValue"}]},
                        {"Fn::GetAtt": ["Q1", "Arn"]}])
TREE = st.recursive(LEAF, lambda kids: st.lists(kids, max_size=3)
                    | st.dictionaries(st.sampled_from(["A", "B", "C"]), kids, max_size=3),
                    max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(TREE)
def test_expansion_in_place_matches_copying(template: Any, tree: Any) -> None:
    assert Expander(template).expand(tree) == _reference_expand(Expander(template), tree)


# --- commands: the fast paths of AwsCommand.render and ops.fill -------------------------

WORD = st.text(alphabet=st.sampled_from(list("ab -$'\"\\\n=,{}")), max_size=60)
VALUE = WORD | st.integers() | st.booleans() | st.builds(ShellVar, st.sampled_from(["V", "X_1"]))


def _reference_render(cmd: AwsCommand) -> str:
    """AwsCommand.render as it was (no fast path for one-value options)."""
    segments = ["aws " + cmd.service + " " + cmd.operation]
    for opt, values in cmd.options:
        words = [word(v) for v in values]
        joined = " ".join([opt, *words])
        if len(joined) > WRAP_AT and len(words) > 1:
            joined = opt + "".join(" \\\n    " + w for w in words)
        segments.append(joined)
    lines: list[str] = []
    current = segments[0]
    for seg in segments[1:]:
        if len(current) + 1 + len(seg.split("\n", 1)[0]) > WRAP_AT:
            lines.append(current + " \\")
            current = "  " + seg
        else:
            current += " " + seg
    for stage in cmd.pipe:
        current += " | " + " ".join(shlex.quote(w) for w in stage)
    if cmd.redirect:
        current += " > " + shlex.quote(cmd.redirect)
    lines.append(current)
    return "\n".join(lines)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["--a", "--stack-name", "--parameter-overrides"]),
                          st.lists(VALUE, max_size=4).map(tuple)), max_size=6),
       st.lists(st.lists(WORD, min_size=1, max_size=2).map(tuple), max_size=2).map(tuple),
       st.none() | WORD)
def test_command_render_matches_reference(options: list[Any], pipe: Any, redirect: Any
                                          ) -> None:
    cmd = AwsCommand("cloudformation", "deploy", tuple(options), pipe, redirect)
    assert cmd.render() == _reference_render(cmd)
    for v in (v for _, vs in options for v in vs):
        if isinstance(v, str):
            assert word(v) == shlex.quote(v)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab{}:?-")), max_size=20)
       | st.sampled_from(["{stack}", "x{stack}y", "{stack}{stack}", "{var:V}", "{bad}",
                          "{logical_id}-{stack}", "{prop:P?d}"]),
       st.sampled_from(["", "My-Stack", "a b"]))
def test_fill_matches_placeholder_scan(text: str, stack_name: str) -> None:
    """fill's memoised split and its ``{stack}`` shortcut give what a scan gives."""
    from docgen.analyse import ops
    from docgen.stackinfo import Target

    target = Target(None, stack_name, "eu-west-1", {})
    scope = ops.Scope(stack=None, target=target)  # type: ignore[arg-type]
    got = ops.fill(text, scope, ops.Block())
    if "{" not in text:
        assert got == text
        return
    parts: list[Any] = []
    pos = 0
    for m in ops._PLACEHOLDER.finditer(text):
        parts.append(text[pos:m.start()])
        pos = m.end()
        name, arg = m.group(1), m.group(2)
        if name == "stack":
            parts.append(stack_name)
        elif name == "var" and arg:
            parts.append(ShellVar(arg))
        elif name == "prop" and arg and m.group(3):
            parts.append(m.group(3))  # no resource: the property's default
        else:
            assert got is None  # no resource: logical_id/prop/unknown drop the option
            return
    parts.append(text[pos:])
    parts = [p for p in parts if p != ""]
    if all(isinstance(p, str) for p in parts):
        assert got == "".join(parts)
    elif len(parts) == 1:
        assert got == parts[0]
    else:
        assert got == Concat(tuple(parts))


def resources_for(record: Any, resources: Any, template: Any) -> list[Any]:
    """How the troubleshooting page found a record's resources before: evaluating the
    record again per resource."""
    from docgen.analyse.ops import Applied
    from docgen.knowledge.conditions import Tri

    out = []
    for r in resources:
        truth = record.when.evaluate(r, template)
        if truth is not Tri.FALSE and r.type in record.types:
            out.append(Applied(record, r, truth is Tri.TRUE))
    return out


def test_advice_applied_matches_resources_for() -> None:
    """The troubleshooting page takes a record's resources from ``advice_by_type``
    (computed there anyway) instead of evaluating the record again per resource."""
    from docgen.analyse import ops
    from docgen.knowledge.ops import load as load_ops

    kb = load_ops(None)
    root = Path(__file__).resolve().parent.parent / "stacks"
    paths = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    assert paths
    for path in paths:
        tpl, diags = load_template(str(path))
        assert tpl is not None, diags
        for advice in ops.advice_by_type(kb, tpl):
            for x in (*advice.failures, *advice.pitfalls):
                assert list(advice.applied[x.record.id]) == resources_for(
                    x.record, advice.resources, tpl), (path, x.record.id)


SECURITY_MACROS = """\
{% macro status(s) -%}
{% if s == "fail" %}**fail**{% elif s == "depends" %}*depends*{% else %}{{ s|md }}{% endif %}
{%- endmacro %}
{% macro verdict(c) -%}
{% if c.anchor %}[{{ c.text|md }}](#{{ c.anchor }}){% else %}{{ c.text|cell }}{% endif %}
{%- endmacro %}
"""


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["fail", "depends", "pass", "suppressed", "not-applicable"]) | TEXT,
       TEXT, st.sampled_from(["", "s3-encrypted-bucket"]))
def test_security_status_texts_are_the_macros(status: str, text: str, anchor: str) -> None:
    """The security page's statuses and verdicts, formatted in Python, as the template
    macros they replaced printed them."""
    from docgen.analyse.posture import Cell
    from docgen.pages.security import status_text, verdict_text

    env = environment()
    cell = Cell(text, "pass", anchor)
    old = env.from_string(SECURITY_MACROS + "<{{ status(s) }}|{{ verdict(c) }}>").render(
        s=status, c=cell)
    assert old[old.index("<"):] == f"<{status_text(status)}|{verdict_text(cell)}>"


def test_compliance_rows_are_the_cell_loop(tmp_path: Path) -> None:
    """The compliance matrix prints each row's cells as one prepared string
    (``cells_md``); a page template that loops over ``r.cells`` as before (a user's
    override) gets the same dicts, and so the same page. Run on the repository's
    security fixtures: findings of every status across many stacks."""
    from docgen.generate import build, default_project

    repo = Path(__file__).resolve().parents[1]
    files = sorted(str(p) for p in (repo / "tests" / "fixtures" / "security").rglob("*.yaml"))
    assert len(files) > 3
    fast = build(default_project(str(tmp_path / "a"), str(tmp_path / "a" / "docs")), files)
    template = (repo / "templates" / "handbook" / "compliance.md.j2").read_text()
    assert "{{ r.cells_md }}" in template
    looped = template.replace("{{ r.cells_md }}",
                              "{% for c in r.cells %} {{ c.verdict }} |{% endfor %}")
    overrides = tmp_path / "overrides" / "handbook"
    overrides.mkdir(parents=True)
    (overrides / "compliance.md.j2").write_text(looped)
    import dataclasses
    project = dataclasses.replace(default_project(str(tmp_path / "b"),
                                                  str(tmp_path / "b" / "docs")),
                                  page_templates_dir=str(tmp_path / "overrides"))
    slow = build(project, files)
    assert fast.pages["compliance.md"] == slow.pages["compliance.md"]
    assert "**not met**" in fast.pages["compliance.md"]
