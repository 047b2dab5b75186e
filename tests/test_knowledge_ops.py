"""The ops knowledge base is data with a schema: it loads, every record cites a source,
ids are unique, every command in it is a real AWS CLI command, broken entries are
refused with file and line, user records override by id, and the condition language
evaluates three-valued. Coverage of the example's and the corpus's resource types is
enforced here too, so removing a file cannot silently blank a page."""

from __future__ import annotations

import collections
import csv
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from docgen.diagnostics import KnowledgeError
from docgen.knowledge import conditions as cond
from docgen.knowledge import ops
from docgen.loader import load_template
from docgen.model import Location, Resource
from tests.awscli_model import check_words
from tests.conftest import CORPUS

ROOT = Path(__file__).resolve().parent.parent
KB = ops.load()
SOURCE = re.compile(r"^(https://(docs\.aws\.amazon\.com|repost\.aws)/\S+|reference handbook \(SPEC\.md\))$")


def res(props: dict | None = None, rtype: str = "AWS::Test::Thing", **attrs) -> Resource:
    return Resource("R", rtype, Location("t.yaml", 1), properties=props or {}, **attrs)


# --- the shipped data ------------------------------------------------------------------


def test_package_knowledge_loads_with_every_kind() -> None:
    kinds = {r.kind for r in KB.records}
    assert kinds == set(ops.KINDS)
    assert len(KB.records) > 100


def test_ids_unique_and_every_record_cites_a_source() -> None:
    ids = [r.id for r in KB.records]
    assert len(ids) == len(set(ids))
    for r in KB.records:
        assert r.source, r.id
        for s in r.source:
            assert SOURCE.match(s), f"{r.id}: source {s!r} is neither an AWS URL nor SPEC.md"


def test_alarms_without_threshold_explain_why() -> None:
    for r in KB.of_kind("alarm"):
        if r.threshold is None:
            assert len(r.threshold_reason) > 20, r.id


def _words(spec: ops.CommandSpec) -> list[str]:
    words = ["aws", spec.service, spec.operation]
    if spec.waiter:
        words.append(spec.waiter)
    for opt, values in spec.options:
        words.append(opt)
        words.extend("x" for _ in values)
    return words


def _all_steps(record: ops.Record) -> list[ops.Step]:
    return [*record.steps, *record.snapshot, *(s for p in record.restore for s in p.steps)]


def test_every_command_in_the_knowledge_base_is_a_real_cli_command() -> None:
    problems = []
    for r in KB.records:
        for step in _all_steps(r):
            if step.command:
                problems += [f"{r.id}: {p}" for p in check_words(_words(step.command))]
    assert not problems, "\n".join(problems)


def test_variables_used_by_commands_are_declared() -> None:
    for r in KB.records:
        declared = {v.name for v in r.variables}
        captured = {s.capture for s in _all_steps(r) if s.capture}
        for step in _all_steps(r):
            for _, values in step.command.options if step.command else ():
                for v in values:
                    for name in re.findall(r"\{var:([A-Z0-9_]+)\}", v):
                        assert name in declared | captured, f"{r.id}: {name}"


# --- coverage --------------------------------------------------------------------------


def _types_of(path: Path) -> set[str]:
    template, diags = load_template(str(path))
    assert template is not None, diags
    return {r.type for r in template.resources}


def test_every_resource_type_of_the_example_has_knowledge() -> None:
    types = _types_of(ROOT / "stacks" / "primary.yaml") | _types_of(ROOT / "stacks" / "dr.yaml")
    missing = sorted(t for t in types if not KB.kinds_for(t))
    assert not missing, f"no ops knowledge for {missing}"


def top_corpus_types(n: int = 40) -> list[tuple[str, int]]:
    counts: collections.Counter[str] = collections.Counter()
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            counts.update(t for t in row["resource_types"].split(",") if t)
    return counts.most_common(n)


@pytest.mark.skipif(not (CORPUS / "MANIFEST.tsv").is_file(),
                    reason=f"corpus manifest not found under {CORPUS}: corpus coverage skipped")
def test_the_40_most_frequent_corpus_types_have_knowledge() -> None:
    missing = [t for t, _ in top_corpus_types() if not KB.kinds_for(t)]
    assert not missing, f"no ops knowledge for {missing}"


# --- broken entries ----------------------------------------------------------------------


GOOD = """\
- id: my-pitfall
  kind: pitfall
  types: [AWS::S3::Bucket]
  title: A title
  text: Some text.
  source: reference handbook (SPEC.md)
"""


def _load_user(tmp_path: Path, text: str) -> ops.OpsKnowledge:
    folder = tmp_path / "kb" / "ops"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "team.yml").write_text(textwrap.dedent(text), encoding="utf-8")
    return ops.load(str(tmp_path / "kb"))


