"""Live stack outputs: ``docgen outputs`` writes them, pages read them back.

Integration tests and operators want the deployed values (endpoints, ARNs, physical
ids) as one flat ``{"OutputKey": "OutputValue"}`` JSON file; this replaces the usual
``describe-stacks | jq`` pipeline with a command that fails clearly. When
``docgen.yml`` points a stack (per environment) at such a file, pages show those
values beside the template expressions. The file is outside docgen's control (it may
be stale, hand-edited or missing), so reading it never fails a build: a problem
becomes a sentence on the page, and every value is treated as untrusted text.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from docgen.model import Handbook, Stack

#: Longest value used in a command as a physical id; longer ones are shown only.
MAX_ID_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class LiveOutputs:
    """What an outputs file gave: ``values`` (None when unusable) and why not."""

    path: str  # as written in docgen.yml (relative to the project root)
    values: dict[str, str] | None
    problem: str = ""
    dropped: tuple[str, ...] = field(default_factory=tuple)  # keys whose value was not text


# --- writing: ``docgen outputs`` -------------------------------------------------------------

def _err(message: str) -> None:
    print(f"docgen: {message}", file=sys.stderr)


def fetch_outputs(stack_name: str, region: str | None) -> tuple[dict[str, str], str]:
    """The stack's outputs and status, read with boto3 (imported here: optional extra)."""
    import boto3

    client = boto3.client("cloudformation", region_name=region) if region else boto3.client(
        "cloudformation")
    response = client.describe_stacks(StackName=stack_name)
    stacks = response.get("Stacks") or []
    if not stacks:
        raise LookupError(stack_name)
    stack = stacks[0]
    outputs = {str(o["OutputKey"]): str(o.get("OutputValue", ""))
               for o in stack.get("Outputs") or [] if "OutputKey" in o}
    return outputs, str(stack.get("StackStatus", ""))


def render_json(values: dict[str, str]) -> str:
    """Deterministic flat JSON: sorted keys, two-space indent, trailing newline."""
    return json.dumps(values, indent=2, sort_keys=True) + "\n"


