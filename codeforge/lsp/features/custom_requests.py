"""Custom requests for editor extensions: `codeforge/catalog` and `codeforge/status`."""

from __future__ import annotations

from functools import cache
from typing import Any

from codeforge import catalog
from codeforge.catalog import describe_catalog
from codeforge.catalog.errors import CodeForgeError
from codeforge.lsp.session import CodeForgeSession

__all__ = ["CATALOG_REQUEST", "STATUS_REQUEST", "register", "status"]

CATALOG_REQUEST = "codeforge/catalog"
STATUS_REQUEST = "codeforge/status"


@cache
def _catalog() -> dict[str, Any]:
    # The commands this server registered come from the same declarations, so the local
    # catalog is what it can run, less what people do not run themselves (`palette` false: a
    # machine calls it, or a command of a capability's own wraps it); JSON Schemas are built once.
    return {"operations": [op for op in describe_catalog() if op["palette"]]}


async def status(ls: CodeForgeSession) -> dict[str, Any]:
    """Who and where the session is; `connected` false with `error` when the platform
    cannot be reached or refuses the token; `project_error` when codeforge.yaml cannot say."""
    out: dict[str, Any] = {
        "platform": ls.settings.url,
        "connected": False,
        "username": None,
        "organization": None,
        "project": None,
        "role": None,
    }
    try:
        out["project"] = ls.context_project() or None
    except CodeForgeError as exc:  # a broken codeforge.yaml is not a lost connection
        out["project_error"] = exc.message
    try:
        who = await ls.platform.call(catalog.auth.WHOAMI, {})
    except CodeForgeError as exc:
        out["error"] = exc.message
        return out
    data = who.model_dump(mode="json")
    out.update(connected=True, username=data["username"], organization=data["organization"], role=data["role"])
    return out


def register(ls: CodeForgeSession) -> None:
    @ls.feature(CATALOG_REQUEST)
    def on_catalog(ls: Any, params: Any) -> dict[str, Any]:
        return _catalog()

    @ls.feature(STATUS_REQUEST)
    async def on_status(ls: Any, params: Any) -> dict[str, Any]:
        return await status(ls)
