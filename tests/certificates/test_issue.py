"""Certificates through a real `codeforge up`, a real Pebble and a real BIND
(docs/certificates.md): issued with HTTP-01 (Pebble fetches the token from the platform) and
with DNS-01 (a TXT record through the domains capability's provider), each verified with
`cryptography` against Pebble's root; renewed, listed, shown, handed out by `pem_for`, deleted.
The private key is in no operation's output, job event or log line."""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store

from codeforge.client import PlatformClient
from codeforge.platform.certificates.store import pem_for
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import Database
from codeforge.platform.settings import Settings
from tests.certificates.conftest import own_domain, run
from tests.conftest import RunningPlatform
from tests.servers.bind import Bind
from tests.servers.pebble import Pebble


def verify_chain(chain_pem: str, root_pem: str, hostname: str) -> x509.Certificate:
    """The leaf, once its chain validates to Pebble's root for `hostname` (raises otherwise)."""
    certs = x509.load_pem_x509_certificates(chain_pem.encode())
    root = x509.load_pem_x509_certificate(root_pem.encode())
    verifier = PolicyBuilder().store(Store([root])).build_server_verifier(x509.DNSName(hostname))
    verifier.verify(certs[0], certs[1:])
    return certs[0]


def san(cert: x509.Certificate) -> list[str]:
    return sorted(
        cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    )


def key_and_chain(platform: RunningPlatform, hostname: str) -> tuple[str, str] | None:
    settings = Settings(data_dir=platform.data_dir)
    db = Database(settings.resolved_database_url)
    try:
        return pem_for(db, Cipher(settings.fernet_key()), hostname)
    finally:
        db.dispose()


def secret_parts(key_pem: str) -> list[str]:
    """Pieces of the private key that must appear nowhere: its PEM body and its raw scalar."""
    body = "".join(line for line in key_pem.splitlines() if not line.startswith("-----"))
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return [body[:40], body[-40:], base64.b64encode(der).decode()[:40]]


def job_text(client: PlatformClient, op: str, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Run a job; its result and everything its events said."""
    ref = client.call(op, body)
    events = list(client.events(ref.job_id))
    text = "\n".join(e.model_dump_json() for e in events)
    assert events[-1].result is not None, text
    return events[-1].result, text


def test_http01_issue_show_renew_and_pem_for(
    client: PlatformClient, platform: RunningPlatform, pebble: Pebble, bind_server: Bind
) -> None:
    p = platform.project
    own_domain(platform, client, bind_server, "certs.test", p)
    issued, events = job_text(
        client, "certificates.issue", {"project": p, "domain": "certs.test, www.certs.test", "challenge": "http-01"}
    )
    assert issued["name"] == "certs.test" and issued["names"] == ["certs.test", "www.certs.test"]
    assert issued["state"] == "valid" and issued["challenge"] == "http-01"
    assert issued["days_left"] > 300 and "Pebble" in issued["issuer"]
    assert "issued by Pebble" in events  # progress reported (the last step always reaches the job)

    found = key_and_chain(platform, "www.certs.test")
    assert found is not None
    chain, key_pem = found
    root = pebble.root_pem()
    leaf = verify_chain(chain, root, "www.certs.test")
    verify_chain(chain, root, "certs.test")
    assert san(leaf) == ["certs.test", "www.certs.test"]
    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    assert key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key_and_chain(platform, "other.certs.test") is None  # not a name of it (no wildcard)

    shown = run(client, "certificates.show", {"project": p, "domain": "certs.test"})
    assert shown["serial"] == issued["serial"] and shown["chain_pem"].startswith("-----BEGIN CERTIFICATE-----")
    listed = run(client, "certificates.list", {"project": p})["items"]
    assert [c["name"] for c in listed] == ["certs.test"] and listed[0]["chain_pem"] == ""

    renewed, renew_events = job_text(client, "certificates.renew", {"project": p, "domain": "certs.test"})
    assert renewed["serial"] != issued["serial"] and renewed["renewed_at"]
    found2 = key_and_chain(platform, "certs.test")
    assert found2 is not None and found2[1] != key_pem  # a new key with each renewal
    verify_chain(found2[0], root, "certs.test")

    # The private keys are nowhere people or logs see.
    seen = "\n".join([str(issued), events, str(shown), str(listed), str(renewed), renew_events, platform.logs()])
    for part in secret_parts(key_pem) + secret_parts(found2[1]):
        assert part not in seen
    assert "PRIVATE KEY" not in seen

    gone = run(client, "certificates.delete", {"project": p, "domain": "certs.test"})
    assert gone == {"name": "certs.test", "names": ["certs.test", "www.certs.test"]}
    assert key_and_chain(platform, "certs.test") is None
    assert run(client, "certificates.list", {"project": p})["items"] == []
