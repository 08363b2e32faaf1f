"""Agents: configure the model endpoint, run an agent on a workspace as a job, then review its
change set (accept whole, per file or per hunk; reject; undo). docs/agents.md.

An agent never writes the user's files: it works on a sandboxed copy, and its result is a
change set kept with the run. `agents.accept` applies the chosen hunks to the workspace folder
(`write: true`, the CLI and outside agents) or records that the editor applied them itself
(`write: false`, the language server's preview).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from codeforge.catalog.base import Input, Operation, Permission, ProjectInput, declare

__all__ = [
    "ACCEPT",
    "AGENTS",
    "CANCEL",
    "CONFIGURE",
    "HUNK_ID_PATTERN",
    "ID_PATTERN",
    "LIST",
    "REJECT",
    "SETTINGS",
    "SHOW",
    "START",
    "UNDO",
    "AcceptInput",
    "AgentName",
    "ConfigureInput",
    "HunkState",
    "ModelPrice",
    "RejectInput",
    "Run",
    "RunFile",
    "RunHunk",
    "RunInput",
    "RunList",
    "RunListInput",
    "RunReview",
    "RunState",
    "RunSummary",
    "Scope",
    "Settings",
    "SettingsInput",
    "Source",
    "StartInput",
    "TranscriptEntry",
    "UndoInput",
]

ID_PATTERN = r"^[0-9a-f]{32}$"
# "<workspace-relative path>#<n>", n counting a file's hunks from 1 in file order.
HUNK_ID_PATTERN = r"^[^#\s][^\n]*#[1-9][0-9]{0,5}$"

AGENTS = ("bug_fixer", "test_writer", "refactor", "feature_builder", "orchestrator")
AgentName = Literal["bug_fixer", "test_writer", "refactor", "feature_builder", "orchestrator"]
Scope = Literal["project", "organization"]
Source = Literal["project", "organization", "default"]
# running: its job works on it; done: the agents finished (resolved or not, see `resolved`);
# failed: an error stopped it (model, sandbox, the platform stopped); cancelled: someone stopped it.
RunState = Literal["running", "done", "failed", "cancelled"]
HunkState = Literal["pending", "accepted", "rejected", "undone"]


def _run_id() -> Any:
    return Field(
        pattern=ID_PATTERN,
        description="Id of the agent run: 32 lowercase hex digits, as `agents.list` shows it.",
        json_schema_extra={"x-codeforge-values": "agents.list#id"},
    )


# ---- settings ---------------------------------------------------------------------------


class ModelPrice(Input):
    input_per_mtok: float = Field(default=0.0, ge=0, le=10_000, description="USD per million prompt tokens.")
    output_per_mtok: float = Field(default=0.0, ge=0, le=10_000, description="USD per million completion tokens.")


class ConfigureInput(ProjectInput):
    """Fields left out keep the value this scope has; `reset` starts the scope afresh."""

    scope: Scope = Field(
        default="project",
        description="project: these settings for this project only (they override the organization's); "
        "organization: the default of every project.",
    )
    base_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://[^\s]+$",
        description="Base URL of an OpenAI-compatible endpoint, e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1.",
    )
    model: str | None = Field(
        default=None, min_length=1, max_length=200, description="Model name the endpoint knows, e.g. gpt-4o-mini."
    )
    api_key: str | None = Field(
        default=None,
        max_length=4000,
        description="The endpoint's API key, stored encrypted and never shown again; empty removes it.",
        json_schema_extra={"format": "password"},
    )
    tools: bool | None = Field(
        default=None, description="Whether the model calls tools; off: agents use a plain-text edit format."
    )
    timeout_s: float | None = Field(
        default=None, ge=1, le=600, description="Seconds to wait for the endpoint per request (1-600, default 60)."
    )
    max_retries: int | None = Field(
        default=None, ge=0, le=10, description="Retries on 429, 5xx and connection errors (0-10, default 4)."
    )
    prices: dict[str, ModelPrice] | None = Field(
        default=None,
        max_length=100,
        description='Price table per model name, USD per million tokens: {"gpt-4o-mini": '
        '{"input_per_mtok": 0.15, "output_per_mtok": 0.6}}. Merged into the scope\'s table.',
    )
    run_cap_usd: float | None = Field(
        default=None, gt=0, le=100_000, description="Most a single run may spend, in USD (checked before each call)."
    )
    project_cap_usd: float | None = Field(
        default=None, gt=0, le=1_000_000, description="Most the project's runs may spend together, in USD."
    )
    network: bool | None = Field(
        default=None, description="Whether commands in the agents' sandbox may reach the network (default off)."
    )
    reset: bool = Field(default=False, description="Forget this scope's settings (and key) before applying these.")


class SettingsInput(ProjectInput):
    pass


class Settings(BaseModel):
    project: str
    configured: bool = Field(description="Whether a base URL and a model are set, so runs can start.")
    base_url: str | None
    model: str | None
    key_set: bool = Field(description="Whether an API key is stored (it is never shown).")
    tools: bool
    timeout_s: float
    max_retries: int
    prices: dict[str, ModelPrice]
    run_cap_usd: float | None
    project_cap_usd: float | None
    network: bool
    project_spent_usd: float = Field(description="What the project's runs have cost so far, in USD.")
    sources: dict[str, Source] = Field(description="Where each setting comes from: project, organization or default.")


# ---- runs -------------------------------------------------------------------------------


class StartInput(ProjectInput):
    agent: AgentName = Field(
        description="bug_fixer, test_writer, refactor, feature_builder, or orchestrator (plans steps for the others)."
    )
    task: str = Field(
        min_length=1,
        max_length=20_000,
        description="What to do, in words: the diagnostic, the failing test's output, …",
    )
    path: str = Field(
        default="", max_length=4096, description="File the task is about, relative to the workspace (optional)."
    )
    line: int = Field(default=0, ge=0, le=10_000_000, description="First line of the focus, 1-based (0: none).")
    end_line: int = Field(default=0, ge=0, le=10_000_000, description="Last line of the focus, 1-based (0: none).")
    test: str = Field(
        default="", max_length=1000, description='A failing test to make pass, e.g. "tests/test_x.py::test_y".'
    )
    workspace: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="Folder on the platform host to work on (under CODEFORGE_PROJECTS_ROOT; default: that folder).",
    )
    test_command: str = Field(
        default="python -m pytest -q", min_length=1, max_length=1000, description="Command that runs the tests."
    )
    max_steps: int = Field(default=30, ge=1, le=200, description="Most model calls the run may make (1-200).")
    max_seconds: float = Field(default=600.0, ge=1, le=7200, description="Most seconds the run may take (1-7200).")
    max_cost_usd: float | None = Field(
        default=None, gt=0, le=100_000, description="Most this run may spend, in USD (below the configured caps)."
    )


class RunHunk(BaseModel):
    id: str = Field(description='"<path>#<n>": what accept and reject take.')
    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    lines: list[str]
    state: HunkState


class RunFile(BaseModel):
    path: str
    status: Literal["modified", "added", "deleted"]
    hunks: list[RunHunk]


class TranscriptEntry(BaseModel):
    kind: str = Field(description="step, text, tool, result or error.")
    agent: str
    message: str


class RunSummary(BaseModel):
    id: str
    project: str
    agent: str
    title: str
    state: RunState
    resolved: bool
    steps: int
    cost_usd: float
    files: int = Field(description="Files the change set touches.")
    created_by: str
    created_at: datetime
    finished_at: datetime | None


class RunList(BaseModel):
    items: list[RunSummary]


class Run(BaseModel):
    id: str
    project: str
    agent: str
    title: str
    task: str
    workspace: str
    job_id: str | None
    state: RunState
    resolved: bool
    summary: str
    reason: str = Field(description="Why the run did not resolve its task or failed; empty when it did.")
    model: str
    steps: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    created_by: str
    created_at: datetime
    finished_at: datetime | None
    changes: list[RunFile] = Field(description="The change set, with hunk ids and their states.")
    diff: str = Field(description="The change set as a unified diff.")
    transcript: list[TranscriptEntry]


class RunListInput(ProjectInput):
    state: RunState | None = Field(default=None, description="Only runs in this state.")
    limit: int = Field(default=50, ge=1, le=500, description="At most this many, newest first (1-500).")


class RunInput(Input):
    run: str = _run_id()


_FILES: Any = Field(
    default_factory=list,
    max_length=1000,
    description="Only these files of the change set (workspace-relative paths); none named: all.",
)
_HUNKS: Any = Field(
    default_factory=list,
    max_length=10_000,
    description='Only these hunks, as "<path>#<n>" (n from 1 in file order, as `agents.show` lists them).',
)


_Path = Annotated[str, Field(min_length=1, max_length=4096)]
_HunkId = Annotated[str, Field(pattern=HUNK_ID_PATTERN, max_length=4200)]


class AcceptInput(Input):
    run: str = _run_id()
    files: list[_Path] = _FILES
    hunks: list[_HunkId] = _HUNKS
    write: bool = Field(
        default=True,
        description="Apply the hunks to the workspace files (true), or only record them as accepted "
        "because the editor applied them itself (false).",
    )


class RejectInput(Input):
    run: str = _run_id()
    files: list[_Path] = _FILES
    hunks: list[_HunkId] = _HUNKS


class UndoInput(Input):
    run: str = _run_id()
    write: bool = Field(
        default=True,
        description="Reverse the accepted hunks in the workspace files (true), or only record it because "
        "the editor reversed them itself (false).",
    )


class RunReview(BaseModel):
    run: Run
    hunks: list[str] = Field(description="Ids of the hunks this call changed the state of.")
    written: list[str] = Field(description="Workspace files written (or removed), relative paths.")


CONFIGURE = declare(
    Operation(
        name="agents.configure",
        title="Configure the agents' model",
        input=ConfigureInput,
        output=Settings,
        permission=Permission.MANAGE,
        target="{project}/{scope}",
    )
)
SETTINGS = declare(
    Operation(
        name="agents.settings",
        title="Show the agents' model settings",
        input=SettingsInput,
        output=Settings,
        permission=Permission.VIEW,
        target="{project}",
    )
)
START = declare(
    Operation(
        name="agents.start",
        title="Run an agent",
        input=StartInput,
        output=Run,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{agent}",
    )
)
LIST = declare(
    Operation(
        name="agents.list",
        title="List agent runs",
        input=RunListInput,
        output=RunList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
SHOW = declare(
    Operation(
        name="agents.show",
        title="Show an agent run",
        input=RunInput,
        output=Run,
        permission=Permission.VIEW,
        target="{run}",
    )
)
CANCEL = declare(
    Operation(
        name="agents.cancel",
        title="Cancel an agent run",
        input=RunInput,
        output=Run,
        permission=Permission.EDIT,
        target="{run}",
    )
)
ACCEPT = declare(
    Operation(
        name="agents.accept",
        title="Accept an agent's changes",
        input=AcceptInput,
        output=RunReview,
        permission=Permission.EDIT,
        target="{run}",
    )
)
REJECT = declare(
    Operation(
        name="agents.reject",
        title="Reject an agent's changes",
        input=RejectInput,
        output=RunReview,
        permission=Permission.EDIT,
        target="{run}",
    )
)
UNDO = declare(
    Operation(
        name="agents.undo",
        title="Undo an agent's accepted changes",
        input=UndoInput,
        output=RunReview,
        permission=Permission.EDIT,
        destructive=True,
        target="{run}",
    )
)
