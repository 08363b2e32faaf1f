"""Pane renderers, registered by capability: `@pane("databases", "Databases")` for a page about
the project, `@item_pane("agent-run", "Agent run", item="run")` for a page about one resource
(`panes.open {pane: "agent-run", item: RUN_ID}`), whose renderer gets the item too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from codeforge.platform.context import Context
from codeforge.platform.panes.content import PaneContent

__all__ = ["PANES", "ItemRenderer", "Pane", "Renderer", "item_pane", "pane"]

Renderer = Callable[[Context], PaneContent]
ItemRenderer = Callable[[Context, str], PaneContent]


@dataclass(frozen=True)
class Pane:
    name: str
    title: str
    render: Renderer | None = None
    # For a pane about one resource: what its item is ("run"), and the renderer taking it.
    item: str = ""
    render_item: ItemRenderer | None = None
    item_optional: bool = False  # the renderer also takes "" (logs: every line; traces: every service)

    def content(self, ctx: Context, item: str | None) -> PaneContent:
        if self.render_item is not None:
            return self.render_item(ctx, item or "")
        assert self.render is not None
        return self.render(ctx)


PANES: dict[str, Pane] = {}


def pane(name: str, title: str) -> Callable[[Renderer], Renderer]:
    def register(fn: Renderer) -> Renderer:
        _add(Pane(name, title, render=fn))
        return fn

    return register


def item_pane(name: str, title: str, *, item: str, optional: bool = False) -> Callable[[ItemRenderer], ItemRenderer]:
    """A pane showing one resource: `panes.open` needs its `item` (the resource's id), and an
    unknown one is refused there, with the renderer's own NotFound. `optional`: the item may be
    left out, and the renderer gets "" (the logs pane's query, the traces pane's service)."""

    def register(fn: ItemRenderer) -> ItemRenderer:
        _add(Pane(name, title, item=item, render_item=fn, item_optional=optional))
        return fn

    return register


def _add(found: Pane) -> None:
    if found.name in PANES:
        raise ValueError(f"pane {found.name!r} is registered twice")
    PANES[found.name] = found
