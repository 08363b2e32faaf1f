"""CLI commands derived from the catalog: `codeforge <capability> <verb>`.

Required fields become arguments in declaration order, the rest options; booleans are flags,
enums choices. Fields the context fills (the project) default from codeforge.yaml, and fields
that take a file's content take its path.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections import defaultdict
from collections.abc import Callable
from enum import EnumMeta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import typer
from pydantic.fields import FieldInfo

from codeforge.catalog import CATALOG, CONTEXT_KEY, JobRef, Operation
from codeforge.catalog.errors import CodeForgeError
from codeforge.cli.render import err_console, follow_job, show_error, show_lines, show_result
from codeforge.client import PlatformClient
from codeforge.project import current_project

__all__ = ["add_operation_commands"]


def _extra(info: FieldInfo) -> dict[str, Any]:
    extra = info.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _base_type(info: FieldInfo) -> Any:
    """The field's type without `| None`: what the command line converts the value to."""
    annotation = info.annotation
    if get_origin(annotation) in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[0] if len(args) == 1 else str
    return annotation


def _option_type(info: FieldInfo) -> tuple[Any, dict[str, Any]]:
    """(type, typer options) of a field: ints and floats as such, with the range pydantic
    checks; enums as choices; a list as a repeatable option; anything else as text."""
    base = _base_type(info)
    if isinstance(base, EnumMeta) or base is bool:
        return base, {}
    if base in (int, float):
        bounds: dict[str, Any] = {}
        step = 1 if base is int else 0  # an open bound of an int is the next int; of a float, left to pydantic
        for rule in info.metadata:
            if (low := getattr(rule, "ge", None)) is not None or (
                step and (low := getattr(rule, "gt", None)) is not None and (low := low + step)
            ):
                bounds["min"] = low
            if (high := getattr(rule, "le", None)) is not None or (
                step and (high := getattr(rule, "lt", None)) is not None and (high := high - step)
            ):
                bounds["max"] = high
        return base, bounds
    if get_origin(base) is list and get_args(base) and get_args(base)[0] in (str, int, float):
        return list[get_args(base)[0]], {}  # type: ignore[misc]
    if get_origin(base) is dict:
        return list[str], {}  # repeatable KEY=VALUE (or a JSON object), made a dict by _collect
    return str, {}


def _as_dict(name: str, items: list[str]) -> dict[str, Any]:
    """`--labels env=prod --labels team=shop` (or `--labels '{"env": "prod"}'`) as a dict."""
    out: dict[str, Any] = {}
    for item in items:
        if item.lstrip().startswith("{"):
            try:
                value = json.loads(item)
            except json.JSONDecodeError as exc:
                raise CodeForgeError(
                    f"--{name.replace('_', '-')} is not a JSON object: {exc}", fix="write KEY=VALUE or a JSON object"
                ) from None
            if not isinstance(value, dict):
                raise CodeForgeError(f"--{name.replace('_', '-')} is not a JSON object", fix="write KEY=VALUE")
            out.update(value)
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CodeForgeError(
                f"--{name.replace('_', '-')} {item!r} is not KEY=VALUE",
                fix=f"write --{name.replace('_', '-')} KEY=VALUE",
            )
        out[key.strip()] = value
    return out


def _param(name: str, info: FieldInfo) -> inspect.Parameter:
    """The typer parameter a field becomes."""
    flag = "--" + name.replace("_", "-")
    help_text = info.description or ""
    extra = _extra(info)
    annotation, options = _option_type(info)
    if extra.get("x-codeforge-file"):
        help_text += " (a path, or - for standard input)"
    # A default made by a factory (a dict, a list) is left to the platform: unset unless given.
    default: Any = None if info.is_required() or info.default_factory is not None else info.default
    if annotation is bool:
        spec: Any = typer.Option(f"{flag}/--no-{name.replace('_', '-')}", help=help_text)
        if default is None:  # `bool | None`: unset unless given
            annotation = bool | None
    elif info.is_required() and CONTEXT_KEY not in extra:
        if extra.get("format") == "password":  # prompt hidden, rather than on the command line
            spec = typer.Option(flag, prompt=True, hide_input=True, help=help_text, **options)
        else:
            spec = typer.Argument(help=help_text, **options)
            default = inspect.Parameter.empty
    else:
        spec = typer.Option(flag, help=help_text, **options)
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
        if isinstance(value, list) and get_origin(_base_type(info)) is dict:
            value = _as_dict(name, value) if value else None
        if value is not None:
            data[name] = value
    return data


def _followable(op: Operation[Any, Any]) -> bool:
    """An operation that pages from a cursor and can wait for more (`monitoring.tail`,
    `monitoring.notifications`): its command gets `--follow`."""
    return {"after", "wait_s"} <= set(op.input.model_fields) and {"items", "cursor"} <= set(op.output.model_fields)


def _follow(client: PlatformClient, op: Operation[Any, Any], data: dict[str, Any], as_json: bool) -> None:
    """Call again from each page's cursor, printing its items as lines, until Ctrl-C."""
    data = {**data, "wait_s": max(float(data.get("wait_s") or 0), 20.0)}
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            page = client.call(op, data)
            assert not isinstance(page, JobRef)  # a followable operation answers at once
            show_lines(page, as_json=as_json, op=op)
            data["after"] = page.cursor


def _command(op: Operation[Any, Any]) -> Callable[..., None]:
    def run(**params: Any) -> None:
        as_json = params.pop("json_output", False)
        follow = params.pop("follow", False)
        try:
            data = _collect(op, params)
            if op.destructive and not params.pop("yes", False):
                typer.confirm(f"{op.title}?", abort=True, err=True)
            with PlatformClient() as client:
                if follow:
                    _follow(client, op, data, as_json)
                    return
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
    if _followable(op):
        params.append(
            inspect.Parameter(
                "follow",
                inspect.Parameter.KEYWORD_ONLY,
                default=False,
                annotation=Annotated[
                    bool, typer.Option("--follow", "-f", help="Keep printing new items as they come, until Ctrl-C.")
                ],
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


def _load_outside_catalogs() -> None:
    """Declare the operations of capabilities from outside this package (named in
    CODEFORGE_CAPABILITIES, or entry points), as the platform does: only their manifests and
    catalog modules are imported, never their services."""
    import importlib

    from codeforge.platform.registry import discover_capabilities
    from codeforge.platform.settings import Settings

    try:
        for cap in discover_capabilities(Settings().capability_packages):
            for module in cap.catalog:
                importlib.import_module(module)
    except (ImportError, RuntimeError, ValueError) as exc:  # the built-in commands still work
        err_console.print(f"[yellow]Warning:[/] capabilities from CODEFORGE_CAPABILITIES not loaded: {exc}")


def add_operation_commands(app: typer.Typer) -> None:
    """`codeforge <capability> <verb>` for every catalog operation."""
    _load_outside_catalogs()
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
