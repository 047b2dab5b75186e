"""The example deployment in ``stacks/`` is valid CloudFormation and matches SPEC.md section 2.

Why this file exists: the example is what the golden pages and the published handbook are built
from, so a wrong fact here (a single-AZ database, a missing alarm, a name without the environment
suffix) would be faithfully documented by docgen and nobody would notice. The tests read the
templates with cfn-lint's own decoder (which understands every short-form tag) on purpose: they
must not depend on docgen's loader, which is what is being tested elsewhere, and they must never
repeat the lesson of SPEC.md section 3 (a generic YAML parser that rejects ``!Ref``).
"""

from __future__ import annotations

import functools
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

cfnlint_api = pytest.importorskip("cfnlint.api", reason="cfn-lint (test extra) is not installed")
cfnlint_decode = pytest.importorskip("cfnlint.decode")

ROOT = Path(__file__).resolve().parent.parent
PRIMARY = ROOT / "stacks" / "primary.yaml"
DR = ROOT / "stacks" / "dr.yaml"
CONFIG = ROOT / "docgen.yml"
REGIONS = {PRIMARY: "eu-west-2", DR: "us-east-1"}
SUFFIX = "${EnvironmentSuffix}"

# Name-bearing properties per resource type, with the service's length limit (None: not checked).
NAME_PROPERTIES: dict[str, tuple[str, int | None]] = {
    "AWS::RDS::DBInstance": ("DBInstanceIdentifier", 63),
    "AWS::RDS::DBSubnetGroup": ("DBSubnetGroupName", 255),
    "AWS::ElastiCache::ReplicationGroup": ("ReplicationGroupId", 40),
    "AWS::ElastiCache::SubnetGroup": ("CacheSubnetGroupName", 255),
    "AWS::ECS::Cluster": ("ClusterName", 255),
    "AWS::ECS::Service": ("ServiceName", 255),
    "AWS::ECS::TaskDefinition": ("Family", 255),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("Name", 32),
    "AWS::ElasticLoadBalancingV2::TargetGroup": ("Name", 32),
    "AWS::EC2::SecurityGroup": ("GroupName", 255),
    "AWS::Logs::LogGroup": ("LogGroupName", 512),
    "AWS::IAM::Role": ("RoleName", 64),
    "AWS::KMS::Alias": ("AliasName", 256),
    "AWS::SNS::Topic": ("TopicName", 256),
    "AWS::CloudWatch::Alarm": ("AlarmName", 255),
    "AWS::CloudWatch::Dashboard": ("DashboardName", 255),
}
# Types without a name property carry the name in a tag instead.
NAME_TAGS = {
    "AWS::EC2::VPC": "Tags", "AWS::EC2::InternetGateway": "Tags", "AWS::EC2::Subnet": "Tags",
    "AWS::EC2::RouteTable": "Tags", "AWS::EFS::FileSystem": "FileSystemTags",
    "AWS::KMS::Key": "Tags",
}


def _decode(path: Path) -> dict[str, Any]:
    template, matches = cfnlint_decode.decode(str(path))
    assert not matches, [str(m) for m in matches]
    assert template is not None
    return template


@pytest.fixture(scope="module")
def primary() -> dict[str, Any]:
    return _decode(PRIMARY)


@pytest.fixture(scope="module")
def dr() -> dict[str, Any]:
    return _decode(DR)


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    with CONFIG.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@functools.cache
def _lint(path: Path, region: str) -> tuple[Any, ...]:
    """cfn-lint findings for one template (cached: two tests read each result)."""
    args = cfnlint_api.ManualArgs(regions=[region])
    return tuple(cfnlint_api.lint_file(path, args))


def _of_type(template: dict[str, Any], rtype: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == rtype}


def _one(template: dict[str, Any], rtype: str) -> dict[str, Any]:
    found = _of_type(template, rtype)
    assert len(found) == 1, f"expected one {rtype}, found {sorted(found)}"
    return next(iter(found.values()))["Properties"]


