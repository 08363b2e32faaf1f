"""Every platform operation, declared once as data.

Importable without FastAPI or a database: the platform implements these declarations,
the HTTP client calls them, the CLI and the language server register them.
"""

from codeforge.catalog import access, databases, env, jobs, panes
from codeforge.catalog.base import (
    CATALOG,
    CONTEXT_KEY,
    ROLE_PERMISSIONS,
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
    "Input",
    "JobRef",
    "Operation",
    "Permission",
    "ProjectInput",
    "Role",
    "access",
    "databases",
    "declare",
    "describe_catalog",
    "env",
    "jobs",
    "operation",
    "panes",
]


def describe_catalog() -> list[dict[str, object]]:
    """The catalog as editors and `GET /api/v1/catalog` see it, in a stable order."""
    return [op.describe() for op in sorted(CATALOG.values(), key=lambda o: o.name)]
