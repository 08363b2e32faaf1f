"""Host ports for workspaces' services (docs/workspaces.md, "Network"): allocated from a range
in the platform's database, so two workspaces never hold one port on any replica, and only
ports nothing else on this host listens on; and the remapping a clone needs — new host ports,
and every environment value that named an old one rewritten.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from codeforge.catalog.errors import BadInput, Conflict, FieldProblem
from codeforge.platform.workspaces.journal import Sessions
from codeforge.platform.workspaces.models import WorkspacePort
from codeforge.platform.workspaces.records import PortMap

__all__ = ["DEFAULT_RANGE", "PortPool", "parse_range", "remap_env"]

DEFAULT_RANGE = (23000, 23999)  # below the ephemeral ports (settings.py says why)


def parse_range(text: str) -> tuple[int, int]:
    """`23000-23999` → (23000, 23999); BadInput naming the setting otherwise."""
    match = re.fullmatch(r"\s*([0-9]{1,5})\s*-\s*([0-9]{1,5})\s*", text)
    low, high = (int(match[1]), int(match[2])) if match else (0, 0)
    if not match or not 1024 <= low <= high <= 65535:
        raise BadInput.of_fields(
            [FieldProblem("CODEFORGE_WORKSPACES_PORT_RANGE", f"{text!r} is not a port range", "write e.g. 23000-23999")]
        )
    return low, high


def _free_here(port: int) -> bool:
    """Nothing on this host listens on `port` (on any address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


class PortPool:
    def __init__(self, db: Sessions, low: int = DEFAULT_RANGE[0], high: int = DEFAULT_RANGE[1]) -> None:
        self.db, self.low, self.high = db, low, high

    def allocate(self, workspace_id: str, wants: Iterable[tuple[str, int]]) -> list[PortMap]:
        """A host port for each (service, inside port), all or none: Conflict naming the
        range when it has too few free ports left."""
        wants = list(wants)
        given: list[PortMap] = []
        try:
            for service, inside in wants:
                given.append(self._one(workspace_id, service, inside))
        except Conflict:
            self.release(workspace_id, [p.host for p in given])
            raise
        return given

    def _one(self, workspace_id: str, service: str, inside: int) -> PortMap:
        with self.db.session() as session:
            taken = set(session.scalars(select(WorkspacePort.host_port)))
        for port in range(self.low, self.high + 1):
            if port in taken or not _free_here(port):
                continue
            try:
                with self.db.session() as session:
                    session.add(
                        WorkspacePort(host_port=port, workspace_id=workspace_id, service=service, inside=inside)
                    )
            except (Conflict, IntegrityError):  # another replica took it meanwhile: the next one
                continue
            return PortMap(service, inside, port)
        raise Conflict(
            f"no free host port left in {self.low}-{self.high} for service {service!r}",
            fix="delete or stop workspaces you do not need, or widen CODEFORGE_WORKSPACES_PORT_RANGE",
        )

    def held(self, workspace_id: str) -> list[PortMap]:
        with self.db.session() as session:
            rows = session.scalars(
                select(WorkspacePort)
                .where(WorkspacePort.workspace_id == workspace_id)
                .order_by(WorkspacePort.host_port)
            )
            return [PortMap(r.service, r.inside, r.host_port) for r in rows]

    def release(self, workspace_id: str, ports: Iterable[int] | None = None) -> int:
        """Give back the workspace's ports (only `ports` when given); how many."""
        query = delete(WorkspacePort).where(WorkspacePort.workspace_id == workspace_id)
        if ports is not None:
            query = query.where(WorkspacePort.host_port.in_(list(ports)))
        with self.db.session() as session:
            return int(getattr(session.execute(query), "rowcount", 0) or 0)


def remap_env(env: dict[str, str], moved: dict[int, int]) -> dict[str, str]:
    """`env` with every old host port in `moved` replaced by its new one where a value names
    it: after a host (`localhost:42001`, `http://127.0.0.1:42001/x`, `[::1]:42001`), or as the
    whole value of a `*_PORT` variable. Other numbers are left alone."""
    if not moved:
        return dict(env)
    ports = "|".join(str(p) for p in sorted(moved, key=lambda p: -len(str(p))))
    # After a host, and ending the authority (not a password that happens to be a port).
    after_host = re.compile(rf"(?<=[A-Za-z0-9\]\.-]:)({ports})(?=$|[/?#,;\s\"'])")
    out: dict[str, str] = {}
    for name, value in env.items():
        if name.upper().endswith("PORT") and value.strip().isdigit() and int(value) in moved:
            out[name] = str(moved[int(value)])
        else:
            out[name] = after_host.sub(lambda m: str(moved[int(m[1])]), value)
    return out
