"""Handbook-wide surface facts from per-stack parts (``docgen.analyse.surface``).

Why: the deployment order and the "imported by" column read every stack of the handbook.
A process that parses a template should be able to send only that stack's small part
(``StackSurface``) to the process that computes them, which then never parses the other
templates. So ``order.analyse`` and ``outputs.imported_values`` must give exactly the same
answers on a handbook whose templates cannot be read at all, once it is seeded with the
parts computed elsewhere -- including in another process with another string hash seed
(the words of descriptions are frozensets) -- and the parts must survive pickling.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from docgen.analyse import surface
from docgen.analyse.order import analyse
from docgen.config import load_config
from docgen.diagnostics import DocgenError
from docgen.generate import default_project, load_stacks, stack_configs
from docgen.model import Handbook, ProjectConfig, Stack
from docgen.pages.outputs import imported_values, importers
from tests.conftest import CORPUS_REAL, requires_corpus

REPO = Path(__file__).resolve().parents[1]


class _NoTemplate(Stack):
    """A stack whose template cannot be read (as in a process that never parsed it)."""

    __slots__ = ()

    @property  # type: ignore[override]
    def template(self) -> Any:
        raise AssertionError(f"the template of stack {self.config.id!r} was read")


def _opaque(stack: Stack) -> Stack:
    st = object.__new__(_NoTemplate)
    object.__setattr__(st, "config", stack.config)
    return st


def _load(project: ProjectConfig, paths: list[str] | None = None) -> Handbook:
    configs, _ = stack_configs(project, paths)
    stacks, diags, invalid = load_stacks(configs)
    if paths is None:
        assert not [d for d in diags if d.is_error], diags
        assert not invalid
    return Handbook(project, tuple(stacks))


def _write(root: Path, templates: dict[str, str], config: str) -> Path:
    (root / "stacks").mkdir(parents=True, exist_ok=True)
    for name, body in templates.items():
        (root / "stacks" / name).write_text(textwrap.dedent(body), encoding="utf-8")
    (root / "docgen.yml").write_text(textwrap.dedent(config), encoding="utf-8")
    return root


def _outcome(hb: Handbook) -> tuple[Any, Any]:
    """What the two surface facts give (or the error the order raises)."""
    try:
        order: Any = analyse(hb)
    except DocgenError as exc:
        order = ("DocgenError", str(exc))
    return order, imported_values(hb)


def _seeded(hb: Handbook, parts: tuple[surface.StackSurface, ...]) -> Handbook:
    """The same stacks, templates unreadable, seeded with parts computed elsewhere."""
    blind = Handbook(hb.project, tuple(_opaque(st) for st in hb.stacks))
    blind.seed(surface.SURFACES, parts)
    return blind


def _check(fresh: Handbook, other: Handbook) -> tuple[Any, Any]:
    """(a) same answers from seeded parts; (b) the parts pickle and unpickle equal."""
    parts = surface.surfaces(other)  # computed from another handbook of the same stacks
    assert len(parts) == len(other.stacks)
    assert all(type(p) is surface.StackSurface for p in parts)
    assert pickle.loads(pickle.dumps(parts)) == parts
    expected = _outcome(fresh)
    assert _outcome(_seeded(fresh, pickle.loads(pickle.dumps(parts)))) == expected
    return expected


def _twice(load: Any) -> tuple[Handbook, Handbook]:
    return load(), load()


# --- a synthetic handbook covering every rule ----------------------------------------------

NET = """\
    Parameters:
      Env: {Type: String, Default: dev}
    Conditions:
      IsProd: !Equals [!Ref Env, prod]
    Mappings:
      Names: {dev: {Suffix: d}, prod: {Suffix: p}}
    Resources:
      Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}
    Outputs:
      VpcId:
        Description: The VPC of the network.
        Value: !Ref Vpc
        Export: {Name: !Sub "${AWS::StackName}-VpcId"}
      ProdOnly:
        Condition: IsProd
        Value: !Ref Vpc
        Export: {Name: net-prod-only}
      Mapped:
        Value: !Ref Vpc
        Export: {Name: !Join ["-", [mapped, !FindInMap [Names, !Ref Env, Suffix]]]}
      ReplicationTargetId:
        Description: The replication target.
        Value: !Ref Vpc
      LogBucketOut:
        Description: Give it to the db stack as its parameter ArchiveBucketName.
        Value: !Ref Vpc
