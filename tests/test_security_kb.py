"""The security knowledge base: schema validation (errors name file and line), user
overrides and extensions, and properties every shipped record must have."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from docgen.diagnostics import KnowledgeError
from docgen.knowledge.security import CATEGORIES, SEVERITIES, load
from docgen.loader import parse_yaml

GOOD = """\
checks:
  - id: team-sqs-retention
    title: Queues keep messages for four days at least
    resource_types: [AWS::SQS::Queue]
    severity: low
    category: resilience
    expect: {property: MessageRetentionPeriod, greater_than: 345599}
    defaults:
      - {property: MessageRetentionPeriod, value: 345600, source: "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html"}
    rationale: Consumers that are down for a weekend must not lose messages.
    remediation: |
      Properties:
        MessageRetentionPeriod: 1209600
    source: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
"""


def _user_kb(tmp_path: Path, text: str, name: str = "team.yml") -> str:
    folder = tmp_path / "kb" / "security"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(text))
    return str(tmp_path / "kb")


def test_builtin_knowledge_loads_with_four_frameworks() -> None:
    kb = load()
    assert {f.id for f in kb.frameworks} == {"hipaa", "pci-dss-4", "soc2", "gdpr"}
    assert len(kb.checks) >= 50
    assert len({c.id for c in kb.checks}) == len(kb.checks)


def test_every_shipped_check_is_complete() -> None:
    kb = load()
    for c in kb.checks:
        assert c.severity in SEVERITIES and c.category in CATEGORIES
        assert c.source.startswith("https://"), c.id
        assert c.rationale and c.title and c.remediation, c.id
        data, diags = parse_yaml(c.remediation, c.id)
        assert data is not None and not diags, (c.id, diags)
        for d in c.defaults:
            assert d.source.startswith("https://"), (c.id, d.path)
        for m in c.controls:
            assert kb.framework(m.framework) is not None and m.source in kb.sources, c.id
            assert m.ids, c.id


def test_issue_coverage_list_is_present() -> None:
    """The coverage asked for: encryption at rest per store, KMS, public access, TLS,
    IAM wildcards, deletion protection/policy, backups, logging, Multi-AZ, secrets."""
    kb = load()
    at_rest = {t for c in kb.checks if c.category == "encryption-at-rest" for t in c.resource_types}
    for t in ("AWS::RDS::DBInstance", "AWS::RDS::DBCluster", "AWS::ElastiCache::ReplicationGroup",
              "AWS::EFS::FileSystem", "AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::SNS::Topic",
              "AWS::EC2::Volume", "AWS::Kinesis::Stream"):
        assert t in at_rest, t
    for cid in ("kms-key-rotation", "kms-key-policy-public", "rds-public-access",
                "s3-public-access-block", "sg-admin-ports-open", "elb-internal",
                "elb-listener-tls", "elasticache-in-transit-encryption", "iam-admin-access",
                "iam-wildcard-action", "iam-wildcard-resource", "rds-deletion-protection",
                "stateful-deletion-policy", "rds-backup-enabled", "elb-access-logs",
                "vpc-flow-logs", "cloudtrail-log-validation", "rds-multi-az",
                "noecho-parameter-default", "rds-password-not-plaintext",
                "dynamodb-customer-key", "logs-customer-key"):
        assert kb.check(cid) is not None, cid


REPLACEMENT = """\
  - id: rds-multi-az
    title: Our databases may be single-AZ
    resource_types: [AWS::RDS::DBInstance]
    severity: low
    category: resilience
    expect: {property: MultiAZ, equals: true}
    rationale: Dev databases are single-AZ by choice.
    remediation: |
      Properties:
        MultiAZ: true
    source: reference handbook (SPEC.md)
"""


def test_user_folder_adds_and_replaces(tmp_path: Path) -> None:
    kb = load(_user_kb(tmp_path, GOOD + REPLACEMENT))
    assert kb.check("team-sqs-retention") is not None
    replaced = kb.check("rds-multi-az")
    assert replaced is not None and replaced.severity == "low"
    assert len(kb.checks) == len(load().checks) + 1


@pytest.mark.parametrize(("broken", "line", "needle"), [
    (GOOD.replace("severity: low", "severity: urgent"), 5, "severity"),
    (GOOD.replace("category: resilience", "category: vibes"), 6, "category"),
    (GOOD.replace("expect: {property: MessageRetentionPeriod, greater_than: 345599}",
                  "expect: {property: MessageRetentionPeriod, bigger: 1}"), 7, "unknown key"),
    (GOOD.replace("source: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/"
                  "API_CreateQueue.html\n", "source: somewhere\n"), 14, "source"),
    (GOOD.replace("        MessageRetentionPeriod: 1209600", "        Bad: [unclosed"), 11,
     "remediation"),
    (GOOD.replace("    title: Queues keep messages for four days at least\n", ""), 2, "title"),
    (GOOD.replace("expect: {property: MessageRetentionPeriod, greater_than: 345599}",
                  "function: no_such_function"), 7, "unknown function"),
    (GOOD + "    frobnicate: true\n", 2, "unknown key"),
], ids=["severity", "category", "condition", "source", "remediation", "missing-title",
        "function", "unknown-key"])
def test_broken_records_name_file_and_line(tmp_path: Path, broken: str, line: int,
                                           needle: str) -> None:
    user = _user_kb(tmp_path, broken)
    with pytest.raises(KnowledgeError) as info:
        load(user)
    diags = info.value.diagnostics
    assert diags, info.value
    hit = [d for d in diags if needle in d.message]
    assert hit, [str(d) for d in diags]
    assert hit[0].file.endswith("team.yml") and hit[0].line == line, [str(d) for d in diags]


def test_yaml_syntax_error_is_a_knowledge_error(tmp_path: Path) -> None:
    user = _user_kb(tmp_path, "checks:\n  - id: [unclosed\n")
    with pytest.raises(KnowledgeError) as info:
        load(user)
    assert info.value.diagnostics[0].file.endswith("team.yml")
