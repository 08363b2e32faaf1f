"""What /proc says about a local workspace's processes: a process's start time (so a pid
file is not trusted after the pid was reused), the members of a process group, and the TCP
ports a set of processes listens on (their socket inodes against /proc/net/tcp{,6})."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from codeforge.platform.workspaces.runtimes.proc_net import listening_ports as net_listening_ports

__all__ = ["alive", "group_members", "listening_ports", "start_time"]

_PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """Clock ticks since boot when the process started (field 22), None when it is gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def alive(pid: int, started: int | None = None) -> bool:
    """The process exists, is not a zombie and, when `started` is given, is the same one."""
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return False
    return started is None or int(fields[19]) == started


def group_members(pgids: set[int]) -> set[int]:
    """Live (non-zombie) processes whose process group is one of pgids."""
    found: set[int] = set()
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields and fields[0] not in ("Z", "X") and int(fields[2]) in pgids:
            found.add(int(entry))
    return found


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes: set[str] = set()
    for pid in pids:
        fd_dir = _PROC / str(pid) / "fd"
        try:
            names = os.listdir(fd_dir)
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(fd_dir / name)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def listening_ports(pids: set[int]) -> list[int]:
    """TCP ports in LISTEN state whose socket belongs to one of pids."""
    inodes = _socket_inodes(pids)
    tables = []
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            tables.append((_PROC / "net" / table).read_text())
    return net_listening_ports("\n".join(tables), inodes=inodes)
