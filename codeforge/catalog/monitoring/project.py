"""codeforge.yaml's `monitoring:` section: how the paths a deployed program reports map to
the project's files, so an error's stack frames land on the right lines in the editor."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MonitoringSection"]


class MonitoringSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paths: dict[str, str] = Field(
        default_factory=dict,
        description="Deployed path prefix -> folder of the project it holds, e.g. {'/app': '.', "
        "'/srv/api': 'services/api'}. Without an entry, a frame maps to the project file whose "
        "path is the longest suffix of the deployed path.",
    )
