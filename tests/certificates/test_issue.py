"""Certificates through a real `codeforge up`, a real Pebble and a real BIND
(docs/certificates.md): issued with HTTP-01 (Pebble fetches the token from the platform) and
with DNS-01 (a TXT record through the domains capability's provider), each verified with
`cryptography` against Pebble's root; renewed, listed, shown, handed out by `pem_for`, deleted.
The private key is in no operation's output, job event or log line."""

from __future__ import annotations

import base64
import http.server
import threading
from datetime import datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store

from codeforge.catalog.errors import BadInput, CodeForgeError, NotFound, PermissionDenied
from codeforge.client import PlatformClient
from codeforge.platform.certificates.renewal import Renewer
from codeforge.platform.certificates.store import pem_for
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import Database
from codeforge.platform.manifest import Runtime
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


def challenge_rows(platform: RunningPlatform) -> list[tuple[str, str]]:
    """The pending challenges the platform holds: (kind, hostname)."""
    from sqlalchemy import select

    from codeforge.platform.certificates.models import AcmeChallenge

    db = Database(Settings(data_dir=platform.data_dir).resolved_database_url)
    try:
        with db.session() as session:
            return [(r.kind, r.hostname) for r in session.scalars(select(AcmeChallenge))]
    finally:
        db.dispose()


def test_dns01_with_a_wildcard(
    client: PlatformClient, platform: RunningPlatform, pebble: Pebble, bind_server: Bind
) -> None:
    p = platform.project
    own_domain(platform, client, bind_server, "example.test", p)
    issued, events = job_text(
        client,
        "certificates.issue",
        {"project": p, "domain": "example.test, *.example.test", "challenge": "dns-01"},
    )
    assert issued["names"] == ["example.test", "*.example.test"] and issued["challenge"] == "dns-01"
    found = key_and_chain(platform, "api.example.test")  # covered by the wildcard
    assert found is not None
    root = pebble.root_pem()
    leaf = verify_chain(found[0], root, "api.example.test")
    verify_chain(found[0], root, "example.test")
    assert san(leaf) == ["*.example.test", "example.test"]
    assert key_and_chain(platform, "a.b.example.test") is None  # a wildcard covers one label
    # Nothing of the order is left: no TXT record, no pending challenge.
    assert bind_server.query("_acme-challenge.example.test", "TXT") == []
    assert challenge_rows(platform) == []
    for part in secret_parts(found[1]):
        assert part not in events and part not in platform.logs()
    run(client, "certificates.delete", {"project": p, "domain": "example.test"})


def test_refusals_and_a_failing_challenge(client: PlatformClient, platform: RunningPlatform, bind_server: Bind) -> None:
    p = platform.project
    # Bad input: named fields, no job started.
    for bad, says in (
        ("", "names no host name"),
        ("example..test", "has an empty label"),
        ("x*.certs.test", "not a leading"),
        ("10.0.0.1", "IP address"),
    ):
        with pytest.raises(BadInput, match=says):
            client.call("certificates.issue", {"project": p, "domain": bad})
    with pytest.raises(BadInput):
        client.call("certificates.issue", {"project": p, "domain": "certs.test", "challenge": "tls-alpn-01"})

    # Not the project's: never added, added but not verified, another project's.
    own_domain(platform, client, bind_server, "outside.test", p, verify=False)
    run(client, "projects.create", {"slug": "other", "name": "Other"})
    own_domain(platform, client, bind_server, "deploy.test", "other")
    for name in ("nowhere.test", "outside.test", "www.deploy.test"):
        with pytest.raises(
            CodeForgeError, match=rf"{name.removeprefix('www.')} is not a verified domain of project 'demo'"
        ) as err:
            run(client, "certificates.issue", {"project": p, "domain": name})
        assert "other" not in str(err.value)  # names no other project
    with pytest.raises(CodeForgeError, match=r"wildcard.*dns-01"):
        run(client, "certificates.issue", {"project": p, "domain": "*.certs.test"})

    # A challenge that fails: shop.test is verified but resolves nowhere (no A record), so the
    # CA cannot fetch the token. A clear error, nothing stored, no challenge left.
    own_domain(platform, client, bind_server, "shop.test", p)
    with pytest.raises(CodeForgeError, match=r"the CA could not validate shop\.test: .*") as err:
        run(client, "certificates.issue", {"project": p, "domain": "shop.test"})
    assert "Fix:" in str(err.value)
    assert run(client, "certificates.list", {"project": p})["items"] == []
    assert challenge_rows(platform) == []
    with pytest.raises(NotFound):
        run(client, "certificates.show", {"project": p, "domain": "shop.test"})
    with pytest.raises(CodeForgeError, match=r"has no certificate for shop\.test"):
        run(client, "certificates.renew", {"project": p, "domain": "shop.test"})

    # Twice the same certificate: the second is refused, the first kept.
    run(client, "certificates.issue", {"project": p, "domain": "certs.test"})
    with pytest.raises(CodeForgeError, match=r"has a certificate for certs\.test already"):
        run(client, "certificates.issue", {"project": p, "domain": "certs.test, www.certs.test"})

    # The HTTP-01 endpoint answers nothing it does not hold.
    assert httpx.get(f"{platform.url}/.well-known/acme-challenge/unknown-token", timeout=10).status_code == 404
    assert httpx.get(f"{platform.url}/.well-known/acme-challenge/..%2f..%2fetc", timeout=10).status_code == 404


