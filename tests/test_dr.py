"""Disaster-recovery page: topology detection, timed failover phases, failback, drill.

Why: the DR page is read during an outage. Its time budget must add up to the RTO the team
committed to (docgen.yml), its commands must run as printed against the real identifiers,
and a handbook without a DR topology must not get a page that pretends otherwise. The
phase split comes from the knowledge file, so the tests check it for the example (SPEC.md's
five phases) and for other RTOs and topologies written here as fixtures.
"""

from __future__ import annotations

import html
import itertools
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from docgen.analyse import dr
from docgen.diagnostics import KnowledgeError
from docgen.pages.registry import STACK_PAGES
from tests.test_order import handbook_of, pages_of, write_project

try:
    from tests.awscli_model import check_markdown
except ImportError:  # pragma: no cover - the helper is optional
    check_markdown = None

REPO = Path(__file__).resolve().parents[1]
PHASE_ROW = re.compile(r"^\| (\d)\. \[([^\]]+)\]\(#(\w+)\) \| ([^|]+) \| ([^|]+) \|$", re.M)


def phase_rows(page: str) -> list[tuple[str, str, str]]:
    """(phase id, span, budget minutes) from the phase table."""
    return [(m.group(3), m.group(4).strip(), m.group(5).strip())
            for m in PHASE_ROW.finditer(page)]


def plain(markdown: str) -> str:
    """Prose as a reader sees it: Markdown backslash escapes and HTML entities undone."""
    return html.unescape(re.sub(r"\\([^\n])", r"\1", markdown))


def assert_real_commands(text: str) -> None:
    if check_markdown is not None:
        problems = check_markdown(text)
        assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def example_pages() -> dict[str, str]:
    return pages_of(REPO)


def test_example_has_the_five_phases_of_the_reference(example_pages: dict[str, str]) -> None:
    page = example_pages["disaster-recovery.md"]
    assert phase_rows(page) == [
        ("detect", "0-2", "2"), ("promote", "2-7", "5"), ("scale", "7-12", "5"),
        ("dns", "12-15", "3"), ("validate", "at 15", "0")]
    assert sum(float(b) for _, _, b in phase_rows(page)) == 15
    assert "| **Total** | | **15** |" in page
    text = plain(page)
    assert "**RTO 15 min** — docgen.yml: dr.rto_minutes" in text
    assert "**RPO 15 min** — docgen.yml: dr.rpo_minutes" in text
    assert "ReplicaLagAlarm of stack dr fires when ReplicaLag exceeds 300 seconds (5 min)" in text


def test_example_promotes_the_real_replica(example_pages: dict[str, str]) -> None:
    page = example_pages["disaster-recovery.md"]
    promote = page.split("{ #promote }")[1].split("{ #scale }")[0]
    for env in ("dev", "prod"):
        assert (f"aws rds promote-read-replica --db-instance-identifier streamflix-dr-db-{env}"
                in promote)
        assert f"aws rds wait db-instance-available --db-instance-identifier " \
               f"streamflix-dr-db-{env}" in promote
    # backups of the promoted instance follow the source database's retention (7 days)
    assert "--backup-retention-period 7" in promote
    # EFS: the replica becomes writable once the replication configuration is deleted
    assert "aws efs delete-replication-configuration --source-file-system-id" in promote
    assert "ReplicationOverwriteProtection" in promote
    assert_real_commands(page)


def test_example_scales_standby_to_the_primary_count(example_pages: dict[str, str]) -> None:
    page = example_pages["disaster-recovery.md"]
    scale = page.split("{ #scale }")[1].split("{ #dns }")[0]
    assert "aws ecs update-service --cluster streamflix-dr-cluster-dev --service " \
           "streamflix-dr-web-dev \\\n      --desired-count 2" in scale
    assert "aws ecs wait services-stable --cluster streamflix-dr-cluster-prod" in scale
    assert "standby count now dev: 0, prod: 1" in plain(scale)


