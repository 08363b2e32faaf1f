"""Deployments: a project's apps served through the edge, released immutably (a snapshot of a
workspace's tree with its start command, or a Docker image), rolled out rolling, blue-green or
canary region by region, rolled back automatically on errors or latency (docs/deployments.md)."""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic.json_schema import JsonDict

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare, optional_pattern

__all__ = [
    "ANALYTICS",
    "CANCEL",
    "DELETE",
    "DEPLOY",
    "DEPLOYMENT_NAME_PATTERN",
    "LIST",
    "PROMOTE",
    "RELEASES",
    "ROLLBACK",
    "SHOW",
    "SWITCH",
    "Strategy",
]

DEPLOYMENT_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,29}$"
_NAME_HELP = "a-z, 0-9 and '-', starting with a letter, at most 30"
DEP_VALUES: JsonDict = {"x-codeforge-values": "deployments.list#name"}
_HOST = r"^(?=.{1,253}$)([a-z0-9*]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
_REGION = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Strategy(StrEnum):
    ROLLING = "rolling"  # replace instances a batch at a time
    BLUE_GREEN = "blue-green"  # start the new set, switch all traffic at once, keep the old set
    CANARY = "canary"  # a weighted share of traffic, stepped over time


class RuntimeChoice(StrEnum):
    LOCAL = "local"
    DOCKER = "docker"


# -- inputs ---------------------------------------------------------------------------------------


