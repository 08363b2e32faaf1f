"""The `workspaces` pane (docs/workspaces.md, "Editors"): a project's workspaces with their
state, runtime, how their files are stored, their ports (with the links that reach them),
their database branches and limits; their snapshots drawn as a timeline, each with what it
captured and what it could not.

Environment values are never shown (a workspace's own, its template's or devcontainer.json's,
the project's): only variable names. Free text that could quote one (a start's error, a
snapshot's missing parts, devcontainer.json notes) has URL passwords, `password=` pairs,
tokens and every known environment value masked. The renderer escapes all of it."""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from sqlalchemy import select

from codeforge import catalog
from codeforge.catalog.errors import scrub_secrets
from codeforge.catalog.secrets import MASK
from codeforge.platform.context import Context
from codeforge.platform.panes.content import Chart, Log, PaneContent, Point, Section, Series, Table
from codeforge.platform.panes.registry import pane
from codeforge.platform.panes.render import format_value
from codeforge.platform.workspaces import access
from codeforge.platform.workspaces.databases_link import used_databases
from codeforge.platform.workspaces.models import Workspace, WorkspaceSnapshot

__all__ = ["workspaces_pane"]

W = catalog.workspaces

_TOKEN = re.compile(r"\bcf_[A-Za-z0-9_-]{8,}")
_SHORTEST_MASKED = 6  # shorter values ("1", "true", "8000") are too common in ordinary text to mask
DELETED = "(deleted workspace)"


def _masker(ctx: Context, rows: Iterable[Workspace]) -> Callable[[str], str]:
    """Masks credentials and every known environment value in a piece of free text."""
    values: set[str] = set()
    # A value that no longer decrypts cannot be masked, and is not shown by this pane either.
    with contextlib.suppress(Exception):
        values.update(access.project_env(ctx.session, ctx.cipher, ctx.require_project()).values())
    for row in rows:
        with contextlib.suppress(Exception):
            values.update(access.unseal_env(ctx.cipher, row.env_sealed).values())
        values.update(str(v) for v in ((row.spec or {}).get("env") or {}).values())
    secrets = sorted((v for v in values if len(v) >= _SHORTEST_MASKED), key=len, reverse=True)

    def clean(text: str) -> str:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _TOKEN.sub(f"cf_{MASK}", scrub_secrets(text))

    return clean


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S}"


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _size(n: int) -> str:
    return format_value(float(n), "bytes")


def _limits(info: catalog.workspaces.WorkspaceInfo) -> str:
    lim = info.limits
    parts = [
        f"{lim.cpus:g} CPU" if lim.cpus is not None else "CPU: no limit",
        f"{lim.memory_mb} MiB memory" if lim.memory_mb is not None else "memory: no limit",
    ]
    if info.disk_bytes is not None and lim.disk_mb is not None:
        parts.append(f"disk {_size(info.disk_bytes)} of {lim.disk_mb} MiB")
    elif lim.disk_mb is not None:
        parts.append(f"disk: at most {lim.disk_mb} MiB")
    elif info.disk_bytes is not None:
        parts.append(f"disk {_size(info.disk_bytes)} (no limit)")
    else:
        parts.append("disk: no limit")
    return " · ".join(parts)


def _databases(ctx: Context, row: Workspace, info: catalog.workspaces.WorkspaceInfo) -> list[list[str]]:
    """The databases its environment points at (names, never URLs): its own branches (made for
    it, deleted with it), and the project's databases it shares."""
    own = {d.env_var: d.database for d in info.databases}
    try:
        used = used_databases(ctx, access.workspace_env(ctx, row))
    except Exception:  # a variable that no longer decrypts: its own branches are still known
        used = {}
    out = [[info.name, var, name, "its own branch"] for var, name in own.items()]
    out += [[info.name, var, name, "shared with the project"] for var, name in used.items() if var not in own]
    return sorted(out)


def _captured(snap: catalog.workspaces.SnapshotInfo) -> str:
    parts = [f"files: {snap.files}"]
    if snap.env:
        parts.append("environment (sealed; values not shown)")
    if snap.databases:
        parts.append("databases: " + ", ".join(f"{d.env_var} → {d.database}" for d in snap.databases))
    if snap.network:
        parts.append("ports: " + ", ".join(f"{p.service} {p.inside}→{p.host}" for p in snap.network))
    if snap.services:
        parts.append("services: " + ", ".join(snap.services))
    if snap.processes == "checkpointed":
        parts.append("running processes (checkpointed)")
    return "; ".join(parts)


def _not_captured(snap: catalog.workspaces.SnapshotInfo, clean: Callable[[str], str]) -> str:
    missing = [clean(m) for m in snap.missing]
    if snap.processes != "checkpointed" and not any("running processes" in m for m in missing):
        missing.append(f"running processes: {clean(snap.processes)}")
    return "; ".join(missing) or "nothing: everything was captured"


def _nice_top(count: int) -> float:
    """The y axis' top: a multiple of five, so the ticks are whole snapshots."""
    return float(max(5, 5 * math.ceil(count / 5)))


