"""The loader: every form CloudFormation accepts, every refusal with its line."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from docgen.loader import MAX_BYTES, load_data, load_template
from docgen.nodes import DictNode, ListNode


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def data(tmp_path: Path, text: str, name: str = "t.yaml") -> object:
    raw, _, diags = load_data(write(tmp_path, text, name))
    assert not diags, diags
    return raw


ALL_TAGS = """\
Parameters:
  Env: {Type: String, Default: dev}
  Attr: {Type: String, Default: Arn}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  NotProd: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, !Or [!Equals [a, a], !Equals [b, c]]]
Mappings:
  M: {us-east-1: {Ami: ami-1}}
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.0.0.0/16}
  Topic:
    Type: AWS::SNS::Topic
  Subnet:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Vpc
      AvailabilityZone: !Select [0, !GetAZs ""]
      CidrBlock: !Select [0, !Cidr [!GetAtt Vpc.CidrBlock, 4, 8]]
      Tags:
        - Key: A
          Value: !Join ["-", !Split [",", !ImportValue {"Fn::Sub": "${Env}-names"}]]
        - Key: B
          Value: !ToJsonString {a: !Ref Env}
        - Key: C
          Value: !If [IsProd, !Sub ["x-${N}", {N: !Length [1, 2]}], !Ref "AWS::NoValue"]
        - Key: D
          Value: !Base64 {"Fn::FindInMap": [M, !Ref "AWS::Region", Ami]}
        - Key: E
          Value: !Transform {Name: "AWS::Include", Parameters: {Location: "s3://b/k"}}
Outputs:
  Dotted:
    Value: !GetAtt Topic.TopicName.Extra
  Dynamic:
    Value: !GetAtt [Topic, !Ref Attr]
  When:
    Value: "2010-09-09"