class DeployInput(ProjectInput):
    """Creates the deployment on first use; each call makes a new release (v1, v2…) and rolls
    it out. Its settings (strategy, thresholds, regions…) are the deployment's from then on."""

    name: str = Field(pattern=DEPLOYMENT_NAME_PATTERN, description=f"The deployment: {_NAME_HELP}.")
    workspace: str = Field(
        default="",
        pattern=optional_pattern(r"^[a-z][a-z0-9-]{0,29}$"),
        description="Release this workspace's files as they are now (a snapshot); or give `image`.",
        json_schema_extra={"x-codeforge-values": "workspaces.list#name"},
    )
    image: str = Field(
        default="",
        max_length=255,
        pattern=optional_pattern(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$"),
        description="Release this Docker image instead of a workspace's files.",
    )
    command: list[str] = Field(
        default_factory=list,
        max_length=64,
        description="Start command (empty: the workspace's first service with a port; an image's own). "
        "It must listen on $PORT.",
    )
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Port the app listens on inside an image (workspaces: $PORT)."
    )
    health_path: str = Field(
        default="/", pattern=r"^/[\x21-\x7e]{0,200}$", description="Path answered with 2xx when an instance is ready."
    )
    health_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="How long a new instance has to answer its health check."
    )
    strategy: Strategy = Field(default=Strategy.ROLLING, description="rolling, blue-green or canary.")
    instances: int = Field(default=1, ge=1, le=20, description="Instances per region.")
    batch: int = Field(default=1, ge=1, le=20, description="Rolling: instances replaced at a time.")
    canary_steps: list[int] = Field(
        default_factory=lambda: [10, 50, 100],
        min_length=1,
        max_length=20,
        description="Canary: percentages of traffic on the new release, rising, ending at 100.",
    )
    step_s: float = Field(
        default=30.0, ge=0, le=86_400, description="Seconds each step (canary step, rolling batch) is watched."
    )
    max_error_rate: float = Field(
        default=5.0, ge=0, le=100, description="Roll back when the new release's 5xx share passes this percentage."
    )
    max_p99_ms: float | None = Field(
        default=None, gt=0, le=600_000, description="Roll back when its p99 latency passes this (ms); empty: no limit."
    )
    min_requests: int = Field(
        default=20, ge=1, le=1_000_000, description="Requests the new release must have served before it is judged."
    )
    regions: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Regions in rollout order (edge nodes' regions); empty: one unnamed region.",
    )
    hosts: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Host names the edge serves it on (empty: <name>.<project>.localhost).",
    )
    runtime: RuntimeChoice = Field(default=RuntimeChoice.LOCAL, description="local or docker (images: docker).")

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for region in value:
            if not re.match(_REGION, region):
                raise ValueError(f"region {region!r}: lower-case letters, digits and '-'")
        if len(set(value)) != len(value):
            raise ValueError("each region once")
        return value

    @field_validator("hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not re.match(_HOST, host):
                raise ValueError(f"{host!r} is not a host name")
        return value

    @field_validator("canary_steps")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        if any(not 0 < s <= 100 for s in value):
            raise ValueError("each step is a percentage from 1 to 100")
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError("steps must rise")
        if value[-1] != 100:
            raise ValueError("the last step must be 100")
        return value

    @model_validator(mode="after")
    def _source(self) -> DeployInput:
        if bool(self.workspace) == bool(self.image):
            raise ValueError("give exactly one of `workspace` and `image`")
        if self.image and self.runtime is not RuntimeChoice.DOCKER:
            raise ValueError("an image runs on the docker runtime: set runtime to docker")
        return self


class NameInput(ProjectInput):
    name: str = Field(pattern=DEPLOYMENT_NAME_PATTERN, description="The deployment.", json_schema_extra=DEP_VALUES)


class ListInput(ProjectInput):
    pass


class RollbackInput(NameInput):
    release: int | None = Field(
        default=None, ge=1, description="Release number to go back to (empty: the one before the current)."
    )


class AnalyticsInput(NameInput):
    pass


# -- outputs --------------------------------------------------------------------------------------


class InstanceInfo(BaseModel):
    id: str
    region: str
    address: str = Field(description="host:port the edge sends its traffic to.")
    runtime: str


class ReleaseInfo(BaseModel):
    number: int = Field(description="v1, v2… in the order they were made.")
    id: str = Field(description="The edge's backend group of its instances (metrics' `group` label).")
    state: str = Field(
        description="starting, live, standby (running, no traffic), retired, failed, cancelled or rolled-back."
    )
    source: str = Field(description="workspace:<name> or image:<ref>.")
    command: list[str]
    traffic: int = Field(description="Percentage of traffic it receives now.")
    instances: list[InstanceInfo]
    error: str = ""
    created_at: datetime
    created_by: str


class DeploymentInfo(BaseModel):
    name: str
    project: str
    state: str = Field(description="deploying, live, failed, rolled-back or cancelled.")
    strategy: str
    hosts: list[str]
    regions: list[str]
    instances: int
    current: int | None = Field(description="Release number serving traffic.")
    standby: int | None = Field(default=None, description="Blue-green: the release `switch` goes back to.")
    max_error_rate: float
    max_p99_ms: float | None
    message: str = Field(default="", description="What the last rollout did (a rollback says why).")
    seconds: float | None = Field(default=None, description="How long the operation took.")
    releases: list[ReleaseInfo] = Field(default_factory=list)
    created_at: datetime
    created_by: str


class DeploymentList(BaseModel):
    items: list[DeploymentInfo]


class ReleaseList(BaseModel):
    items: list[ReleaseInfo]


class Analytics(BaseModel):
    release: int
    region: str
    requests: int
    errors: int = Field(description="Responses with a 5xx status.")
    error_rate: float = Field(description="Percentage of 5xx.")
    p50_ms: float | None
    p99_ms: float | None


class AnalyticsList(BaseModel):
    name: str
    items: list[Analytics]


class Deleted(BaseModel):
    name: str
    releases: int


# -- operations -----------------------------------------------------------------------------------

DEPLOY = declare(
    Operation(
        name="deployments.deploy",
        title="Deploy a new release",
        input=DeployInput,
        output=DeploymentInfo,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{name}",
    )
)
LIST = declare(
    Operation(
        name="deployments.list",
        title="List deployments",
        input=ListInput,
        output=DeploymentList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
SHOW = declare(
    Operation(
        name="deployments.show",
        title="Show a deployment",
        input=NameInput,
        output=DeploymentInfo,
        permission=Permission.VIEW,
        target="{project}/{name}",
    )
)
RELEASES = declare(
    Operation(
        name="deployments.releases",
        title="List a deployment's releases",
        input=NameInput,
        output=ReleaseList,
        permission=Permission.VIEW,
        target="{project}/{name}",
    )
)
ROLLBACK = declare(
    Operation(
        name="deployments.rollback",
        title="Roll a deployment back",
        input=RollbackInput,
        output=DeploymentInfo,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{name}",
    )
)
SWITCH = declare(
    Operation(
        name="deployments.switch",
        title="Switch blue-green traffic to the standby release",
        input=NameInput,
        output=DeploymentInfo,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
PROMOTE = declare(
    Operation(
        name="deployments.promote",
        title="Promote a canary to all traffic now",
        input=NameInput,
        output=DeploymentInfo,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
CANCEL = declare(
    Operation(
        name="deployments.cancel",
        title="Cancel a rollout under way",
        input=NameInput,
        output=DeploymentInfo,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
ANALYTICS = declare(
    Operation(
        name="deployments.analytics",
        title="Requests, errors and latency per release and region",
        input=AnalyticsInput,
        output=AnalyticsList,
        permission=Permission.VIEW,
        target="{project}/{name}",
    )
)
DELETE = declare(
    Operation(
        name="deployments.delete",
        title="Delete a deployment",
        input=NameInput,
        output=Deleted,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{name}",
    )
)
