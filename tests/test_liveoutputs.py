"""``docgen outputs`` against a real AWS API on loopback, and live values on pages.

Why: the outputs file feeds integration tests and the handbook, so the command must
talk to CloudFormation exactly as it would in an account (moto in server mode, reached
over HTTP through ``AWS_ENDPOINT_URL`` by a separate ``docgen`` process), fail with one
clear line when the stack or the credentials are missing, and pages must show the
values it wrote -- escaped, because they are whatever the deployed stack returned --
and fall back to the template expressions when the file is absent or broken.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")

from docgen import liveoutputs, stackinfo  # noqa: E402
from docgen.cli import main  # noqa: E402
from docgen.config import load_config  # noqa: E402
from docgen.generate import build  # noqa: E402
from docgen.model import Handbook  # noqa: E402

REGION = "us-east-1"
STACK = "docgen-live-test"
HOSTILE = "a|b <script>alert(1)</script> `tick` [link](javascript:x) *em*"

TEMPLATE = textwrap.dedent("""\
    AWSTemplateFormatVersion: "2010-09-09"
    Description: Small stack for live outputs tests
    Resources:
      Bucket:
        Type: AWS::S3::Bucket
      Topic:
        Type: AWS::SNS::Topic
    Outputs:
      BucketName:
        Description: Name of the bucket
        Value: !Ref Bucket
      TopicArn:
        Description: Alarm topic
        Value: !Ref Topic
      Greeting:
        Description: A literal with Markdown and HTML in it
        Value: "%s"
    """) % HOSTILE.replace('"', '\\"')


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server on a free loopback port, with one stack created from TEMPLATE."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_stack(StackName=STACK, TemplateBody=TEMPLATE)
    try:
        yield endpoint
    finally:
        server.stop()


def aws_env(endpoint: str | None, credentials: bool = True,
            region: str | None = None) -> dict[str, str]:
    """A clean environment: no user profile or config, IMDS off, only loopback endpoints."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    if credentials:
        env["AWS_ACCESS_KEY_ID"] = "testing"
        env["AWS_SECRET_ACCESS_KEY"] = "testing"
    if region:
        env["AWS_DEFAULT_REGION"] = region
    return env


