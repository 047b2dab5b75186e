"""Troubleshooting, backup and monitoring pages: the SPEC.md facts for the example are
derived from stacks/, other shapes of template get content for their own resources
only, and the recommended-alarm snippet is a template docgen itself accepts."""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import pytest

from docgen.analyse import ops as analyse
from docgen.config import load_config
from docgen.diagnostics import DocgenError
from docgen.escape import code, md
from docgen.generate import build, default_project
from docgen.knowledge import ops
from docgen.loader import load_template, parse_yaml
from docgen.modelbuild import build_template
from tests.awscli_model import check_markdown, commands_in_markdown

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def example_pages() -> dict[str, str]:
    result = build(load_config(str(ROOT / "docgen.yml")))
    assert not result.errors, result.errors
    return result.pages


def pages_for(tmp_path: Path, name: str, text: str) -> dict[str, str]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    result = build(default_project(str(tmp_path)), [str(path)])
    assert not result.errors, [str(d) for d in result.errors]
    return {k.split("/", 1)[1]: v for k, v in result.pages.items() if k.startswith(f"{name}/")}


def flat(text: str) -> str:
    """Commands with continuation lines joined, for substring checks."""
    return re.sub(r"\s*\\\n\s*", " ", text)


# --- the example (SPEC.md section 2) --------------------------------------------------------


def test_elasticache_rollback_failed_procedure() -> None:
    page = flat(example_pages()["primary/troubleshooting.md"])
    assert "InvalidReplicationGroupState" in page
    assert "ROLLBACK_FAILED" in page
    for env in ("dev", "prod"):
        order = [
            f"aws elasticache describe-replication-groups --replication-group-id streamflix-redis-{env}",
            f"aws elasticache delete-replication-group --replication-group-id streamflix-redis-{env}",
            f"aws cloudformation continue-update-rollback --stack-name StreamFlixDRPrimary{env} "
            "--resources-to-skip CacheReplicationGroup --region eu-west-2",
        ]
        pos = page.find("InvalidReplicationGroupState")
        for command in order:  # in this order, after the failure entry's heading
            pos = page.find(command, pos)
            assert pos != -1, command


def test_failing_resource_query_and_recovery_commands_use_real_names() -> None:
    page = flat(example_pages()["primary/troubleshooting.md"])
    assert ("aws cloudformation describe-stack-events --stack-name StreamFlixDRPrimarydev "
            "--query 'StackEvents[?contains(ResourceStatus, `\"FAILED\"`)]") in page
    assert "--retain-resources CacheReplicationGroup" in page
    for state in ("CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
                  "UPDATE_ROLLBACK_FAILED", "DELETE_FAILED"):
        assert f"### {state.replace('_', chr(92) + '_')}" in page
    # only resources the knowledge base names as skippable are offered
    assert "--resources-to-skip VPC" not in page


def test_provisioning_times_and_critical_path() -> None:
    page = example_pages()["primary/troubleshooting.md"]
    assert f"| {code('Database')} | {code('AWS::RDS::DBInstance')} | {md('15-20')} |" in page
    assert (f"| {code('CacheReplicationGroup')} | {code('AWS::ElastiCache::ReplicationGroup')} "
            f"| {md('10-15')} |") in page
    # RDS and ElastiCache are created in parallel: the stack takes 15-20, not 25-35
    assert "**Whole stack: about 15\\-20 minutes**" in page
    assert f"Adding up every figure would give {md('25-35')} minutes" in page
    dr = example_pages()["dr/troubleshooting.md"]
    assert "<code>ReplicaDatabase</code>" in dr and "15\\-20" in dr


def test_backup_page_facts() -> None:
    page = flat(example_pages()["primary/backup.md"])
    assert code("7") in page and code("03:00-05:00") in page
    assert code("5") in page  # SnapshotRetentionLimit
    assert ("aws rds restore-db-instance-to-point-in-time --source-db-instance-identifier "
            "streamflix-db-dev --target-db-instance-identifier \"${RESTORED_NAME}\" "
            "--restore-time \"${RESTORE_TIME}\"") in page
    assert "aws rds create-db-snapshot --db-instance-identifier streamflix-db-prod" in page
    assert "aws elasticache create-snapshot --replication-group-id streamflix-redis-dev" in page
    # EFS has no literal name: the id is looked up first, then used
    lookup = page.find("FILE_SYSTEM_ID=$(aws cloudformation describe-stack-resource")
    assert lookup != -1 and lookup < page.find('--file-system-id "${FILE_SYSTEM_ID}"')


