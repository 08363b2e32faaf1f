"""`codeforge.yaml`: what a project declares it wants, checked against one pydantic model.

The file sits at the project root and is committed with the code. The language server
derives its diagnostics, completion and hover from `ProjectFile`'s JSON Schema, and its
code actions from the sections' plans; the CLI reads the `project:` key for context.

Adding a section for a new capability (databases, pipelines, domains, gpus): add a model
for its entries, a field on `ProjectFile` with a `description`, and, if the section is
carried out by operations, a planning function beside `plan_env`. Nothing else reads keys
by name, so completion, hover and diagnostics follow the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from codeforge.catalog.databases import DB_NAME_PATTERN
from codeforge.catalog.env import ENV_NAME_PATTERN, EnvSetInput, EnvVariable
from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.catalog.projects import SLUG_PATTERN
from codeforge.projectfile.databases import BackupPolicy, DatabaseEntry
from codeforge.projectfile.language_servers import LanguageServerEntry, LanguageServerName

__all__ = [
    "PROJECT_FILE_NAMES",
    "EnvEntry",
    "EnvPlan",
    "ProjectFile",
    "ProjectFileError",
    "find_project_file",
    "load_project_file",
    "parse_project_file",
    "plan_env",
    "project_file_problems",
]

# The names a project file may have, first found wins. Only `codeforge.yaml`, as the CLI
# (codeforge/project.py) finds it: two names would let editor and CLI disagree.
PROJECT_FILE_NAMES = ("codeforge.yaml",)

_ENV_NAME = re.compile(ENV_NAME_PATTERN)
_DB_NAME = re.compile(DB_NAME_PATTERN)


def _scalar_to_str(value: Any) -> Any:
    """YAML reads `PORT: 8080` as an int and `DEBUG: true` as a bool; environment values
    are strings, so take them as written. Floats would lose digits (1.10 -> 1.1): those
    must be quoted, and the string type's error says so."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError("an unquoted decimal loses digits (1.10 becomes 1.1): quote it")
    return value


def _check_env_name(name: str) -> str:
    if not _ENV_NAME.match(name):
        raise ValueError(
            f"`{name}` is not a valid variable name: use letters, digits and underscores, not starting with a digit"
        )
    return name


class EnvEntry(BaseModel):
    """One variable: a plain value, or a declaration that the platform must hold it."""

    model_config = ConfigDict(extra="forbid", title="Environment variable")

    value: Annotated[str | None, BeforeValidator(_scalar_to_str)] = Field(
        default=None,
        description="The value the code action sets. Leave it out for a variable someone sets on "
        "the platform (`codeforge env set NAME VALUE`).",
    )
    secret: bool = Field(
        default=False,
        description="A secret: encrypted on the platform and never listed. Its value never goes in "
        "this file; set it with `codeforge env set NAME --secret`.",
    )
    description: str = Field(default="", description="What the variable is for, shown on hover.")

    @model_validator(mode="after")
    def _no_committed_secret(self) -> EnvEntry:
        # codeforge.yaml is committed with the code: a value written here is not a secret.
        if self.secret and self.value is not None:
            raise ValueError(
                "a secret's value must not be written in codeforge.yaml, which is committed: "
                "remove `value` and set it with `codeforge env set NAME --secret`"
            )
        return self


def _entry_from_shorthand(value: Any) -> Any:
    # `NAME: value` is shorthand for `NAME: {value: value}`.
    if isinstance(value, dict) or value is None:
        return value if value is not None else {}
    if isinstance(value, list):
        raise ValueError("a list is not a value: give a string, or a mapping of value, secret, description")
    return {"value": _scalar_to_str(value)}