"""

APP = """\
    Parameters:
      Env: {Type: String, Default: dev}
      TargetRef:
        Type: String
        Default: ""
        Description: Fill with the output ReplicationTargetId of the network stack.
      Plain: {Type: String, Description: "Names ReplicationTargetId but has no default"}
    Conditions:
      IsProd: !Equals [!Ref Env, prod]
    Resources:
      Group:
        Type: AWS::EC2::SecurityGroup
        Properties:
          GroupDescription: app
          VpcId: !ImportValue {"Fn::Sub": "net-${Env}-VpcId"}
          Tags:
            - Key: only
              Value: !ImportValue {"Fn::If": [IsProd, net-prod-only, mapped-d]}
    Outputs:
      GroupId: {Value: !Ref Group, Export: {Name: !Sub "app-${Env}-GroupId"}}
"""

DB = """\
    Parameters:
      Env: {Type: String, Default: dev}
      ArchiveBucketName: {Type: String, Default: "", Description: Where old rows go.}
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

SELFISH = """\
    Resources:
      Topic: {Type: AWS::SNS::Topic}
      Queue:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: !ImportValue selfish-x
          Tags:
            - {Key: shared, Value: !ImportValue twin-shared}
    Outputs:
      TopicArn: {Value: !Ref Topic, Export: {Name: selfish-x}}
"""

TWIN = """\
    Resources:
      Topic: {Type: AWS::SNS::Topic}
    Outputs:
      TopicArn: {Value: !Ref Topic, Export: {Name: twin-shared}}
"""

ANYWHERE = """\
    Resources:
      Topic: {Type: AWS::SNS::Topic}
    Outputs:
      TopicArn: {Value: !Ref Topic, Export: {Name: anywhere-thing}}
"""

FARIMP = """\
    Resources:
      Queue:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: !ImportValue anywhere-thing
          Tags:
            - {Key: vpc, Value: !ImportValue net-dev-VpcId}
"""

PATTERNS = """\
    Parameters:
      NetworkStackName: {Type: String}
      Unknown: {Type: String}
    Resources:
      Group:
        Type: AWS::EC2::SecurityGroup
        Properties:
          GroupDescription: patterns
          VpcId: !ImportValue {"Fn::Sub": "${NetworkStackName}-VpcId"}
          Tags:
            - Key: join
              Value: !ImportValue {"Fn::Join": ["-", [!Ref Unknown, GroupId]]}
            - Key: nothing-known
              Value: !ImportValue {"Fn::Sub": "${Unknown}"}
            - Key: no-match
              Value: !ImportValue {"Fn::Sub": ["${A}-thing-${Unknown}", {A: nobody}]}
"""

PARENT = """\
    Resources:
      Child:
        Type: AWS::CloudFormation::Stack
        Properties: {TemplateURL: ./child.yaml}
"""

CHILD = "Resources:\n  T: {Type: AWS::SNS::Topic}\n"

CONSUMER = """\
    Parameters:
      NetworkVpc: {Type: String}
    Resources:
      T: {Type: AWS::SNS::Topic}
    Outputs:
      Out: {Value: !Ref T}
"""

PRODUCER = """\
    Parameters:
      In: {Type: String, Default: none}
    Resources:
      Vpc: {Type: AWS::EC2::VPC, Properties: {CidrBlock: 10.0.0.0/16}}
    Outputs:
      VpcId: {Value: !Ref Vpc}
"""

CONFIG = """\
    title: Surface parts
    stacks:
      net: {template: stacks/net.yaml, name: "net-${Env}", region: eu-west-1}
      app: {template: stacks/app.yaml, name: "app-${Env}", region: eu-west-1}
      db: {template: stacks/db.yaml, name: "db-${Env}", region: eu-west-1}
      selfish: {template: stacks/selfish.yaml, name: selfish, region: eu-west-1}
      twin1: {template: stacks/twin1.yaml, name: twin-one, region: eu-west-1}
      twin2: {template: stacks/twin2.yaml, name: twin-two, region: eu-west-1}
      anywhere: {template: stacks/anywhere.yaml, name: anywhere}
      farimp: {template: stacks/farimp.yaml, name: farimp, region: us-east-1}
      patterns: {template: stacks/patterns.yaml, name: patterns, region: eu-west-1}
      parent: {template: stacks/parent.yaml, name: parent, region: eu-west-1}
      child: {template: stacks/child.yaml, name: child, region: eu-west-1}
      consumer:
        template: stacks/consumer.yaml
        name: consumer
        region: eu-west-1
        parameters:
          NetworkVpc: {stack: producer, output: VpcId}
          Missing: {stack: producer, output: Nope}
      producer:
        template: stacks/producer.yaml
        name: producer
        region: eu-west-1
        parameters:
          In: {stack: consumer, output: Out}
    environments:
      dev: {parameters: {Env: dev}}
      prod: {parameters: {Env: prod}}
"""

