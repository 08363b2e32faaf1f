"""The env capability: a project's environment variables, encrypted at rest."""

from __future__ import annotations

from codeforge.platform.manifest import Capability, ProjectSection

__all__ = ["CAPABILITY"]


def _section() -> ProjectSection:
    # ProjectFile declares `env:` itself (its model and plan live in codeforge.projectfile);
    # the section is named here so the manifest says everything the capability brings.
    from codeforge.projectfile.model import EnvField, EnvName

    return ProjectSection(
        "env",
        dict[EnvName, EnvField],
        "Environment variables of the project: `NAME: value`, or `NAME: {value, secret, description}`.",
    )


CAPABILITY = Capability(
    name="env",
    title="Environment variables",
    catalog=("codeforge.catalog.env",),
    models=("models",),
    services=("service",),
    project_section=_section(),
    editor=("codeforge.lsp.capabilities.env",),
)