def _value(template: dict[str, Any], value: Any) -> Any:
    """A property value with a ``Ref`` to a parameter replaced by that parameter's default."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        param = template["Parameters"].get(value["Ref"])
        assert param is not None, f"Ref to {value['Ref']} is not a parameter"
        return param.get("Default")
    return value


def _sub_text(value: Any) -> str | None:
    """The format string of an ``Fn::Sub`` (either form); None when the value is no Sub."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return None


def _alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["Properties"] for r in _of_type(template, "AWS::CloudWatch::Alarm").values()]


def _has_alarm(template: dict[str, Any], namespace: str, metric: str, op: str,
               threshold: float) -> bool:
    return any(a.get("Namespace") == namespace and a.get("MetricName") == metric
               and a.get("ComparisonOperator") == op and float(a["Threshold"]) == threshold
               for a in _alarms(template))


def suffix_violations(template: dict[str, Any]) -> list[str]:
    """Resources whose name (property or Name tag) does not contain ``${EnvironmentSuffix}``.

    A type listed in NAME_PROPERTIES must set its name (an unset name would be generated by
    CloudFormation and would not carry the suffix either).
    """
    problems = []
    for logical, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] in NAME_PROPERTIES:
            prop, _limit = NAME_PROPERTIES[res["Type"]]
            text = _sub_text(props.get(prop))
            if text is None or SUFFIX not in text:
                problems.append(f"{logical}.{prop}")
        elif res["Type"] in NAME_TAGS:
            tags = {t["Key"]: t["Value"] for t in props.get(NAME_TAGS[res["Type"]], [])}
            text = _sub_text(tags.get("Name"))
            if text is None or SUFFIX not in text:
                problems.append(f"{logical}.{NAME_TAGS[res['Type']]}.Name")
    return problems


# ------------------------------------------------------------------ cfn-lint


@pytest.mark.parametrize("path", [PRIMARY, DR], ids=lambda p: p.name)
def test_cfn_lint_reports_no_errors(path: Path) -> None:
    matches = _lint(path, REGIONS[path])
    errors = [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches
              if m.rule.id.startswith("E")]
    assert errors == []


@pytest.mark.parametrize("path", [PRIMARY, DR], ids=lambda p: p.name)
def test_cfn_lint_reports_no_warnings(path: Path) -> None:
    # The one deliberate exception (W1011 on the NoEcho password parameter) is suppressed in
    # the resource's own Metadata with its reason, so nothing may be reported here.
    matches = _lint(path, REGIONS[path])
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_lint_harness_catches_an_invalid_template(tmp_path: Path) -> None:
    # Proves the lint tests above can fail: a misspelt resource type is an E-level finding.
    broken = tmp_path / "broken.yaml"
    shutil.copy(PRIMARY, broken)
    text = broken.read_text(encoding="utf-8")
    broken.write_text(text.replace("Type: AWS::RDS::DBInstance", "Type: AWS::RDS::DBInstanze"),
                      encoding="utf-8")
    assert any(m.rule.id.startswith("E") for m in _lint(broken, "eu-west-2"))


# ------------------------------------------------------------------ primary stack facts


def test_primary_parameters(primary: dict[str, Any]) -> None:
    params = primary["Parameters"]
    assert params["DBPassword"]["NoEcho"] is True
    assert "Default" not in params["DBPassword"]
    assert {"EnvironmentSuffix", "VpcCIDR", "DBUsername"} <= set(params)
    vpc = _one(primary, "AWS::EC2::VPC")
    assert vpc["CidrBlock"] == {"Ref": "VpcCIDR"}


def test_interface_metadata_covers_every_parameter(primary: dict[str, Any],
                                                   dr: dict[str, Any]) -> None:
    for template in (primary, dr):
        interface = template["Metadata"]["AWS::CloudFormation::Interface"]
        grouped = [p for g in interface["ParameterGroups"] for p in g["Parameters"]]
        assert sorted(grouped) == sorted(template["Parameters"])
        assert set(interface["ParameterLabels"]) == set(template["Parameters"])


