"""CLI commands derived from the catalog: `codeforge <capability> <verb>`.

Required fields become arguments in declaration order, the rest options; booleans are flags,
enums choices. Fields the context fills (the project) default from codeforge.yaml, and fields
that take a file's content take its path.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from collections.abc import Callable
from enum import EnumMeta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic.fields import FieldInfo

from codeforge.catalog import CATALOG, CONTEXT_KEY, JobRef, Operation
from codeforge.catalog.errors import CodeForgeError
from codeforge.cli.render import follow_job, show_error, show_result
from codeforge.client import PlatformClient
from codeforge.project import current_project

__all__ = ["add_operation_commands"]


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _param(name: str, info: FieldInfo) -> inspect.Parameter:
    """The typer parameter a field becomes."""
    flag = "--" + name.replace("_", "-")
    help_text = info.description or ""
    extra = _extra(info)
    annotation: Any = str
    enum = next(
        (a for a in (info.annotation, *getattr(info.annotation, "__args__", ())) if isinstance(a, EnumMeta)), None
    )
    if enum is not None:
        annotation = enum
    if extra.get("x-codeforge-file"):
        help_text += " (a path, or - for standard input)"
    default: Any = None if info.is_required() else info.default
    if info.annotation is bool:
        spec: Any = typer.Option(f"{flag}/--no-{name.replace('_', '-')}", help=help_text)
        annotation = bool
    elif info.is_required() and CONTEXT_KEY not in extra:
        if extra.get("format") == "password":  # prompt hidden, rather than on the command line
            spec = typer.Option(flag, prompt=True, hide_input=True, help=help_text)
        else:
            spec = typer.Argument(help=help_text)
            default = inspect.Parameter.empty
    else:
        spec = typer.Option(flag, help=help_text)
        annotation = annotation | None
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[annotation, spec]
    )


def _read_file(value: str) -> str:
    if value == "-":
        return typer.get_text_stream("stdin").read()
    path = Path(value)
    if not path.is_file():
        raise CodeForgeError(f"{value} is not a file", fix="give the path of the file to read")
    return path.read_text()


def _collect(op: Operation[Any, Any], params: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, info in op.input.model_fields.items():
        value = params.get(name)
        if _extra(info).get(CONTEXT_KEY) == "project" and not value:
            value = current_project(Path.cwd())
        if value is not None and _extra(info).get("x-codeforge-file"):
            value = _read_file(value)
        if value is not None:
            data[name] = value
    return data


def _command(op: Operation[Any, Any]) -> Callable[..., None]:
    def run(**params: Any) -> None:
        as_json = params.pop("json_output", False)
        try:
            data = _collect(op, params)
            if op.destructive and not params.pop("yes", False):
                typer.confirm(f"{op.title}?", abort=True, err=True)
            with PlatformClient() as client:
                result = client.call(op, data)
                if isinstance(result, JobRef):
                    show_result(follow_job(client, result.job_id, op.title), as_json=as_json, op=op)
                else:
                    show_result(result, as_json=as_json, op=op)
        except CodeForgeError as err:
            show_error(err)
            raise typer.Exit(2 if err.status == 422 else 1) from None

    params = [_param(name, info) for name, info in op.input.model_fields.items()]
    # Arguments must come first for typer; keyword-only parameters keep any order.
    params.sort(key=lambda p: p.default is not inspect.Parameter.empty)
    params.append(
        inspect.Parameter(
            "json_output",
            inspect.Parameter.KEYWORD_ONLY,
            default=False,
            annotation=Annotated[bool, typer.Option("--json", help="Print the result as JSON.")],
        )
    )
    if op.destructive:
        params.append(
            inspect.Parameter(
                "yes",
                inspect.Parameter.KEYWORD_ONLY,
                default=False,
                annotation=Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")],
            )
        )
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__doc__ = op.title
    return run


def add_operation_commands(app: typer.Typer) -> None:
    """`codeforge <capability> <verb>` for every catalog operation."""
    by_capability: dict[str, list[Operation[Any, Any]]] = defaultdict(list)
    for op in CATALOG.values():
        by_capability[op.capability].append(op)
    for capability, ops in sorted(by_capability.items()):
        ops.sort(key=lambda o: o.verb)
        verbs = ", ".join(op.verb.replace("_", "-") for op in ops)
        group = typer.Typer(help=f"The {capability} operations: {verbs}.", short_help=verbs, no_args_is_help=True)
        for op in ops:
            group.command(op.verb.replace("_", "-"), help=op.title)(_command(op))
        app.add_typer(group, name=capability)