def _check_db_name(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(
            f"`{name}` is not a valid database name: use up to 40 lower-case letters, digits, `_` and `-`, "
            "starting with a letter"
        )
    return name


def _database_from_none(value: Any) -> Any:
    # `main:` with nothing under it declares a database with every default.
    return {} if value is None else value


EnvName = Annotated[str, AfterValidator(_check_env_name)]
DatabaseName = Annotated[str, AfterValidator(_check_db_name)]
DatabaseField = Annotated[DatabaseEntry, BeforeValidator(_database_from_none, json_schema_input_type=DatabaseEntry)]
EnvField = Annotated[EnvEntry, BeforeValidator(_entry_from_shorthand, json_schema_input_type=str | EnvEntry)]


class ProjectFile(BaseModel):
    """The whole of codeforge.yaml."""

    model_config = ConfigDict(extra="forbid", title="codeforge.yaml")

    project: str | None = Field(
        default=None,
        pattern=SLUG_PATTERN,
        description="Slug of the CodeForge project this folder belongs to. Editors and the CLI run "
        "operations in it; without it they use the login's default project.",
        # Editors complete the value from this list operation's items' `slug`.
        json_schema_extra={"x-codeforge-values": "projects.list#slug"},
    )
    env: dict[EnvName, EnvField] = Field(
        default_factory=dict,
        description="Environment variables of the project, injected into its workspaces, pipelines "
        "and deployments. `NAME: value`, or `NAME: {value, secret, description}`.",
        # Editors offer the names the platform already has (env.list's items' `name`).
        json_schema_extra={"x-codeforge-keys": "env.list#name"},
    )
    databases: dict[DatabaseName, DatabaseField] = Field(
        default_factory=dict,
        description="Databases the project uses, by name: `main: {engine, env, pooled, migrations, backups}`. "
        "Code actions provision them, branch them for the git branch, back them up and apply their "
        "migrations.",
        # Editors offer the names of the project's existing databases (databases.list's items' `name`).
        json_schema_extra={"x-codeforge-keys": "databases.list#name"},
    )
    language_servers: dict[LanguageServerName, LanguageServerEntry] = Field(
        default_factory=dict,
        description="Language servers the bridge runs next to the files for `codeforge connect URL --lsp NAME`: "
        "`name: {command, env}`. `python` (basedpyright), `basedpyright` and `pylsp` are known without "
        "an entry; an entry of the same name replaces one.",
    )

    @field_validator("databases")
    @classmethod
    def _one_database_per_variable(cls, databases: dict[str, DatabaseEntry]) -> dict[str, DatabaseEntry]:
        holders: dict[str, str] = {}
        for name, entry in databases.items():
            if entry.env in holders:
                own = f"{name.upper().replace('-', '_')}_DATABASE_URL"
                raise ValueError(
                    f"`{name}` and `{holders[entry.env]}` would both set `{entry.env}`: "
                    f"give `{name}` a variable of its own (`env: {own}`)"
                )
            holders[entry.env] = name
        return databases


class ProjectFileError(BadInput):
    """codeforge.yaml is not valid YAML or does not match the schema."""

    def __init__(self, problems: list[FieldProblem], *, path: str = "codeforge.yaml") -> None:
        super().__init__(f"{path} needs fixing", errors=problems)


def _allowed_keys(model: type[BaseModel]) -> str:
    # Fields excluded from the file's form (a deploy entry's `project` and `name`) are not offered.
    return ", ".join(f"`{k}`" for k, info in model.model_fields.items() if not info.exclude)


def _model_at(loc: tuple[Any, ...], root: type[BaseModel] = ProjectFile) -> type[BaseModel]:
    """Which model an error's location sits in, for naming the keys it takes: the field
    types followed down the location (mappings' values, lists' items), so a capability's
    section is named as well as the built-in ones."""
    model: type[BaseModel] = root
    annotation: Any = root
    for part in loc[:-1]:
        if part == "[key]":
            break
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
            info = annotation.model_fields.get(str(part))
            if info is None:
                break
            annotation = info.annotation
            continue
        args = [a for a in get_args(annotation) if a is not type(None)]
        origin = get_origin(annotation)
        if origin is dict and len(args) == 2:
            annotation = args[1]
        elif origin is list and args:
            annotation = args[0]
        else:
            break
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        model = annotation
    return model


def _unwrap(annotation: Any) -> Any:
    """Annotated[X, …] -> X; X | None -> X."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        members = [a for a in get_args(annotation) if a is not type(None)]
        if get_origin(annotation) in (Union, UnionType) and len(members) == 1:
            annotation = members[0]
            continue
        return annotation


_WHERE = {
    EnvEntry: "an env entry",
    DatabaseEntry: "a database entry",
    BackupPolicy: "`backups`",
    LanguageServerEntry: "a language server entry",
}


def project_file_problems(
    errors: Iterable[Mapping[str, Any]], model: type[BaseModel] = ProjectFile
) -> list[tuple[tuple[str | int, ...], FieldProblem]]:
    """Each pydantic error as (location in the YAML document, problem in a person's words).

    The location is the path of keys; a trailing "[key]" means the key itself is wrong,
    not its value. Pydantic's own words talk about "inputs"; these talk about the file."""
    out: list[tuple[tuple[str | int, ...], FieldProblem]] = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        dotted = ".".join(str(p) for p in loc if p != "[key]") or "(file)"
        kind = str(err.get("type", ""))
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            key = str(loc[-1])
            at = _model_at(loc, model)
            title = at.model_config.get("title")
            if at in _WHERE:
                where = _WHERE[at]
            elif at is model:
                where = "codeforge.yaml"
            elif title:
                # "Deployment" -> "a deployment entry"; an acronym stays ("DNS record" -> "a DNS record entry").
                where = f"a {title if title[:2].isupper() else title[0].lower() + title[1:]} entry"
            else:
                where = f"`{loc[-2]}`" if len(loc) >= 2 else "codeforge.yaml"
            problem = FieldProblem(dotted, f"unknown key `{key}`", f"{where} takes {_allowed_keys(at)}")
        elif kind == "string_pattern_mismatch" and loc == ("project",):
            problem = FieldProblem(dotted, "not a project slug", "use lower-case letters, digits and dashes")
        elif kind == "string_pattern_mismatch" and loc[:1] == ("databases",) and loc[-1:] == ("env",):
            problem = FieldProblem(
                dotted, "not a variable name", "use letters, digits and underscores, not starting with a digit"
            )
        elif kind in (
            "int_type",
            "int_parsing",
            "greater_than_equal",
            "less_than_equal",
            "string_too_short",
            "string_too_long",
            "enum",
            "literal_error",
            "greater_than",
            "less_than",
            "too_long",
            "too_short",
            "float_type",
            "float_parsing",
        ):
            # Pydantic says "Input should be …"; in a file it is the value that should be.
            problem = FieldProblem(dotted, msg.replace("Input should", "should"), "correct the value")
        elif kind in ("dict_type", "model_type", "model_attributes_type"):
            problem = FieldProblem(dotted, "expected a mapping of `key: value` lines", "indent the entries under it")
        elif kind == "missing":
            problem = FieldProblem(dotted, f"`{loc[-1]}` is required", f"add `{loc[-1]}:`")
        elif kind == "list_type":
            problem = FieldProblem(dotted, "expected a list", "write the items as `[a, b]` or one `- item` a line")
        elif kind == "string_type":
            problem = FieldProblem(dotted, "expected a string", "quote the value")
        elif kind == "bool_type" or kind == "bool_parsing":
            problem = FieldProblem(dotted, "expected true or false", "write `true` or `false`")
        else:
            # Our own validators write "what is wrong: what to do".
            what, _, fix = msg.partition(": ") if kind == "value_error" else (msg, "", "")
            problem = FieldProblem(dotted, what, fix or "correct the value")
        out.append((loc, problem))
    return out


def parse_project_file(
    text: str, *, path: str = "codeforge.yaml", model: type[ProjectFile] | None = None
) -> ProjectFile:
    """Parse and check the file's text; raise ProjectFileError naming each problem. `model`
    is ProjectFile with the sections of capabilities from outside this package, if any."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ProjectFileError(
            [FieldProblem(where, f"not valid YAML: {problem}", "fix the syntax")], path=path
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProjectFileError(
            [FieldProblem("(file)", "expected a mapping of keys", "start with a line like `project: my-project`")],
            path=path,
        )
    try:
        return (model or ProjectFile).model_validate(data)
    except ValidationError as exc:
        raise ProjectFileError(
            [p for _, p in project_file_problems(exc.errors(), model or ProjectFile)], path=path
        ) from None


def find_project_file(root: Path) -> Path | None:
    """The project file directly in `root`, if there is one."""
    for name in PROJECT_FILE_NAMES:
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


def load_project_file(root: Path) -> ProjectFile | None:
    """The project file in `root`, parsed; None when there is none."""
    path = find_project_file(root)
    if path is None:
        return None
    return parse_project_file(path.read_text(encoding="utf-8"), path=str(path))


@dataclass
class EnvPlan:
    """What carrying out the `env:` section takes, against the platform's current state."""

    to_set: list[EnvSetInput] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Secrets on the platform that the file gives a plain value: never downgraded silently.
    conflicts: list[str] = field(default_factory=list)
    # Declared without a value (someone sets them on the platform) and not set there.
    missing: list[str] = field(default_factory=list)


def plan_env(project: str, declared: ProjectFile, current: Iterable[EnvVariable]) -> EnvPlan:
    """Compare the declared variables with `env.list`'s items: set what differs, report
    declared-only variables that the platform lacks. Plain values only: a secret's value
    never comes from this file."""
    existing = {v.name: v for v in current}
    plan = EnvPlan()
    for name, entry in declared.env.items():
        have = existing.get(name)
        if entry.value is None:
            if have is None:
                plan.missing.append(name)
            continue
        if have is not None and have.secret:
            plan.conflicts.append(name)
            continue
        if have is not None and have.value == entry.value:
            plan.unchanged.append(name)
            continue
        plan.to_set.append(EnvSetInput(project=project, name=name, value=entry.value, secret=False))
    return plan
