"""HTTP-01 answers: `GET /.well-known/acme-challenge/{token}` serves the key authorization of
a pending challenge, without authentication (the CA asks, over plain HTTP, on port 80 of the
name; each edge node routes that path to the platform). Unknown tokens get 404. A key
authorization is public by design (token + account key thumbprint): it proves nothing to
anyone but the CA that asked for it."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from sqlalchemy import select

from codeforge.platform.certificates.models import AcmeChallenge
from codeforge.platform.db import utcnow

__all__ = ["router"]

router = APIRouter(tags=["certificates"])
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


def _answer(request: Request, token: str) -> str | None:
    db = request.app.state.platform.db
    with db.session() as session:
        return session.scalar(
            select(AcmeChallenge.validation).where(
                AcmeChallenge.token == token, AcmeChallenge.kind == "http-01", AcmeChallenge.expires_at > utcnow()
            )
        )


@router.get(
    "/.well-known/acme-challenge/{token}",
    include_in_schema=False,
    response_class=Response,
)
def acme_challenge(request: Request, token: str) -> Response:
    answer = _answer(request, token) if _TOKEN.match(token) else None
    if answer is None:
        return Response("no such challenge\n", status_code=404, media_type="text/plain")
    return Response(answer, media_type="application/octet-stream")