TEMPLATES = {"net.yaml": NET, "app.yaml": APP, "db.yaml": DB, "selfish.yaml": SELFISH,
             "twin1.yaml": TWIN, "twin2.yaml": TWIN, "anywhere.yaml": ANYWHERE,
             "farimp.yaml": FARIMP, "patterns.yaml": PATTERNS, "parent.yaml": PARENT,
             "child.yaml": CHILD, "consumer.yaml": CONSUMER, "producer.yaml": PRODUCER}


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    return _write(tmp_path, TEMPLATES, CONFIG)


def test_synthetic_handbook_same_answers_from_seeded_parts(synthetic: Path) -> None:
    fresh, other = _twice(lambda: _load(load_config(str(synthetic / "docgen.yml"))))
    order, imported = _check(fresh, other)
    # the handbook really exercises every rule (else the comparison proves little)
    messages = [w.message for w in order.warnings]
    assert any(m.startswith("imports its own export 'selfish-x'") for m in messages)
    assert any("exported by several stacks in the same region (twin1, twin2)" in m
               for m in messages)
    assert any("wires parameter 'Missing'" in m for m in messages)
    assert any("output 'Nope'" in m for m in messages)
    edges = {(e.before, e.after, e.kind, e.detail, e.pattern) for e in order.edges}
    assert {("net", "app", "export", "net-dev-VpcId", False),
            ("net", "app", "export", "net-prod-only", False),  # Fn::If: prod only
            ("net", "app", "export", "mapped-d", False),  # Fn::If + FindInMap: dev
            ("app", "db", "export", "app-prod-GroupId", False),
            ("anywhere", "farimp", "export", "anywhere-thing", False),
            ("net", "patterns", "export", "net-dev-VpcId", True),
            ("app", "patterns", "export", "app-dev-GroupId", True),
            ("child", "parent", "nested", "Child", False),
            ("producer", "consumer", "wiring", "VpcId -> NetworkVpc", False)} <= edges
    dangling = {(d.stack, d.names) for d in order.dangling}
    assert ("farimp", ("net-dev-VpcId",)) in dangling  # exports are regional
    assert ("patterns", ()) in dangling
    assert [(f.stack, f.parameter, f.from_stack) for f in order.follow_ups] == [
        ("producer", "In", "consumer")]
    assert [(h.stack, h.parameter, h.from_stack, h.output) for h in order.hints] == [
        ("app", "TargetRef", "net", "ReplicationTargetId"),
        ("db", "ArchiveBucketName", "net", "LogBucketOut")]
    assert order.nested_in == (("child", "parent", "Child"),)
    # imported_values evaluates without conditions: the Fn::If import is not known there
    assert dict(imported)["app"] == ["net-dev-VpcId", "net-prod-VpcId"]
    assert dict(imported)["patterns"] == []


def test_seeded_parts_are_what_the_analyses_read(synthetic: Path) -> None:
    """The seeded value is used (not recomputed): emptied parts give no export edges."""
    hb = _load(load_config(str(synthetic / "docgen.yml")))
    parts = surface.surfaces(hb)
    assert surface.surfaces(hb) is parts  # computed once per handbook
    hollow = tuple(dataclasses.replace(p, exports=tuple(() for _ in p.targets), imported=())
                   for p in parts)
    blind = _seeded(hb, hollow)
    order = analyse(blind)
    assert not [e for e in order.edges if e.kind == "export"]
    assert all(not found for _, found in imported_values(blind))
    assert any(e.kind == "export" for e in analyse(hb).edges)


def test_importers_from_seeded_imported_values(synthetic: Path) -> None:
    fresh, other = _twice(lambda: _load(load_config(str(synthetic / "docgen.yml"))))
    net = fresh.stack("net")
    assert net is not None
    blind = _seeded(fresh, surface.surfaces(other))
    # (the outputs page ignores regions and the Fn::If import: as before the parts)
    assert importers(fresh, net, imported_values(blind)) == importers(fresh, net) == {
        "VpcId": ["app", "db", "farimp"]}


