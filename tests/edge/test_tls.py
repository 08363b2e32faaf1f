"""HTTPS through a real Caddy node: a certificate made here (a CA of the test's own) loaded
with `tls.certificates.load_pem`, verified by a client trusting that CA; HTTP/2 negotiated
by ALPN; HTTP/3 advertised."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from codeforge.platform.crypto import Cipher
from codeforge.platform.edge.routes import Backend, Route, nodes, publish
from tests.servers.caddy import EdgeWorld, start_backends

HOST = "secure.example.test"


def make_ca_and_cert(host: str) -> tuple[str, str, str]:
    """(CA PEM, leaf chain PEM, leaf key PEM)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CodeForge test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=12))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return ca.public_bytes(pem).decode(), leaf.public_bytes(pem).decode() + ca.public_bytes(pem).decode(), key_pem


def install(world: EdgeWorld, host: str, chain: str, key: str) -> None:
    folder = Path(world.settings.data_dir) / "edge" / "certificates"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{host}.crt").write_text(chain)
    (folder / f"{host}.key").write_text(key)


def test_https_with_a_loaded_certificate_http2_and_http3_advertised(edge: EdgeWorld, tmp_path: Path) -> None:
    ca_pem, chain, key = make_ca_and_cert(HOST)
    install(edge, HOST, chain, key)
    (tmp_path / "ca.pem").write_text(ca_pem)
    with start_backends("tls-app") as (app,):
        route = Route(edge.project_id, "secure", (HOST,), (Backend(app.address),))
        assert publish(edge.db, edge.settings, None, route).failed == {}
        node = nodes(edge.db, edge.settings)[0]
        host, port = node.https_address.rsplit(":", 1)
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with httpx.Client(verify=context, timeout=10) as client:
            r = client.get(f"https://{node.https_address}/", headers={"Host": HOST}, extensions={"sni_hostname": HOST})
        assert r.status_code == 200
        assert r.headers["X-Backend"] == "tls-app"
        assert "h3=" in r.headers.get("Alt-Svc", "")  # HTTP/3 on the same port, over UDP
        # ALPN: the node picks HTTP/2 when the client offers it.
        context.set_alpn_protocols(["h2", "http/1.1"])
        with (
            socket.create_connection((host, int(port)), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname=HOST) as tls,
        ):
            assert tls.selected_alpn_protocol() == "h2"
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
        # A client that does not trust the CA is refused.
        with httpx.Client(timeout=10) as client:
            try:
                client.get(f"https://{node.https_address}/", headers={"Host": HOST}, extensions={"sni_hostname": HOST})
                raise AssertionError("an untrusted certificate was accepted")
            except httpx.ConnectError as exc:
                assert "CERTIFICATE_VERIFY_FAILED" in str(exc)


def test_a_certificate_from_the_certificates_store(edge: EdgeWorld, tmp_path: Path) -> None:
    """A certificate the certificates capability holds (its key sealed with the platform's
    key) reaches the node through `store.pem_for` and `load_pem`."""
    models = pytest.importorskip("codeforge.platform.certificates.models")
    host = "store.example.test"
    ca_pem, chain, key = make_ca_and_cert(host)
    (tmp_path / "ca.pem").write_text(ca_pem)
    now = dt.datetime.now(dt.UTC)
    cipher = Cipher(edge.settings.fernet_key())
    with edge.db.session() as s:
        s.add(
            models.Certificate(
                project_id=edge.project_id,
                name=host,
                names=[host],
                challenge="http-01",
                not_before=now - dt.timedelta(minutes=5),
                not_after=now + dt.timedelta(hours=12),
                chain_pem=chain,
                key_sealed=cipher.encrypt(key),
                created_by="test",
            )
        )
    with start_backends("stored") as (app,):
        route = Route(edge.project_id, "stored", (host,), (Backend(app.address),))
        assert publish(edge.db, edge.settings, cipher, route).failed == {}
        node = nodes(edge.db, edge.settings)[0]
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with httpx.Client(verify=context, timeout=10) as client:
            r = client.get(f"https://{node.https_address}/", headers={"Host": host}, extensions={"sni_hostname": host})
        assert (r.status_code, r.headers["X-Backend"]) == (200, "stored")
