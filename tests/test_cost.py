"""Cost estimate: the price table, the estimator and the cost pages.

Why these tests: an estimate is only useful if it is honest. They check that the example
deployment lands near the reference handbook's figures (SPEC.md section 2), that a price the
table does not know is shown as unknown (never guessed), that resources switched on by a
condition are costed only in the environments where the condition holds, that parameter
values are resolved per environment, and that a broken price file is refused with file and
line. The price-list reducer is run on small synthetic offer files in both formats.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from docgen.analyse.cost import estimate_handbook, resolve_usage
from docgen.config import load_config
from docgen.diagnostics import ConfigError, KnowledgeError
from docgen.generate import build
from docgen.knowledge.pricing import build_table, load_prices, parse_price_file

ROOT = Path(__file__).resolve().parent.parent

# Reference figures of SPEC.md section 2 (monthly USD) and the tolerance of the issue.
PRIMARY_RANGE = (241.0, 261.0)
DR_REFERENCE = 135.0
TOLERANCE = 0.15


def _build(root: Path):
    project = load_config(str(root / "docgen.yml"))
    result = build(project)
    assert result.handbook is not None, [str(d) for d in result.diagnostics]
    return result


@pytest.fixture(scope="module")
def example():
    return _build(ROOT)


@pytest.fixture(scope="module")
def example_estimates(example):
    hb = example.handbook
    return estimate_handbook(hb, load_prices(hb.project.knowledge_dir))


def _text(page: str) -> str:
    """Page text as a reader sees it: HTML entities and Markdown escapes undone."""
    return re.sub(r"\\(.)", r"\1", html.unescape(page))


def _est(estimates, env, stack_id):
    return next(e for e in estimates[env] if e.stack_id == stack_id)


# ----------------------------------------------------------------------------- example


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_example_primary_lands_in_reference_range(example_estimates, env):
    total = _est(example_estimates, env, "primary").total
    low, high = PRIMARY_RANGE
    assert low * (1 - TOLERANCE) <= total <= high * (1 + TOLERANCE), total


def test_example_dr_warm_standby_lands_near_reference(example_estimates):
    # prod keeps one standby task running: the reference's "warm ECS" line
    total = _est(example_estimates, "prod", "dr").total
    assert DR_REFERENCE * (1 - TOLERANCE) <= total <= DR_REFERENCE * (1 + TOLERANCE), total


def test_example_dr_dev_runs_no_task(example_estimates):
    dev = _est(example_estimates, "dev", "dr")
    service = next(r for r in dev.resources if r.type == "AWS::ECS::Service")
    assert service.monthly == 0
    prod = _est(example_estimates, "prod", "dr")
    assert next(r for r in prod.resources if r.type == "AWS::ECS::Service").monthly > 0


def test_example_multi_az_database_is_billed_twice(example_estimates):
    est = _est(example_estimates, "dev", "primary")
    db = next(r for r in est.resources if r.type == "AWS::RDS::DBInstance")
    instance = db.components[0]
    assert instance.quantity == 2 * 730
    assert instance.price is not None and instance.price.region == "eu-west-2"


def test_example_cross_region_replica_transfer_billed_in_source_region(example_estimates):
    est = _est(example_estimates, "prod", "dr")
    regions = dict(est.by_region())
    assert set(regions) == {"us-east-1", "eu-west-2"}
    replica = next(r for r in est.resources if r.type == "AWS::RDS::DBInstance")
    # storage follows the source database in the primary stack (prod: 100 GB)
    storage = next(c for c in replica.components if c.name.startswith("Storage"))
    assert storage.quantity == 100


def test_example_pages_show_date_assumptions_and_unknowns(example):
    page = _text(example.pages["primary/cost.md"])
    table = load_prices()
    assert table.published in page
    assert "730 hours" in page
    assert 'Share of EFS data' in page
    assert "=== \"dev\"" in page and "=== \"prod\"" in page
    summary = _text(example.pages["cost.md"])
    assert table.published in summary
    assert "primary/cost.md" in summary and "dr/cost.md" in summary
    assert "eu-west-2" in summary and "us-east-1" in summary


def test_cost_is_the_last_stack_page():
    from docgen.pages.registry import HANDBOOK_PAGES, STACK_PAGES

    assert STACK_PAGES[-1].slug == "cost"
    assert any(p.slug == "cost" for p in HANDBOOK_PAGES)


# ----------------------------------------------------------------------------- own stacks

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Env:
    Type: String
    Default: dev
  DBClass:
    Type: String
    Default: db.t3.micro
  Mystery:
    Type: String
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsMystery: !Equals [!Ref Mystery, "yes"]
Resources:
  Db:
    Type: AWS::RDS::DBInstance
    Properties:
      Engine: postgres
      DBInstanceClass: !Ref DBClass
      AllocatedStorage: "20"
      StorageType: gp2
      MultiAZ: !If [IsProd, true, false]
  Nat:
    Type: AWS::EC2::NatGateway
    Condition: IsProd
    Properties:
      SubnetId: subnet-123
  Odd:
    Type: AWS::EC2::NatGateway
    Condition: IsMystery
    Properties:
      SubnetId: subnet-123
  Weird:
    Type: AWS::RDS::DBInstance
    Properties:
      Engine: postgres
      DBInstanceClass: db.x99.huge
      AllocatedStorage: 20
  Bucket:
    Type: AWS::S3::Bucket
  Thing:
    Type: AWS::Made::Up
"""