@pytest.mark.parametrize(("text", "line", "message"), [
    (GOOD.replace("  title: A title\n", ""), 1, "missing required field 'title'"),
    (GOOD.replace("types: [AWS::S3::Bucket]", "types: 42"), 3, "field 'types'"),
    (GOOD.replace("kind: pitfall", "kind: gossip"), 2, "unknown kind 'gossip'"),
    (GOOD + "  when: {property: X, shouts: 1}\n", 7, "bad condition"),
    (GOOD + "  when: {all: []}\n", 7, "non-empty list"),
    (GOOD + "  when: {predicate: no_such_thing}\n", 7, "unknown predicate"),
    (GOOD.replace("  source: reference handbook (SPEC.md)\n", ""), 1, "'source'"),
    (GOOD + "  colour: red\n", 7, "unknown field 'colour'"),
    (GOOD + GOOD, 7, "duplicate id 'my-pitfall'"),
    (GOOD.replace("types: [AWS::S3::Bucket]", "types: [s3 bucket]"), 3, "not a resource type"),
    ("- id: a\n  kind: provisioning\n  types: [AWS::S3::Bucket]\n  minutes: [20, 5]\n"
     "  text: t\n  source: reference handbook (SPEC.md)\n", 4, "low <= high"),
    ("- id: a\n  kind: alarm\n  types: [AWS::S3::Bucket]\n  namespace: AWS/S3\n  metric: M\n"
     "  statistic: Average\n  threshold: null\n  comparison: GreaterThanThreshold\n"
     "  period: 60\n  evaluation_periods: 1\n  datapoints: 1\n  dimensions: {B: '{ref}'}\n"
     "  text: t\n  source: reference handbook (SPEC.md)\n", 1, "threshold_reason"),
    ("- id: a\n  kind: failure\n  types: [AWS::S3::Bucket]\n  title: t\n  symptom: s\n"
     "  cause: c\n  steps:\n    - text: x\n      command: {service: s3api, operation: wait}\n"
     "  source: reference handbook (SPEC.md)\n", 9, "waiter"),
    ("- id: a\n  kind: backup\n  types: [AWS::S3::Bucket]\n  data: d\n  settings:\n"
     "    - {property: P, label: l, default: null, text: t}\n  variables:\n"
     "    TARGET_ID: {example: e, text: t}\n  source: reference handbook (SPEC.md)\n",
     8, "reserved for physical-id lookups"),
    ("- id: a\n  kind: backup\n  types: [AWS::S3::Bucket]\n  data: d\n  settings:\n"
     "    - {property: P, label: l, text: t}\n  source: reference handbook (SPEC.md)\n",
     6, "missing required field 'default'"),
    ("- id: a\n  kind: pitfall\n  kind: pitfall\n", 3, "duplicate key"),
    ("records: []\n", 1, "list of records"),
])
def test_broken_entries_name_file_and_line(tmp_path: Path, text: str, line: int,
                                           message: str) -> None:
    with pytest.raises(KnowledgeError) as info:
        _load_user(tmp_path, text)
    diags = info.value.diagnostics
    assert diags, info.value
    d = diags[0]
    assert d.file.endswith("team.yml")
    assert d.line == line, str(d)
    assert message in d.message, str(d)
    assert f"team.yml:{line}:" in info.value.format()


def test_user_records_replace_by_id_and_add_new_ones(tmp_path: Path) -> None:
    override = GOOD.replace("my-pitfall", "s3-bucket-replacement").replace(
        "Some text.", "Our own words.")
    kb = _load_user(tmp_path, override + GOOD)
    replaced = kb.by_id("s3-bucket-replacement")
    assert replaced is not None and replaced.text == "Our own words."
    assert replaced.origin.file.endswith("team.yml")
    assert kb.by_id("my-pitfall") is not None
    assert len(kb.records) == len(KB.records) + 1
    assert [r.id for r in kb.records].count("s3-bucket-replacement") == 1


# --- the condition language -----------------------------------------------------------------


def ev(raw: dict, resource: Resource) -> cond.Tri:
    return cond.parse(raw).evaluate(resource)


def test_equals_understands_cloudformation_scalars() -> None:
    assert ev({"property": "MultiAZ", "equals": True}, res({"MultiAZ": "true"})) is cond.Tri.TRUE
    assert ev({"property": "N", "greater_than": 0}, res({"N": "5"})) is cond.Tri.TRUE
    assert ev({"property": "N", "greater_than": 0}, res({"N": 0})) is cond.Tri.FALSE
    assert ev({"property": "MultiAZ", "equals": True}, res({})) is cond.Tri.FALSE
    assert ev({"property": "MultiAZ", "equals": False, "default": False}, res({})) is cond.Tri.TRUE


def test_intrinsics_make_the_answer_depend() -> None:
    ref = res({"MultiAZ": {"Ref": "Multi"}})
    assert ev({"property": "MultiAZ", "equals": True}, ref) is cond.Tri.DEPENDS
    assert ev({"not": {"property": "MultiAZ", "equals": True}}, ref) is cond.Tri.DEPENDS
    fn_if = res({"A": {"Fn::If": ["C", {"B": 1}, {"Ref": "AWS::NoValue"}]}})
    assert ev({"property": "A", "exists": True}, fn_if) is cond.Tri.DEPENDS
    assert ev({"property": "A", "exists": True}, res({"A": {"Ref": "P"}})) is cond.Tri.TRUE
    assert ev({"property": "A.B", "equals": 1}, fn_if) is cond.Tri.DEPENDS