def test_example_switches_dns_with_the_configured_zone(example_pages: dict[str, str]) -> None:
    page = example_pages["disaster-recovery.md"]
    dns = page.split("{ #dns }")[1].split("{ #validate }")[0]
    assert "aws route53 change-resource-record-sets --hosted-zone-id Z0EXAMPLE0STREAMFLIX" in dns
    assert '"Name":"streamflix.example.com"' in dns
    assert "aws route53 wait resource-record-sets-changed" in dns
    assert "UPSERT" in dns


def test_example_failback_drill_and_alarm_links(example_pages: dict[str, str]) -> None:
    page = example_pages["disaster-recovery.md"]
    failback = page.split("## Failback")[1].split("## DR drill checklist")[0]
    assert "aws rds create-db-snapshot --db-instance-identifier streamflix-dr-db-dev" in failback
    assert "aws rds create-db-instance-read-replica" in failback
    assert "--source-region us-east-1" in failback
    assert "aws efs create-replication-configuration" in failback
    drill = page.split("## DR drill checklist")[1]
    assert len(re.findall(r"^\d+\. ", drill, re.M)) >= 7
    monitoring = any(p.slug == "monitoring" for p in STACK_PAGES)
    link = "dr/monitoring.md" if monitoring else "dr/index.md"
    alarms = page.split("## Replication lag alarms")[1].split("## Failback")[0]
    assert f"[dr]({link})" in alarms
    home = example_pages["index.md"]
    assert "disaster-recovery.md" in home and "not configured" not in home


def test_example_phases_follow_the_configured_rto(tmp_path: Path) -> None:
    shutil.copytree(REPO / "stacks", tmp_path / "stacks")
    text = (REPO / "docgen.yml").read_text(encoding="utf-8")
    assert "rto_minutes: 15" in text
    (tmp_path / "docgen.yml").write_text(text.replace("rto_minutes: 15", "rto_minutes: 30"),
                                         encoding="utf-8")
    page = pages_of(tmp_path)["disaster-recovery.md"]
    assert [span for _, span, _ in phase_rows(page)] == [
        "0-4", "4-14", "14-24", "24-30", "at 30"]


def test_handbook_without_dr_gets_no_page(tmp_path: Path) -> None:
    plain = "Resources:\n  T: {Type: AWS::SNS::Topic}\n"
    root = write_project(tmp_path, {"a.yaml": plain, "b.yaml": plain}, """\
        stacks:
          a: {template: stacks/a.yaml, name: a, role: primary}
          b: {template: stacks/b.yaml, name: b}
        dr: {rto_minutes: 15}
        """)
    pages = pages_of(root)
    assert "disaster-recovery.md" not in pages
    assert "Disaster recovery: not configured" in pages["index.md"]
    assert dr.topology(handbook_of(root)) is None


MAIN_DB = """\
    Parameters:
      Env: {Type: String, Default: dev}
    Resources:
      Db:
        Type: AWS::RDS::DBInstance
        Properties:
          Engine: postgres
          DBInstanceClass: db.t3.micro
          AllocatedStorage: "20"
          MasterUsername: app
          ManageMasterUserPassword: true
          BackupRetentionPeriod: 3
    Outputs:
      DbArn: {Value: !GetAtt Db.DBInstanceArn}
"""

REPLICA_DB = """\
    Parameters:
      SourceArn: {Type: String}
    Resources:
      Replica:
        Type: AWS::RDS::DBInstance
        Properties:
          SourceDBInstanceIdentifier: !Ref SourceArn
          SourceRegion: eu-west-1
          DBInstanceClass: db.t3.micro
"""


