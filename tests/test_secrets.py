"""Nothing leaked: secret values never reach a generated file, the built site (pages,
search index, sitemap) or the console, and a secret written in plain text in a
template is reported as a finding without being repeated.

Every secret below is a unique marker, so a leak anywhere is a plain substring match.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

SECRETS = {
    "noecho_default": "NoEchoDefault7f3a9c",
    "noecho_default_2": "NoEchoTokenDefault1d2e",
    "master_password": "PlainMasterPw51be",
    "auth_token": "PlainAuthToken88d1",
    "secret_string": "PlainSecretString2c4e",
    "login_password": "PlainLoginPw9a0b",
    "env_password": "PlainEnvPw77aa",
    "live_secret_key": "LiveSecretAccessKey31f0",
    "live_noecho_output": "LiveDbPasswordOut5e6f",
}

TEMPLATE = f"""\
Description: A stack full of secrets, to see that none of them leaks.
Parameters:
  DBPassword:
    Type: String
    NoEcho: true
    Default: {SECRETS["noecho_default"]}
    Description: Master password of the database
  ApiToken:
    Type: String
    NoEcho: 'true'
    Default: {SECRETS["noecho_default_2"]}
    MinLength: 8
  Env:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Database:
    Type: AWS::RDS::DBInstance
    DeletionPolicy: Snapshot
    Properties:
      Engine: postgres
      DBInstanceClass: db.t3.micro
      AllocatedStorage: '20'
      MasterUsername: app
      MasterUserPassword: !Ref DBPassword
      DBInstanceIdentifier: !Sub 'db-${{Env}}'
  LegacyDatabase:
    Type: AWS::RDS::DBInstance
    DeletionPolicy: Snapshot
    Properties:
      Engine: mysql
      DBInstanceClass: db.t3.micro
      AllocatedStorage: '20'
      MasterUsername: admin
      MasterUserPassword: {SECRETS["master_password"]}
  Cache:
    Type: AWS::ElastiCache::ReplicationGroup
    Properties:
      ReplicationGroupDescription: cache
      CacheNodeType: cache.t3.micro
      Engine: redis
      NumCacheClusters: 1
      TransitEncryptionEnabled: true
      AuthToken: {SECRETS["auth_token"]}
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: {SECRETS["secret_string"]}
  TokenSecret:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: !If [IsProd, !Ref ApiToken, !Sub '{{{{"token": "${{ApiToken}}"}}}}']
  User:
    Type: AWS::IAM::User
    Properties:
      LoginProfile:
        Password: {SECRETS["login_password"]}
  Key:
    Type: AWS::IAM::AccessKey
    Properties:
      UserName: !Ref User
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: '2012-10-17'
        Statement:
          - Effect: Allow
            Principal: {{Service: lambda.amazonaws.com}}
            Action: sts:AssumeRole
  Function:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      Code: {{ZipFile: "def handler(e, c): return 1"}}
      Environment:
        Variables:
          DB_PASSWORD: {SECRETS["env_password"]}
          API_TOKEN: !Ref ApiToken
Outputs:
  AccessKeyId:
    Value: !Ref Key
  AccessKeySecret:
    Description: The secret access key of the user
    Value: !GetAtt Key.SecretAccessKey
  PasswordEcho:
    Description: Echoes a NoEcho parameter (a bad idea)
    Value: !Ref DBPassword
  DatabaseEndpoint:
    Value: !GetAtt Database.Endpoint.Address
"""

CONFIG = """\
title: Secrets handbook
paths: {docs: docs}
stacks:
  app:
    template: app.yaml
    name: App${Env}
    region: eu-west-1
environments:
  dev:
    parameters:
      Env: dev
      DBPassword: {ssm: /app/dev/db-password}
    stacks:
      app: {outputs_file: cfn-outputs/dev/app.json}
  prod:
    parameters:
      Env: prod
      DBPassword: {secretsmanager: app/prod/db}
      ApiToken: {secretsmanager: app/prod/token}
