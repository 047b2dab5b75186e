"""`pip install .` (not only editable) gives a working docgen with its templates and data."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out), str(REPO)], check=True, timeout=600)
    return next(out.glob("docgen-*.whl"))


def test_wheel_ships_templates_knowledge_and_theme(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("docgen/templates/stack/deploy.md.j2", "docgen/templates/macros.md.j2",
                     "docgen/knowledge/ops/rds.yml", "docgen/knowledge/prices/aws-on-demand.yml",
                     "docgen/site_overrides/assets/docgen/docgen.css"):
        assert required in names, required
    assert any(n.startswith("docgen/knowledge/security/") and n.endswith(".yml") for n in names)


@pytest.mark.slow
def test_installed_wheel_generates(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=300)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True, timeout=300)
    where = subprocess.run([str(py), "-c", "import docgen; print(docgen.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert str(venv) in where, where  # the installed copy, not the source checkout
    (tmp_path / "app.yaml").write_text("Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n")
    proc = subprocess.run([str(venv / "bin" / "docgen"), "generate", "app.yaml", "--docs-dir",
                           "docs"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "docs/runbooks/app/troubleshooting.md").exists()