def test_replica_implies_dr_without_roles(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"main.yaml": MAIN_DB, "standby.yaml": REPLICA_DB}, """\
        stacks:
          main: {template: stacks/main.yaml, name: orders-main, region: eu-west-1}
          standby:
            template: stacks/standby.yaml
            name: orders-standby
            region: us-east-1
            parameters: {SourceArn: {stack: main, output: DbArn}}
        dr: {rto_minutes: 10}
        """)
    topo = dr.topology(handbook_of(root))
    assert topo is not None
    assert (topo.roles_from, topo.primary, topo.dr) == ("resources", ("main",), ("standby",))
    pages = pages_of(root)
    page = pages["disaster-recovery.md"]
    # no standby service: the scale phase is left out and the others share its time
    assert phase_rows(page) == [("detect", "0-2", "2"), ("promote", "2-7", "5"),
                                ("dns", "7-10", "3"), ("validate", "at 10", "0")]
    assert "REPLICA_ID=$(aws cloudformation describe-stack-resource --stack-name orders-standby" \
        in page
    assert 'aws rds promote-read-replica --db-instance-identifier "${REPLICA_ID}"' in page
    assert "--backup-retention-period 3" in page
    assert "export DNS_NAME and HOSTED_ZONE_ID" in plain(page)  # no dr.dns in docgen.yml
    # nothing watches the replica: the page says so
    assert 'No alarm on ReplicaLag' in page
    assert "Disaster recovery: configured" in pages["index.md"]
    assert_real_commands(page)


def test_global_table_and_failover_records_imply_dr(tmp_path: Path) -> None:
    body = """\
        Resources:
          Table:
            Type: AWS::DynamoDB::GlobalTable
            Properties:
              AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
              KeySchema: [{AttributeName: id, KeyType: HASH}]
              BillingMode: PAY_PER_REQUEST
              Replicas: [{Region: eu-west-1}, {Region: us-east-1}]
          Check:
            Type: AWS::Route53::HealthCheck
            Properties:
              HealthCheckConfig: {Type: HTTPS, FullyQualifiedDomainName: app.example.org}
          Primary:
            Type: AWS::Route53::RecordSet
            Properties:
              HostedZoneId: Z1
              Name: app.example.org
              Type: CNAME
              TTL: "60"
              SetIdentifier: one
              Failover: PRIMARY
              HealthCheckId: !Ref Check
              ResourceRecords: [a.example.org]
        """
    root = write_project(tmp_path, {"global.yaml": body}, """\
        stacks:
          global: {template: stacks/global.yaml, name: global-app, region: eu-west-1}
        dr:
          dns: {name: app.example.org, hosted_zone_id: Z1}
        """)
    topo = dr.topology(handbook_of(root))
    assert topo is not None
    assert {"dynamodb-global", "route53-failover"} <= topo.kinds
    page = pages_of(root)["disaster-recovery.md"]
    # no RTO configured: the knowledge base default is used and said to be a default
    assert "not set in docgen.yml (dr.rto_minutes)" in plain(page)
    assert [pid for pid, _, _ in phase_rows(page)] == ["detect", "dns", "validate"]
    assert phase_rows(page)[-1][1] == "at 15"
    assert "aws route53 test-dns-answer --hosted-zone-id Z1 --record-name app.example.org" in page
    assert "aws route53 get-health-check-status" in page
    assert_real_commands(page)


def test_budget_scales_weights_and_ends_at_the_rto() -> None:
    knowledge = dr.load_knowledge()
    kinds = ["rds-read-replica", "ecs-standby"]
    for rto in (5, 15, 30, 60, 7):
        plan = dr.budget(knowledge, rto, kinds)
        assert [p.id for p, _, _ in plan] == ["detect", "promote", "scale", "dns", "validate"]
        assert plan[0][1] == 0 and plan[-1][2] == rto and plan[-2][2] == rto
        for (_, _, end), (_, start, _) in itertools.pairwise(plan):
            assert end == start  # contiguous
    assert [(s, e) for _, s, e in dr.budget(knowledge, 60, kinds)] == [
        (0, 8), (8, 28), (28, 48), (48, 60), (60, 60)]


