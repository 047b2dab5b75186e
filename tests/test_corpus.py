"""docgen over the shared corpus of real templates (skipped when the corpus is absent)."""

from __future__ import annotations

import datetime
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CORPUS_REAL, corpus_templates, requires_corpus

from docgen.loader import load_data

pytestmark = [requires_corpus, pytest.mark.corpus]

#: Every corpus template docgen refuses, with why; each is genuinely invalid CloudFormation.
EXPECTED_REJECTED = {
    # duplicate mapping keys (CloudFormation rejects them; generic parsers keep the last)
    "awslabs-aws-cloudformation-templates/aws/services/ServiceCatalog/Portfolio.yaml": "duplicate key",
    "awslabs-aws-cloudformation-templates/aws/solutions/CloudFrontCustomOriginLambda@Edge/CloudFront.yaml": "duplicate key",
    "serverless-patterns/apigw-ec2/template.yaml": "duplicate key",
    "serverless-patterns/appsync-dynamodb-singletable/template.yaml": "duplicate key",
    "serverless-patterns/multi-account-private-apigw/centralAccount/template.yaml": "duplicate key",
    "serverless-patterns/vpc-lattice-lambda/template.yaml": "duplicate key",
    # references to parameters/resources that the template never defines
    "aws-refarch-wordpress/samples/aws-refarch-wordpress-master-existing-vpc.yaml": "Ref to undefined",
    "cfn-lint/test/fixtures/templates/good/custom/is-defined.yaml": "Ref to undefined",  # "Parameter:" typo
    "cfn-lint/test/fixtures/templates/good/functions/sub_needed.yaml": "GetAtt to undefined",
    "cfn-lint/test/fixtures/templates/integration/aws-ec2-launchtemplate.yaml": "Ref to undefined",
    # an empty or missing Resources section ("At least one Resources member must be defined")
    "cfn-lint/test/fixtures/templates/good/core/config_cfn_lint.json": "at least one resource",
    "cfn-lint/test/fixtures/templates/good/core/config_cfn_lint.yaml": "at least one resource",
    "cfn-lint/test/fixtures/templates/good/core/config_only_i1002.yaml": "at least one resource",
    "cfn-lint/test/fixtures/templates/good/core/config_only_i1003.yaml": "at least one resource",
    "cfn-lint/test/fixtures/templates/good/core/config_parameters.yaml": "at least one resource",
    "cfn-lint/test/fixtures/templates/good/decode/parsing.json": "at least one resource",
    "cfn-lint/test/fixtures/templates/good/mappings/name.yaml": "at least one resource",
    "cfn-lint/test/fixtures/templates/good/parameters/default.yaml": "at least one resource",
    "cfn-lint/test/fixtures/templates/good/resources/cloudformation/stack_nested.yaml": "at least one resource",
    "cfn-lint/test/fixtures/templates/integration/metdata.yaml": "at least one resource",
    "serverless-patterns/dynamodb-lambda-cdk-kotlin/template.yaml": "Resources must be a mapping",
}


def _normalise(value: object) -> object:
    """Documented differences from cfn-lint's decoder: unquoted dates stay strings
    (CloudFormation means them as strings) and mapping keys are always strings."""
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def test_same_structure_as_cfn_lint_decoder() -> None:
    from cfnlint.decode import decode

    compared, different = 0, []
    for path in corpus_templates():
        raw, _, _ = load_data(str(path))
        if raw is None:
            continue
        theirs, _ = decode(str(path))
        assert theirs is not None, f"cfn-lint could not read {path} but docgen could"
        compared += 1
        ours_json = json.dumps(_normalise(raw), sort_keys=True, default=str)
        if ours_json != json.dumps(_normalise(theirs), sort_keys=True, default=str):
            different.append(str(path))
    assert compared > 500
    assert different == []


def test_validate_rejects_exactly_the_invalid_templates(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "docgen", "validate", str(CORPUS_REAL)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    rejected: dict[str, str] = {}
    for line in proc.stderr.splitlines():
        if ": error: " not in line:
            continue
        file_part, _, message = line.partition(": error: ")
        rel = file_part.rsplit(":", 2)[0].replace(str(CORPUS_REAL) + "/", "")
        assert file_part.count(":") >= 2, f"no line:col in {line!r}"
        rejected.setdefault(rel, message)
    assert set(rejected) == set(EXPECTED_REJECTED)
    for rel, why in EXPECTED_REJECTED.items():
        assert why.lower() in rejected[rel].lower(), (rel, rejected[rel])


@pytest.mark.slow
def test_build_whole_corpus_handbook(tmp_path: Path) -> None:
    """Every valid corpus template in one handbook: `docgen build` succeeds (~2 min)."""
    valid = [str(p) for p in corpus_templates()
             if str(p.relative_to(CORPUS_REAL)) not in EXPECTED_REJECTED]
    proc = subprocess.run([sys.executable, "-m", "docgen", "-q", "build", *valid,
                           "--site-dir", str(tmp_path / "site")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    built = list((tmp_path / "site" / "runbooks").glob("*/deploy/index.html"))
    assert len(built) == len(valid)
