"""Deployment order across stacks: exports/imports, docgen.yml wiring, nested stacks, cycles.

Why: the order is what an operator follows on day one; a wrong order fails the first
deployment (an import of an export that does not exist yet), and a cycle must be reported
as a clear error rather than producing a plausible-looking but impossible order. Each test
writes its own small multi-stack project (templates + docgen.yml) under tmp_path and goes
through the public API (docgen.generate.build) or the CLI (python -m docgen generate).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from docgen.analyse.order import analyse
from docgen.config import load_config
from docgen.diagnostics import DocgenError
from docgen.generate import build, load_stacks, stack_configs
from docgen.model import Handbook

try:
    from tests.awscli_model import check_markdown
except ImportError:  # pragma: no cover - the helper is optional
    check_markdown = None

REPO = Path(__file__).resolve().parents[1]


def write_project(root: Path, templates: dict[str, str], config: str) -> Path:
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    for name, body in templates.items():
        (root / "stacks" / name).write_text(textwrap.dedent(body), encoding="utf-8")
    (root / "docgen.yml").write_text(textwrap.dedent(config), encoding="utf-8")
    return root


def pages_of(root: Path) -> dict[str, str]:
    project = load_config(str(root / "docgen.yml"))
    result = build(project)
    assert not result.errors, result.errors
    return result.pages


def handbook_of(root: Path) -> Handbook:
    project = load_config(str(root / "docgen.yml"))
    configs, _ = stack_configs(project, None)
    stacks, diags, _ = load_stacks(configs)
    assert not [d for d in diags if d.is_error], diags
    return Handbook(project, tuple(stacks))


def run_generate(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "docgen", "generate"], cwd=root,
                          capture_output=True, text=True, timeout=120)


def assert_real_commands(text: str) -> None:
    if check_markdown is not None:
        problems = check_markdown(text)
        assert not problems, "\n".join(problems)


NETWORK = """\
    Parameters:
      Env: {Type: String, Default: dev}
    Resources:
      Vpc:
        Type: AWS::EC2::VPC
        Properties: {CidrBlock: 10.0.0.0/16}
    Outputs:
      VpcId:
        Value: !Ref Vpc
        Export: {Name: !Sub "${AWS::StackName}-VpcId"}
"""

APP = """\
    Parameters:
      Env: {Type: String, Default: dev}
    Resources:
      Group:
        Type: AWS::EC2::SecurityGroup
        Properties:
          GroupDescription: app
          VpcId: !ImportValue
            Fn::Sub: "net-${Env}-VpcId"
    Outputs:
      GroupId:
        Value: !Ref Group
        Export: {Name: !Sub "app-${Env}-GroupId"}
"""

DB = """\
    Parameters:
      Env: {Type: String, Default: dev}
    Resources:
      Group:
        Type: AWS::EC2::SecurityGroup
        Properties:
          GroupDescription: db
          VpcId: !ImportValue {"Fn::Sub": "net-${Env}-VpcId"}
          SecurityGroupIngress:
            - IpProtocol: tcp
              FromPort: 5432
              ToPort: 5432
              SourceSecurityGroupId: !ImportValue {"Fn::Sub": "app-${Env}-GroupId"}
"""

CHAIN_CONFIG = """\
    title: Order test
    stacks:
      db: {template: stacks/db.yaml, name: "db-${Env}", region: eu-west-1}
      app: {template: stacks/app.yaml, name: "app-${Env}", region: eu-west-1}
      net: {template: stacks/net.yaml, name: "net-${Env}", region: eu-west-1}
    environments:
      dev: {parameters: {Env: dev}}
      prod: {parameters: {Env: prod}}
