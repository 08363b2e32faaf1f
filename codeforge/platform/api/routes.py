"""One REST route per catalog operation, derived from its declaration."""

# No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations,
# which name each operation's input model through a closure.

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from codeforge.catalog import CATALOG, JobRef, Operation, describe_catalog
from codeforge.platform.api.deps import BearerCredentials, PlatformDep, check_rate_limit, note_auth_failure, sign_in
from codeforge.platform.api.problems import problem_responses
from codeforge.platform.auth.tokens import missing_token

__all__ = ["operations_router"]

# What an operation can answer besides its result: each a problem+json body.
_ERRORS = problem_responses(400, 401, 403, 404, 409, 410, 422, 429, 500, 502, 503)


def _endpoint(op: Operation[Any, Any]) -> Any:
    input_model = op.input

    # Authenticates in the operation's worker thread and unit of work: as a dependency
    # (CurrentActor) it took a thread round trip and a transaction of its own per request.
    def endpoint(
        body: input_model,  # type: ignore[valid-type]
        request: Request,
        platform: PlatformDep,
        credentials: BearerCredentials,
    ) -> BaseModel:
        return platform.execute(
            op, body, lambda session, project: sign_in(request, platform, credentials, session, project)
        )

    endpoint.__name__ = op.name.replace(".", "_")
    endpoint.__doc__ = op.title
    return endpoint


async def _token_given(request: Request, platform: PlatformDep, credentials: BearerCredentials) -> None:
    """A request without a token is refused before its body is validated: "sign in" is the
    answer it needs, not its body's first fault (FastAPI runs dependencies before it reads
    the body). Async: no worker-thread round trip; the token itself is checked in the
    operation's unit of work."""
    if credentials is None or not credentials.credentials.strip():
        check_rate_limit(request, platform)
        note_auth_failure(request, platform, "missing")
        raise missing_token()


def operations_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.get(
        "/catalog", summary="The operations with their JSON Schemas", tags=["catalog"], responses=problem_responses(500)
    )
    def catalog() -> list[dict[str, Any]]:
        return describe_catalog()

    for op in sorted(CATALOG.values(), key=lambda o: o.name):
        router.add_api_route(
            op.path,
            _endpoint(op),
            methods=["POST"],
            response_model=JobRef if op.long_running else op.output,
            status_code=202 if op.long_running else 200,
            summary=op.title,
            description=f"Operation `{op.name}`; needs permission `{op.permission.value}`."
            + (" Long-running: returns a job; follow its events." if op.long_running else ""),
            tags=[op.capability],
            operation_id=op.name.replace(".", "_"),
            responses=_ERRORS,
            dependencies=[Depends(_token_given)],
        )
    return router