def test_primary_kms_key(primary: dict[str, Any]) -> None:
    key = _one(primary, "AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True
    alias = _one(primary, "AWS::KMS::Alias")
    assert alias["TargetKeyId"] == {"Ref": "EncryptionKey"}


def test_primary_network_two_azs(primary: dict[str, Any]) -> None:
    subnets = _of_type(primary, "AWS::EC2::Subnet")
    assert len(subnets) == 4
    azs = {str(s["Properties"]["AvailabilityZone"]) for s in subnets.values()}
    assert len(azs) == 2
    assert _of_type(primary, "AWS::EC2::InternetGateway")


def test_primary_database(primary: dict[str, Any]) -> None:
    (logical, db), = _of_type(primary, "AWS::RDS::DBInstance").items()
    props = db["Properties"]
    assert props["Engine"] == "postgres"
    assert _value(primary, props["DBInstanceClass"]) == "db.t3.medium"
    assert props["MultiAZ"] is True
    assert props["StorageEncrypted"] is True
    assert props["KmsKeyId"] == {"Fn::GetAtt": ["EncryptionKey", "Arn"]}
    assert props["BackupRetentionPeriod"] == 7
    assert props["PreferredBackupWindow"] == "03:00-05:00"
    assert props["MasterUserPassword"] == {"Ref": "DBPassword"}
    assert props["PubliclyAccessible"] is False
    assert db["DeletionPolicy"] == db["UpdateReplacePolicy"] == "Snapshot"
    # IsProd switches deletion protection on.
    assert props["DeletionProtection"] == {"Fn::If": ["IsProd", True, False]}
    assert logical == "Database"


def test_primary_cache(primary: dict[str, Any]) -> None:
    rg = _one(primary, "AWS::ElastiCache::ReplicationGroup")
    assert _value(primary, rg["CacheNodeType"]) == "cache.t3.micro"
    assert rg["NumCacheClusters"] == 2
    for flag in ("MultiAZEnabled", "AutomaticFailoverEnabled", "AtRestEncryptionEnabled",
                 "TransitEncryptionEnabled"):
        assert rg[flag] is True, flag
    assert rg["KmsKeyId"] == {"Ref": "EncryptionKey"}
    assert rg["SnapshotRetentionLimit"] == 5
    assert re.fullmatch(r"\d\d:\d\d-\d\d:\d\d", rg["SnapshotWindow"])


def test_primary_file_system(primary: dict[str, Any]) -> None:
    fs = _one(primary, "AWS::EFS::FileSystem")
    assert fs["Encrypted"] is True
    assert fs["KmsKeyId"] == {"Fn::GetAtt": ["EncryptionKey", "Arn"]}
    assert any("TransitionToIA" in p for p in fs["LifecyclePolicies"])
    assert fs["BackupPolicy"] == {"Status": "ENABLED"}
    assert len(_of_type(primary, "AWS::EFS::MountTarget")) == 2
    # Replication into the DR Region is switched on by a condition (second deployment).
    cond, on, _off = fs["ReplicationConfiguration"]["Fn::If"]
    assert cond == "ReplicateFileSystem"
    assert on["Destinations"][0]["Region"] == {"Ref": "DRRegion"}


def test_primary_service_behind_alb(primary: dict[str, Any]) -> None:
    cluster = _one(primary, "AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["ClusterSettings"]
    svc_res = next(iter(_of_type(primary, "AWS::ECS::Service").values()))
    svc = svc_res["Properties"]
    assert int(_value(primary, svc["DesiredCount"])) == 2
    assert svc["LaunchType"] == "FARGATE"
    assert svc["LoadBalancers"][0]["TargetGroupArn"] == {"Ref": "TargetGroup"}
    assert "HttpListener" in svc_res["DependsOn"]
    alb = _one(primary, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert alb["Scheme"] == "internet-facing" and alb["Type"] == "application"
    task = _one(primary, "AWS::ECS::TaskDefinition")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]}


def test_primary_security_groups_least_privilege(primary: dict[str, Any]) -> None:
    sgs = {k: v["Properties"] for k, v in _of_type(primary, "AWS::EC2::SecurityGroup").items()}
    open_to_world = [k for k, sg in sgs.items()
                     for rule in sg.get("SecurityGroupIngress", [])
                     if rule.get("CidrIp") == "0.0.0.0/0"]
    assert set(open_to_world) == {"LoadBalancerSecurityGroup"}
    expected_source = {"ServiceSecurityGroup": "LoadBalancerSecurityGroup",
                       "DatabaseSecurityGroup": "ServiceSecurityGroup",
                       "CacheSecurityGroup": "ServiceSecurityGroup",
                       "FileSystemSecurityGroup": "ServiceSecurityGroup"}
    for sg, source in expected_source.items():
        rules = sgs[sg]["SecurityGroupIngress"]
        assert [r["SourceSecurityGroupId"] for r in rules] == [{"Ref": source}], sg


def test_primary_alarms_and_dashboard(primary: dict[str, Any]) -> None:
    assert _has_alarm(primary, "AWS/RDS", "CPUUtilization", "GreaterThanThreshold", 80)
    assert _has_alarm(primary, "AWS/ApplicationELB", "HealthyHostCount", "LessThanThreshold", 1)
    assert _has_alarm(primary, "ECS/ContainerInsights", "RunningTaskCount",
                      "LessThanThreshold", 1)
    assert _of_type(primary, "AWS::CloudWatch::Dashboard")


def test_exports_are_named_after_the_stack(primary: dict[str, Any], dr: dict[str, Any]) -> None:
    for template in (primary, dr):
        for name, output in template["Outputs"].items():
            if "Export" in output:
                text = _sub_text(output["Export"]["Name"])
                assert text == f"${{AWS::StackName}}-{name}", name
    for required in ("DatabaseArn", "LoadBalancerDNSName", "DatabaseEndpoint",
                     "RedisPrimaryEndpoint"):
        assert "Export" in primary["Outputs"][required], required


# ------------------------------------------------------------------ names


@pytest.mark.parametrize("which", ["primary", "dr"])
def test_environment_suffix_in_every_resource_name(which: str, request: Any) -> None:
    template = request.getfixturevalue(which)
    assert suffix_violations(template) == []


def test_suffix_checker_can_fail() -> None:
    template = {"Resources": {
        "Good": {"Type": "AWS::ECS::Cluster",
                 "Properties": {"ClusterName": {"Fn::Sub": "c-${EnvironmentSuffix}"}}},
        "Literal": {"Type": "AWS::ECS::Cluster", "Properties": {"ClusterName": "c-dev"}},
        "Unset": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Untagged": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}},
    }}
    assert suffix_violations(template) == [
        "Literal.ClusterName", "Unset.TopicName", "Untagged.Tags.Name"]


@pytest.mark.parametrize("which", ["primary", "dr"])
def test_names_fit_service_limits_with_longest_suffix(which: str, request: Any) -> None:
    template = request.getfixturevalue(which)
    longest = "x" * int(template["Parameters"]["EnvironmentSuffix"]["MaxLength"])
    for logical, res in template["Resources"].items():
        prop, limit = NAME_PROPERTIES.get(res["Type"], (None, None))
        if prop is None or limit is None:
            continue
        text = _sub_text(res["Properties"][prop])
        assert text is not None
        rendered = text.replace(SUFFIX, longest)
        assert "${" not in rendered, f"{logical}: name uses more than the suffix"
        assert len(rendered) <= limit, f"{logical}.{prop} {rendered!r} exceeds {limit}"


# ------------------------------------------------------------------ DR stack facts


def test_dr_read_replica(dr: dict[str, Any]) -> None:
    assert "Default" not in dr["Parameters"]["PrimaryDBArn"]
    replica_res = next(iter(_of_type(dr, "AWS::RDS::DBInstance").values()))
    replica = replica_res["Properties"]
    assert replica["SourceDBInstanceIdentifier"] == {"Ref": "PrimaryDBArn"}
    assert replica["SourceRegion"] == {"Ref": "PrimaryRegion"}
    key_logical = replica["KmsKeyId"]["Fn::GetAtt"][0]
    assert dr["Resources"][key_logical]["Type"] == "AWS::KMS::Key"
    assert dr["Resources"][key_logical]["Properties"]["EnableKeyRotation"] is True
    # A replica cannot have its own credentials: they come from the source.
    assert "MasterUserPassword" not in replica and "MasterUsername" not in replica


def test_dr_replica_lag_alarm(dr: dict[str, Any]) -> None:
    assert _has_alarm(dr, "AWS/RDS", "ReplicaLag", "GreaterThanThreshold", 300)


def test_dr_service_scaled_down(dr: dict[str, Any]) -> None:
    svc = _one(dr, "AWS::ECS::Service")
    assert svc["DesiredCount"] == {"Ref": "DesiredCount"}
    assert int(dr["Parameters"]["DesiredCount"]["Default"]) in (0, 1)
    assert _one(dr, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Scheme"] == "internet-facing"


def test_dr_efs_replication_target(dr: dict[str, Any]) -> None:
    fs = _one(dr, "AWS::EFS::FileSystem")
    assert fs["FileSystemProtection"] == {"ReplicationOverwriteProtection": "DISABLED"}
    assert fs["Encrypted"] is True
    assert "ReplicationConfiguration" not in fs  # the target does not replicate onwards
    assert "ReplicationTargetFileSystemId" in dr["Outputs"]


# ------------------------------------------------------------------ docgen.yml


def test_config_stacks_and_wiring(config: dict[str, Any], primary: dict[str, Any],
                                  dr: dict[str, Any]) -> None:
    stacks = config["stacks"]
    assert stacks["primary"]["name"] == "StreamFlixDRPrimary${EnvironmentSuffix}"
    assert (stacks["primary"]["region"], stacks["primary"]["role"]) == ("eu-west-2", "primary")
    assert (stacks["dr"]["region"], stacks["dr"]["role"]) == ("us-east-1", "dr")
    assert (ROOT / stacks["primary"]["template"]).resolve() == PRIMARY
    assert (ROOT / stacks["dr"]["template"]).resolve() == DR
    wiring = stacks["dr"]["parameters"]["PrimaryDBArn"]
    assert wiring["stack"] == "primary"
    assert wiring["output"] in primary["Outputs"]
    assert "PrimaryDBArn" in dr["Parameters"]
    # The EFS destination Region of the primary is the DR stack's Region.
    assert primary["Parameters"]["DRRegion"]["Default"] == stacks["dr"]["region"]


def test_config_environments(config: dict[str, Any], primary: dict[str, Any],
                             dr: dict[str, Any]) -> None:
    templates = {"primary": primary, "dr": dr}
    declared = set(primary["Parameters"]) | set(dr["Parameters"])
    assert list(config["environments"]) == ["dev", "prod"]
    for env_name, env in config["environments"].items():
        assert set(env["parameters"]) <= declared, env_name
        assert env["parameters"]["EnvironmentSuffix"] == env_name
        # Secrets are references, never values.
        assert set(env["parameters"]["DBPassword"]) == {"ssm"}, env_name
        for sid, spec in env.get("stacks", {}).items():
            assert set(spec.get("parameters", {})) <= set(templates[sid]["Parameters"])


def test_config_dr_usage_site(config: dict[str, Any]) -> None:
    assert config["dr"]["rto_minutes"] == 15
    assert isinstance(config["dr"]["rpo_minutes"], int)
    assert {"name", "hosted_zone_id"} <= set(config["dr"]["dns"])
    assert config["usage"]["efs_storage_gb"] == 100
    assert config["site"]["mermaid"] == "local"
    assert config["paths"]["docs"] == "docs_src"
