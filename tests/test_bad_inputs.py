"""Bad input, refused clearly: every loader refusal, the limits, the shared corpus of
broken templates. Each row goes through ``docgen validate`` and asserts the message,
the exact ``file:line``, exit code 1 and that no traceback (or internal error) shows.

Valid-but-unusual files (BOM, ``!GetAtt [X, !Ref Y]``, JSON escapes, ``1e3``, every
short tag) must load, with the structure checked.
"""

from __future__ import annotations

import builtins
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import CORPUS_BAD

from docgen.cli import main
from docgen.loader import MAX_BYTES, MAX_DEPTH, load_data, load_template

BUCKET = "Resources:\n  B:\n    Type: AWS::S3::Bucket\n"


def validate(*args: str, verbose: bool = False) -> tuple[int, str]:
    """Run ``docgen validate`` in-process; exceptions propagate (no traceback hiding)."""
    runner = CliRunner()
    result = runner.invoke(main, [*(["-v"] if verbose else []), "validate", *args],
                           catch_exceptions=False)
    return result.exit_code, result.stderr


def assert_refused(path: str, line: int, message: str, col: int | None = None) -> str:
    code, err = validate(path)
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    where = f"{path}:{line}:" + (f"{col}:" if col is not None else "")
    hits = [ln for ln in err.splitlines() if ln.startswith(where) and message in ln]
    assert hits, f"expected {where} ... {message!r} in:\n{err}"
    return err


def _many(section: str, n: int, body: str) -> str:
    return f"{section}:\n" + "".join(f"  X{i}: {body}\n" for i in range(n))


