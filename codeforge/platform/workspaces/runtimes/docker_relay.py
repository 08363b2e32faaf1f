"""Host-side TCP relays for Docker workspaces (docs/workspaces.md, "Runtimes"): what listens on
the host's loopback only (the platform's embedded PostgreSQL branches, the platform itself)
answers nothing inside a container, so a workspace's environment naming 127.0.0.1:<port> is
rewritten to <gateway>:<port> (its network's gateway: the host's address on that network) and
a relay listening there forwards each connection to 127.0.0.1:<port>. A relay forwards one
port only, the one it was made for; the runtime that owns it closes it when the workspace
stops or is deleted."""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading

__all__ = ["Relay", "Relays", "loopback_ports", "to_gateway"]

log = logging.getLogger(__name__)

# A loopback host followed by a port that ends the authority (as network.remap_env reads them).
_LOOPBACK = re.compile(r"(?<![A-Za-z0-9.-])(127\.0\.0\.1|localhost):(\d{1,5})(?=$|[/?#,;\s\"'])")


def loopback_ports(value: str) -> set[int]:
    return {int(m[2]) for m in _LOOPBACK.finditer(value) if 0 < int(m[2]) < 65536}


def to_gateway(value: str, gateway: str, keep: set[int]) -> tuple[str, set[int]]:
    """`value` with each 127.0.0.1:<port> or localhost:<port> whose port is not in `keep` (the
    workspace's own services, which listen inside) naming `gateway` instead; and those ports."""
    moved: set[int] = set()

    def swap(m: re.Match[str]) -> str:
        port = int(m[2])
        if port in keep or not 0 < port < 65536:
            return m[0]
        moved.add(port)
        return f"{gateway}:{port}"

    return _LOOPBACK.sub(swap, value), moved


class Relay:
    """Listens on (gateway, port); each connection accepted is joined to `target` (by default
    127.0.0.1:port, the only place it forwards to) by two threads copying bytes, each shutting
    the other side's writing when its side ends."""

    def __init__(self, gateway: str, port: int, target: tuple[str, int] | None = None) -> None:
        self.gateway, self.port = gateway, port
        self.target = target or ("127.0.0.1", port)
        self._listener = socket.create_server((gateway, port))
        self._listener.settimeout(0.5)
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept, name=f"relay-{gateway}:{port}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            live, self._open = list(self._open), set()
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(2)

    @property
    def alive(self) -> bool:
        return not self._closed.is_set() and self._thread.is_alive()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                inside, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                outside = socket.create_connection(self.target, timeout=5)
            except OSError as exc:
                log.info("relay %s:%s: %s refused (%s)", self.gateway, self.port, self.target, exc)
                inside.close()
                continue
            inside.settimeout(None)
            outside.settimeout(None)
            with self._lock:
                if self._closed.is_set():
                    inside.close()
                    outside.close()
                    return
                self._open |= {inside, outside}
            pair = _Pair(self, inside, outside)
            for src, dst in ((inside, outside), (outside, inside)):
                threading.Thread(target=pair.pump, args=(src, dst), daemon=True).start()

    def _forget(self, *socks: socket.socket) -> None:
        with self._lock:
            self._open -= set(socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()


class _Pair:
    """One relayed connection: both sockets are closed once both directions have ended."""

    def __init__(self, relay: Relay, a: socket.socket, b: socket.socket) -> None:
        self.relay, self.a, self.b = relay, a, b
        self._left = 2
        self._lock = threading.Lock()

    def pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            with contextlib.suppress(OSError):  # a reset on one side ends both
                src.shutdown(socket.SHUT_RDWR)
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            with self._lock:
                self._left -= 1
                done = self._left == 0
            if done:
                self.relay._forget(self.a, self.b)


class Relays:
    """The relays of one runtime, a relay per (gateway, port), each held by the workspaces that
    asked for it (one per network in practice: a workspace's network is its own)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._relays: dict[tuple[str, int], Relay] = {}
        self._held: dict[str, set[tuple[str, int]]] = {}

    def ensure(self, ws_id: str, gateway: str, ports: set[int]) -> None:
        """A live relay on (gateway, port) to 127.0.0.1:port for each port, held by ws_id;
        raises OSError when one cannot listen (another process holds the gateway's port)."""
        for port in sorted(ports):
            self.forward(ws_id, (gateway, port), ("127.0.0.1", port))

    def forward(self, ws_id: str, listen: tuple[str, int], target: tuple[str, int]) -> None:
        """A live relay on `listen` to `target`, held by ws_id (made again if its target moved)."""
        with self._lock:
            relay = self._relays.get(listen)
            if relay is not None and (not relay.alive or relay.target != target):
                relay.close()
                relay = None
            if relay is None:
                self._relays[listen] = Relay(listen[0], listen[1], target)
            self._held.setdefault(ws_id, set()).add(listen)

    def release(self, ws_id: str) -> None:
        """Close the relays ws_id held that no other workspace holds."""
        with self._lock:
            mine = self._held.pop(ws_id, set())
            still = set().union(*self._held.values()) if self._held else set()
            gone = [self._relays.pop(k) for k in mine - still if k in self._relays]
        for relay in gone:
            relay.close()

    def held(self, ws_id: str) -> list[tuple[str, int]]:
        with self._lock:
            return sorted(self._held.get(ws_id, set()))

    def close_all(self) -> None:
        with self._lock:
            gone, self._relays, self._held = list(self._relays.values()), {}, {}
        for relay in gone:
            relay.close()
