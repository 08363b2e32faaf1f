"""Pane renderers, registered by capability: `@pane("databases", "Databases")`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from codeforge.platform.context import Context
from codeforge.platform.panes.content import PaneContent

__all__ = ["PANES", "Pane", "pane"]

Renderer = Callable[[Context], PaneContent]


@dataclass(frozen=True)
class Pane:
    name: str
    title: str
    render: Renderer


PANES: dict[str, Pane] = {}


def pane(name: str, title: str) -> Callable[[Renderer], Renderer]:
    def register(fn: Renderer) -> Renderer:
        if name in PANES:
            raise ValueError(f"pane {name!r} is registered twice")
        PANES[name] = Pane(name, title, fn)
        return fn

    return register