# (id, file name, content (str or bytes), line, col or None, message)
ROWS: list[tuple[str, str, str | bytes, int, int | None, str]] = [
    ("syntax", "t.yaml", BUCKET + "   bad: [\n", 4, None, "YAML syntax error"),
    ("stray text", "t.yaml", BUCKET + "  Stray:text\n    Type: X\n", 4, 3,
     "could not find expected ':'"),
    ("tab", "t.yaml", "Resources:\n  B:\n\tType: AWS::S3::Bucket\n", 3, 1, "tab character"),
    ("duplicate key", "t.yaml", BUCKET + "  B:\n    Type: AWS::SNS::Topic\n", 4, 3,
     "duplicate key 'B' (first defined at line 2)"),
    ("nested duplicate", "t.yaml", BUCKET + "    Properties:\n      BucketName: a\n"
     "      BucketName: b\n", 6, 7, "duplicate key 'BucketName' (first defined at line 5)"),
    ("anchor", "t.yaml", "Resources:\n  B: &x {Type: AWS::S3::Bucket}\n", 2, 6,
     "YAML anchors are not supported by CloudFormation"),
    ("alias", "t.yaml", "Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Metadata: *x\n", 4,
     15, "YAML aliases are not supported by CloudFormation"),
    ("merge key", "t.yaml", "Resources:\n  B:\n    <<: {Type: AWS::S3::Bucket}\n", 3, 5,
     "YAML merge keys (<<) are not supported by CloudFormation"),
    ("unknown tag", "t.yaml", BUCKET + "    Properties:\n      BucketName: !Refx P\n", 5, 19,
     "unknown tag !Refx"),
    ("GetAtt without attribute", "t.yaml", BUCKET + "Outputs:\n  O:\n    Value: !GetAtt B\n",
     6, 12, "!GetAtt needs Resource.Attribute"),
    ("null key", "t.yaml", "Resources:\n  ~: {Type: AWS::S3::Bucket}\n", 2, 3,
     "a mapping key is null"),
    ("sequence key", "t.yaml", "Resources:\n  ? [a, b]\n  : {Type: AWS::S3::Bucket}\n", 2, 5,
     "a mapping key must be a plain string, not a sequence"),
    ("intrinsic key", "t.yaml", "Resources:\n  !Ref X : {Type: AWS::S3::Bucket}\n", 2, 3,
     "a mapping key cannot be an intrinsic function (!Ref)"),
    ("two documents", "t.yaml", "Resources: {}\n---\nResources: {}\n", 2, 1,
     "more than one YAML document"),
    ("empty file", "t.yaml", "", 1, 1, "empty file"),
    ("only comments", "t.yaml", "# nothing here\n", 1, 1, "empty file"),
    ("top-level list", "t.yaml", "- a\n- b\n", 1, 1, "top level must be a mapping"),
    ("not a template", "t.yaml", "Description: x\n", 1, 1, "no Resources section"),
    ("binary", "t.yaml", b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)), 1, 1,
     "binary file, not a CloudFormation template"),
    ("latin-1", "t.yaml", BUCKET.encode() + b"    Metadata: {Note: caf\xe9}\n", 4, 25,
     "not valid UTF-8 (byte 0xe9)"),
    ("over 1 MB", "t.yaml", BUCKET + "#" * MAX_BYTES + "\n", 1, 1,
     "limit for a template is 1,048,576 bytes (1 MB)"),
    ("deep flow nesting", "t.yaml", BUCKET + "    Metadata: " + "[" * 5000 + "]" * 5000 + "\n",
     4, 15 + MAX_DEPTH, f"nesting deeper than {MAX_DEPTH} levels"),
    ("deep compact block nesting", "t.yaml", BUCKET + "    Metadata:\n      "
     + "- " * 100_000 + "x\n", 5, 7, f"nesting deeper than {MAX_DEPTH} levels"),
    ("deep indentation", "t.yaml", "Resources:\n" + "".join(
        " " * (i + 1) + f"k{i}:\n" for i in range(MAX_DEPTH + 5)), MAX_DEPTH + 2, MAX_DEPTH + 2,
     f"nesting deeper than {MAX_DEPTH} levels"),
    ("JSON syntax", "t.json", '{\n  "Resources": {\n    "B": {"Type" "X"}\n  }\n}\n', 3, 18,
     "JSON syntax error: Expecting ':' delimiter"),
    ("JSON duplicate", "t.json", '{\n  "Resources": {\n    "B": {"Type": "AWS::S3::Bucket"},\n'
     '    "B": {"Type": "AWS::SNS::Topic"}\n  }\n}\n', 4, 5, "duplicate key 'B'"),
    ("JSON deep nesting", "t.json", '{"Resources": ' + "[" * 100_000 + "]" * 100_000 + "}", 1,
     None, f"nesting deeper than {MAX_DEPTH} levels"),
    ("bad logical id", "t.yaml", "Resources:\n  my-bucket: {Type: AWS::S3::Bucket}\n", 2, 3,
     "must be alphanumeric"),
    ("bad output name", "t.yaml", BUCKET + "Outputs:\n  my-out: {Value: x}\n", 5, 3,
     "output name 'my-out' must be alphanumeric"),
    # CloudFormation's per-template quotas, refused where CloudFormation refuses them
    ("501 resources", "t.yaml", _many("Resources", 501, "{Type: AWS::SNS::Topic}"), 1, 1,
     "501 resources; CloudFormation allows at most 500 per template"),
    ("201 parameters", "t.yaml", BUCKET + _many("Parameters", 201, "{Type: String}"), 4, 1,
     "201 parameters; CloudFormation allows at most 200 per template"),
    ("201 outputs", "t.yaml", BUCKET + _many("Outputs", 201, "{Value: x}"), 4, 1,
     "201 outputs; CloudFormation allows at most 200 per template"),
    ("201 mappings", "t.yaml", BUCKET + _many("Mappings", 201, "{a: {b: c}}"), 4, 1,
     "201 mappings; CloudFormation allows at most 200 per template"),
    ("501 resources, JSON", "t.json", json.dumps(
        {"Resources": {f"R{i}": {"Type": "AWS::SNS::Topic"} for i in range(501)}}, indent=1),
     2, 2, "501 resources; CloudFormation allows at most 500 per template"),
]


