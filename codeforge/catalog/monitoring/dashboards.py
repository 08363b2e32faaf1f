"""Dashboards: saved per project, a name and its panels (a title, a PromQL query, a unit),
shown by the `dashboard` pane as one chart per panel over the last hour (docs/monitoring.md)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from codeforge.catalog.base import Input, Operation, Permission, ProjectInput, declare

__all__ = [
    "DASHBOARDS",
    "NAME_PATTERN",
    "REMOVE_DASHBOARD",
    "SAVE_DASHBOARD",
    "Dashboard",
    "DashboardList",
    "DashboardNameInput",
    "DashboardRemoved",
    "DashboardsInput",
    "Panel",
    "SaveDashboardInput",
]

# Also a valid `panes.open` item, so a dashboard opens by its name.
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
MAX_PANELS = 40


def _name() -> object:
    return Field(
        pattern=NAME_PATTERN,
        description="Dashboard name: lowercase letters, digits, '.', '_' and '-', e.g. api-overview.",
        json_schema_extra={"x-codeforge-values": "monitoring.dashboards#name"},
    )


class Panel(Input):
    title: str = Field(min_length=1, max_length=200, description="What the panel shows, e.g. Requests per second.")
    query: str = Field(
        min_length=1,
        max_length=4000,
        description="PromQL expression drawn over time, e.g. sum by (job) (rate(http_requests_total[5m])).",
    )
    unit: str = Field(
        default="",
        max_length=32,
        description='Unit of the values: "s", "ms", "bytes", "%", or any word such as "req/s"; empty for plain numbers.',
    )


class DashboardsInput(ProjectInput):
    pass


class DashboardNameInput(ProjectInput):
    name: str = _name()  # type: ignore[assignment]


class SaveDashboardInput(ProjectInput):
    """Creates the dashboard, or replaces the one of that name (its panels and title)."""

    name: str = _name()  # type: ignore[assignment]
    title: str = Field(default="", max_length=200, description="A heading for the dashboard (default: its name).")
    panels: list[Panel] = Field(
        min_length=1,
        max_length=MAX_PANELS,
        description=f'Panels in order (1-{MAX_PANELS}): [{{"title": "Requests", "query": "rate(http_requests_total[5m])", "unit": "req/s"}}].',
    )


class Dashboard(BaseModel):
    name: str
    title: str
    panels: list[Panel]
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class DashboardList(BaseModel):
    items: list[Dashboard]


class DashboardRemoved(BaseModel):
    name: str
    removed: bool


DASHBOARDS = declare(
    Operation(
        name="monitoring.dashboards",
        title="List dashboards",
        input=DashboardsInput,
        output=DashboardList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
SAVE_DASHBOARD = declare(
    Operation(
        name="monitoring.save_dashboard",
        title="Save a dashboard",
        input=SaveDashboardInput,
        output=Dashboard,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
REMOVE_DASHBOARD = declare(
    Operation(
        name="monitoring.remove_dashboard",
        title="Remove a dashboard",
        input=DashboardNameInput,
        output=DashboardRemoved,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{name}",
    )
)