def test_monitoring_page_facts() -> None:
    primary = example_pages()["primary/monitoring.md"]
    dr = example_pages()["dr/monitoring.md"]
    assert re.search(r"<code>ReplicaLag</code> \| Maximum \| &gt; 300", dr)
    assert re.search(r"<code>HealthyHostCount</code> \| Minimum \| &lt; 1", primary)
    assert re.search(r"<code>RunningTaskCount</code> \| Minimum \| &lt; 1", primary)
    for metric in ("CacheHits", "CacheMisses", "ClientConnections", "TargetResponseTime"):
        assert f"<code>{metric}</code>" in primary
    # a recommended alarm with no universal threshold gets a reason, not a number
    assert "*your threshold*" in primary


@pytest.mark.parametrize("stack", ["primary", "dr"])
def test_alarm_snippet_loads_and_references_the_right_resources(stack: str) -> None:
    path = ROOT / "stacks" / f"{stack}.yaml"
    template, _ = load_template(str(path))
    assert template is not None
    kb = ops.load()
    alarms = analyse.template_alarms(kb, template)
    recs = analyse.recommendations(kb, template, alarms)
    snippet = analyse.alarm_snippet(template, recs, analyse.alarm_actions(alarms, template))
    assert snippet.alarm_ids
    data, diags = parse_yaml(snippet.text, "snippet.yaml")
    assert not diags, diags
    raw, diags = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    for section in ("Parameters", "Resources"):
        raw.setdefault(section, {}).update(data.get(section, {}))
    merged, diags = build_template(str(path), raw, "yaml")
    assert merged is not None and not [d for d in diags if d.is_error], diags
    for alarm_id in snippet.alarm_ids:
        watched = {r.target for r in merged.references if r.source == alarm_id}
        assert watched & {r.logical_id for r in template.resources}, alarm_id
    # covered metrics are not recommended again
    assert "DatabaseCPUUtilizationAlarm" not in snippet.text


def test_example_pages_have_environment_tabs_and_valid_commands() -> None:
    for name in ("troubleshooting", "backup", "monitoring"):
        for stack in ("primary", "dr"):
            page = example_pages()[f"{stack}/{name}.md"]
            assert not check_markdown(page)
            if name != "monitoring":
                assert '=== "dev"' in page and '=== "prod"' in page
                assert commands_in_markdown(page)


# --- other shapes of template ----------------------------------------------------------------

SERVERLESS = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: orders
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Jobs:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt WorkerRole.Arn
      Code: {ZipFile: "def handler(e, c): pass"}
  WorkerRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: lambda.amazonaws.com},
                     Action: "sts:AssumeRole"}]
"""


def test_dynamodb_lambda_sqs_template(tmp_path: Path) -> None:
    pages = pages_for(tmp_path, "orders", SERVERLESS)
    backup = flat(pages["backup.md"])
    assert ("aws dynamodb restore-table-to-point-in-time --source-table-name orders "
            "--target-table-name \"${TARGET_TABLE}\"") in backup
    assert "Point\\-in\\-time recovery is not enabled" in backup
    monitoring = pages["monitoring.md"]
    assert "<code>ApproximateAgeOfOldestMessage</code>" in monitoring
    assert "!GetAtt Jobs.QueueName" in monitoring
    assert "<code>Worker</code>" in monitoring and "<code>Errors</code>" in monitoring
    for name in ("troubleshooting.md", "backup.md", "monitoring.md"):
        text = pages[name].lower()
        assert not re.search(r"\brds\b|elasticache|replication group|db instance", text), name
        assert not check_markdown(pages[name])


def test_no_data_bearing_resources_and_unknown_types_said_plainly(tmp_path: Path) -> None:
    pages = pages_for(tmp_path, "params", """\
Resources:
  Setting:
    Type: AWS::SSM::Parameter
    Properties: {Type: String, Value: "1"}
""")
    assert "no data-bearing resources" in pages["backup.md"]
    trouble = pages["troubleshooting.md"]
    assert ("The knowledge base has no troubleshooting entries for "
            f"{code('AWS::SSM::Parameter')}") in trouble
    assert "no sourced provisioning time" in trouble
    assert "The template defines no CloudWatch alarms." in pages["monitoring.md"]
    assert "--region" not in trouble  # no region configured: the CLI default applies


def test_critical_path_is_not_the_sum(tmp_path: Path) -> None:
    text = """\