def _project(tmp_path: Path, config: str, template: str = TEMPLATE,
             prices: str | None = None) -> Path:
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "app.yaml").write_text(template)
    (tmp_path / "docgen.yml").write_text(textwrap.dedent(config))
    if prices is not None:
        (tmp_path / "kb" / "prices").mkdir(parents=True)
        (tmp_path / "kb" / "prices" / "extra.yml").write_text(textwrap.dedent(prices))
    return tmp_path


CONFIG = """\
    title: Test
    paths: {templates: stacks, docs: docs}
    stacks:
      app:
        template: stacks/app.yaml
        name: App-${Env}
        region: us-east-1
    environments:
      dev:
        parameters: {Env: dev}
      prod:
        parameters: {Env: prod, DBClass: db.m5.large}
"""


@pytest.fixture
def own(tmp_path):
    result = _build(_project(tmp_path, CONFIG))
    return result, estimate_handbook(result.handbook, load_prices())


def _res(est, lid):
    return next(r for r in est.resources if r.logical_id == lid)


def test_condition_switched_resource_is_costed_per_environment(own):
    _, estimates = own
    dev, prod = estimates["dev"][0], estimates["prod"][0]
    assert _res(dev, "Nat").state == "off"
    assert _res(prod, "Nat").state == "on"
    nat = _res(prod, "Nat").monthly
    assert nat == pytest.approx(730 * 0.045 + 100 * 0.045)
    assert "Nat" not in {r.logical_id for r in dev.counted}
    # a condition on a parameter with no value anywhere: "depends", never in the total
    odd = _res(prod, "Odd")
    assert odd.state == "depends"
    assert prod.depends_total == pytest.approx(odd.monthly)
    assert odd not in prod.counted


def test_parameter_values_and_if_resolved_per_environment(own):
    _, estimates = own
    dev_db = _res(estimates["dev"][0], "Db")
    prod_db = _res(estimates["prod"][0], "Db")
    assert dev_db.components[0].price_id == "rds.instance.postgres.db.t3.micro"
    assert dev_db.components[0].quantity == 730          # Single-AZ in dev (Fn::If)
    assert prod_db.components[0].price_id == "rds.instance.postgres.db.m5.large"
    assert prod_db.components[0].quantity == 2 * 730     # Multi-AZ in prod
    assert prod_db.monthly == pytest.approx(2 * 730 * 0.178 + 2 * 20 * 0.115)


def test_unknown_instance_class_shows_unknown(own):
    result, estimates = own
    weird = _res(estimates["dev"][0], "Weird")
    instance = weird.components[0]
    assert instance.status == "unknown" and instance.monthly is None
    assert (weird, instance) in estimates["dev"][0].unknown_components
    page = _text(result.pages["app/cost.md"])
    row = next(line for line in page.splitlines() if "db.x99.huge" in line and "|" in line)
    assert row.rstrip().endswith("| unknown | unknown |")
    assert "Unknown prices" in page