def _write_atomic(path: str, text: str) -> None:
    """Write beside the target and rename, so a reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".outputs-", suffix=".json", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_outputs(stack_name: str, region: str | None, output_path: str,
                  stdout: TextIO | None = None) -> int:
    """Fetch ``stack_name``'s outputs and write them as flat JSON; returns the exit code.

    Every expected failure (no such stack, no credentials, no region, endpoint down,
    access denied) is one line on stderr and exit 1, never a traceback.
    """
    try:
        import boto3  # noqa: F401
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            NoRegionError,
        )
    except ImportError:
        _err("`docgen outputs` needs boto3: pip install 'docgen[outputs]'")
        return 1
    where = f" in {region}" if region else ""
    try:
        values, status = fetch_outputs(stack_name, region)
    except NoCredentialsError:
        _err("no AWS credentials found: configure a profile, or set AWS_PROFILE or "
             "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        return 1
    except NoRegionError:
        _err("no AWS region: pass --region or set AWS_REGION")
        return 1
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or str(exc)
        if code == "ValidationError" and "does not exist" in message:
            _err(f"stack {stack_name!r} does not exist{where}")
        else:
            _err(f"cannot read stack {stack_name!r}{where}: {code}: {message}")
        return 1
    except BotoCoreError as exc:
        _err(f"cannot read stack {stack_name!r}{where}: {exc}")
        return 1
    except LookupError:
        _err(f"stack {stack_name!r} does not exist{where}")
        return 1
    if status.endswith(("_FAILED", "ROLLBACK_COMPLETE")) or status.startswith("DELETE"):
        _err(f"warning: stack {stack_name!r} is {status}; its outputs may be incomplete")
    text = render_json(values)
    if output_path == "-":
        (stdout or sys.stdout).write(text)
        return 0
    try:
        _write_atomic(output_path, text)
    except OSError as exc:
        _err(f"cannot write {output_path}: {exc.strerror or exc}")
        return 1
    _err(f"wrote {len(values)} output(s) of stack {stack_name} to {output_path}")
    return 0


# --- reading: pages ---------------------------------------------------------------------------

def read_live_outputs(path: str, shown_as: str | None = None) -> LiveOutputs:
    """Read a flat outputs file; problems are reported in the result, never raised.

    Pages ask for the same file many times per run, so results are memoised on the
    file's identity (path, size, modification time): an edit is seen at once.
    """
    shown = shown_as or path
    try:
        st = os.stat(path)
        key: tuple[Any, ...] | None = (path, shown, st.st_size, st.st_mtime_ns, st.st_ino)
    except OSError:
        key = None
    if key is not None and key in _CACHE:
        return _CACHE[key]
    result = _read(path, shown)
    if key is not None:
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[key] = result
    return result


_CACHE: dict[tuple[Any, ...], LiveOutputs] = {}


def _read(path: str, shown: str) -> LiveOutputs:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return LiveOutputs(shown, None, "not found")
    except (OSError, UnicodeDecodeError) as exc:
        return LiveOutputs(shown, None, f"not readable ({type(exc).__name__})")
    try:
        data: Any = json.loads(text)
    except ValueError as exc:
        return LiveOutputs(shown, None, f"not valid JSON (line {getattr(exc, 'lineno', 1)})")
    if not isinstance(data, dict):
        return LiveOutputs(shown, None, "not a flat JSON object of output names to values")
    values: dict[str, str] = {}
    dropped: list[str] = []
    for key, value in data.items():
        if isinstance(value, str):
            values[str(key)] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            values[str(key)] = str(value)
        else:
            dropped.append(str(key))
    return LiveOutputs(shown, dict(sorted(values.items())), "", tuple(sorted(dropped)))


def load_live_outputs(path: str) -> dict[str, str] | None:
    """The ``{OutputKey: OutputValue}`` mapping of ``path``, or None if missing/unusable."""
    return read_live_outputs(path).values


def outputs_file(handbook: Handbook, stack: Stack, env: str | None) -> str | None:
    """The outputs file docgen.yml names for ``stack`` in ``env`` (as written, or None).

    An environment's ``stacks.<id>.outputs_file`` wins over the stack's own
    ``outputs_file``, which applies to every environment without one.
    """
    for environment in handbook.project.environments:
        if environment.name == env and stack.id in environment.outputs_files:
            return environment.outputs_files[stack.id]
    return stack.config.outputs_file


def resolve(handbook: Handbook, rel: str) -> str:
    """An outputs path from docgen.yml, relative to the project root."""
    return os.path.normpath(os.path.join(handbook.project.root, rel))


def live_for(handbook: Handbook, stack: Stack, env: str | None) -> LiveOutputs | None:
    """The live outputs of ``stack`` in ``env``; None when docgen.yml names no file."""
    rel = outputs_file(handbook, stack, env)
    if not rel:
        return None
    return read_live_outputs(resolve(handbook, rel), rel)


def usable_id(value: str) -> bool:
    """Whether a live value may stand in a command as a physical id.

    It is quoted either way; this keeps multi-line or absurdly long values (a
    hand-edited or hostile file) out of commands, where they would mislead.
    """
    return (0 < len(value) <= MAX_ID_LENGTH and value == value.strip()
            and all(ch.isprintable() for ch in value))


def live_physical_id(stack: Stack, resource: Any, live: Mapping[str, str]) -> str | None:
    """The deployed physical id of ``resource`` when an output is exactly its ``Ref``.

    ``Ref`` of a resource is its physical id for the types commands act on, so an
    output ``Value: !Ref X`` in the live file names X without a
    ``describe-stack-resource`` lookup.
    """
    if not live:
        return None
    for output in stack.template.outputs:
        if output.value == {"Ref": resource.logical_id} and output.name in live:
            value = live[output.name]
            if usable_id(value):
                return value
    return None
