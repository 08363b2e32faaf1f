"""Pebble, Let's Encrypt's test ACME server (Debian's `/usr/bin/pebble`), for the certificates
tests (docs/edge.md, "Real servers").

Debian's package ships no certificate for Pebble's own HTTPS, so the fixture makes a small CA
and a certificate for 127.0.0.1/localhost with `cryptography`, and gives the platform that CA
as CODEFORGE_ACME_CA_BUNDLE. Pebble resolves the names it validates through the DNS server the
test names (`-dnsserver`: the BIND of tests/servers/bind.py), and connects for HTTP-01 to
`http_port`, the port the platform under test is started on. The root that signs the
certificates Pebble issues is read from its management interface (`/roots/0`)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port, require

__all__ = ["PEBBLE", "Pebble", "pebble_factory", "start_pebble"]

PEBBLE = "/usr/bin/pebble"


@dataclass
class Pebble:
    folder: Path
    port: int  # ACME (HTTPS)
    management_port: int
    http_port: int  # where it connects for HTTP-01
    dns: str  # host:port of the DNS server it resolves names with
    ca_bundle: Path  # trusts its HTTPS
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    @property
    def log_path(self) -> Path:
        return self.folder / "pebble.log"

    def root_pem(self) -> str:
        """The root that signs what this Pebble issues (a new one each time Pebble starts)."""
        answer = httpx.get(f"https://127.0.0.1:{self.management_port}/roots/0", verify=str(self.ca_bundle), timeout=10)
        answer.raise_for_status()
        return answer.text

    def platform_env(self) -> dict[str, str]:
        return {
            "CODEFORGE_ACME_DIRECTORY_URL": self.directory_url,
            "CODEFORGE_ACME_CA_BUNDLE": str(self.ca_bundle),
            "CODEFORGE_ACME_EMAIL": "ops@example.test",
            "CODEFORGE_ACME_DNS_PROPAGATION_S": "0",
            "CODEFORGE_ACME_TIMEOUT_S": "60",
        }

    def start(self) -> None:
        config = {
            "pebble": {
                "listenAddress": f"127.0.0.1:{self.port}",
                "managementListenAddress": f"127.0.0.1:{self.management_port}",
                "certificate": str(self.folder / "https.pem"),
                "privateKey": str(self.folder / "https.key"),
                "httpPort": self.http_port,
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        (self.folder / "config.json").write_text(json.dumps(config))
        env = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": "0",
            "PEBBLE_AUTHZREUSE": "0",  # every order proves its names again (no reused authorizations)
            **self.env,
        }
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [PEBBLE, "-config", str(self.folder / "config.json"), "-dnsserver", self.dns],
                stdout=log,
                stderr=log,
                env=env,
                cwd=self.folder,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pebble exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                httpx.get(self.directory_url, verify=str(self.ca_bundle), timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"pebble did not start:\n{self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def _https_identity(folder: Path) -> Path:
    """A CA and a certificate for 127.0.0.1 and localhost signed by it; the CA's PEM path."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble test HTTPS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "https.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "https.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    bundle = folder / "https-ca.pem"
    bundle.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return bundle


def start_pebble(folder: Path, *, dns: str, http_port: int, env: dict[str, str] | None = None) -> Pebble:
    require("pebble", shutil.which(PEBBLE) is not None, f"{PEBBLE} is not installed (Debian package pebble)")
    folder.mkdir(parents=True, exist_ok=True)
    pebble = Pebble(
        folder=folder,
        port=free_port(),
        management_port=free_port(),
        http_port=http_port,
        dns=dns,
        ca_bundle=_https_identity(folder),
        env=dict(env or {}),
    )
    pebble.start()
    return pebble


@pytest.fixture
def pebble_factory(tmp_path: Path) -> Iterator[Callable[..., Pebble]]:
    """`pebble_factory(dns="127.0.0.1:53", http_port=8080)` starts a Pebble; stopped after the test."""
    started: list[Pebble] = []

    def make(*, dns: str, http_port: int, env: dict[str, str] | None = None) -> Pebble:
        pebble = start_pebble(tmp_path / f"pebble-{len(started)}", dns=dns, http_port=http_port, env=env)
        started.append(pebble)
        return pebble

    yield make
    for pebble in started:
        pebble.stop()