def run_docgen(args: list[str], env: dict[str, str], cwd: Path | None = None
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "docgen", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def expected_outputs(endpoint: str) -> dict[str, str]:
    client = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint,
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    stack = client.describe_stacks(StackName=STACK)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


# --- docgen outputs ---------------------------------------------------------------------------

def test_outputs_writes_flat_sorted_json(moto_endpoint: str, tmp_path: Path) -> None:
    out = tmp_path / "cfn-outputs" / "nested" / "flat.json"  # parent folders do not exist
    proc = run_docgen(["outputs", "--stack", STACK, "--region", REGION, "-o", str(out)],
                      aws_env(moto_endpoint))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data == expected_outputs(moto_endpoint)
    assert set(data) == {"BucketName", "TopicArn", "Greeting"}
    assert data["Greeting"] == HOSTILE
    assert data["TopicArn"].startswith("arn:aws:sns:us-east-1:")
    assert list(data) == sorted(data), "keys must be sorted (deterministic file)"
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert "wrote 3 output(s)" in proc.stderr
    assert not [p for p in out.parent.iterdir() if p.name != "flat.json"], "temp file left"


def test_outputs_to_stdout(moto_endpoint: str) -> None:
    proc = run_docgen(["outputs", "--stack", STACK, "--region", REGION, "-o", "-"],
                      aws_env(moto_endpoint))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected_outputs(moto_endpoint)
    assert proc.stdout.endswith("\n")


def test_outputs_region_from_environment(moto_endpoint: str, tmp_path: Path) -> None:
    out = tmp_path / "flat.json"
    proc = run_docgen(["outputs", "--stack", STACK, "-o", str(out)],
                      aws_env(moto_endpoint, region=REGION))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["BucketName"]


def test_outputs_same_bytes_twice(moto_endpoint: str, tmp_path: Path) -> None:
    files = []
    for name in ("a.json", "b.json"):
        proc = run_docgen(["outputs", "--stack", STACK, "--region", REGION,
                           "-o", str(tmp_path / name)], aws_env(moto_endpoint))
        assert proc.returncode == 0, proc.stderr
        files.append((tmp_path / name).read_bytes())
    assert files[0] == files[1]


def test_missing_stack_is_a_clear_error(moto_endpoint: str, tmp_path: Path) -> None:
    out = tmp_path / "flat.json"
    proc = run_docgen(["outputs", "--stack", "no-such-stack", "--region", REGION,
                       "-o", str(out)], aws_env(moto_endpoint))
    assert proc.returncode == 1
    assert "stack 'no-such-stack' does not exist in us-east-1" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists()


def test_missing_credentials_is_a_clear_error(moto_endpoint: str, tmp_path: Path) -> None:
    out = tmp_path / "flat.json"
    proc = run_docgen(["outputs", "--stack", STACK, "--region", REGION, "-o", str(out)],
                      aws_env(moto_endpoint, credentials=False))
    assert proc.returncode == 1
    assert "no AWS credentials" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not out.exists()


def test_missing_region_is_a_clear_error(moto_endpoint: str, tmp_path: Path) -> None:
    proc = run_docgen(["outputs", "--stack", STACK, "-o", str(tmp_path / "f.json")],
                      aws_env(moto_endpoint))
    assert proc.returncode == 1
    assert "no AWS region" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = aws_env(f"http://127.0.0.1:{port}")
    env["AWS_MAX_ATTEMPTS"] = "1"
    proc = run_docgen(["outputs", "--stack", STACK, "--region", REGION,
                       "-o", str(tmp_path / "f.json")], env)
    assert proc.returncode == 1
    assert f"cannot read stack '{STACK}'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_outputs_via_click_runner(moto_endpoint: str, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The same path in-process (what `docgen` wires: cli.outputs -> write_outputs)."""
    for key, value in aws_env(moto_endpoint).items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    for key in [k for k in os.environ if k.startswith("AWS_PROFILE")]:
        monkeypatch.delenv(key)
    out = tmp_path / "o" / "flat.json"
    result = CliRunner().invoke(main, ["outputs", "--stack", STACK, "--region", REGION,
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == expected_outputs(moto_endpoint)


def test_outputs_option_is_required() -> None:
    result = CliRunner().invoke(main, ["outputs"])
    assert result.exit_code == 2
    assert "--stack" in result.output


# --- reading the file back ---------------------------------------------------------------------

@pytest.mark.parametrize(("content", "problem"), [
    (None, "not found"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a flat JSON object"),
    (b"\xff\xfe\x00bad", "not readable"),
])
def test_load_live_outputs_never_raises(tmp_path: Path, content: Any, problem: str) -> None:
    path = tmp_path / "flat.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert liveoutputs.load_live_outputs(str(path)) is None
    assert problem in liveoutputs.read_live_outputs(str(path)).problem


def test_load_live_outputs_keeps_text_values(tmp_path: Path) -> None:
    path = tmp_path / "flat.json"
    path.write_text(json.dumps({"B": "x", "A": 3, "C": {"nested": 1}, "D": None}))
    live = liveoutputs.read_live_outputs(str(path))
    assert live.values == {"A": "3", "B": "x"}
    assert live.dropped == ("C", "D")
    path.write_text(json.dumps({"A": "changed"}))  # an edit is seen (cache keyed on the file)
    os.utime(path, ns=(1, 1))
    assert liveoutputs.load_live_outputs(str(path)) == {"A": "changed"}


# --- live values on pages ---------------------------------------------------------------------

def make_project(root: Path, config_tail: str) -> Path:
    (root / "stacks").mkdir(parents=True)
    (root / "stacks" / "app.yaml").write_text(TEMPLATE)
    (root / "docgen.yml").write_text(textwrap.dedent("""\
        title: Live outputs test
        paths: {templates: stacks, docs: docs}
        stacks:
          app:
            template: stacks/app.yaml
            name: %s
            region: us-east-1
        """) % STACK + config_tail)
    return root


STACK_FILE = "    outputs_file: cfn-outputs/app.json\n"
ENV_FILES = textwrap.dedent("""\
    environments:
      dev:
        stacks:
          app: {outputs_file: cfn-outputs/dev/app.json}
      prod:
        stacks:
          app: {outputs_file: cfn-outputs/prod/app.json}
    """)


def outputs_page(root: Path) -> str:
    proc = run_docgen(["generate"], aws_env(None), cwd=root)
    assert proc.returncode == 0, proc.stderr
    return (root / "docs" / "runbooks" / "app" / "outputs.md").read_text()


def table_row(page: str, output: str) -> str:
    return next(line for line in page.splitlines() if line.startswith(f"| <code>{output}</code>"))


def test_page_shows_live_values_from_docgen_outputs(moto_endpoint: str, tmp_path: Path) -> None:
    root = make_project(tmp_path, STACK_FILE)
    proc = run_docgen(["outputs", "--stack", STACK, "--region", REGION,
                       "-o", "cfn-outputs/app.json"], aws_env(moto_endpoint), cwd=root)
    assert proc.returncode == 0, proc.stderr
    live = expected_outputs(moto_endpoint)
    page = outputs_page(root)
    assert "| Live value |" in page
    row = table_row(page, "BucketName")
    assert "<code>!Ref Bucket</code>" in row, "the expression stays beside the live value"
    assert f"<code>{live['BucketName']}</code>" in row
    assert "read from <code>cfn-outputs/app.json</code> (3 values)" in page
    # the hostile literal is escaped: no raw HTML, no Markdown link, no table break
    greeting = table_row(page, "Greeting")
    assert "<script>" not in page
    assert re.search(r"(&lt;|&#60;|&#x3c;)script(&gt;|&#62;|&#x3e;)", greeting, re.I)
    # inside <code> Markdown is not parsed: the link text stays inert
    assert all(re.search(r"<code>[^<]*\[link\]\(javascript:x\)[^<]*</code>", line)
               for line in page.splitlines() if "javascript:" in line)
    assert greeting.count("|") == table_row(page, "BucketName").count("|"), "table broken"
    # the docgen outputs command on the page writes the file docgen.yml names
    assert (f"docgen outputs --stack {STACK} --region us-east-1 -o cfn-outputs/app.json"
            in page)


def test_page_falls_back_when_file_missing(tmp_path: Path) -> None:
    root = make_project(tmp_path, STACK_FILE)
    page = outputs_page(root)
    assert "| Live value |" not in page
    assert "<code>!Ref Bucket</code>" in table_row(page, "BucketName")
    assert "<code>cfn-outputs/app.json</code> not found" in page
    assert "the table shows the\ntemplate expressions only" in page


def test_page_falls_back_when_file_broken(tmp_path: Path) -> None:
    root = make_project(tmp_path, STACK_FILE)
    (root / "cfn-outputs").mkdir()
    (root / "cfn-outputs" / "app.json").write_text("{ definitely not json")
    page = outputs_page(root)
    assert "| Live value |" not in page
    assert "<code>cfn-outputs/app.json</code> not valid JSON" in page


def test_page_without_outputs_file_says_nothing_about_live_values(tmp_path: Path) -> None:
    page = outputs_page(make_project(tmp_path, ""))
    assert "Live value" not in page
    assert "-o cfn-outputs/flat-outputs.json" in page


def test_per_environment_files(tmp_path: Path) -> None:
    root = make_project(tmp_path, ENV_FILES)
    (root / "cfn-outputs" / "dev").mkdir(parents=True)
    (root / "cfn-outputs" / "dev" / "app.json").write_text(json.dumps(
        {"BucketName": "dev-bucket-1", "Unexpected": "x"}))
    page = outputs_page(root)
    row = table_row(page, "BucketName")
    assert "dev: <code>dev-bucket-1</code>" in row
    assert "prod:" not in row  # prod's file is missing: only dev has a live column entry
    assert "dev: read from <code>cfn-outputs/dev/app.json</code> (2 values)" in page
    assert "prod: <code>cfn-outputs/prod/app.json</code> not found" in page
    assert "does not declare" in page and "<code>Unexpected</code>" in page
    assert "-o cfn-outputs/dev/app.json" in page and "-o cfn-outputs/prod/app.json" in page
    assert "> cfn-outputs/dev/app.json" in page and "mkdir -p cfn-outputs/dev" in page
    from tests.awscli_model import check_markdown

    problems = check_markdown(page)
    assert not problems, "\n".join(problems)


def test_commands_use_live_physical_ids(tmp_path: Path) -> None:
    """stackinfo.resource_id: a Ref output in the live file replaces the lookup."""
    root = make_project(tmp_path, ENV_FILES)
    (root / "cfn-outputs" / "dev").mkdir(parents=True)
    (root / "cfn-outputs" / "dev" / "app.json").write_text(json.dumps(
        {"BucketName": "dev-bucket-1", "TopicArn": "line1\nline2"}))
    project = load_config(str(root / "docgen.yml"))
    result = build(project)
    assert result.handbook is not None
    handbook: Handbook = result.handbook
    stack = handbook.stacks[0]
    dev, prod = stackinfo.targets(handbook, stack)
    bucket = stack.template.resource("Bucket")
    topic = stack.template.resource("Topic")
    assert bucket is not None and topic is not None
    assert stackinfo.resource_id(stack, bucket, dev) == ("dev-bucket-1", ())
    _value, lookups = stackinfo.resource_id(stack, bucket, prod)  # no file: looked up
    assert lookups and "describe-stack-resource" in lookups[0].render()
    _value, lookups = stackinfo.resource_id(stack, topic, dev)  # multi-line: not used as an id
    assert lookups, "a multi-line live value must not become a physical id"


def test_pages_use_live_ids_instead_of_lookups(tmp_path: Path) -> None:
    """No generated page looks up a resource whose physical id the live file gives."""
    root = make_project(tmp_path, STACK_FILE)
    (root / "cfn-outputs").mkdir()
    (root / "cfn-outputs" / "app.json").write_text(json.dumps(
        {"BucketName": "live-bucket-1", "TopicArn": "arn:aws:sns:us-east-1:1:t"}))
    proc = run_docgen(["generate"], aws_env(None), cwd=root)
    assert proc.returncode == 0, proc.stderr
    from tests.awscli_model import check_markdown

    used = False
    for page in (root / "docs" / "runbooks").rglob("*.md"):
        text = page.read_text()
        for logical in ("Bucket", "Topic"):
            assert f"--logical-resource-id {logical}\n" not in text
            assert f"--logical-resource-id {logical} " not in text, page
        used = used or "live-bucket-1" in text.split("## Live values")[0].split("| Output |")[0]
        problems = check_markdown(text)
        assert not problems, f"{page}: " + "\n".join(problems)
    assert used, "some page's commands name the bucket by its live id"


def test_live_file_is_an_input_of_the_freshness_check(tmp_path: Path) -> None:
    """Writing or changing the outputs file makes committed docs stale (CI must know)."""
    root = make_project(tmp_path, STACK_FILE)
    outputs_page(root)
    env = aws_env(None)
    assert run_docgen(["generate", "--check"], env, cwd=root).returncode == 0
    (root / "cfn-outputs").mkdir()
    (root / "cfn-outputs" / "app.json").write_text(json.dumps({"BucketName": "b"}))
    proc = run_docgen(["generate", "--check"], env, cwd=root)
    assert proc.returncode == 1
    assert "stale: runbooks/app/outputs.md" in proc.stdout


# --- hostile live values (property) -------------------------------------------------------------

def _render_outputs_page(root: Path) -> str:
    from docgen.render import render_all

    result = build(load_config(str(root / "docgen.yml")))
    assert result.handbook is not None
    return render_all(result.handbook)["app/outputs.md"]


def test_any_live_value_stays_inside_its_cell(tmp_path: Path) -> None:
    """Whatever the file holds, the table keeps its shape and no raw HTML gets through."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    root = make_project(tmp_path, STACK_FILE)
    (root / "cfn-outputs").mkdir()
    path = root / "cfn-outputs" / "app.json"
    header_pipes = None

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.text(min_size=1, max_size=40), st.text(max_size=40))
    def check(value: str, other: str) -> None:
        nonlocal header_pipes
        path.write_text(json.dumps({"BucketName": value, "Greeting": other,
                                    value[:20] or "k": other}))
        os.utime(path, ns=(time_ns(), time_ns()))
        page = _render_outputs_page(root)
        lines = page.splitlines()
        header = next(line for line in lines if line.startswith("| Output |"))
        assert "Live value" in header
        pipes = header.count("|")
        rows = [line for line in lines if line.startswith("| <code>")]
        assert len(rows) == 3, "a value must not add or split table rows"
        for row in rows:
            assert row.count("|") == pipes, row
            assert re.sub(r"</?code>|<br>", "", row).count("<") == 0, row
        section = page[page.index("## Live values"):page.index("## Save the outputs")]
        for line in section.splitlines():
            assert re.sub(r"</?code>|<br>", "", line).count("<") == 0, line
        assert "<script" not in page.lower()

    check()


def time_ns() -> int:
    import time

    return time.time_ns()
