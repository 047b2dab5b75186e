"""Security evaluation: intrinsics give "depends on" with each branch, defaults are
cited, the posture tables, the compliance matrix, and the pages of the example."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from docgen.analyse.compliance import build_matrix
from docgen.analyse.posture import analyse
from docgen.analyse.security import check_template
from docgen.knowledge.security import load
from docgen.loader import load_template

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def kb():
    return load()


def _template(tmp_path: Path, text: str):
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent(text))
    template, diags = load_template(str(path))
    assert template is not None and not [d for d in diags if d.is_error], diags
    return template


def _finding(findings, check_id, resource):
    return next(f for f in findings if f.check.id == check_id and f.resource == resource)


def test_if_on_a_condition_depends_with_both_branches(tmp_path: Path, kb) -> None:
    t = _template(tmp_path, """\
        Parameters:
          Env: {Type: String, AllowedValues: [dev, prod]}
        Conditions:
          IsProd: !Equals [!Ref Env, prod]
        Resources:
          Cache:
            Type: AWS::ElastiCache::ReplicationGroup
            Properties:
              ReplicationGroupDescription: c
              Engine: redis
              CacheNodeType: cache.t3.micro
              TransitEncryptionEnabled: !If [IsProd, true, !Ref AWS::NoValue]
        """)
    f = _finding(check_template(t, kb), "elasticache-in-transit-encryption", "Cache")
    assert f.status == "depends" and f.depends_on == ("condition IsProd",)
    assert [(b.label, b.status) for b in f.branches] == [
        ("condition IsProd is true", "pass"), ("condition IsProd is false", "fail")]
    assert f.default is not None and f.default.value is False  # NoValue -> documented default
    assert f.default.source.startswith("https://docs.aws.amazon.com/")


def test_same_condition_is_correlated(tmp_path: Path, kb) -> None:
    """Two !If on one condition never mix branches: two variants, not four."""
    t = _template(tmp_path, """\
        Parameters:
          Secure: {Type: String, AllowedValues: ["yes", "no"]}
        Conditions:
          IsSecure: !Equals [!Ref Secure, "yes"]
        Resources:
          Cluster:
            Type: AWS::RDS::DBCluster
            Properties:
              Engine: aurora-postgresql
              StorageEncrypted: !If [IsSecure, true, false]
              KmsKeyId: !If [IsSecure, alias/aws/rds, !Ref AWS::NoValue]
        """)
    f = _finding(check_template(t, kb), "rds-cluster-storage-encrypted", "Cluster")
    assert f.status == "depends" and len(f.branches) == 2


def test_find_in_map_by_region_depends_on_the_region(tmp_path: Path, kb) -> None:
    t = _template(tmp_path, """\
        Mappings:
          Regional:
            eu-west-1: {Encrypted: "true"}
            us-east-1: {Encrypted: "false"}
        Resources:
          Fs:
            Type: AWS::EFS::FileSystem
            Properties:
              Encrypted: !FindInMap [Regional, !Ref "AWS::Region", Encrypted]
        """)
    f = _finding(check_template(t, kb), "efs-encrypted", "Fs")
    assert f.status == "depends" and f.depends_on == ("pseudo AWS::Region",)
    assert {b.status for b in f.branches} == {"pass", "fail"}
    assert any("eu-west-1" in b.label for b in f.branches)


def test_all_values_agree_means_no_depends(tmp_path: Path, kb) -> None:
    t = _template(tmp_path, """\
        Parameters:
          Size: {Type: String, AllowedValues: [small, large], Default: small}
        Mappings:
          Sizes:
            small: {MultiAZ: "true"}
            large: {MultiAZ: "true"}
        Resources:
          Db:
            Type: AWS::RDS::DBInstance
            Properties:
              Engine: postgres
              DBInstanceClass: db.t3.micro
              MultiAZ: !FindInMap [Sizes, !Ref Size, MultiAZ]
        """)
    assert _finding(check_template(t, kb), "rds-multi-az", "Db").status == "pass"


def test_free_parameter_and_secret_labels(tmp_path: Path, kb) -> None:
    t = _template(tmp_path, """\
        Parameters:
          Cidr: {Type: String, Default: 0.0.0.0/0}
          Token: {Type: String, NoEcho: true, Default: TokenValueNeverShown}
        Resources:
          Sg:
            Type: AWS::EC2::SecurityGroup
            Properties:
              GroupDescription: ssh
              SecurityGroupIngress:
                - {IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: !Ref Cidr}
          Rg:
            Type: AWS::ElastiCache::ReplicationGroup
            Properties:
              ReplicationGroupDescription: c
              Engine: redis
              CacheNodeType: cache.t3.micro
              TransitEncryptionEnabled: !Ref Token
        """)
    findings = check_template(t, kb)
    ssh = _finding(findings, "sg-admin-ports-open", "Sg")
    assert ssh.status == "depends" and ssh.depends_on == ("parameter Cidr",)
    labels = {b.label: b.status for b in ssh.branches}
    assert labels == {"parameter Cidr = 0.0.0.0/0 (default)": "fail",
                      "parameter Cidr = any other value": "unknown"}
    rg = _finding(findings, "elasticache-in-transit-encryption", "Rg")
    text = " ".join([rg.message, *(b.label for b in rg.branches)])
    assert "TokenValueNeverShown" not in text and "parameter Token" in text
    noecho = _finding(findings, "noecho-parameter-default", "Token")
    assert noecho.status == "fail" and "TokenValueNeverShown" not in noecho.message


def test_example_encryption_uses_the_customer_key(kb) -> None:
    template, _ = load_template(str(ROOT / "stacks" / "primary.yaml"))
    assert template is not None
    rows = {r.resource_type: r for r in analyse(template, kb).encryption}
    for rtype in ("AWS::RDS::DBInstance", "AWS::ElastiCache::ReplicationGroup",
                  "AWS::EFS::FileSystem"):
        row = rows[rtype]
        assert row.at_rest.status == "pass", row
        assert row.key.startswith("customer managed key "), row
    assert rows["AWS::ElastiCache::ReplicationGroup"].in_transit.status == "pass"
    assert rows["AWS::RDS::DBInstance"].in_transit.status == "pass"


def test_compliance_matrix_statuses(tmp_path: Path, kb) -> None:
    bad = _template(tmp_path, """\
        Resources:
          Fs:
            Type: AWS::EFS::FileSystem
            Properties: {Encrypted: false}
        """)
    good_path = tmp_path / "good.yaml"
    good_path.write_text(textwrap.dedent("""\
        Resources:
          Fs:
            Type: AWS::EFS::FileSystem
            DeletionPolicy: Retain
            Properties:
              Encrypted: true
              BackupPolicy: {Status: ENABLED}
              FileSystemPolicy:
                Statement:
                  - Effect: Deny
                    Principal: {AWS: "*"}
                    Action: "*"
                    Condition: {Bool: {aws:SecureTransport: "false"}}
        """))
    good, _ = load_template(str(good_path))
    m = build_matrix(kb, [("bad", check_template(bad, kb)), ("good", check_template(good, kb))])
    row = next(r for r in m.rows_for("hipaa") if r.control == "164.312(a)(2)(iv)")
    assert row.cells[0].status == "not met" and row.cells[1].status == "met"
    assert any(f.check.id == "efs-encrypted" for f in row.cells[0].findings)
    lonely = next(r for r in m.rows_for("pci-dss-4") if r.control == "1.2.8")
    assert lonely.cells[0].status == "not applicable"


def test_pages_of_the_example(kb) -> None:
    from docgen.config import find_config, load_config
    from docgen.generate import build

    result = build(load_config(find_config(str(ROOT))))
    assert not result.errors, result.errors
    page = result.pages["primary/security.md"]
    assert "customer managed key EncryptionKey" in page
    assert "## Encryption" in page and "## Network exposure" in page and "## IAM" in page
    assert "depends on condition IsProd" in page
    dr = result.pages["dr/security.md"]
    replica = next(line for line in dr.splitlines() if line.startswith("| <code>ReplicaDatabase"))
    assert "yes, inherited from primary / Database" in replica  # followed through docgen.yml
    assert "customer managed key EncryptionKey" in replica
    compliance = result.pages["compliance.md"]
    for name in ("HIPAA Security Rule", "PCI DSS", "SOC 2", "GDPR"):
        assert f"## {name}" in compliance
    assert "primary/security.md#" in compliance


def test_page_escapes_template_strings(tmp_path: Path, kb) -> None:
    from docgen.generate import build, default_project

    path = tmp_path / "evil.yaml"
    path.write_text(textwrap.dedent("""\
        Parameters:
          Pw: {Type: String, NoEcho: true, Default: "SuperSecretDefault9"}
        Resources:
          Bucket:
            Type: AWS::S3::Bucket
            Metadata:
              docgen:
                suppress:
                  - {id: s3-versioning, reason: "<script>alert(1)</script> | split"}
        """))
    result = build(default_project(str(tmp_path)), [str(path)])
    page = next(v for k, v in result.pages.items() if k.endswith("/security.md"))
    assert "<script>" not in page and "SuperSecretDefault9" not in page
    row = next(line for line in page.splitlines() if "s3-versioning" in line and "|" in line)
    assert row.count(" | ") == 5  # the reason's pipe does not split the table row


def _intrinsic_values():
    from hypothesis import strategies as st

    leaves = st.one_of(
        st.booleans(), st.integers(-5, 70000), st.sampled_from(
            ["true", "false", "0.0.0.0/0", "::/0", "tcp", "-1", "HTTPS", "aws:kms", "",
             "Retain", "internet-facing"]),
        st.just({"Ref": "P"}), st.just({"Ref": "Free"}), st.just({"Ref": "AWS::NoValue"}),
        st.just({"Ref": "AWS::Region"}), st.just({"Fn::GetAtt": ["Key", "Arn"]}),
        st.just({"Fn::ImportValue": "shared"}),
        st.just({"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "v"]}),
    )
    return st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["CidrIp", "FromPort", "ToPort", "IpProtocol",
                                         "Status", "Key", "Value", "Effect", "Action",
                                         "Resource", "Principal", "Statement"]), inner,
                        max_size=3),
        st.builds(lambda a, b: {"Fn::If": ["C", a, b]}, inner, inner),
    ), max_leaves=12)


def test_any_intrinsic_mix_never_crashes(tmp_path: Path, kb) -> None:
    """Random property trees full of intrinsics: every check returns a finding, none
    crashes (a crash would surface as a 'could not be evaluated' finding)."""
    import json

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    types = sorted({t for c in kb.checks for t in c.resource_types if t != "template"})

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rtype=st.sampled_from(types),
           props=st.dictionaries(st.sampled_from(
               ["StorageEncrypted", "SecurityGroupIngress", "PubliclyAccessible", "Scheme",
                "LoadBalancerAttributes", "Policies", "KeyPolicy", "Protocol", "Engine",
                "KmsKeyId", "BucketEncryption", "MultiAZ", "DefaultActions"]),
               _intrinsic_values(), max_size=4))
    def run(rtype: str, props: dict) -> None:
        doc = {
            "Parameters": {"P": {"Type": "String", "AllowedValues": ["a", "b"]},
                           "Free": {"Type": "String", "Default": "x"}},
            "Mappings": {"M": {"eu-west-1": {"v": "true"}, "us-east-1": {"v": "false"}}},
            "Conditions": {"C": {"Fn::Equals": [{"Ref": "P"}, "a"]}},
            "Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {}},
                          "R": {"Type": rtype, "Properties": props}},
        }
        path = tmp_path / "h.json"
        path.write_text(json.dumps(doc))
        template, _ = load_template(str(path))
        if template is None:
            return
        for f in analyse(template, kb).findings:
            assert not f.message.startswith("check could not be evaluated"), (f.check.id, props)

    run()


def test_key_column_names_the_key_in_use(tmp_path: Path, kb) -> None:
    t = _template(tmp_path, """\
        Resources:
          Key:
            Type: AWS::KMS::Key
            Properties: {EnableKeyRotation: true}
          KeyAlias:
            Type: AWS::KMS::Alias
            Properties: {AliasName: alias/data, TargetKeyId: !Ref Key}
          Kms:
            Type: AWS::S3::Bucket
            Properties:
              BucketEncryption:
                ServerSideEncryptionConfiguration:
                  - ServerSideEncryptionByDefault: {SSEAlgorithm: aws:kms}
          Plain:
            Type: AWS::S3::Bucket
          Table:
            Type: AWS::DynamoDB::Table
            Properties:
              AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
              KeySchema: [{AttributeName: pk, KeyType: HASH}]
              BillingMode: PAY_PER_REQUEST
              SSESpecification: {SSEEnabled: true}
          Topic:
            Type: AWS::SNS::Topic
            Properties: {KmsMasterKeyId: !Ref KeyAlias}
          Queue:
            Type: AWS::SQS::Queue
            Properties: {SqsManagedSseEnabled: false}
        """)
    keys = {r.resource: (r.at_rest.status, r.key) for r in analyse(t, kb).encryption}
    assert keys["Kms"] == ("pass", "AWS managed key aws/s3")
    assert keys["Plain"] == ("pass", "S3 managed key (SSE-S3)")
    assert keys["Table"] == ("info", "AWS managed key aws/dynamodb")
    assert keys["Topic"] == ("pass", "customer managed key Key (alias KeyAlias)")
    assert keys["Queue"] == ("fail", "—")
