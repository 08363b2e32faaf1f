"""Platform errors as LSP errors: the same one-line message the CLI prints, never a
traceback, with the structured problem in `data` for extensions that want the fields."""

from __future__ import annotations

from pygls.exceptions import JsonRpcException

from codeforge.catalog.errors import BadInput, CodeForgeError

__all__ = ["INVALID_PARAMS", "REQUEST_CANCELLED", "REQUEST_FAILED", "lsp_error"]

INVALID_PARAMS = -32602
# LSP 3.17: "a request failed but it was syntactically correct" (permission, conflict,
# platform down, job failed).
REQUEST_FAILED = -32803
REQUEST_CANCELLED = -32800


def lsp_error(exc: CodeForgeError) -> JsonRpcException:
    code = INVALID_PARAMS if isinstance(exc, BadInput) else REQUEST_FAILED
    data: dict[str, object] = {"type": exc.slug, "status": exc.status}
    if exc.fix:
        data["fix"] = exc.fix
    if exc.errors:
        data["errors"] = [e.as_dict() for e in exc.errors]
    return JsonRpcException(message=exc.message, code=code, data=data)