def _timeline(infos: list[catalog.workspaces.WorkspaceInfo], snaps: list[catalog.workspaces.SnapshotInfo]) -> Chart:
    """Each workspace a line from its creation (at 0) up one step per snapshot; a dot per event."""
    created = {w.name: _ms(w.created_at) for w in infos}
    by_workspace: dict[str, list[Point]] = {}
    for snap in sorted(snaps, key=lambda s: s.created_at):
        label = snap.workspace or DELETED
        points = by_workspace.setdefault(label, [])
        if not points and label in created and created[label] <= _ms(snap.created_at):
            points.append((created[label], 0.0))
        points.append((_ms(snap.created_at), float(sum(1 for _, v in points if v > 0) + 1)))
    series: list[Series] = sorted(by_workspace.items(), key=lambda item: (item[0] == DELETED, item[0]))
    top = max((v for _, points in series for _, v in points), default=0.0)
    starts = [t for _, points in series for t, _ in points]
    return Chart(
        "Snapshot timeline (each dot at 0: the workspace created; each dot above: a snapshot, counted)",
        series,
        unit="",
        y_min=0.0,
        y_max=_nice_top(int(top)),
        empty="no snapshots yet: CodeForge: Snapshot a workspace",
        start_ms=min(starts) if starts else None,
        end_ms=max([time.time_ns() // 1_000_000, *starts]) if starts else None,
        dots=True,
    )


@pane("workspaces", "Workspaces")
def workspaces_pane(ctx: Context) -> PaneContent:
    from codeforge.platform.workspaces import service  # the operations' own views

    project = ctx.require_project()
    rows = list(
        ctx.session.scalars(
            select(Workspace)
            .where(Workspace.project_id == project.id, Workspace.state != "pooled")
            .order_by(Workspace.name)
        )
    )
    snap_rows = list(
        ctx.session.scalars(
            select(WorkspaceSnapshot)
            .where(WorkspaceSnapshot.project_id == project.id)
            .order_by(WorkspaceSnapshot.created_at.desc())
        )
    )
    clean = _masker(ctx, rows)
    infos = [access.workspace_info(ctx, r, disk=True) for r in rows]
    snaps = [access.snapshot_info(ctx, s) for s in snap_rows]
    files = infos[0].files if infos else (snaps[0].files if snaps else "")

    ports: list[list[str]] = []
    branches: list[list[str]] = []
    notes: dict[str, list[str]] = {}
    for row, info in zip(rows, infos, strict=True):
        ports += [[info.name, p.service, str(p.inside), str(p.host), p.url] for p in info.ports]
        if info.bridge_url:
            ports.append(
                [info.name, "bridge (editors connect here)", "", info.bridge_url.rsplit(":", 1)[-1], info.bridge_url]
            )
        branches += _databases(ctx, row, info)
        if info.error:
            notes.setdefault(f"error: {clean(info.error)}", []).append(info.name)
        for note in info.notes:
            notes.setdefault(clean(note), []).append(info.name)

    sections: list[Section] = [
        Table(
            "Workspaces",
            ["name", "state", "runtime", "template", "files", "isolation", "limits", "created"],
            [
                [
                    i.name,
                    i.state,
                    i.runtime,
                    i.template or "(devcontainer.json or folder)",
                    i.files,
                    clean(i.isolation),
                    _limits(i),
                    f"{_when(i.created_at)} by {i.created_by}",
                ]
                for i in infos
            ],
            empty="no workspaces yet: CodeForge: Create a workspace",
        ),
        Table(
            "Ports",
            ["workspace", "service", "inside", "host", "link"],
            ports,
            empty="no ports: no workspace runs a service that listens" if infos else "no workspaces yet",
        ),
        Table(
            "Databases",
            ["workspace", "variable", "database", "whose"],
            branches,
            empty="no workspace's environment points at a database of the project" if infos else "no workspaces yet",
        ),
        _timeline(infos, snaps),
        Table(
            "Snapshots (newest first)",
            ["taken (UTC)", "snapshot", "of workspace", "captured", "not captured", "by"],
            [
                [
                    _when(s.created_at),
                    s.name,
                    s.workspace or DELETED,
                    _captured(s),
                    _not_captured(s, clean),
                    s.created_by,
                ]
                for s in snaps
            ],
            empty="no snapshots yet: CodeForge: Snapshot a workspace",
        ),
        Log(
            "Notes",
            [(", ".join(names), text) for text, names in notes.items()],
            empty="nothing to note",
        ),
    ]
    pool = service.list_templates(ctx, W.TemplatesInput(project=project.slug)).items
    sections.append(
        Table(
            "Warm pool",
            ["template", "pool size", "ready", "usable here"],
            [
                [t.name, str(t.pool_size), str(t.pool_ready), "yes" if t.usable else f"no: {clean(t.why_not)}"]
                for t in pool
                if t.pool_size or t.pool_ready
            ],
            empty="no warm pool: ready workspaces are kept with workspaces.pool",
        )
    )
    states = sorted({i.state for i in infos})
    summary = ", ".join(f"{sum(1 for i in infos if i.state == s)} {s}" for s in states)
    subtitle = f"{len(infos)} workspace(s)" + (f" ({summary})" if summary else "") + f" · {len(snaps)} snapshot(s)"
    if files:
        subtitle += f" · files: {files}"
    return PaneContent(title=f"Workspaces of {project.slug}", subtitle=subtitle + " · times in UTC", sections=sections)
