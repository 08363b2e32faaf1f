"""What the language server connects to, resolved in one place.

There is one set of options, `ServerOptions`: the editor's `initializationOptions` are one,
the command line's flags (`codeforge lsp --url …`) another. `resolve_settings` layers them
(initializationOptions over flags) over the environment and the login `codeforge up` stored
(`codeforge.config`: `CODEFORGE_URL`, `CODEFORGE_TOKEN`, `CODEFORGE_PROJECT`), then defaults.
A new option is one field here; the flags, the initializationOptions and the docs' table
follow from it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from codeforge.catalog.errors import BadInput
from codeforge.config import load_client_config

__all__ = [
    "DEFAULT_URL",
    "ServerOptions",
    "ServerSettings",
    "ShowResults",
    "add_option_flags",
    "option_flags_help",
    "options_from_flags",
    "parse_init_options",
    "resolve_settings",
]

DEFAULT_URL = "http://127.0.0.1:8470"

# Which finished commands get a window/showMessage summary. Extensions that call list
# operations to fill a tree pick "changes", so a refresh does not pop a message up.
ShowResults = Literal["all", "changes", "none"]


class ServerOptions(BaseModel):
    """The options of a session; every one is optional, and None means "not said here".

    As `initializationOptions`, keys are camelCase as editors write them (`showResults`);
    snake_case is accepted too. Unknown keys are ignored so that older servers work with
    newer extensions."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True, frozen=True)

    url: str | None = Field(default=None, description="Platform URL, e.g. http://127.0.0.1:8470.")
    token: str | None = Field(default=None, description="API token; the stored login's when absent.")
    project: str | None = Field(
        default=None, description="Project for context fields; wins over codeforge.yaml and the login."
    )
    show_results: ShowResults | None = Field(default=None, description="Which results to show as messages.")


@dataclass(frozen=True)
class ServerSettings:
    """The resolved settings a session runs with."""

    url: str
    token: str
    project_override: str  # "" when codeforge.yaml or the login decide
    login_project: str  # the login's default project (or CODEFORGE_PROJECT), the last resort
    show_results: ShowResults = "all"


def parse_init_options(raw: Any) -> ServerOptions:
    """Check the editor's options; a wrong type is an error naming the key."""
    if raw is None:
        return ServerOptions()
    if not isinstance(raw, dict):
        raise BadInput("initializationOptions must be an object", fix="send {url, token, project, showResults}")
    try:
        return ServerOptions.model_validate(raw)
    except ValidationError as exc:
        raise BadInput.from_validation(exc, prefix="initializationOptions") from None


def resolve_settings(*layers: ServerOptions | None) -> ServerSettings:
    """The first layer that says a value wins (pass initializationOptions, then the command
    line's flags); then the environment and the stored login; then the defaults."""
    given = [layer for layer in layers if layer is not None]

    def first(name: str) -> Any:
        return next((value for layer in given if (value := getattr(layer, name))), None)

    cfg = load_client_config()
    return ServerSettings(
        url=(first("url") or cfg.url or DEFAULT_URL).rstrip("/"),
        token=first("token") or cfg.token,
        project_override=first("project") or "",
        login_project=cfg.project,
        show_results=first("show_results") or "all",
    )


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _flags() -> list[str]:
    return [_flag(name) for name in ServerOptions.model_fields]


def option_flags_help() -> str:
    """One line per flag, for help texts that are not argparse's."""
    return "\n\n".join(f"{_flag(name)}: {info.description}" for name, info in ServerOptions.model_fields.items())


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per option (`--url`, `--show-results`), with the field's description."""
    for name, info in ServerOptions.model_fields.items():
        choices = [c for c in get_args(info.annotation) if isinstance(c, str)]
        # `ShowResults | None`: the Literal's values sit one level down.
        for arg in get_args(info.annotation):
            choices += [c for c in get_args(arg) if isinstance(c, str)]
        parser.add_argument(_flag(name), dest=name, choices=choices or None, help=info.description)


class _Refuse(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would exit; the caller reports it
        raise ValueError(message)


def options_from_flags(args: argparse.Namespace | Sequence[str], *, strict: bool = False) -> ServerOptions:
    """The options a command line gave (parsed already, or argv to parse). `strict` refuses
    flags that are not options (ValueError) instead of leaving them to another parser."""
    if not isinstance(args, argparse.Namespace):
        parser = _Refuse(add_help=False, prog="codeforge lsp")
        add_option_flags(parser)
        args, rest = parser.parse_known_args(list(args))
        if strict and rest:
            raise ValueError(f"unknown option(s): {' '.join(rest)}; the options are {', '.join(_flags())}")
    return ServerOptions(**{name: getattr(args, name, None) for name in ServerOptions.model_fields})
