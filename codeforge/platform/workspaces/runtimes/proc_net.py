"""Which TCP ports are listened on, read from the kernel's /proc/net/tcp and tcp6 tables: on
this host for the local runtime (its processes' sockets), and inside a container or a Pod for
the others (the tables' text, read there with `cat`)."""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["LISTEN", "listening_ports"]

LISTEN = "0A"  # the kernel's TCP_LISTEN state, as the tables write it


def listening_ports(
    table: str, *, inodes: Collection[str] | None = None, skip_addresses: Collection[str] = ()
) -> list[int]:
    """Ports in LISTEN state in /proc/net/tcp{,6} text (the header and garbage lines are
    ignored); only sockets whose inode is in `inodes` when given; local addresses in
    `skip_addresses` (the tables' hex, e.g. "0B00007F" for 127.0.0.11) left out."""
    ports: set[int] = set()
    for line in table.splitlines():
        cols = line.split()
        if len(cols) < 4 or cols[3] != LISTEN or ":" not in cols[1]:
            continue
        address, _, port = cols[1].rpartition(":")
        if address in skip_addresses or (inodes is not None and (len(cols) < 10 or cols[9] not in inodes)):
            continue
        try:
            ports.add(int(port, 16))
        except ValueError:
            continue
    return sorted(ports)
