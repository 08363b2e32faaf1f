"""BIND 9 (Debian's `/usr/sbin/named`), an authoritative DNS server taking RFC 2136 updates
signed with a TSIG key, for the domains tests and for everything that resolves test names
(Pebble's `-dnsserver`, the certificates, edge and deployments tests) (docs/edge.md).

`bind_server` is one `named -f -g` for the session, on a free 127.0.0.1 port (UDP and TCP), with
its own configuration folder, the key `codeforge-test` (hmac-sha256) and these zones:

| zone | updates | holds |
| --- | --- | --- |
| example.test, shop.test, outside.test | signed with the key | SOA and NS only |
| locked.test | refused (`allow-update { none; }`) | SOA and NS only |
| certs.test, edge.test, deploy.test | signed with the key | the apex and `*` → 127.0.0.1 |

`Bind.env()` is the platform's CODEFORGE_DNS_* pointing at it. `Bind.query` asks it as a DNS
client would; `Bind.update` changes a zone the way a domain's owner would at their DNS provider.
`stop()` and `start()` (same port, zones kept in their journals) make "the DNS server is down".

A conftest imports what it needs: `from tests.servers.bind import bind_server  # noqa: F401`."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
import pytest

from tests.conftest import free_port, require

__all__ = ["NAMED", "OPEN_ZONES", "UPDATABLE_ZONES", "Bind", "bind_server", "start_bind"]

NAMED = "/usr/sbin/named"
KEY_NAME = "codeforge-test"
UPDATABLE_ZONES = ("example.test", "shop.test", "outside.test")
LOCKED_ZONES = ("locked.test",)
OPEN_ZONES = ("certs.test", "edge.test", "deploy.test")  # every name in them → 127.0.0.1


def _named() -> str:
    return NAMED if os.access(NAMED, os.X_OK) else shutil.which("named") or NAMED


def _zone_file(zone: str, loopback: bool) -> str:
    lines = [
        "$TTL 60",
        f"@ IN SOA ns.{zone}. hostmaster.{zone}. 1 3600 600 86400 60",
        f"@ IN NS ns.{zone}.",
        "ns IN A 127.0.0.1",
    ]
    if loopback:
        lines += ["@ IN A 127.0.0.1", "* IN A 127.0.0.1"]
    return "\n".join(lines) + "\n"


def _config(root: Path, port: int, secret: str) -> str:
    zones = []
    for zone in (*UPDATABLE_ZONES, *LOCKED_ZONES, *OPEN_ZONES):
        allow = "none;" if zone in LOCKED_ZONES else f'key "{KEY_NAME}";'
        zones.append(f'zone "{zone}" {{ type primary; file "{zone}.zone"; allow-update {{ {allow} }}; }};')
    return f"""
options {{
    directory "{root}";
    pid-file "{root}/named.pid";
    session-keyfile "{root}/session.key";
    managed-keys-directory "{root}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    allow-query {{ any; }};
    dnssec-validation no;
    notify no;
    minimal-responses yes;
}};
controls {{ }};
key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{secret}"; }};
{chr(10).join(zones)}
"""


@dataclass
class Bind:
    root: Path
    port: int
    key_secret: str
    key_name: str = KEY_NAME
    algorithm: str = "hmac-sha256"
    host: str = "127.0.0.1"
    zones: tuple[str, ...] = (*UPDATABLE_ZONES, *LOCKED_ZONES, *OPEN_ZONES)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "named.log"

    def env(self, **overrides: str) -> dict[str, str]:
        """The platform's settings for this server (updates, and the resolver of ownership checks)."""
        return {
            "CODEFORGE_DNS_SERVER": self.address,
            "CODEFORGE_DNS_TSIG_NAME": self.key_name,
            "CODEFORGE_DNS_TSIG_ALGORITHM": self.algorithm,
            "CODEFORGE_DNS_TSIG_SECRET": self.key_secret,
            "CODEFORGE_DNS_RESOLVER": self.address,
            **overrides,
        }

    @property
    def key(self) -> dns.tsig.Key:
        return dns.tsig.Key(self.key_name, self.key_secret, self.algorithm)

    # -- as a client ----------------------------------------------------------------------------

    def query(self, name: str, rtype: str = "A", *, tcp: bool = False) -> list[str]:
        """What it answers for (name, rtype), in presentation form, sorted; [] for none."""
        q = dns.message.make_query(name, rtype)
        ask = dns.query.tcp if tcp else dns.query.udp
        answer = ask(q, self.host, port=self.port, timeout=5)
        if answer.rcode() == dns.rcode.NXDOMAIN:
            return []
        assert answer.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(answer.rcode())
        rdtype = dns.rdatatype.from_text(rtype)
        for rrset in answer.answer:
            if rrset.rdtype == rdtype and rrset.name == q.question[0].name:
                return sorted(rd.to_text() for rd in rrset)
        return []

    def ttl(self, name: str, rtype: str = "A") -> int | None:
        answer = dns.query.udp(dns.message.make_query(name, rtype), self.host, port=self.port, timeout=5)
        rdtype = dns.rdatatype.from_text(rtype)
        return next((rrset.ttl for rrset in answer.answer if rrset.rdtype == rdtype), None)

    def update(self, zone: str, name: str, rtype: str, values: Sequence[str] = (), ttl: int = 60) -> None:
        """Replace (values) or delete (no values) a record set, signed with the key, as the
        domain's owner would at their DNS provider. `name` is relative to `zone`."""
        message = dns.update.UpdateMessage(zone, keyring=self.key)
        if values:
            message.replace(name, ttl, rtype, *values)
        else:
            message.delete(name, rtype)
        answer = dns.query.tcp(message, self.host, port=self.port, timeout=5)
        assert answer.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(answer.rcode())

    # -- the process ----------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [_named(), "-f", "-g", "-4", "-n", "1", "-c", str(self.root / "named.conf")],
                stdout=log,
                stderr=log,
                cwd=self.root,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"named exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                if self.query(UPDATABLE_ZONES[0], "SOA", tcp=True):
                    return
            except (OSError, dns.exception.DNSException, AssertionError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"named did not answer within {timeout:g} s:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        """Stop it (SIGTERM: it writes its zones' journals first), as an outage would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def start_bind(root: Path) -> Bind:
    """A fresh named in `root` (created), on a free port; the caller stops it."""
    root.mkdir(parents=True, exist_ok=True)
    secret = base64.b64encode(os.urandom(32)).decode()
    for zone in (*UPDATABLE_ZONES, *LOCKED_ZONES, *OPEN_ZONES):
        (root / f"{zone}.zone").write_text(_zone_file(zone, zone in OPEN_ZONES))
    last: Exception | None = None
    for _ in range(5):  # a port free for TCP may be taken for UDP: try another
        port = free_port()
        (root / "named.conf").write_text(_config(root, port, secret))
        server = Bind(root=root, port=port, key_secret=secret)
        try:
            server.start()
            return server
        except RuntimeError as exc:
            last = exc
    raise RuntimeError(f"named could not start: {last}")


@pytest.fixture(scope="session")
def bind_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    """One BIND for the session (see the module's docstring); skipped, saying why, without named."""
    require("bind", os.access(_named(), os.X_OK), f"{NAMED} is not installed (Debian: apt-get install bind9)")
    server = start_bind(tmp_path_factory.mktemp("bind"))
    try:
        yield server
    finally:
        server.stop()