def test_usage_based_and_unmodelled_types_are_listed_not_priced(own):
    result, estimates = own
    est = estimates["dev"][0]
    assert _res(est, "Bucket").kind == "usage-based" and not _res(est, "Bucket").components
    assert _res(est, "Thing").kind == "not-estimated"
    page = _text(result.pages["app/cost.md"])
    assert "Usage-based, not estimated" in page and "AWS::Made::Up" in page


def test_usage_settings_change_the_estimate(tmp_path):
    config = CONFIG + "    usage:\n      nat_gateway_data_gb: 1000\n      s3_storage_gb: 50\n"
    result = _build(_project(tmp_path, config))
    est = estimate_handbook(result.handbook, load_prices())["prod"][0]
    assert _res(est, "Nat").monthly == pytest.approx(730 * 0.045 + 1000 * 0.045)
    assert _res(est, "Bucket").monthly == pytest.approx(50 * 0.023)
    sources = {a.label: a.source for a in est.assumptions}
    assert sources["Data processed by each NAT gateway per month"] == "docgen.yml usage"


def test_bad_usage_key_is_an_error_with_a_line(tmp_path):
    config = CONFIG + "    usage:\n      efs_storge_gb: 5\n"
    root = _project(tmp_path, config)
    project = load_config(str(root / "docgen.yml"))
    with pytest.raises(ConfigError) as err:
        resolve_usage(project.usage, "app", project.config_path)
    diag = err.value.diagnostics[0]
    assert diag.line == len(config.splitlines()) and "efs_storge_gb" in diag.message


def test_project_price_file_overrides_and_extends(tmp_path):
    prices = """\
        schema: docgen-prices/1
        table: {title: Team prices, currency: USD, published: "2025-01-15", method: test}
        prices:
          - id: rds.instance.postgres.db.x99.huge
            service: AmazonRDS
            family: Database Instance
            usage: InstanceUsage:db.x99.huge
            unit: hour
            published: "2025-01-15"
            source: https://aws.amazon.com/rds/postgresql/pricing/
            usd: {us-east-1: 1.5}
    """
    config = CONFIG.replace("paths: {templates: stacks, docs: docs}",
                            "paths: {templates: stacks, docs: docs, knowledge: kb}")
    result = _build(_project(tmp_path, config, prices=prices))
    weird = _res(estimate_handbook(result.handbook, load_prices(
        result.handbook.project.knowledge_dir))["dev"][0], "Weird")
    assert weird.components[0].monthly == pytest.approx(730 * 1.5)
    page = _text(result.pages["app/cost.md"])
    assert "2025-01-15" in page and "extra.yml" in page


# ----------------------------------------------------------------------------- price files


def test_builtin_table_is_valid_and_dated():
    table = load_prices()
    assert table.published == "2024-06"
    for region in ("eu-west-2", "us-east-1", "us-west-2", "eu-west-1", "eu-central-1",
                   "ap-southeast-1", "ap-northeast-1"):
        for pid in ("fargate.vcpu.linux-x86", "efs.storage.standard", "elb.application.hour",
                    "vpc.nat.hour", "kms.key", "cloudwatch.alarm.standard", "ebs.gp3",
                    "rds.storage.gp3", "transfer.inter-az", "transfer.inter-region"):
            price = table.get(pid, region)
            assert price is not None and price.source.startswith("https://"), (pid, region)
    assert table.get("rds.instance.postgres.db.r6g.large", "us-east-1") is not None
    assert table.get("elasticache.node.cache.t4g.micro", "us-west-2") is not None


BROKEN = """\
schema: docgen-prices/1
table:
  title: Broken
  currency: USD
  published: "2024-13"
  method: by hand
prices:
  - id: kms.key
    service: awskms
    family: Encryption Key
    usage: KMS-Keys
    unit: key-month
    published: "2024-06"
    source: https://aws.amazon.com/kms/pricing/
    usd: {us-east-1: -1}
  - id: kms.key
    service: awskms
    family: Encryption Key
    usage: KMS-Keys
    unit: key-month
    published: "2024-06"
    source: somewhere
    usd: {us-east-1: 1, eu-west-2: TBD}
  - id: cloudwatch.dashboard
    service: AmazonCloudWatch
    usage: DashboardsUsageHour
    unit: dashboard-month
    published: "2024-06"
    source: https://aws.amazon.com/cloudwatch/pricing/
    colour: blue
    usd: {us-east-1: 3}
"""


