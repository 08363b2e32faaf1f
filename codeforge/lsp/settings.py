"""What the language server connects to: initialization options over arguments over the
login that `codeforge up` stored (`codeforge.config`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from codeforge.catalog.errors import BadInput
from codeforge.config import load_client_config

__all__ = ["InitOptions", "ServerSettings", "ShowResults", "resolve_settings"]

DEFAULT_URL = "http://127.0.0.1:8470"

# Which finished commands get a window/showMessage summary. Extensions that call list
# operations to fill a tree pick "changes", so a refresh does not pop a message up.
ShowResults = Literal["all", "changes", "none"]


class InitOptions(BaseModel):
    """`initializationOptions` an editor may send; every key is optional.

    Keys are camelCase as editors write them (`showResults`); snake_case is accepted too.
    Unknown keys are ignored so that older servers work with newer extensions."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)

    url: str | None = Field(default=None, description="Platform URL, e.g. http://127.0.0.1:8470.")
    token: str | None = Field(default=None, description="API token; the stored login's when absent.")
    project: str | None = Field(
        default=None, description="Project for context fields; wins over codeforge.yaml and the login."
    )
    show_results: ShowResults | None = Field(default=None, description="Which results to show as messages.")


@dataclass(frozen=True)
class ServerSettings:
    url: str
    token: str
    project_override: str  # "" when codeforge.yaml or the login decide
    login_project: str  # the login's default project, the last resort
    show_results: ShowResults = "all"


def parse_init_options(raw: Any) -> InitOptions:
    """Check the editor's options; a wrong type is an error naming the key."""
    if raw is None:
        return InitOptions()
    if not isinstance(raw, dict):
        raise BadInput("initializationOptions must be an object", fix="send {url, token, project, showResults}")
    try:
        return InitOptions.model_validate(raw)
    except ValidationError as exc:
        raise BadInput.from_validation(exc, prefix="initializationOptions") from None


def resolve_settings(
    options: InitOptions | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    project: str | None = None,
    show_results: ShowResults | None = None,
) -> ServerSettings:
    """Initialization options win over the server's arguments, which win over the stored
    login and CODEFORGE_* variables."""
    opts = options or InitOptions()
    cfg = load_client_config()
    return ServerSettings(
        url=(opts.url or url or cfg.url or DEFAULT_URL).rstrip("/"),
        token=opts.token or token or cfg.token,
        project_override=opts.project or project or "",
        login_project=cfg.project,
        show_results=opts.show_results or show_results or "all",
    )