"""

LIVE_OUTPUTS = {
    "AccessKeyId": "AKIAEXAMPLEKEYID0000",
    "AccessKeySecret": SECRETS["live_secret_key"],
    "PasswordEcho": SECRETS["live_noecho_output"],
    "DatabaseEndpoint": "db.example.internal",
}


def leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("secrets")
    (root / "app.yaml").write_text(TEMPLATE)
    (root / "docgen.yml").write_text(CONFIG)
    (root / "cfn-outputs" / "dev").mkdir(parents=True)
    (root / "cfn-outputs" / "dev" / "app.json").write_text(json.dumps(LIVE_OUTPUTS))
    return root


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "docgen", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_template_is_valid(project: Path) -> None:
    proc = run(["-v", "validate", "app.yaml"], project)
    assert proc.returncode == 0, proc.stderr
    assert not leaks(proc.stdout + proc.stderr)


def test_generated_pages_hold_no_secret(project: Path) -> None:
    proc = run(["-v", "generate"], project)
    assert proc.returncode == 0, proc.stderr
    assert not leaks(proc.stdout + proc.stderr), "printed on the console"
    pages = sorted((project / "docs").rglob("*"))
    assert any(p.name == "parameters.md" for p in pages)
    for page in pages:
        if page.is_file():
            assert not leaks(page.read_text(encoding="utf-8", errors="replace")), page
    # the secret parameter is still documented, as a secret
    params = next((project / "docs").rglob("parameters.md")).read_text()
    assert "DBPassword" in params and "secret" in params
    # the live outputs file's other values are fine to show; the secret one is not
    outputs = next((project / "docs").rglob("outputs.md")).read_text()
    assert "AccessKeySecret" in outputs


def test_built_site_search_index_and_sitemap_hold_no_secret(project: Path) -> None:
    proc = run(["build", "--site-dir", "site"], project)
    assert proc.returncode == 0, proc.stderr
    assert not leaks(proc.stdout + proc.stderr)
    site = project / "site"
    index = site / "search" / "search_index.json"
    assert index.is_file()
    assert not leaks(index.read_text(encoding="utf-8")), "search index"
    assert (site / "sitemap.xml").is_file()
    assert not leaks((site / "sitemap.xml").read_text(encoding="utf-8")), "sitemap"
    if (site / "sitemap.xml.gz").is_file():
        assert not leaks(gzip.decompress((site / "sitemap.xml.gz").read_bytes()).decode())
    for f in site.rglob("*"):
        if f.is_file() and f.suffix in (".html", ".json", ".xml", ".txt", ".md", ".js"):
            assert not leaks(f.read_text(encoding="utf-8", errors="replace")), f


def test_docgen_check_reports_plain_text_secrets_without_printing_them(project: Path) -> None:
    proc = run(["check", "app.yaml", "--format", "text", "--fail-on", "critical"], project)
    assert proc.returncode in (0, 1), proc.stderr
    out = proc.stdout + proc.stderr
    assert not leaks(out), leaks(out)
    for check_id in ("rds-password-not-plaintext", "elasticache-auth-token-not-plaintext",
                     "secret-string-not-plaintext", "iam-user-login-password-not-plaintext",
                     "lambda-env-no-secrets"):
        assert check_id in out, (check_id, out[:2000])
    as_json = run(["check", "app.yaml", "--format", "json", "--fail-on", "critical"], project)
    assert not leaks(as_json.stdout + as_json.stderr)
    sarif = run(["check", "app.yaml", "--format", "sarif", "--fail-on", "critical"], project)
    assert not leaks(sarif.stdout + sarif.stderr)


def test_security_page_reports_plain_text_secrets(project: Path) -> None:
    proc = run(["generate"], project)
    assert proc.returncode == 0, proc.stderr
    page = project / "docs" / "runbooks" / "app" / "security.md"
    if not page.is_file():
        pytest.skip("no security page in this build (docgen.pages.security not registered)")
    security = page.read_text(encoding="utf-8")
    assert not leaks(security)
    for rule in ("rds-password-not-plaintext", "elasticache-auth-token-not-plaintext",
                 "secret-string-not-plaintext", "iam-user-login-password-not-plaintext",
                 "lambda-env-no-secrets"):
        assert rule in security, rule


def test_deploy_page_warns_inside_the_admonition(project: Path) -> None:
    """The warning about secret defaults is the admonition's body (indented), naming
    the parameters, not a paragraph after an empty admonition."""
    proc = run(["generate"], project)
    assert proc.returncode == 0, proc.stderr
    deploy = next((project / "docs").rglob("deploy.md")).read_text()
    _head, sep, body = deploy.partition('!!! danger "Secret with a default"\n')
    assert sep, deploy
    first = body.splitlines()[0]
    assert first.startswith("    ") and "ApiToken" in first, first
    assert first.endswith(": the template sets a default that is not shown here; the "
                          "commands keep it unless you override it."), first
    assert not leaks(deploy)