"""


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    return write_project(tmp_path, {"net.yaml": NETWORK, "app.yaml": APP, "db.yaml": DB},
                         CHAIN_CONFIG)


def test_exports_and_imports_order_the_stacks(chain: Path) -> None:
    result = analyse(handbook_of(chain))
    # docgen.yml lists db, app, net: the imports reverse that
    assert result.order == ("net", "app", "db")
    pairs = {(e.before, e.after, e.detail) for e in result.edges}
    assert ("net", "app", "net-dev-VpcId") in pairs
    assert ("net", "app", "net-prod-VpcId") in pairs  # resolved per environment
    assert ("app", "db", "app-dev-GroupId") in pairs
    assert not result.dangling


def test_deployment_order_page_lists_graph_and_numbered_order(chain: Path) -> None:
    page = pages_of(chain)["deployment-order.md"]
    numbered = re.findall(r"^(\d+)\. \[([^\]]+)\]\((\w+)/deploy\.md\)", page, re.M)
    assert [sid for _, _, sid in numbered] == ["net", "app", "db"]
    assert "``` mermaid" in page and "flowchart LR" in page
    # net is S1, app S2, db S3: an arrow from the exporter to the importer
    assert re.search(r"S1 -->\|\"export net#45;dev#45;VpcId\"\| S2", page)
    assert re.search(r"S2 -->\|\"export app#45;dev#45;GroupId\"\| S3", page)
    # the copy-paste sequence deploys in order, per environment
    dev = page.split('=== "dev"')[1].split('=== "prod"')[0]
    names = re.findall(r"--stack-name (\S+)", dev)
    assert names == ["net-dev", "app-dev", "db-dev"]
    assert_real_commands(page)


def test_deploy_pages_name_what_comes_before_and_after(chain: Path) -> None:
    pages = pages_of(chain)
    app = pages["app/deploy.md"]
    assert "step 2 of 3" in app
    before = app.split("Depends on")[1].split("Needed by")[0]
    assert "<code>net</code>" in before and "net-dev-VpcId" in before
    after = app.split("Needed by")[1].split("##")[0]
    assert "<code>db</code>" in after
    net = pages["net/deploy.md"]
    assert "Depends on (deploy these first): no other stack" in net


CONSUMER_WIRED = """\
    Parameters:
      NetworkVpc: {Type: String}
      Label: {Type: String, Default: x}
    Resources:
      Topic: {Type: AWS::SNS::Topic}
"""

PRODUCER = """\
    Resources:
      Vpc:
        Type: AWS::EC2::VPC
        Properties: {CidrBlock: 10.0.0.0/16}
    Outputs:
      VpcId: {Value: !Ref Vpc}
"""


def test_config_wiring_orders_and_passes_the_output(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"consumer.yaml": CONSUMER_WIRED, "producer.yaml": PRODUCER},
                         """\
        stacks:
          consumer:
            template: stacks/consumer.yaml
            name: consumer-stack
            region: us-east-1
            parameters:
              NetworkVpc: {stack: producer, output: VpcId}
          producer: {template: stacks/producer.yaml, name: producer-stack, region: eu-west-1}
        """)
    result = analyse(handbook_of(root))
    assert result.order == ("producer", "consumer")
    assert [(e.kind, e.parameter, e.output) for e in result.edges] == [
        ("wiring", "NetworkVpc", "VpcId")]
    page = pages_of(root)["deployment-order.md"]
    seq = page.split("## Deploy everything, in order")[1]
    lookup = seq.index("NETWORK_VPC=$(aws cloudformation describe-stacks --stack-name producer-stack")
    assert seq.index("--stack-name producer-stack") < lookup < seq.index(
        "--stack-name consumer-stack")
    assert "OutputKey=='\"'\"'VpcId'\"'\"'" in seq
    assert 'NetworkVpc="${NETWORK_VPC}"' in seq
    assert "--region eu-west-1" in seq[lookup:lookup + 300]  # read where the producer lives
    assert_real_commands(page)


CYCLE_A = """\
    Resources:
      Topic: {Type: AWS::SNS::Topic}
      Queue:
        Type: AWS::SQS::Queue
        Properties: {QueueName: !ImportValue b-queue-name}
    Outputs:
      TopicArn: {Value: !Ref Topic, Export: {Name: a-topic}}