def test_all_any_not_follow_kleene_logic() -> None:
    r = res({"X": 1, "Y": {"Ref": "P"}})
    x, y, z = ({"property": "X", "equals": 1}, {"property": "Y", "equals": 1},
               {"property": "Z", "exists": True})
    assert ev({"all": [x, y]}, r) is cond.Tri.DEPENDS
    assert ev({"all": [x, z]}, r) is cond.Tri.FALSE
    assert ev({"any": [y, x]}, r) is cond.Tri.TRUE
    assert ev({"any": [y, z]}, r) is cond.Tri.DEPENDS
    assert ev({"not": z}, r) is cond.Tri.TRUE


def test_paths_walk_lists_and_attributes() -> None:
    r = res({"Rules": [{"Port": 22}, {"Port": 443}]}, deletion_policy="Snapshot")
    assert ev({"property": "Rules.*.Port", "equals": 443}, r) is cond.Tri.TRUE
    assert ev({"property": "Rules.*.Port", "equals": 80}, r) is cond.Tri.FALSE
    assert ev({"attribute": "DeletionPolicy", "in": ["Snapshot", "Retain"]}, r) is cond.Tri.TRUE
    assert ev({"attribute": "UpdateReplacePolicy", "exists": True}, r) is cond.Tri.FALSE


def test_named_predicates() -> None:
    sg = res({"SecurityGroupIngress": [{"CidrIp": "0.0.0.0/0", "FromPort": 22}]},
             "AWS::EC2::SecurityGroup")
    assert ev({"predicate": "ingress_open_to_world"}, sg) is cond.Tri.TRUE
    closed = res({"SecurityGroupIngress": [{"CidrIp": "10.0.0.0/8"}]}, "AWS::EC2::SecurityGroup")
    assert ev({"predicate": "ingress_open_to_world"}, closed) is cond.Tri.FALSE
    one_subnet = res({"SubnetIds": [{"Ref": "A"}]}, "AWS::RDS::DBSubnetGroup")
    assert ev({"predicate": "subnet_group_single_az"}, one_subnet) is cond.Tri.TRUE


@pytest.mark.parametrize("raw", [
    "text", {"property": "A"}, {"property": "A", "equals": 1, "in": [1]},
    {"all": {"property": "A", "equals": 1}}, {"not": {"property": "A"}},
    {"attribute": "Colour", "equals": 1}, {"property": "A", "exists": "yes"},
    {"property": "A", "greater_than": "many"}, {"property": "A..B", "equals": 1},
])
def test_bad_conditions_are_refused(raw: object) -> None:
    with pytest.raises(cond.ConditionError):
        cond.parse(raw)


def test_every_resource_type_named_in_the_knowledge_base_exists() -> None:
    """A typo in ``types`` (AWS::EC2::SecurityGroups) would silently match nothing."""
    schema = pytest.importorskip("cfnlint.schema", reason="cfn-lint (test extra) not installed")
    known = set(schema.PROVIDER_SCHEMA_MANAGER.get_resource_types(region="us-east-1"))
    unknown = sorted(t for t in KB.types()
                     if t not in known and not t.startswith("AWS::Serverless::"))
    assert not unknown, unknown


# --- property-based: the evaluator never crashes and obeys Kleene logic ------------------

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from(
    ["true", "false", "5", "x", "Snapshot"]))
_INTRINSICS = st.sampled_from([{"Ref": "P"}, {"Fn::If": ["C", 1, {"Ref": "AWS::NoValue"}]},
                               {"Fn::GetAtt": ["R", "Arn"]}])
_VALUES = st.recursive(st.one_of(_SCALARS, _INTRINSICS), lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from("ABC"), inner, max_size=3)),
    max_leaves=8)
_PATHS = st.sampled_from(["A", "B", "A.B", "A.*.C", "C.*", "A.B.C"])
_LEAVES = st.one_of(
    st.builds(lambda p, v: {"property": p, "equals": v}, _PATHS, _SCALARS.filter(
        lambda v: v is not None)),
    st.builds(lambda p, v: {"property": p, "exists": v}, _PATHS, st.booleans()),
    st.builds(lambda p, n: {"property": p, "greater_than": n}, _PATHS, st.integers(-3, 3)),
    st.builds(lambda p: {"property": p, "in": [1, "x", True]}, _PATHS),
)
_CONDS = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.builds(lambda cs: {"all": cs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda cs: {"any": cs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda c: {"not": c}, inner)), max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(props=st.dictionaries(st.sampled_from("ABC"), _VALUES, max_size=3), a=_CONDS, b=_CONDS)
def test_evaluation_is_total_and_follows_de_morgan(props: dict, a: dict, b: dict) -> None:
    r = res(props)
    left = ev({"not": {"all": [a, b]}}, r)
    right = ev({"any": [{"not": a}, {"not": b}]}, r)
    assert isinstance(left, cond.Tri) and left is right
    assert ev({"not": {"not": a}}, r) is ev(a, r)