def test_broken_price_file_is_refused_with_file_and_line(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text(BROKEN)
    info, prices, diags = parse_price_file(str(path))
    assert info is None and prices == []
    found = {(d.line, d.message.split(":")[0]) for d in diags}
    assert (5, "table.published") in found                  # month 13
    assert (15, "prices[0].usd.us-east-1") in found         # negative price
    assert (16, "prices[1].id") in found                    # duplicate id
    assert (22, "prices[1].source") in found                # not a URL
    assert (23, "prices[1].usd.eu-west-2") in found         # a guess written as text
    assert any(d.line == 30 and "unknown key 'colour'" in d.message for d in diags)
    assert any("missing required key 'family'" in d.message for d in diags)
    assert all(d.file == str(path) for d in diags)
    with pytest.raises(KnowledgeError) as err:
        build_table([str(path)])
    assert f"{path}:5:1:" in err.value.format()


def test_price_file_with_yaml_error_names_the_line(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text("schema: docgen-prices/1\ntable: [\n")
    _, _, diags = parse_price_file(str(path))
    assert diags and diags[0].file == str(path) and diags[0].line >= 2


# ----------------------------------------------------------------------------- reducer

OFFER_JSON = {
    "formatVersion": "v1.0", "offerCode": "AmazonRDS", "publicationDate": "2025-03-01T00:00:00Z",
    "products": {
        "A": {"sku": "A", "productFamily": "Database Instance", "attributes": {
            "regionCode": "eu-west-2", "instanceType": "db.t3.medium", "databaseEngine":
                "PostgreSQL", "deploymentOption": "Single-AZ", "licenseModel":
                "No license required", "usagetype": "EUW2-InstanceUsage:db.t3.medium"}},
        "B": {"sku": "B", "productFamily": "Database Instance", "attributes": {
            "regionCode": "eu-west-2", "instanceType": "db.t3.medium", "databaseEngine":
                "PostgreSQL", "deploymentOption": "Multi-AZ", "licenseModel":
                "No license required", "usagetype": "EUW2-Multi-AZUsage:db.t3.medium"}},
        "C": {"sku": "C", "productFamily": "Database Instance", "attributes": {
            "regionCode": "sa-east-1", "instanceType": "db.t3.medium", "databaseEngine":
                "PostgreSQL", "deploymentOption": "Single-AZ", "licenseModel":
                "No license required", "usagetype": "SAE1-InstanceUsage:db.t3.medium"}},
        "D": {"sku": "D", "productFamily": "Database Storage", "attributes": {
            "location": "EU (London)", "usagetype": "EUW2-RDS:GP3-Storage",
            "deploymentOption": "Single-AZ", "databaseEngine": "Any"}},
        "E": {"sku": "E", "productFamily": "Database Instance", "attributes": {
            "regionCode": "eu-west-2", "instanceType": "db.x2iedn.32xlarge", "databaseEngine":
                "PostgreSQL", "deploymentOption": "Single-AZ", "licenseModel":
                "No license required", "usagetype": "EUW2-InstanceUsage:db.x2iedn.32xlarge"}},
    },
    "terms": {"OnDemand": {
        sku: {f"{sku}.T": {"priceDimensions": {f"{sku}.T.R": {
            "unit": unit, "pricePerUnit": {"USD": usd}, "beginRange": "0"}}}}
        for sku, unit, usd in (("A", "Hrs", "0.0820000000"), ("B", "Hrs", "0.1640000000"),
                               ("C", "Hrs", "0.1100000000"), ("D", "GB-Mo", "0.1330000000"),
                               ("E", "Hrs", "30.0000000000"))
    }},
}

OFFER_CSV = """\
"FormatVersion","v1.0"
"Disclaimer","test"
"Publication Date","2025-02-01T00:00:00Z"
"Version","20250201"
"OfferCode","AmazonElastiCache"
"SKU","OfferTermCode","RateCode","TermType","PriceDescription","EffectiveDate","StartingRange","EndingRange","Unit","PricePerUnit","Currency","Product Family","Location","Instance Type","Cache Engine","usageType","Region Code"
"X","JRTCKXETXF","X.1","OnDemand","node","2025-02-01","0","Inf","Hrs","0.0180000000","USD","Cache Instance","EU (London)","cache.t3.micro","Redis","EUW2-NodeUsage:cache.t3.micro","eu-west-2"
"X","RES","X.2","Reserved","node","2025-02-01","0","Inf","Hrs","0.0100000000","USD","Cache Instance","EU (London)","cache.t3.micro","Redis","EUW2-NodeUsage:cache.t3.micro","eu-west-2"
"Y","JRTCKXETXF","Y.1","OnDemand","node","2025-02-01","0","Inf","Hrs","0.0140000000","USD","Cache Instance","EU (London)","cache.t3.micro","Valkey","EUW2-NodeUsage:cache.t3.micro","eu-west-2"
"""


def test_reduce_prices_json_and_csv_offers(tmp_path):
    (tmp_path / "rds.json").write_text(json.dumps(OFFER_JSON))
    (tmp_path / "cache.csv").write_text(OFFER_CSV)
    out = tmp_path / "reduced.yml"
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "reduce_prices.py"),
                           str(tmp_path / "rds.json"), str(tmp_path / "cache.csv"),
                           "-o", str(out)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    info, prices, diags = parse_price_file(str(out))
    assert not diags and info is not None and info.published == "2025-03-01"
    got = {(p.id, p.region): p.usd for p in prices}
    assert got == {
        ("rds.instance.postgres.db.t3.medium", "eu-west-2"): 0.082,   # Single-AZ only
        ("rds.storage.gp3", "eu-west-2"): 0.133,                       # region from location
        ("elasticache.node.cache.t3.micro", "eu-west-2"): 0.018,       # on-demand term only
        ("elasticache.valkey.node.cache.t3.micro", "eu-west-2"): 0.014,
    }  # sa-east-1 (region not asked for) and db.x2iedn (family not covered) are left out


def test_no_environments_and_no_region_everything_unknown(tmp_path):
    config = """\
        title: Test
        paths: {templates: stacks, docs: docs}
        stacks:
          app:
            template: stacks/app.yaml
            name: App
    """
    result = _build(_project(tmp_path, config))
    estimates = estimate_handbook(result.handbook, load_prices())
    assert list(estimates) == [None]
    est = estimates[None][0]
    assert est.total == 0 and est.unknown_components
    page = _text(result.pages["app/cost.md"])
    assert "no `region` in `docgen.yml`" in page and '=== "' not in page
    assert "Estimated monthly total" in result.pages["cost.md"]


def test_assumptions_of_switched_off_resources_are_not_listed(tmp_path):
    template = TEMPLATE.replace("    Condition: IsMystery\n", "    Condition: IsProd\n")
    result = _build(_project(tmp_path, CONFIG, template=template))
    estimates = estimate_handbook(result.handbook, load_prices())
    nat = "Data processed by each NAT gateway per month"
    assert nat not in {a.label for a in estimates["dev"][0].assumptions}   # off in dev
    assert nat in {a.label for a in estimates["prod"][0].assumptions}      # on in prod


MODELS_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Cache:
    Type: AWS::ElastiCache::ReplicationGroup
    Properties:
      ReplicationGroupDescription: sharded
      CacheNodeType: cache.r6g.large
      NumNodeGroups: 2
      ReplicasPerNodeGroup: 1
      MultiAZEnabled: true
  Files:
    Type: AWS::EFS::FileSystem
    Properties:
      ReplicationConfiguration:
        Destinations:
          - Region: eu-west-1
  Arm:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Cpu: "1 vCPU"
      Memory: "2 GB"
      RequiresCompatibilities: [FARGATE]
      RuntimePlatform: {CpuArchitecture: ARM64, OperatingSystemFamily: LINUX}
  Svc:
    Type: AWS::ECS::Service
    Properties:
      LaunchType: FARGATE
      TaskDefinition: !Ref Arm
      DesiredCount: 3
  Lb:
    Type: AWS::ElasticLoadBalancingV2::LoadBalancer
    Properties:
      Type: network
      Scheme: internal
"""


def test_component_models(tmp_path):
    config = """\
        title: Test
        paths: {templates: stacks, docs: docs}
        stacks:
          app: {template: stacks/app.yaml, name: App, region: us-east-1}
    """
    result = _build(_project(tmp_path, config, template=MODELS_TEMPLATE))
    est = estimate_handbook(result.handbook, load_prices())[None][0]
    cache = _res(est, "Cache").components[0]
    assert cache.quantity == 4 * 730 and cache.monthly == pytest.approx(4 * 730 * 0.206)
    files = {c.name.split(" (")[0]: c for c in _res(est, "Files").components}
    replica = files["Replica file system storage in eu-west-1"]
    assert replica.region == "eu-west-1" and replica.monthly == pytest.approx(100 * 0.33)
    assert files["Replication traffic to eu-west-1"].price.region == "us-east-1"
    svc = _res(est, "Svc").components
    assert svc[0].price_id == "fargate.vcpu.linux-arm" and svc[0].quantity == 3 * 1 * 730
    assert svc[1].quantity == 3 * 2 * 730 and len(svc) == 2       # no public IP
    lb = _res(est, "Lb").components
    assert [c.price_id for c in lb] == ["elb.network.hour", "elb.network.nlcu"]  # internal
    # the sharded, Multi-AZ cache drives inter-AZ transfer
    assert any(r.service == "Data transfer" and r.type == "" for r in est.resources)


# ----------------------------------------------------------------------------- robustness

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from docgen.analyse.cost import MODELS, estimate_template  # noqa: E402
from docgen.model import Location, Resource, Template  # noqa: E402

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5000), st.floats(-1, 1e4),
                     st.sampled_from(["", "gp3", "db.t3.micro", "cache.t3.micro", "FARGATE",
                                      "ENABLED", "application", "network", "postgres", "512",
                                      "1 GB", "ARM64", "eu-west-1", "arn:aws:rds:eu-west-2:1:db:x"]))
_intrinsics = st.sampled_from([{"Ref": "Missing"}, {"Ref": "AWS::NoValue"},
                               {"Fn::GetAtt": ["X", "Arn"]},
                               {"Fn::If": ["Nope", 1, {"Ref": "AWS::NoValue"}]},
                               {"Fn::Sub": "${Missing}"}])
_values = st.recursive(st.one_of(_scalars, _intrinsics),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(st.sampled_from([
                                                   "Region", "FileSystemId", "MetricStat",
                                                   "Period", "Ebs", "VolumeSize", "ReplicaCount",
                                                   "AwsvpcConfiguration", "AssignPublicIp",
                                                   "TransitionToIA", "Name", "Value"]),
                                                   inner, max_size=3)), max_leaves=8)
_PROPS = ["Engine", "DBInstanceClass", "MultiAZ", "AllocatedStorage", "StorageType", "Iops",
          "SourceDBInstanceIdentifier", "CacheNodeType", "NumCacheClusters", "NumNodeGroups",
          "ReplicasPerNodeGroup", "NodeGroupConfiguration", "NumCacheNodes",
          "LifecyclePolicies", "ThroughputMode", "ReplicationConfiguration", "TaskDefinition",
          "LaunchType", "DesiredCount", "NetworkConfiguration", "CapacityProviderStrategy",
          "Type", "Scheme", "Subnets", "Size", "VolumeType", "InstanceType",
          "BlockDeviceMappings", "Metrics", "Period", "ClusterSettings", "EnableKeyRotation"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rtype=st.sampled_from(sorted(MODELS)),
       props=st.dictionaries(st.sampled_from(_PROPS), _values, max_size=6))
def test_estimator_never_crashes_on_odd_properties(rtype, props):
    res = Resource("R", rtype, Location("t.yaml", 1), props)
    template = Template("t.yaml", "yaml", {}, resources=(res,))
    usage = resolve_usage({}, None)
    est = estimate_template(template, "us-east-1", {}, usage, load_prices())
    assert len(est.resources) >= 1
    for comp in est.resources[0].components:
        assert comp.monthly is None or comp.monthly >= 0
