"""codeforge.yaml's `deploy:` section: the project's deployments, by name, each with the
settings of `deployments.deploy` (codeforge/catalog/deployments.py's `DeployInput`, less
`project` and `name`: the project is the file's, the name the entry's key).

```yaml
deploy:
  web:
    workspace: main
    strategy: canary
    canary_steps: [10, 50, 100]
    instances: 2
    hosts: [shop.example.com]
```

`DeployEntry` is `DeployInput` itself with those two fields taken out of the schema, so the
entry is checked exactly as the operation checks its input (the same bounds, the same
validators: rising canary steps, one source, host names) and completion offers the same
values (`workspace` from `workspaces.list`, the strategies).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from codeforge.catalog.deployments import DEPLOYMENT_NAME_PATTERN, DeployInput

__all__ = ["DeployEntry", "DeployName", "DeploySection", "deploy_arguments"]

_NAME = re.compile(DEPLOYMENT_NAME_PATTERN)
_OWN = ("project", "name")


class DeployEntry(DeployInput):
    """One deployment: what `deployments.deploy` is given for it."""

    model_config = {"title": "Deployment"}

    project: SkipJsonSchema[str] = Field(default="", exclude=True)
    name: SkipJsonSchema[str] = Field(default="", exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _not_here(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in _OWN:
                if key in value:
                    where = "the file's `project:`" if key == "project" else "the entry's key"
                    raise ValueError(f"`{key}` is not set in a deployment entry: it is {where}")
        return value


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"`{name}` is not a valid deployment name: use up to 30 lower-case letters, digits and `-`, "
            "starting with a letter"
        )
    return name


def _section_from_none(value: Any) -> Any:
    return {} if value is None else value


def _entry_from_none(value: Any) -> Any:
    return {} if value is None else value


DeployName = Annotated[str, AfterValidator(_check_name)]
DeployField = Annotated[DeployEntry, BeforeValidator(_entry_from_none, json_schema_input_type=DeployEntry)]
DeploySection = Annotated[
    dict[DeployName, DeployField],
    BeforeValidator(_section_from_none),
    # Editors offer the names of the project's deployments (deployments.list's items' `name`).
    Field(json_schema_extra={"x-codeforge-keys": "deployments.list#name"}),
]


def deploy_arguments(name: str, entry: DeployEntry) -> dict[str, Any]:
    """`deployments.deploy`'s input for the entry (without `project`: the caller's context
    fills it): the fields written in the file, the operation's defaults for the rest."""
    return {"name": name, **entry.model_dump(mode="json", exclude_unset=True, exclude=set(_OWN))}