@pytest.mark.parametrize(("name", "content", "line", "col", "message"),
                         [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_refusal(tmp_path: Path, name: str, content: str | bytes, line: int, col: int | None,
                 message: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert_refused(str(path), line, message, col)


def test_quota_is_a_warning_under_a_macro(tmp_path: Path) -> None:
    """A macro rewrites the template before CloudFormation counts: it may accept it."""
    path = tmp_path / "t.yaml"
    path.write_text("Transform: MyCompressingMacro\n"
                    + _many("Resources", 501, "{Type: AWS::SNS::Topic}"))
    template, diags = load_template(str(path))
    assert template is not None
    assert [(d.severity, d.line) for d in diags] == [("warning", 2)]
    code, err = validate(str(path), verbose=True)
    assert code == 0 and "warning: 501 resources; CloudFormation allows at most 500" in err


def test_quota_with_an_aws_transform_is_still_an_error(tmp_path: Path) -> None:
    """SAM and LanguageExtensions only add resources: over the quota before, over after."""
    path = tmp_path / "t.yaml"
    path.write_text("Transform: AWS::Serverless-2016-10-31\n"
                    + _many("Resources", 501, "{Type: AWS::SNS::Topic}"))
    assert_refused(str(path), 2, "501 resources; CloudFormation allows at most 500")


def test_exactly_at_the_quotas_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(_many("Resources", 500, "{Type: AWS::SNS::Topic}")
                    + _many("Parameters", 200, "{Type: String, Default: x}")
                    + _many("Outputs", 200, "{Value: x}") + _many("Mappings", 200, "{a: {b: c}}"))
    template, diags = load_template(str(path))
    assert template is not None and not diags, diags[:3]


# --- the shared corpus of broken templates (../shared/corpus/bad, see its README) -------

CFN_LINT = "cfn-lint/test/fixtures/templates/bad"
# (path under bad/, line, col or None, message): the first problem CloudFormation would report
CORPUS_ROWS: list[tuple[str, int, int | None, str]] = [
    (f"{CFN_LINT}/core/config_invalid_json.json", 8, 6, "JSON syntax error: Expecting ','"),
    (f"{CFN_LINT}/core/config_invalid_yaml.yaml", 8, 7, "YAML syntax error: did not find "
                                                        "expected key"),
    (f"{CFN_LINT}/core/parse_invalid_map.yaml", 18, 41,
     "a mapping key cannot be an intrinsic function (!ImportValue)"),
    (f"{CFN_LINT}/duplicate.json", 17, 3, "duplicate key 'MySNSTopic' (first defined at line 5)"),
    (f"{CFN_LINT}/duplicate.yaml", 9, 3, "duplicate key 'mySnsTopic' (first defined at line 3)"),
    (f"{CFN_LINT}/empty_file.yaml", 1, 1, "empty file: not a CloudFormation template"),
    ("cfn-lint/test/fixtures/templates/empty.yaml", 1, 1, "empty file"),
    (f"{CFN_LINT}/generic.yaml", 128, 17,
     "Ref to undefined parameter or resource 'WebServerPort' (in ElasticLoadBalancer)"),
    (f"{CFN_LINT}/json_parse.json", 5, 11, "JSON syntax error: Expecting ':' delimiter"),
    (f"{CFN_LINT}/not_cloudformation.yaml", 2, 1, "no Resources section"),
    (f"{CFN_LINT}/string.yaml", 1, 1, "top level must be a mapping, found str"),
    (f"{CFN_LINT}/template.yaml", 12, 9, "YAML syntax error: did not find expected key"),
    (f"{CFN_LINT}/templates/base_date.yaml", 1, 1,
     "AWSTemplateFormatVersion must be '2010-09-09', found '2010-09-10'"),
    (f"{CFN_LINT}/templates/base_null.yaml", 2, 1, "Transform is empty (null)"),
    ("real-world/serverless-patterns/apigw-custom-domain-edge/template.yaml", 34, 3,
     "could not find expected ':'"),
    ("real-world/serverless-patterns/rds-sns-event-notification/template.yaml", 3, 97,
     "YAML syntax error: did not find expected key"),
    ("synthetic/alias_bomb.yaml", 1, 4, "YAML anchors are not supported by CloudFormation"),
    ("synthetic/duplicate_nested.json", 7, 9, "duplicate key 'BucketName' (first defined at "
                                              "line 6)"),
    ("synthetic/getatt_nested_ref.yaml", 12, 12, "GetAtt to undefined resource 'Db'"),
    ("synthetic/latin1_bytes.yaml", 1, 17, "not valid UTF-8 (byte 0xe9)"),
    ("synthetic/merge_keys.yaml", 4, 17, "YAML anchors are not supported by CloudFormation"),
    ("synthetic/multi_document.yaml", 2, 1, "more than one YAML document in the file"),
    ("synthetic/null_key.yaml", 2, 3, "a mapping key is null"),
    ("synthetic/tab_indent.yaml", 3, 1, "tab character in indentation"),
    ("synthetic/unknown_tag.yaml", 5, 19, "unknown tag !Refx"),
]

requires_bad_corpus = pytest.mark.skipif(
    not CORPUS_BAD.is_dir(),
    reason=f"shared corpus of bad templates not found at {CORPUS_BAD} (set DOCGEN_CORPUS)")


@requires_bad_corpus
@pytest.mark.parametrize(("rel", "line", "col", "message"), CORPUS_ROWS,
                         ids=[r[0].rsplit("/", 2)[-1] if "synthetic" in r[0] else r[0].split(
                             "templates/")[-1] for r in CORPUS_ROWS])
def test_corpus_bad_template(rel: str, line: int, col: int | None, message: str) -> None:
    assert_refused(str(CORPUS_BAD / rel), line, message, col)


@requires_bad_corpus
def test_corpus_bad_folder_reports_every_file() -> None:
    """One run over the whole folder: every invalid file is reported, none stops the rest."""
    code, err = validate(str(CORPUS_BAD))
    assert code == 1 and "Traceback" not in err
    for rel, line, _, message in CORPUS_ROWS:
        assert f"{CORPUS_BAD / rel}:{line}:" in err and message in err, rel
    for name in VALID_SYNTHETIC:
        assert str(CORPUS_BAD / "synthetic" / name) + ":" not in err, name


# --- valid but unusual: these must load, with the right structure ----------------------

VALID_SYNTHETIC = ("all_short_tags.yaml", "bom_utf8.yaml", "json_numbers.json",
                   "json_tabs_and_slash_escape.json", "yaml11_scalars.yaml")


@requires_bad_corpus
@pytest.mark.parametrize("name", VALID_SYNTHETIC)
def test_valid_unusual_files_load(name: str) -> None:
    path = str(CORPUS_BAD / "synthetic" / name)
    template, diags = load_template(path)
    assert template is not None, diags
    assert not [d for d in diags if d.is_error]
    code, err = validate(path)
    assert code == 0, err


@requires_bad_corpus
def test_valid_unusual_structures() -> None:
    syn = CORPUS_BAD / "synthetic"
    raw, _, diags = load_data(str(syn / "getatt_nested_ref.yaml"))
    assert not diags
    assert raw["Outputs"]["Dynamic"]["Value"] == {"Fn::GetAtt": ["Topic", {"Ref": "AttrName"}]}
    assert raw["Outputs"]["Dotted"]["Value"] == {"Fn::GetAtt": ["Db", "Endpoint.Address"]}

    bom, _, diags = load_data(str(syn / "bom_utf8.yaml"))
    assert not diags and not any(k.startswith("\ufeff") for k in bom)
    assert (syn / "bom_utf8.yaml").read_bytes().startswith(b"\xef\xbb\xbf")

    nums, fmt, diags = load_data(str(syn / "json_numbers.json"))
    assert fmt == "json" and not diags
    expected = json.loads((syn / "json_numbers.json").read_text())
    assert json.loads(json.dumps(nums)) == expected  # 1e3 stays the number JSON says

    esc, fmt, diags = load_data(str(syn / "json_tabs_and_slash_escape.json"))
    text = (syn / "json_tabs_and_slash_escape.json").read_text()
    assert "\t" in text and "\\/" in text and fmt == "json" and not diags
    assert json.loads(json.dumps(esc)) == json.loads(text)

    y11, _, diags = load_data(str(syn / "yaml11_scalars.yaml"))
    assert not diags
    assert y11["AWSTemplateFormatVersion"] == "2010-09-09"  # a date stays a string
    assert list(y11["Mappings"]["Countries"]) == ["NO", "2012"]  # keys stay strings
    assert y11["Parameters"]["Start"]["Default"] == "2024-01-31"
    assert y11["Parameters"]["Sci"]["Default"] == "1e3"  # not a YAML 1.1 float

    tags, _, diags = load_data(str(syn / "all_short_tags.yaml"))
    assert not diags
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.update(k for k in node if k == "Ref" or k.startswith(("Fn::", "Condition")))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(tags)
    short = {t for t in (syn / "all_short_tags.yaml").read_text().split() if t.startswith("!")}
    from docgen.loader import SHORT_TAGS

    assert short <= set(SHORT_TAGS), short - set(SHORT_TAGS)
    assert {SHORT_TAGS[t.rstrip(",]}")] for t in short} <= found


# --- a templates folder with unreadable things in it ------------------------------------


@pytest.fixture
def messy_folder(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "stacks"
    folder.mkdir()
    (folder / "good.yaml").write_text(BUCKET)
    (folder / "bad.yaml").write_text(BUCKET + "    Properties:\n      BucketName: !Ref Nope\n")
    (folder / "binary.yaml").write_bytes(b"\x00\x01\x02" * 100)
    (folder / "latin1.yaml").write_bytes(b"Description: caf\xe9\n" + BUCKET.encode())
    (folder / "loop.yaml").symlink_to("loop.yaml")
    (folder / "dangling.yaml").symlink_to("nowhere.yaml")
    os.mkfifo(folder / "pipe.yaml")  # would block a naive open() forever
    (folder / "locked.yaml").write_text(BUCKET)
    (folder / "locked.yaml").chmod(0)
    (folder / "zz-last.yaml").write_text(BUCKET)
    yield folder
    (folder / "locked.yaml").chmod(0o644)


def _deny_locked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Root reads through chmod 000: simulate the permission error the OS would give."""
    if os.geteuid() != 0:
        return
    real_open = builtins.open

    def guarded(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file).endswith("locked.yaml"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded)


def test_folder_reports_every_file(messy_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _deny_locked(monkeypatch)
    code, err = validate(str(messy_folder))
    assert code == 1 and "Traceback" not in err and "internal error" not in err, err
    f = str(messy_folder)
    expected = {
        "bad.yaml:5:": "Ref to undefined parameter or resource 'Nope'",
        "binary.yaml:1:1:": "binary file",
        "latin1.yaml:1:17:": "not valid UTF-8 (byte 0xe9)",
        "loop.yaml:1:1:": "symbolic link loop",
        "dangling.yaml:1:1:": "broken symbolic link",
        "pipe.yaml:1:1:": "not a regular file",
        "locked.yaml:1:1:": "cannot read file: Permission denied",
    }
    for where, message in expected.items():
        assert any(ln.startswith(f"{f}/{where}") and message in ln for ln in err.splitlines()), (
            where, err)
    assert f"{f}/good.yaml" not in err and f"{f}/zz-last.yaml" not in err
    # the two links are reported while discovering; the 7 files are all loaded
    assert "7 template(s) checked, 5 invalid" in err, err


def test_folder_in_a_real_process(messy_folder: Path) -> None:
    """The same folder through a real process: a FIFO must not hang it, nothing crashes."""
    proc = subprocess.run([sys.executable, "-m", "docgen", "validate", str(messy_folder)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    assert "symbolic link loop" in proc.stderr and "not a regular file" in proc.stderr
    if os.geteuid() != 0:
        assert "Permission denied" in proc.stderr


def test_generate_keep_going_over_a_messy_folder(messy_folder: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """``generate --keep-going``: the readable templates get pages, the rest are listed."""
    _deny_locked(monkeypatch)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["generate", "--keep-going", "--docs-dir", "docs",
                                       str(messy_folder)], catch_exceptions=False)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    runbooks = tmp_path / "docs" / "runbooks"
    assert (runbooks / "good" / "index.md").is_file()
    assert (runbooks / "zz-last" / "index.md").is_file()
    for name in ("bad", "binary", "latin1", "pipe", "locked"):
        assert not (runbooks / name).exists(), name
    listed = result.stderr.split("invalid templates (their previous pages kept):")[-1]
    for name in ("bad", "binary", "latin1", "pipe", "locked"):
        assert name in listed, (name, result.stderr)