"""

CYCLE_B = """\
    Resources:
      Queue: {Type: AWS::SQS::Queue}
      Sub:
        Type: AWS::SNS::Subscription
        Properties: {TopicArn: !ImportValue a-topic, Protocol: sqs, Endpoint: x}
    Outputs:
      QueueName: {Value: !GetAtt Queue.QueueName, Export: {Name: b-queue-name}}
"""


def test_cycle_is_a_clean_cli_error(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"a.yaml": CYCLE_A, "b.yaml": CYCLE_B}, """\
        stacks:
          a: {template: stacks/a.yaml, name: stack-a}
          b: {template: stacks/b.yaml, name: stack-b}
        """)
    proc = run_generate(root)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    err = proc.stderr
    assert "cycle" in err
    assert "a -> b -> a" in err or "b -> a -> b" in err
    assert "b imports export 'a-topic' of a" in err
    assert "a imports export 'b-queue-name' of b" in err
    assert not (root / "docs_src" / "runbooks").exists()  # nothing half-written


def test_cycle_through_required_wiring_is_an_error(tmp_path: Path) -> None:
    one = "Parameters:\n  In: {Type: String}\nResources:\n  T: {Type: AWS::SNS::Topic}\n" \
          "Outputs:\n  Out: {Value: !Ref T}\n"
    root = write_project(tmp_path, {"x.yaml": one, "y.yaml": one}, """\
        stacks:
          x: {template: stacks/x.yaml, name: x, parameters: {In: {stack: y, output: Out}}}
          y: {template: stacks/y.yaml, name: y, parameters: {In: {stack: x, output: Out}}}
        """)
    with pytest.raises(DocgenError) as info:
        analyse(handbook_of(root))
    text = str(info.value)
    assert "parameter 'In' is wired to output 'Out'" in text and "docgen.yml" in text


def test_optional_wired_parameter_becomes_a_second_deployment(tmp_path: Path) -> None:
    first = "Parameters:\n  In: {Type: String, Default: ''}\nResources:\n  T: {Type: " \
            "AWS::SNS::Topic}\nOutputs:\n  Out: {Value: !Ref T}\n"
    second = "Parameters:\n  In: {Type: String}\nResources:\n  T: {Type: AWS::SNS::Topic}\n" \
             "Outputs:\n  Out: {Value: !Ref T}\n"
    root = write_project(tmp_path, {"x.yaml": first, "y.yaml": second}, """\
        stacks:
          x: {template: stacks/x.yaml, name: x, parameters: {In: {stack: y, output: Out}}}
          y: {template: stacks/y.yaml, name: y, parameters: {In: {stack: x, output: Out}}}
        """)
    result = analyse(handbook_of(root))
    assert result.order == ("x", "y")
    assert [(f.stack, f.parameter, f.from_stack) for f in result.follow_ups] == [("x", "In", "y")]
    page = pages_of(root)["deployment-order.md"]
    assert "## Second deployments" in page
    seq = page.split("## Deploy everything, in order")[1]
    deployed = re.findall(r"aws cloudformation deploy --template-file \S+ --stack-name (\S+)",
                          seq.split('```bash')[1])
    assert deployed == ["x", "y", "x"]
    first_deploy = seq.split("# 2.")[0]
    assert "In=" in first_deploy and "describe-stacks --stack-name y" not in first_deploy
    assert "-.->" in page  # dotted edge for the second deployment
    assert_real_commands(page)


def test_dangling_import_is_a_warning_naming_the_export(tmp_path: Path) -> None:
    lonely = "Resources:\n  G:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n" \
             "      GroupDescription: g\n      VpcId: !ImportValue shared-network-VpcId\n"
    root = write_project(tmp_path, {"lonely.yaml": lonely, "other.yaml": PRODUCER}, """\
        stacks:
          lonely: {template: stacks/lonely.yaml, name: lonely}
          other: {template: stacks/other.yaml, name: other}
        """)
    pages = pages_of(root)
    page = pages["deployment-order.md"]
    assert "## Warnings" in page
    warning = page.split("## Warnings")[1]
    assert "shared-network-VpcId" in warning
    assert "outside the handbook" in warning
    assert "shared-network-VpcId" in pages["lonely/deploy.md"].split("## Validate")[0]
    proc = run_generate(root)
    assert proc.returncode == 0, proc.stderr


def test_exports_are_regional(tmp_path: Path) -> None:
    importer = "Resources:\n  G:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n" \
               "      GroupDescription: g\n      VpcId: !ImportValue far-VpcId\n"
    root = write_project(tmp_path, {"imp.yaml": importer, "exp.yaml": NETWORK}, """\
        stacks:
          imp: {template: stacks/imp.yaml, name: imp, region: us-east-1}
          far: {template: stacks/exp.yaml, name: far, region: eu-west-1}
        """)
    result = analyse(handbook_of(root))
    assert not result.edges
    assert [d.names for d in result.dangling] == [("far-VpcId",)]


def test_import_with_unknown_parts_matches_one_exporter_by_pattern(tmp_path: Path) -> None:
    importer = """\
        Parameters:
          NetworkStackName: {Type: String}
        Resources:
          G:
            Type: AWS::EC2::SecurityGroup
            Properties:
              GroupDescription: g
              VpcId: {"Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-VpcId"}}
        """
    root = write_project(tmp_path, {"imp.yaml": importer, "net.yaml": NETWORK}, """\
        stacks:
          imp: {template: stacks/imp.yaml, name: imp}
          net: {template: stacks/net.yaml, name: core-network}
        """)
    result = analyse(handbook_of(root))
    assert result.order == ("net", "imp")
    assert [(e.detail, e.pattern) for e in result.edges] == [("core-network-VpcId", True)]


def test_nested_stack_of_another_handbook_stack(tmp_path: Path) -> None:
    parent = """\
        Resources:
          Child:
            Type: AWS::CloudFormation::Stack
            Properties: {TemplateURL: ./child.yaml}
        """
    child = "Resources:\n  T: {Type: AWS::SNS::Topic}\n"
    root = write_project(tmp_path, {"parent.yaml": parent, "child.yaml": child}, """\
        stacks:
          parent: {template: stacks/parent.yaml, name: parent}
          child: {template: stacks/child.yaml, name: child}
        """)
    result = analyse(handbook_of(root))
    assert result.order == ("child", "parent")
    assert result.parent_of("child") == ("parent", "Child")
    page = pages_of(root)["deployment-order.md"]
    assert "deployed by <code>parent</code> as its nested stack <code>Child</code>" in page
    seq = page.split("## Deploy everything, in order")[1]
    assert "--stack-name child" not in seq  # not deployed on its own
    assert "aws cloudformation package" in seq


def test_independent_stacks_keep_config_order(tmp_path: Path) -> None:
    root = write_project(tmp_path, {"p.yaml": PRODUCER, "q.yaml": PRODUCER}, """\
        stacks:
          q: {template: stacks/q.yaml, name: q}
          p: {template: stacks/p.yaml, name: p}
        """)
    result = analyse(handbook_of(root))
    assert result.order == ("q", "p")
    page = pages_of(root)["deployment-order.md"]
    assert "No stack needs another" in page
    assert "can be deployed at the same time" in page


def test_example_orders_primary_first_and_mentions_the_second_deployment() -> None:
    hb = handbook_of(REPO)
    result = analyse(hb)
    assert result.order == ("primary", "dr")
    assert any(e.kind == "wiring" and e.parameter == "PrimaryDBArn" for e in result.edges)
    second = [h for h in result.hints if h.second_pass]
    assert [(h.stack, h.parameter, h.from_stack, h.output) for h in second] == [
        ("primary", "EfsReplicationTargetId", "dr", "ReplicationTargetFileSystemId")]
    page = pages_of(REPO)["deployment-order.md"]
    assert "## Second deployments" in page
    assert 'EfsReplicationTargetId="${EFS_REPLICATION_TARGET_ID}"' in page
    assert_real_commands(page)


def test_order_is_deterministic(chain: Path) -> None:
    assert pages_of(chain)["deployment-order.md"] == pages_of(chain)["deployment-order.md"]
