"""Every platform operation, declared once as data: one module per operation prefix.

Importable without FastAPI or a database: the platform implements these declarations,
the HTTP client calls them, the CLI and the language server register them. Other code
imports a module under its own name (`from codeforge.catalog import databases`) and names
an operation by it (`databases.BRANCH`).
"""

from codeforge.catalog import (
    agents,
    audit,
    auth,
    backups,
    bridges,
    cache,
    certificates,
    collab,
    databases,
    deployments,
    domains,
    edge,
    engines,
    env,
    jobs,
    members,
    migrations,
    monitoring,
    panes,
    projects,
    sshkeys,
    tokens,
    workspaces,
)
from codeforge.catalog.base import (
    CATALOG,
    CONTEXT_KEY,
    ROLE_PERMISSIONS,
    Empty,
    Input,
    JobRef,
    Operation,
    Permission,
    ProjectInput,
    Role,
    declare,
    operation,
)

__all__ = [
    "CATALOG",
    "CONTEXT_KEY",
    "ROLE_PERMISSIONS",
    "Empty",
    "Input",
    "JobRef",
    "Operation",
    "Permission",
    "ProjectInput",
    "Role",
    "agents",
    "audit",
    "auth",
    "backups",
    "bridges",
    "cache",
    "certificates",
    "collab",
    "databases",
    "declare",
    "deployments",
    "describe_catalog",
    "domains",
    "edge",
    "engines",
    "env",
    "jobs",
    "members",
    "migrations",
    "monitoring",
    "operation",
    "panes",
    "projects",
    "sshkeys",
    "tokens",
    "workspaces",
]


def describe_catalog() -> list[dict[str, object]]:
    """The catalog as editors and `GET /api/v1/catalog` see it, in a stable order."""
    return [op.describe() for op in sorted(CATALOG.values(), key=lambda o: o.name)]
