"""Annotated dependencies of the routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from codeforge.platform.context import Actor
from codeforge.platform.core import Platform

__all__ = ["CurrentActor", "PlatformDep"]


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_actor(request: Request, platform: PlatformDep) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    token = raw.strip() if scheme.lower() == "bearer" else ""
    source = request.client.host if request.client else ""
    return platform.authenticate(token, source)


CurrentActor = Annotated[Actor, Depends(get_actor)]
