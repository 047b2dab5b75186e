"""The typed, immutable model of a CloudFormation template and of a handbook.

Everything after loading works on these dataclasses. Property values stay the raw
node trees from the loader (``DictNode``/``ListNode``/scalars, intrinsics in long form
such as ``{"Ref": "X"}``); they are shared, never mutated. Nothing here knows about
pages or presentation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Marker for "this parameter has no Default" (``None`` is a legal YAML default).
#: Pickles as a reference to this one object (loaded templates and facts travel between
#: processes and the cache; code tests it with ``is``).
NO_DEFAULT: Any = type("NoDefault", (), {"__repr__": lambda self: "NO_DEFAULT",
                                         "__reduce__": lambda self: "NO_DEFAULT"})()


@dataclass(frozen=True, slots=True)
class Location:
    """Where something is in a source file (1-based line and column)."""

    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True, eq=False)
class Parameter:
    name: str
    type: str
    location: Location
    default: Any = NO_DEFAULT
    no_echo: bool = False
    description: str = ""
    allowed_values: tuple[Any, ...] = ()
    allowed_pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_value: float | None = None
    max_value: float | None = None
    constraint_description: str = ""
    label: str = ""
    group: str = ""

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT


@dataclass(frozen=True, slots=True, eq=False)
class Resource:
    logical_id: str
    type: str
    location: Location
    properties: Mapping[str, Any] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    condition: str | None = None
    deletion_policy: Any = None
    update_replace_policy: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> str:
        """``AWS::RDS::DBInstance`` -> ``RDS``; custom resources -> ``Custom``."""
        parts = self.type.split("::")
        return parts[1] if len(parts) >= 3 else parts[0]


@dataclass(frozen=True, slots=True, eq=False)
class Output:
    name: str
    location: Location
    value: Any = None
    description: str = ""
    export_name: Any = None
    condition: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Condition:
    name: str
    expression: Any
    location: Location


@dataclass(frozen=True, slots=True)
class Reference:
    """One edge of the reference graph.

    ``source`` is a logical id, ``Outputs.<name>``, ``Conditions.<name>`` or
    ``Parameters.<name>``-style owner; ``target`` is the referenced name; ``kind`` is
    one of ``Ref``, ``GetAtt``, ``Sub``, ``DependsOn``, ``Condition``, ``FindInMap``.
    """

    source: str
    target: str
    kind: str
    path: tuple[str | int, ...]


@dataclass(frozen=True, slots=True, eq=False)
class NestedStack:
    logical_id: str
    template_url: Any
    local_path: str | None
    location: Location


@dataclass(frozen=True, slots=True, eq=False)
class Template:
    """One parsed and checked CloudFormation template."""

    path: str
    format: str  # "yaml" | "json"
    raw: Mapping[str, Any]
    description: str = ""
    format_version: str | None = None
    transforms: tuple[str, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    parameter_groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    resources: tuple[Resource, ...] = ()
    outputs: tuple[Output, ...] = ()
    conditions: tuple[Condition, ...] = ()
    mappings: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    references: tuple[Reference, ...] = ()
    nested_stacks: tuple[NestedStack, ...] = ()
    capabilities: tuple[str, ...] = ()
    imports: tuple[Any, ...] = ()  # Fn::ImportValue argument expressions
    #: facts derived from the template, each computed on first use (see ``derived``)
    _derived: dict[Any, Any] = field(init=False, default_factory=dict, repr=False,
                                     compare=False)

    def derived(self, key: Any, compute: Callable[[Template], Any]) -> Any:
        """``compute(self)``, once per template and ``key``.

        Analyses ask per resource for facts about the whole template (lookups by name,
        which queue is whose dead-letter queue, ...): computed once, such a question no
        longer costs a scan of every resource, which made big templates quadratic. The
        template is immutable, so the answer cannot go stale.
        """
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = compute(self)
            return value

    def resource(self, logical_id: str) -> Resource | None:
        try:
            return self.derived("resource by id", _resources_by_id).get(logical_id)
        except TypeError:  # not a name (an unhashable node): no resource has it
            return None

    def parameter(self, name: str) -> Parameter | None:
        try:
            return self.derived("parameter by name", _parameters_by_name).get(name)
        except TypeError:
            return None

    def resources_of_type(self, *types: str) -> tuple[Resource, ...]:
        """The resources of these types, in document order (asked per resource by some
        analyses: answered from an index, not a scan of every resource)."""
        if len(types) == 1:
            return self.derived("resources by type", _resources_by_type).get(types[0], ())
        return self.derived(("resources of types", types), lambda template: tuple(
            r for r in template.resources if r.type in types))

    @property
    def exports(self) -> tuple[Output, ...]:
        return tuple(o for o in self.outputs if o.export_name is not None)

    def users_of(self, name: str) -> tuple[str, ...]:
        """Resources and outputs that reference ``name`` (sorted, unique)."""
        return self.derived("users by target", _users_by_target).get(name, ())


def _resources_by_id(template: Template) -> dict[str, Resource]:
    out: dict[str, Resource] = {}
    for res in template.resources:
        out.setdefault(res.logical_id, res)  # the first, as a scan finds it
    return out


def _resources_by_type(template: Template) -> dict[str, tuple[Resource, ...]]:
    out: dict[str, list[Resource]] = {}
    for res in template.resources:
        out.setdefault(res.type, []).append(res)
    return {rtype: tuple(found) for rtype, found in out.items()}


def _parameters_by_name(template: Template) -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    for param in template.parameters:
        out.setdefault(param.name, param)
    return out


def _users_by_target(template: Template) -> dict[str, tuple[str, ...]]:
    users: dict[str, set[str]] = {}
    for ref in template.references:
        users.setdefault(ref.target, set()).add(ref.source)
    return {target: tuple(sorted(sources)) for target, sources in users.items()}


# --- project (docgen.yml) --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SecretRef:
    """A parameter value kept in a secret store: only the reference is known."""

    store: str  # "ssm" | "secretsmanager"
    name: str

    def dynamic_reference(self) -> str:
        if self.store == "ssm":
            return f"{{{{resolve:ssm-secure:{self.name}}}}}"
        return f"{{{{resolve:secretsmanager:{self.name}}}}}"


@dataclass(frozen=True, slots=True, eq=False)
class OutputWiring:
    """A stack parameter filled from another stack's output."""

    parameter: str
    from_stack: str
    output: str