def test_broken_knowledge_file_names_file_and_line(tmp_path: Path) -> None:
    text = (REPO / "docgen" / "knowledge" / "dr" / "phases.yml").read_text(encoding="utf-8")
    broken = text.replace("    weight: 5\n    needs: [ecs-standby]",
                          "    weight: five\n    needs: [ecs-standby]")
    assert broken != text
    line = broken.splitlines().index("    weight: five") + 1
    with pytest.raises(KnowledgeError) as info:
        dr.parse_knowledge(broken, "kb/dr/phases.yml")
    assert [(d.file, d.line) for d in info.value.diagnostics] == [("kb/dr/phases.yml", line)]
    # through the CLI: a project override with the same mistake is a clean error
    root = write_project(tmp_path, {"main.yaml": MAIN_DB, "standby.yaml": REPLICA_DB}, """\
        paths: {knowledge: kb}
        stacks:
          main: {template: stacks/main.yaml, name: m, region: eu-west-1}
          standby:
            template: stacks/standby.yaml
            name: s
            region: us-east-1
            parameters: {SourceArn: {stack: main, output: DbArn}}
        """)
    (root / "kb" / "dr").mkdir(parents=True)
    (root / "kb" / "dr" / "phases.yml").write_text(broken, encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "docgen", "generate"], cwd=root,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert f"phases.yml:{line}:" in proc.stderr


def test_unknown_phase_kind_is_refused() -> None:
    text = textwrap.dedent("""\
        default_rto_minutes: 15
        default_rto_source: x
        phases:
          - {id: detect, title: t, weight: 1, needs: [teleport], text: t, source: s}
        replication: []
        """)
    with pytest.raises(KnowledgeError) as info:
        dr.parse_knowledge(text, "p.yml")
    assert "teleport" in info.value.format() and "p.yml:4:" in info.value.format()


GOLDEN = Path(__file__).parent / "golden" / "dr_example"


@pytest.mark.parametrize("page", ["disaster-recovery.md", "deployment-order.md"])
def test_example_golden(example_pages: dict[str, str], page: str, update_goldens: bool) -> None:
    """The example's DR procedure and deployment order, byte for byte (review the diff of
    tests/golden/dr_example/ after ``pytest tests/test_dr.py --update-goldens``)."""
    target = GOLDEN / page
    if update_goldens:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(example_pages[page], encoding="utf-8")
    assert target.is_file(), f"missing golden {target}: run with --update-goldens"
    assert example_pages[page] == target.read_text(encoding="utf-8"), \
        f"{page} differs from {target}"


def test_aurora_global_and_s3_replication(tmp_path: Path) -> None:
    main = """\
        Resources:
          Global:
            Type: AWS::RDS::GlobalCluster
            Properties: {GlobalClusterIdentifier: orders-global, SourceDBClusterIdentifier: x}
          Media:
            Type: AWS::S3::Bucket
            Properties:
              VersioningConfiguration: {Status: Enabled}
              ReplicationConfiguration:
                Role: arn:aws:iam::123456789012:role/replication
                Rules:
                  - Status: Enabled
                    Destination: {Bucket: arn:aws:s3:::media-replica}
        """
    secondary = """\
        Resources:
          Cluster:
            Type: AWS::RDS::DBCluster
            Properties:
              Engine: aurora-postgresql
              GlobalClusterIdentifier: orders-global
              DBClusterIdentifier: orders-secondary
        """
    root = write_project(tmp_path, {"main.yaml": main, "secondary.yaml": secondary}, """\
        stacks:
          main: {template: stacks/main.yaml, name: main, region: eu-west-1, role: primary}
          secondary: {template: stacks/secondary.yaml, name: sec, region: us-east-1, role: dr}
        dr: {rto_minutes: 20, rpo_minutes: 1}
        """)
    topo = dr.topology(handbook_of(root))
    assert topo is not None and {"aurora-global", "s3-replication"} <= topo.kinds
    page = pages_of(root)["disaster-recovery.md"]
    promote = page.split("{ #promote }")[1]
    assert "aws rds failover-global-cluster --global-cluster-identifier orders-global" in promote
    assert "--allow-data-loss" in promote
    assert "aws rds wait db-cluster-available --db-cluster-identifier orders-secondary" in promote
    assert [pid for pid, _, _ in phase_rows(page)] == ["detect", "promote", "dns", "validate"]
    assert phase_rows(page)[-1][1] == "at 20"
    assert "**RPO 1 min**" in page
    assert_real_commands(page)