Resources:
  Db:
    Type: AWS::RDS::DBInstance
    Properties: {Engine: postgres, DBInstanceClass: db.t3.micro, AllocatedStorage: "20"}
  Cache:
    Type: AWS::ElastiCache::ReplicationGroup
    Properties: {ReplicationGroupDescription: c, MultiAZEnabled: true,
                 AtRestEncryptionEnabled: true, NumCacheClusters: 2}
  Replica:
    Type: AWS::RDS::DBInstance
    Properties: {SourceDBInstanceIdentifier: !Ref Db, DBInstanceClass: db.t3.micro}
"""
    path = tmp_path / "t.yaml"
    path.write_text(text, encoding="utf-8")
    template, _ = load_template(str(path))
    assert template is not None
    kb = ops.load()
    durations = analyse.provisioning(kb, template)
    cp = analyse.critical_path(template, durations)
    assert cp.path == ("Db", "Replica")
    assert (cp.low, cp.high) == (30, 40)  # Db then Replica; Cache (10-15) runs alongside


def test_property_set_by_a_parameter_widens_the_range(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("""\
Parameters:
  MultiAZ: {Type: String, AllowedValues: ["true", "false"]}
Resources:
  Cache:
    Type: AWS::ElastiCache::ReplicationGroup
    Properties: {ReplicationGroupDescription: c, MultiAZEnabled: !Ref MultiAZ,
                 TransitEncryptionEnabled: true}
""", encoding="utf-8")
    template, _ = load_template(str(path))
    assert template is not None
    (d,) = analyse.provisioning(ops.load(), template)
    assert d.minutes == (5, 15) and not d.certain


def test_pages_are_deterministic() -> None:
    again = build(load_config(str(ROOT / "docgen.yml"))).pages
    for name in ("troubleshooting", "backup", "monitoring"):
        assert again[f"primary/{name}.md"] == example_pages()[f"primary/{name}.md"]


def test_team_knowledge_extends_and_overrides_the_pages(tmp_path: Path) -> None:
    kb = tmp_path / "kb" / "ops"
    kb.mkdir(parents=True)
    (kb / "team.yml").write_text("""\
- id: team-queue-pitfall
  kind: pitfall
  types: [AWS::SQS::Queue]
  title: Our consumers poll only during business hours
  text: Expect the queue age alarm at night; it is not an incident before 08:00.
  source: reference handbook (SPEC.md)
- id: sqs-alarm-age-of-oldest
  kind: alarm
  types: [AWS::SQS::Queue]
  namespace: AWS/SQS
  metric: ApproximateAgeOfOldestMessage
  statistic: Maximum
  threshold: 3600
  comparison: GreaterThanOrEqualToThreshold
  period: 300
  evaluation_periods: 3
  datapoints: 3
  dimensions: {QueueName: "{getatt:QueueName}"}
  text: Messages older than an hour.
  source: reference handbook (SPEC.md)
""", encoding="utf-8")
    template = tmp_path / "q.yaml"
    template.write_text("Resources:\n  Jobs:\n    Type: AWS::SQS::Queue\n", encoding="utf-8")
    project = dataclasses.replace(default_project(str(tmp_path)),
                                  knowledge_dir=str(tmp_path / "kb"))
    pages = build(project, [str(template)]).pages
    assert "Our consumers poll only during business hours" in pages["q/troubleshooting.md"]
    monitoring = pages["q/monitoring.md"]
    assert "Messages older than an hour" in monitoring and "Threshold: 3600" in monitoring


def test_a_broken_team_file_fails_the_build_with_file_and_line(tmp_path: Path) -> None:
    kb = tmp_path / "kb" / "ops"
    kb.mkdir(parents=True)
    (kb / "team.yml").write_text("- id: x\n  kind: pitfall\n  types: [AWS::SQS::Queue]\n",
                                 encoding="utf-8")
    template = tmp_path / "q.yaml"
    template.write_text("Resources:\n  Jobs:\n    Type: AWS::SQS::Queue\n", encoding="utf-8")
    project = dataclasses.replace(default_project(str(tmp_path)),
                                  knowledge_dir=str(tmp_path / "kb"))
    with pytest.raises(DocgenError) as info:
        build(project, [str(template)])
    assert "team.yml:1:1: error: record 'x': missing required field" in info.value.format()
