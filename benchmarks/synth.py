"""A synthetic CloudFormation template of a chosen size, for the scaling benchmark.

Deterministic (no randomness): resources cycle through common types whose
properties use every kind of intrinsic (Ref, GetAtt, Sub, Join, If, FindInMap,
ImportValue is left out so the stack stands alone), parameters carry constraints and
descriptions, outputs export names. ``maximal()`` is the 500 resources / 200
parameters / 200 outputs case, padded with descriptions to just under CloudFormation's
1 MB template limit.
"""

from __future__ import annotations

import sys

LIMIT = 1_048_576


def _param(i: int, pad: str) -> list[str]:
    kind = i % 4
    lines = [f"  Param{i:03d}:"]
    if kind == 0:
        lines += ["    Type: String", f"    Default: value-{i}",
                  "    AllowedPattern: '^[a-z0-9-]+$'", "    MaxLength: 64"]
    elif kind == 1:
        lines += ["    Type: Number", f"    Default: {i}", "    MinValue: 0", "    MaxValue: 100000"]
    elif kind == 2:
        lines += ["    Type: String", "    Default: small", "    AllowedValues: [small, medium, large]"]
    else:
        lines += ["    Type: String", "    NoEcho: true", "    MinLength: 8"]
    lines.append(f"    Description: Parameter {i} of the synthetic stack. {pad}")
    return lines


def _resource(i: int, n_params: int, pad: str) -> list[str]:
    p = f"Param{(i * 7) % (n_params - 1):03d}" if n_params > 1 else "Environment"
    prev = f"Res{i - 1:03d}" if i else None
    kind = i % 6
    lines = [f"  Res{i:03d}:"]
    if kind == 0:
        lines += ["    Type: AWS::S3::Bucket", "    DeletionPolicy: Retain", "    Properties:",
                  f"      BucketName: !Sub '${{AWS::StackName}}-bucket-{i}-${{{p}}}'",
                  "      VersioningConfiguration: {Status: Enabled}",
                  "      BucketEncryption:", "        ServerSideEncryptionConfiguration:",
                  "          - ServerSideEncryptionByDefault: {SSEAlgorithm: 'aws:kms'}"]
    elif kind == 1:
        lines += ["    Type: AWS::SQS::Queue", "    Properties:",
                  f"      QueueName: !Join ['-', [!Ref 'AWS::StackName', queue, '{i}']]",
                  "      VisibilityTimeout: 60", "      MessageRetentionPeriod: 345600"]
    elif kind == 2:
        lines += ["    Type: AWS::IAM::Role", "    Properties:",
                  "      AssumeRolePolicyDocument:", "        Version: '2012-10-17'",
                  "        Statement:", "          - Effect: Allow",
                  "            Principal: {Service: lambda.amazonaws.com}",
                  "            Action: sts:AssumeRole",
                  "      ManagedPolicyArns:",
                  "        - arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"]
    elif kind == 3:
        role = f"Res{i - 1:03d}"
        lines += ["    Type: AWS::Lambda::Function", "    Properties:",
                  "      Runtime: python3.12", "      Handler: index.handler",
                  f"      Role: !GetAtt {role}.Arn", "      MemorySize: 256", "      Timeout: 30",
                  "      Environment:", "        Variables:",
                  f"          SETTING: !Ref {p}",
                  f"          QUEUE: !Ref Res{i - 2:03d}",
                  "      Code:", "        ZipFile: |", "          def handler(event, context):",
                  f"              return {{'resource': {i}}}"]
    elif kind == 4:
        lines += ["    Type: AWS::DynamoDB::Table", "    Properties:",
                  "      BillingMode: PAY_PER_REQUEST",
                  "      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]",
                  "      KeySchema: [{AttributeName: pk, KeyType: HASH}]",
                  "      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}"]
    else:
        lines += ["    Type: AWS::SNS::Topic", "    Condition: IsProduction", "    Properties:",
                  f"      TopicName: !If [IsProduction, !Sub 'topic-{i}', !Ref 'AWS::NoValue']",
                  "      KmsMasterKeyId: alias/aws/sns"]
    if prev and kind in (1, 4):
        lines.append(f"    DependsOn: [{prev}]")
    lines += ["    Metadata:", f"      Comment: Resource {i} of the synthetic stack. {pad}"]
    return lines


def _output(i: int, n_res: int, pad: str) -> list[str]:
    r = i % n_res if n_res else 0
    kind = r % 6
    value = f"!GetAtt Res{r:03d}.Arn" if kind in (1, 2, 3, 4) else f"!Ref Res{r:03d}"
    lines = [f"  Out{i:03d}:", f"    Description: Output {i}. {pad}", f"    Value: {value}"]
    if kind == 5:
        lines.insert(1, "    Condition: IsProduction")
    lines.append(f"    Export: {{Name: !Sub '${{AWS::StackName}}-out-{i}'}}")
    return lines


def template(n_res: int, n_params: int, n_outputs: int, pad_words: int = 0) -> str:
    pad = " ".join(f"word{k}" for k in range(pad_words))
    out = ["AWSTemplateFormatVersion: '2010-09-09'",
           f"Description: Synthetic benchmark stack ({n_res} resources, {n_params} parameters, "
           f"{n_outputs} outputs)", "Parameters:",
           "  Environment:", "    Type: String", "    Default: dev",
           "    AllowedValues: [dev, prod]"]
    for i in range(n_params - 1):  # Environment is the last of the n_params
        out += _param(i, pad)
    out += ["Conditions:", "  IsProduction: !Equals [!Ref Environment, prod]",
            "Mappings:", "  Sizes:", "    dev: {Count: 1}", "    prod: {Count: 3}", "Resources:"]
    for i in range(n_res):
        out += _resource(i, n_params, pad)
    if n_outputs:
        out.append("Outputs:")
        for i in range(n_outputs):
            out += _output(i, n_res, pad)
    return "\n".join(out) + "\n"


def sized(n_res: int, n_params: int, n_outputs: int, target_bytes: int) -> str:
    """The template padded (descriptions) to just under ``target_bytes``."""
    lo, hi = 0, 400
    best = template(n_res, n_params, n_outputs)
    while lo <= hi:
        mid = (lo + hi) // 2
        text = template(n_res, n_params, n_outputs, mid)
        if len(text.encode()) <= target_bytes:
            best, lo = text, mid + 1
        else:
            hi = mid - 1
    return best


def maximal(scale: float = 1.0) -> str:
    """500/200/200 at scale 1, just under 1 MB; smaller scales shrink everything."""
    return sized(int(500 * scale), int(200 * scale), int(200 * scale),
                 int((LIMIT - 24_000) * scale))


if __name__ == "__main__":
    sys.stdout.write(maximal(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0))