def test_roles(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    if not run(client, "certificates.list", {"project": p})["items"]:
        run(client, "certificates.issue", {"project": p, "domain": "certs.test"})
    run(client, "members.add", {"username": "cert-viewer", "role": "viewer"})
    token = run(client, "tokens.create", {"username": "cert-viewer", "name": "t"})["token"]
    with PlatformClient(platform.url, token) as viewer:
        assert [c["name"] for c in run(viewer, "certificates.list", {"project": p})["items"]] == ["certs.test"]
        assert run(viewer, "certificates.show", {"project": p, "domain": "certs.test"})["name"] == "certs.test"
        for op in ("certificates.issue", "certificates.renew", "certificates.delete"):
            with pytest.raises(PermissionDenied):
                run(viewer, op, {"project": p, "domain": "certs.test"})
    run(client, "members.add", {"username": "cert-dev", "role": "developer"})
    token = run(client, "tokens.create", {"username": "cert-dev", "name": "t"})["token"]
    with PlatformClient(platform.url, token, timeout=120) as developer:
        renewed = run(developer, "certificates.renew", {"project": p, "domain": "certs.test"})
        assert renewed["renewed_at"]
        run(developer, "certificates.delete", {"project": p, "domain": "certs.test"})


def test_the_ca_down_then_back(client: PlatformClient, platform: RunningPlatform, pebble: Pebble) -> None:
    """Pebble stopped: a clear error, nothing stored. Started again (it forgot every account):
    the platform registers its key again and issues."""
    p = platform.project
    pebble.stop()
    try:
        with pytest.raises(CodeForgeError, match=r"the ACME server at https://127\.0\.0\.1:\d+/dir cannot be reached"):
            run(client, "certificates.issue", {"project": p, "domain": "www.certs.test"})
        assert run(client, "certificates.list", {"project": p})["items"] == []
        assert challenge_rows(platform) == []
    finally:
        pebble.start()
    issued = run(client, "certificates.issue", {"project": p, "domain": "www.certs.test"})
    found = key_and_chain(platform, "www.certs.test")
    assert found is not None and issued["names"] == ["www.certs.test"]
    verify_chain(found[0], pebble.root_pem(), "www.certs.test")
    run(client, "certificates.delete", {"project": p, "domain": "www.certs.test"})


def test_another_replica_renews_what_is_due(  # its own loop here waits an hour first
    client: PlatformClient,
    platform: RunningPlatform,
    pebble: Pebble,
    bind_server: Bind,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = platform.project
    own_domain(platform, client, bind_server, "example.test", p)
    first = run(client, "certificates.issue", {"project": p, "domain": "example.test", "challenge": "dns-01"})

    for key, value in {**bind_server.env(), **pebble.platform_env(), "CODEFORGE_ACME_RENEW_DAYS": "30"}.items():
        monkeypatch.setenv(key, value)
    settings = Settings(data_dir=platform.data_dir)
    db = Database(settings.resolved_database_url)
    try:
        renewer = Renewer(Runtime(db, settings, Cipher(settings.fernet_key()), jobs=cast(Any, None)))
        assert [o for o in renewer.run_once() if o.name == "example.test"] == []  # not due now
        shown = run(client, "certificates.show", {"project": p, "domain": "example.test"})
        due_at = datetime.fromisoformat(shown["not_after"]) - timedelta(days=10)
        outcomes = [o for o in renewer.run_once(now=due_at) if o.name == "example.test"]
        assert len(outcomes) == 1 and outcomes[0].renewed, outcomes
    finally:
        db.dispose()
    after = run(client, "certificates.show", {"project": p, "domain": "example.test"})
    assert after["serial"] != first["serial"] and after["renewal_failures"] == 0 and after["renewal_error"] == ""
    found = key_and_chain(platform, "example.test")
    assert found is not None
    verify_chain(found[0], pebble.root_pem(), "example.test")
    assert bind_server.query("_acme-challenge.example.test", "TXT") == []


class _WrongAnswer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"not the key authorization"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_responder_with_the_wrong_answer(
    client: PlatformClient, platform: RunningPlatform, pebble: Pebble, bind_server: Bind
) -> None:
    """www.shop.test points (as its owner set it) at 127.0.0.2, where another server answers
    every token with the wrong body: the CA refuses, the error says so, nothing is kept."""
    p = platform.project
    own_domain(platform, client, bind_server, "shop.test", p)
    bind_server.update("shop.test", "www", "A", ["127.0.0.2"])
    server = http.server.ThreadingHTTPServer(("127.0.0.2", pebble.http_port), _WrongAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(CodeForgeError, match=r"the CA could not validate www\.shop\.test: .*") as err:
            run(client, "certificates.issue", {"project": p, "domain": "www.shop.test"})
        assert "key authorization" in str(err.value).lower() or "unauthorized" in str(err.value).lower(), err.value
    finally:
        server.shutdown()
        server.server_close()
        bind_server.update("shop.test", "www", "A", [])
    assert "www.shop.test" not in str(run(client, "certificates.list", {"project": p}))
    assert challenge_rows(platform) == []