"""


def test_every_short_tag_becomes_the_long_form(tmp_path: Path) -> None:
    raw = data(tmp_path, ALL_TAGS)
    cond = raw["Conditions"]
    assert cond["IsProd"] == {"Fn::Equals": [{"Ref": "Env"}, "prod"]}
    assert cond["NotProd"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    assert cond["Both"]["Fn::And"][1]["Fn::Or"][1] == {"Fn::Equals": ["b", "c"]}
    props = raw["Resources"]["Subnet"]["Properties"]
    assert props["AvailabilityZone"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert props["CidrBlock"] == {"Fn::Select": [0, {"Fn::Cidr": [
        {"Fn::GetAtt": ["Vpc", "CidrBlock"]}, 4, 8]}]}
    tags = {t["Key"]: t["Value"] for t in props["Tags"]}
    assert tags["A"] == {"Fn::Join": ["-", {"Fn::Split": [",", {"Fn::ImportValue": {
        "Fn::Sub": "${Env}-names"}}]}]}
    assert tags["B"] == {"Fn::ToJsonString": {"a": {"Ref": "Env"}}}
    assert tags["C"] == {"Fn::If": ["IsProd", {"Fn::Sub": ["x-${N}", {"N": {
        "Fn::Length": [1, 2]}}]}, {"Ref": "AWS::NoValue"}]}
    assert tags["D"] == {"Fn::Base64": {"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "Ami"]}}
    assert tags["E"] == {"Fn::Transform": {"Name": "AWS::Include",
                                           "Parameters": {"Location": "s3://b/k"}}}
    outputs = raw["Outputs"]
    assert outputs["Dotted"]["Value"] == {"Fn::GetAtt": ["Topic", "TopicName.Extra"]}
    assert outputs["Dynamic"]["Value"] == {"Fn::GetAtt": ["Topic", {"Ref": "Attr"}]}


def test_dates_and_keys_stay_strings(tmp_path: Path) -> None:
    raw = data(tmp_path, "AWSTemplateFormatVersion: 2010-09-09\nMappings:\n  M:\n    NO: "
                         "{2012: x}\nResources:\n  B: {Type: 'AWS::S3::Bucket'}\n")
    assert raw["AWSTemplateFormatVersion"] == "2010-09-09"
    assert list(raw["Mappings"]["M"]) == ["NO"]
    assert list(raw["Mappings"]["M"]["NO"]) == ["2012"]


def test_nodes_carry_lines(tmp_path: Path) -> None:
    template, diags = load_template(write(tmp_path, ALL_TAGS))
    assert template is not None and not diags
    subnet = template.resource("Subnet")
    assert subnet is not None and subnet.location.line == 16
    assert template.parameter("Attr").location.line == 3
    assert subnet.properties.key_marks["CidrBlock"] == (21, 7)


def test_yaml_and_json_give_the_same_model(tmp_path: Path) -> None:
    yaml_tpl, _ = load_template(write(tmp_path, ALL_TAGS))
    raw = data(tmp_path, ALL_TAGS)
    json_tpl, diags = load_template(write(tmp_path, json.dumps(raw, indent=2), "t.json"))
    assert yaml_tpl is not None and json_tpl is not None, diags
    assert json.dumps(yaml_tpl.raw, sort_keys=True) == json.dumps(json_tpl.raw, sort_keys=True)
    assert [p.name for p in yaml_tpl.parameters] == [p.name for p in json_tpl.parameters]
    assert yaml_tpl.references == json_tpl.references
    assert yaml_tpl.capabilities == json_tpl.capabilities


def test_json_positions_and_json_only_syntax(tmp_path: Path) -> None:
    text = '{\n\t"Parameters": {"P": {"Type": "Number", "Default": 1e3}},\n' \
           '\t"Resources": {\n\t\t"B": {"Type": "AWS::S3::Bucket",\n' \
           '\t\t\t"Properties": {"BucketName": "a\\/b"}}}}\n'
    template, diags = load_template(write(tmp_path, text, "t.json"))
    assert template is not None, diags
    assert template.parameter("P").default == 1000.0
    assert template.resource("B").properties["BucketName"] == "a/b"
    assert template.resource("B").location.line == 4


REFUSALS = [
    ("syntax", "Resources:\n  B:\n    Type: x\n   bad: [\n", 4, "YAML syntax error"),
    ("tab", "Resources:\n  B:\n\tType: AWS::S3::Bucket\n", 3, "tab"),
    ("duplicate", "Resources:\n  B: {Type: AWS::S3::Bucket}\n  B: {Type: AWS::S3::Bucket}\n", 3,
     "duplicate key 'B' (first defined at line 2)"),
    ("nested duplicate", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n"
     "      BucketName: a\n      BucketName: b\n", 6, "duplicate key 'BucketName'"),
    ("anchor", "Resources:\n  B: &x {Type: AWS::S3::Bucket}\n", 2, "anchors"),
    ("alias", "X: &x 1\nResources:\n  B: {Type: AWS::S3::Bucket, Properties: {A: *x}}\n", 1,
     "not supported by CloudFormation"),
    ("merge", "Resources:\n  B:\n    <<: {Type: AWS::S3::Bucket}\n", 3, "merge keys"),
    ("unknown tag", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n"
     "      BucketName: !Refx P\n", 5, "unknown tag !Refx"),
    ("not a mapping", "- a\n- b\n", 1, "top level must be a mapping"),
    ("no resources", "Description: x\n", 1, "no Resources section"),
    ("two documents", "Resources: {}\n---\nResources: {}\n", 2, "more than one YAML document"),
    ("null key", "Resources:\n  ~: {Type: AWS::S3::Bucket}\n", 2, "null"),
    ("undefined Ref", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n"
     "      BucketName: !Ref Nope\n", 5, "Ref to undefined parameter or resource 'Nope'"),
    ("undefined GetAtt", "Resources:\n  B:\n    Type: AWS::S3::Bucket\nOutputs:\n  O:\n"
     "    Value: !GetAtt Gone.Arn\n", 6, "GetAtt to undefined resource 'Gone'"),
    ("undefined Sub", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n"
     "      BucketName: !Sub '${Missing}-x'\n", 5, "Sub to undefined parameter or resource"),
    ("undefined Condition", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Condition: Missing\n",
     4, "Condition to undefined condition 'Missing'"),
    ("undefined DependsOn", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    DependsOn: [A]\n",
     4, "DependsOn to undefined resource 'A'"),
    ("undefined FindInMap", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n"
     "      BucketName: !FindInMap [Nope, a, b]\n", 5, "FindInMap to undefined mapping 'Nope'"),
    ("bad version", "AWSTemplateFormatVersion: 2011-01-01\nResources:\n  B: {Type: X::Y::Z}\n",
     1, "AWSTemplateFormatVersion must be '2010-09-09'"),
    ("bad logical id", "Resources:\n  my-bucket: {Type: AWS::S3::Bucket}\n", 2, "alphanumeric"),
]


@pytest.mark.parametrize(("text", "line", "message"), [r[1:] for r in REFUSALS],
                         ids=[r[0] for r in REFUSALS])
def test_refusals_name_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    template, diags = load_template(write(tmp_path, text))
    assert template is None
    errors = [d for d in diags if d.is_error]
    assert errors, diags
    assert errors[0].line == line, errors
    assert message in errors[0].message


def test_large_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("Resources:\n  B: {Type: AWS::S3::Bucket}\n" + "#" * MAX_BYTES)
    template, diags = load_template(str(path))
    assert template is None and "1 MB" in diags[0].message


def test_deep_flow_nesting_is_refused_not_crashing(tmp_path: Path) -> None:
    text = "Resources: " + "[" * 5000 + "]" * 5000 + "\n"
    template, diags = load_template(write(tmp_path, text))
    assert template is None and "nesting" in diags[0].message


def test_transform_makes_unknown_references_warnings(tmp_path: Path) -> None:
    text = ("Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n"
            "    Type: AWS::Serverless::Function\n    Properties:\n"
            "      Role: !GetAtt FRole.Arn\n")
    template, diags = load_template(write(tmp_path, text))
    assert template is not None
    assert [d.severity for d in diags] == ["warning"]
    assert "CAPABILITY_AUTO_EXPAND" in template.capabilities


def test_capabilities(tmp_path: Path) -> None:
    plain = "Resources:\n  R:\n    Type: AWS::IAM::Role\n    Properties: {AssumeRolePolicyDocument: {}}\n"
    named = plain.replace("{AssumeRolePolicyDocument: {}}", "{AssumeRolePolicyDocument: {}, RoleName: r}")
    assert load_template(write(tmp_path, plain))[0].capabilities == ("CAPABILITY_IAM",)
    assert load_template(write(tmp_path, named))[0].capabilities == ("CAPABILITY_NAMED_IAM",)


def test_foreach_does_not_crash(tmp_path: Path) -> None:
    text = ("Transform: AWS::LanguageExtensions\nResources:\n  'Fn::ForEach::Topics':\n"
            "    - Name\n    - [a, b]\n    - 'Topic${Name}': {Type: AWS::SNS::Topic}\n"
            "  Q: {Type: AWS::SQS::Queue}\n")
    template, diags = load_template(write(tmp_path, text))
    assert template is not None, diags
    assert [r.logical_id for r in template.resources] == ["Q"]


# --- property-based: whatever YAML/JSON a generic dumper writes, we read back ----------

keys = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
               min_size=1, max_size=12)
# PyYAML's dumper writes NEL/LS/PS raw inside quoted scalars, where YAML folds them, and
# lone surrogates as escapes no YAML reader accepts: dumper quirks, not loader bugs.
scalars = st.one_of(st.text(alphabet=st.characters(exclude_categories=("Cs",),
                                                   exclude_characters="\x85\u2028\u2029"),
                            max_size=20), st.integers(-10**6, 10**6), st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=5))
def test_roundtrip_property(tmp_path_factory: pytest.TempPathFactory, doc: dict) -> None:
    folder = tmp_path_factory.mktemp("rt")
    body = {"Resources": {"B": {"Type": "AWS::S3::Bucket", "Metadata": doc}}}
    y = folder / "t.yaml"
    y.write_text(yaml.safe_dump(body, allow_unicode=True), encoding="utf-8")
    j = folder / "t.json"
    j.write_text(json.dumps(body), encoding="utf-8")
    raw_y, _, dy = load_data(str(y))
    raw_j, _, dj = load_data(str(j))
    assert not dy and not dj
    expected = json.loads(json.dumps(body))
    assert json.loads(json.dumps(raw_y)) == _keys_as_str(expected)
    assert json.loads(json.dumps(raw_j)) == expected


def _keys_as_str(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _keys_as_str(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_keys_as_str(v) for v in value]
    return value


def _marks(value: object) -> object:
    """Only the positions of a node tree (values aside), for comparing two readings."""
    if isinstance(value, DictNode):
        return ("map", value.mark, [(k, value.key_marks[k], _marks(v)) for k, v in value.items()])
    if isinstance(value, ListNode):
        return ("seq", value.mark, list(value.item_marks), [_marks(v) for v in value])
    return None


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=5), st.sampled_from([None, 1, 2]))
def test_json_positions_are_those_of_reading_it_as_yaml(
        tmp_path_factory: pytest.TempPathFactory, doc: dict, indent: int | None) -> None:
    """JSON takes its values from ``json`` and its positions from libyaml's graph in one
    walk; the positions must be those the YAML builder gives the same text."""
    folder = tmp_path_factory.mktemp("pos")
    body = {"Resources": {"B": {"Type": "AWS::S3::Bucket", "Metadata": doc}}}
    text = json.dumps(body, indent=indent)
    (folder / "t.json").write_text(text, encoding="utf-8")
    (folder / "t.yaml").write_text(text, encoding="utf-8")
    raw_j, fmt, dj = load_data(str(folder / "t.json"))
    raw_y, _, dy = load_data(str(folder / "t.yaml"))
    assert fmt == "json" and not dj
    assert raw_j == body
    if not dy:  # libyaml reads nearly all JSON (not, e.g., some escaped astral characters)
        assert _marks(raw_j) == _marks(raw_y)


@pytest.mark.parametrize("text", [
    '{"Resources": {"B": {"Type": "X::Y::Z", "Properties": {"A": "a\\\\/b", "C": "\\/",'
    ' "D": "\\\\\\/", "E": "\\\\\\\\/"}}}}',
    '{\t"Resources":\t{"B":\t{"Type": "X::Y::Z", "Metadata": [1, {"k": [true, null]}]}}}',
])
def test_json_escaped_slashes_and_tabs(tmp_path: Path, text: str) -> None:
    raw = data(tmp_path, text, "t.json")
    assert raw == json.loads(text)
    assert raw.key_marks["Resources"] == (1, text.index('"') + 1)
    resource = raw["Resources"]["B"]
    assert raw["Resources"].key_marks["B"] == (1, text.index('"B"') + 1)
    assert resource.key_marks["Type"] == (1, text.index('"Type"') + 1)


def test_json_duplicate_keys_keep_their_line(tmp_path: Path) -> None:
    """json collapses duplicates silently; the libyaml pass finds them, with a line."""
    text = '{"Resources": {\n  "B": {"Type": "X::Y::Z"},\n  "B": {"Type": "X::Y::Z"}}}\n'
    template, diags = load_template(write(tmp_path, text, "t.json"))
    assert template is None
    assert [(d.line, d.col, d.message) for d in diags] == [
        (3, 3, "duplicate key 'B' (first defined at line 2)")]


YAML11_SCALARS = ["yes", "No", "on", "OFF", "true", "False", "y", "n", "~", "null", "NULL", "",
                  "0", "-0", "+12", "0x1F", "0o17", "017", "0b101", "1_000", "1:30", "190:20:30",
                  "1.5", "-.5", "1e3", "1.0e+3", "6.8523015e+5", ".inf", "-.Inf", ".nan",
                  "2010-09-09", "2001-12-14t21:59:43.10-05:00", "text", "-x",
                  "0.0.0.0/0", "10.0.0.0/16", "-1", "t", "Y", "0xZZ", "1_0.5", "+.inf"]


@pytest.mark.parametrize("scalar", YAML11_SCALARS)
def test_plain_scalars_resolve_as_yaml_1_1(tmp_path: Path, scalar: str) -> None:
    """Plain scalars mean what PyYAML's safe loader makes of them (YAML 1.1 bools, ints,
    floats, nulls), except dates, which stay strings; read twice (the resolved tags and
    values are memoised)."""
    text = f"Resources:\n  B:\n    Type: X::Y::Z\n    Metadata:\n      P: {scalar}\n" \
           f"      Q: [{scalar}]\n"
    expected = yaml.safe_load(text)["Resources"]["B"]["Metadata"]
    if not isinstance(expected["P"], (bool, int, float, type(None))):
        expected = {"P": scalar, "Q": [scalar]}
    for _ in range(2):
        got = data(tmp_path, text)["Resources"]["B"]["Metadata"]
        assert repr(got) == repr(expected)  # repr: 1 == 1.0 == True, nan != nan


def test_loading_leaves_the_garbage_collector_as_it_was(tmp_path: Path) -> None:
    path = write(tmp_path, ALL_TAGS)
    assert gc.isenabled()
    assert load_template(path)[0] is not None
    assert gc.isenabled()
    gc.disable()
    try:
        assert load_template(path)[0] is not None
        assert not gc.isenabled()
    finally:
        gc.enable()
