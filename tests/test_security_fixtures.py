"""Pass/Fail fixture templates for every security check, walked by one parametrized test.

Layout: ``tests/fixtures/security/<check-id>/<outcome>[-case].yaml`` where outcome is
``pass``, ``fail``, ``depends``, ``suppressed`` or ``not-applicable``. The fixture's
findings for that check must show the outcome: ``fail`` at least one failing finding;
``depends`` one depending and none failing; ``suppressed`` one suppressed and none
failing; ``pass`` only passes (or not-applicable); ``not-applicable`` only that.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from docgen.analyse.security import check_template
from docgen.knowledge.security import load
from docgen.loader import load_template

ROOT = Path(__file__).parent / "fixtures" / "security"
OUTCOMES = ("not-applicable", "suppressed", "depends", "pass", "fail")
FIXTURES = sorted(ROOT.glob("*/*.yaml"))
#: Checks that cannot fail for a template CloudFormation accepts (and why).
CANNOT_FAIL = {
    "s3-encrypted": "S3 encrypts every new object (SSE-S3 at least) since January 2023",
}


def _outcome(path: Path) -> str:
    for outcome in OUTCOMES:
        if path.stem == outcome or path.stem.startswith(outcome + "-"):
            return outcome
    raise AssertionError(f"{path}: file name must start with one of {OUTCOMES}")


@pytest.fixture(scope="module")
def kb():
    return load()


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_fixture(path: Path, kb) -> None:
    check_id = path.parent.name
    assert kb.check(check_id) is not None, f"no check {check_id!r} in the knowledge base"
    template, diags = load_template(str(path))
    assert template is not None and not [d for d in diags if d.is_error], diags
    findings = [f for f in check_template(template, kb) if f.check.id == check_id]
    assert findings, f"{check_id} produced no finding for {path.name}"
    statuses = {f.status for f in findings}
    expected = _outcome(path)
    detail = [(f.resource, f.status, f.message) for f in findings]
    if expected == "fail":
        assert "fail" in statuses, detail
    elif expected in ("depends", "suppressed"):
        assert expected in statuses and "fail" not in statuses, detail
    elif expected == "pass":
        assert statuses <= {"pass", "not-applicable"} and "pass" in statuses, detail
    else:
        assert statuses == {"not-applicable"}, detail


def test_every_check_has_a_pass_and_a_fail_fixture(kb) -> None:
    missing = []
    for check in kb.checks:
        outcomes = {_outcome(p) for p in (ROOT / check.id).glob("*.yaml")}
        needed = {"pass"} if check.id in CANNOT_FAIL else {"pass", "fail"}
        if not needed <= outcomes:
            missing.append(f"{check.id}: {sorted(outcomes)}")
    assert not missing, "checks without both a pass and a fail fixture:\n" + "\n".join(missing)


def test_fixture_folders_name_real_checks(kb) -> None:
    unknown = [p.name for p in ROOT.iterdir() if p.is_dir() and kb.check(p.name) is None]
    assert not unknown