def test_cycle_error_is_the_same_from_seeded_parts(tmp_path: Path) -> None:
    from test_order import CYCLE_A, CYCLE_B  # the deployment-order tests' cycle

    root = _write(tmp_path, {"a.yaml": CYCLE_A, "b.yaml": CYCLE_B}, """\
        stacks:
          a: {template: stacks/a.yaml, name: stack-a}
          b: {template: stacks/b.yaml, name: stack-b}
        """)
    fresh, other = _twice(lambda: _load(load_config(str(root / "docgen.yml"))))
    order, _ = _check(fresh, other)
    assert order[0] == "DocgenError" and "a -> b -> a" in order[1]


def test_required_wiring_without_environments(tmp_path: Path) -> None:
    one = "Parameters:\n  In: {Type: String}\nResources:\n  T: {Type: AWS::SNS::Topic}\n" \
          "Outputs:\n  Out: {Value: !Ref T}\n"
    root = _write(tmp_path, {"x.yaml": one, "y.yaml": one}, """\
        stacks:
          x: {template: stacks/x.yaml, name: x, parameters: {In: {stack: y, output: Out}}}
          y: {template: stacks/y.yaml, name: y}
        """)
    fresh, other = _twice(lambda: _load(load_config(str(root / "docgen.yml"))))
    order, _ = _check(fresh, other)
    assert order.order == ("y", "x")
    assert [e.kind for e in order.edges] == ["wiring"]


def test_example_project_same_answers_from_seeded_parts() -> None:
    fresh, other = _twice(lambda: _load(load_config(str(REPO / "docgen.yml"))))
    order, _ = _check(fresh, other)
    assert order.order == ("primary", "dr")
    assert order.hints and any(e.kind == "wiring" for e in order.edges)


def test_stack_surface_reads_only_its_own_stack(synthetic: Path) -> None:
    """One stack's part, computed with every other template unreadable."""
    hb = _load(load_config(str(synthetic / "docgen.yml")))
    expected = surface.surfaces(hb)
    for i, st in enumerate(hb.stacks):
        others = tuple(s if j == i else _opaque(s) for j, s in enumerate(hb.stacks))
        assert surface.stack_surface(Handbook(hb.project, others), st) == expected[i]


_CHILD = """\
import pickle, sys
from docgen.analyse import surface
from docgen.config import load_config
from docgen.generate import default_project, load_stacks, stack_configs
from docgen.model import Handbook
config, out = sys.argv[1], sys.argv[2]
project = load_config(config) if config.endswith(".yml") else default_project(config)
configs, _ = stack_configs(project, None if config.endswith(".yml") else [config])
stacks, _, _ = load_stacks(configs)
with open(out, "wb") as f:
    pickle.dump(surface.surfaces(Handbook(project, tuple(stacks))), f)
"""


def _parts_from_another_process(config: str, tmp_path: Path, seed: str
                                ) -> tuple[surface.StackSurface, ...]:
    out = tmp_path / f"parts-{seed}.pickle"
    env = {**os.environ, "PYTHONHASHSEED": seed,
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-c", _CHILD, config, str(out)], check=True, env=env,
                   timeout=300)
    parts: tuple[surface.StackSurface, ...] = pickle.loads(out.read_bytes())
    return parts


@pytest.mark.parametrize("which", ["synthetic", "example"])
def test_parts_from_another_process(which: str, synthetic: Path, tmp_path: Path) -> None:
    """Parts made in a process with other string hashes (so other set orders) give the
    same answers: what a worker that parsed the templates would send."""
    config = str(synthetic / "docgen.yml") if which == "synthetic" else str(REPO / "docgen.yml")
    fresh = _load(load_config(config))
    expected = _outcome(fresh)
    for seed in ("1", "2"):
        parts = _parts_from_another_process(config, tmp_path, seed)
        assert parts == surface.surfaces(_load(load_config(config)))
        assert _outcome(_seeded(fresh, parts)) == expected


@requires_corpus
def test_corpus_same_answers_from_seeded_parts(tmp_path: Path) -> None:
    project = default_project(str(tmp_path))
    fresh, other = _twice(lambda: _load(project, [str(CORPUS_REAL)]))
    assert len(fresh.stacks) > 100
    order, imported = _check(fresh, other)
    assert order.edges and order.dangling
    assert any(found for _, found in imported)
