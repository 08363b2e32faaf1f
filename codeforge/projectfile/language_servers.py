"""The `language_servers:` section of codeforge.yaml: the workspace's own language servers.

The bridge runs them next to the files and proxies them to editors (`codeforge connect URL
--lsp NAME`). Without the section, `python` (basedpyright), `basedpyright` and `pylsp` are
known; an entry of the same name replaces a default.

    language_servers:
      python:
        command: basedpyright-langserver --stdio
      ruff:
        command: [ruff, server]
        env: {RUFF_CACHE_DIR: .cache/ruff}
"""

from __future__ import annotations

import re
import shlex
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from codeforge.catalog.env import ENV_NAME_PATTERN

__all__ = [
    "DEFAULT_LANGUAGE_SERVERS",
    "LANGUAGE_SERVER_NAME_PATTERN",
    "LanguageServerEntry",
    "LanguageServerName",
]

LANGUAGE_SERVER_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
_NAME = re.compile(LANGUAGE_SERVER_NAME_PATTERN)
_ENV_NAME = re.compile(ENV_NAME_PATTERN)


def _command_from_string(value: Any) -> Any:
    # `command: pylsp -v` is shorthand for `command: [pylsp, -v]`, split as a shell would
    # (quotes kept together) but never run through one.
    if isinstance(value, str):
        try:
            return shlex.split(value)
        except ValueError as exc:
            raise ValueError(f"the command cannot be split into words ({exc}): write it as a list") from None
    return value


def _env_values_as_written(value: Any) -> Any:
    # YAML reads `LEVEL: 2` as an int and `ON: true` as a bool; the environment takes text.
    if isinstance(value, dict):
        return {
            k: ("true" if v else "false") if isinstance(v, bool) else str(v) if isinstance(v, int) else v
            for k, v in value.items()
        }
    return value


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"`{name}` is not a valid language server name: use up to 40 lower-case letters, digits, "
            "`_` and `-`, starting with a letter"
        )
    return name


class LanguageServerEntry(BaseModel):
    """One language server (codeforge.yaml `language_servers: {name: …}`)."""

    model_config = ConfigDict(extra="forbid", title="Language server")

    command: Annotated[list[str], BeforeValidator(_command_from_string, json_schema_input_type=str | list[str])] = (
        Field(
            description="The command that starts the server speaking LSP on stdio, as a list or one line: "
            "`basedpyright-langserver --stdio`. A bare program name is looked up in the bridge's "
            "virtual environment, then on PATH; it runs in the workspace folder.",
        )
    )
    env: Annotated[dict[str, str], BeforeValidator(_env_values_as_written)] = Field(
        default_factory=dict,
        description="Extra environment variables for the server process.",
    )

    @field_validator("command")
    @classmethod
    def _command_not_empty(cls, command: list[str]) -> list[str]:
        if not command or not command[0].strip():
            raise ValueError("the command is empty: give the program and its arguments, e.g. `pylsp`")
        return command

    @field_validator("env")
    @classmethod
    def _env_names(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not _ENV_NAME.match(name):
                raise ValueError(
                    f"`{name}` is not a valid variable name: use letters, digits and underscores, "
                    "not starting with a digit"
                )
        return env


LanguageServerName = Annotated[str, AfterValidator(_check_name)]

# Known without configuration. basedpyright's wheel brings its own Node; both come from PyPI.
DEFAULT_LANGUAGE_SERVERS: dict[str, LanguageServerEntry] = {
    "python": LanguageServerEntry(command=["basedpyright-langserver", "--stdio"]),
    "basedpyright": LanguageServerEntry(command=["basedpyright-langserver", "--stdio"]),
    "pylsp": LanguageServerEntry(command=["pylsp"]),
}