@dataclass(frozen=True, slots=True, eq=False)
class Environment:
    name: str
    # parameter values for every stack that declares the parameter
    parameters: Mapping[str, Any] = field(default_factory=dict)
    # per-stack overrides: stack id -> parameter -> value
    stack_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # per-stack live outputs files: stack id -> path
    outputs_files: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, eq=False)
class StackConfig:
    """How one template is deployed: what docgen.yml says about it."""

    id: str  # slug, the folder name under runbooks/
    template_path: str
    name: str  # CloudFormation stack name, may contain ${Param} placeholders
    region: str | None = None
    description: str = ""
    owner: str = ""
    role: str = ""  # "primary" | "dr" | ""
    wiring: tuple[OutputWiring, ...] = ()
    outputs_file: str | None = None


@dataclass(frozen=True, slots=True)
class DRConfig:
    rto_minutes: int | None = None
    rpo_minutes: int | None = None
    dns_name: str | None = None
    hosted_zone_id: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class ProjectConfig:
    """The parsed ``docgen.yml`` (or the defaults when there is none)."""

    root: str
    title: str = "Operations handbook"
    description: str = ""
    stacks: tuple[StackConfig, ...] = ()
    environments: tuple[Environment, ...] = ()
    templates_dir: str | None = None
    knowledge_dir: str | None = None
    page_templates_dir: str | None = None
    docs_dir: str = "docs_src"
    notes_dir: str | None = None
    dr: DRConfig = field(default_factory=DRConfig)
    usage: Mapping[str, Any] = field(default_factory=dict)
    show_generated_at: bool = False
    show_revision: bool = False
    config_path: str | None = None
    mermaid_local: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Stack:
    """A template together with how it is deployed."""

    config: StackConfig
    template: Template

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def name(self) -> str:
        return self.config.name


@dataclass(frozen=True, slots=True, eq=False)
class Handbook:
    """Everything the pages are rendered from."""

    project: ProjectConfig
    stacks: tuple[Stack, ...]
    #: facts derived from the handbook, each computed on first use (see ``derived``)
    _derived: dict[Any, Any] = field(init=False, default_factory=dict, repr=False,
                                     compare=False)

    def derived(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()``, once per handbook and ``key`` (like :meth:`Template.derived`:
        the handbook is immutable, so the answer cannot go stale)."""
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = compute()
            return value

    def seed(self, key: Any, value: Any) -> None:
        """A derived value computed elsewhere, e.g. in the worker process that parsed the
        templates (what :meth:`derived` then returns for ``key``)."""
        self._derived[key] = value

    def stack(self, stack_id: str) -> Stack | None:
        """The first stack with this id (analyses look stacks up by id per resource: a
        scan each time was quadratic over a big corpus)."""
        by_id: dict[str, Stack] = self.derived(
            "stack by id", lambda: {st.id: st for st in reversed(self.stacks)})
        return by_id.get(stack_id)
