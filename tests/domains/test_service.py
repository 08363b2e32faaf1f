"""Domains through a real `codeforge up` and the HTTP API (docs/domains.md), against a real BIND
(tests/servers/bind.py): add, verify by TXT and by HTTP, records set, changed and deleted as
BIND answers them, unicode names, bad input naming the field, a domain another project owns,
each role, BIND stopped, a wrong TSIG secret, a platform with no DNS server, and the pane."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from codeforge.catalog.errors import (
    BadInput,
    CodeForgeError,
    Conflict,
    ExternalFailure,
    NotFound,
    PermissionDenied,
    PlatformUnavailable,
)
from codeforge.client import PlatformClient
from codeforge.platform.auth.models import Project
from codeforge.platform.db import Database
from codeforge.platform.domains.access import owned_domain
from tests.conftest import RunningPlatform, free_port, start_platform
from tests.servers.bind import Bind

CHALLENGE = "_codeforge-challenge"


class TokenServer:
    """A web server at the domains' address (127.0.0.1) answering what `pages` says."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[int, str]] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = pages.get(self.path, (404, "not here"))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def web() -> Iterator[TokenServer]:
    server = TokenServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def platform(
    bind_server: Bind, web: TokenServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningPlatform]:
    env = bind_server.env(CODEFORGE_DNS_VERIFY_HTTP_PORT=str(web.port), CODEFORGE_DNS_TIMEOUT="2")
    running = start_platform(tmp_path_factory.mktemp("domains"), **env)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(platform.url, platform.token, timeout=60) as c:
        yield c


def run(client: PlatformClient, op: str, body: dict[str, Any]) -> dict[str, Any]:
    out = client.call(op, body)
    return dict(out.model_dump(mode="json"))


def post(platform: RunningPlatform, op: str, body: dict[str, Any], token: str | None = None) -> httpx.Response:
    """The raw HTTP answer (the client would refuse bad input before sending it)."""
    return httpx.post(
        f"{platform.url}/api/v1/{op.replace('.', '/')}",
        json=body,
        headers={"Authorization": f"Bearer {token or platform.token}"},
        timeout=60,
    )


def publish_token(bind: Bind, zone: str, domain: str, *tokens: str) -> None:
    """What the domain's owner does at their DNS provider."""
    relative = f"{CHALLENGE}.{domain.removesuffix(zone).rstrip('.')}".rstrip(".")
    bind.update(zone, relative, "TXT", [f'"{t}"' for t in tokens])


def add_verified(client: PlatformClient, bind: Bind, project: str, domain: str, zone: str) -> dict[str, Any]:
    added = run(client, "domains.add", {"project": project, "domain": domain})
    publish_token(bind, zone, added["domain"], added["token"])
    verified = run(client, "domains.verify", {"project": project, "domain": domain})
    assert verified["verified"] and verified["method"] == "txt"
    return verified


def test_add_verify_and_manage_records(client: PlatformClient, platform: RunningPlatform, bind_server: Bind) -> None:
    p = platform.project
    added = run(client, "domains.add", {"project": p, "domain": "Example.TEST."})
    assert added["domain"] == "example.test" and added["unicode"] == "example.test"
    assert added["managed"] and added["zone"] == "example.test" and not added["verified"]
    assert added["method"] is None and added["verified_at"] is None and added["token"].startswith("cf-")
    txt, http = added["challenges"]
    assert txt["method"] == "txt" and txt["name"] == f"{CHALLENGE}.example.test" and txt["value"] == added["token"]
    assert http["method"] == "http" and http["name"].endswith(f"/.well-known/codeforge-verify/{added['token']}")
    assert any("records are managed here" in n for n in added["notes"])
    with pytest.raises(Conflict, match=re.escape("has the domain example.test already")):
        run(client, "domains.add", {"project": p, "domain": "example.test"})

    # Records need a verified domain; verification needs the owner's TXT record.
    with pytest.raises(Conflict, match="not verified"):
        run(
            client,
            "domains.set_record",
            {"project": p, "domain": "example.test", "name": "www", "type": "A", "values": ["192.0.2.10"]},
        )
    with pytest.raises(Conflict, match="has no TXT record") as missing:
        run(client, "domains.verify", {"project": p, "domain": "example.test"})
    assert f"{CHALLENGE}.example.test" in missing.value.fix and added["token"] in missing.value.fix
    publish_token(bind_server, "example.test", "example.test", "some-other-token")
    with pytest.raises(Conflict, match="none of them the token"):
        run(client, "domains.verify", {"project": p, "domain": "example.test"})
    publish_token(bind_server, "example.test", "example.test", "some-other-token", added["token"])
    verified = run(client, "domains.verify", {"project": p, "domain": "example.test", "method": "txt"})
    assert verified["verified"] and verified["method"] == "txt" and verified["verified_at"]
    assert verified["challenges"] == []
    again = run(client, "domains.verify", {"project": p, "domain": "example.test"})
    assert again["verified_at"] == verified["verified_at"] and "verified already (txt)" in again["notes"]

    def set_record(name: str, rtype: str, values: list[str], ttl: int = 300) -> dict[str, Any]:
        body = {"project": p, "domain": "example.test", "name": name, "type": rtype, "values": values, "ttl": ttl}
        return run(client, "domains.set_record", body)

    www = set_record("www", "A", ["192.0.2.10", "192.0.2.11"], ttl=120)
    assert www["fqdn"] == "www.example.test" and www["served"] == ["192.0.2.10", "192.0.2.11"]
    assert bind_server.query("www.example.test") == ["192.0.2.10", "192.0.2.11"]
    assert bind_server.ttl("www.example.test") == 120
    set_record("www", "A", ["192.0.2.12"])  # the whole set replaced
    assert bind_server.query("www.example.test") == ["192.0.2.12"]
    set_record("@", "TXT", ["hello world", "v=spf1 -all"])
    assert bind_server.query("example.test", "TXT") == ['"hello world"', '"v=spf1 -all"']
    set_record("v6", "AAAA", ["2001:DB8:0:0::1"])
    assert bind_server.query("v6.example.test", "AAAA") == ["2001:db8::1"]
    set_record("docs", "CNAME", ["WWW.example.test"])
    assert bind_server.query("docs.example.test", "CNAME") == ["www.example.test."]

    with pytest.raises(BadInput) as no_address:
        set_record("@", "MX", ["10 mail.example.test"])
    assert no_address.value.errors[0].field == "values" and "mail.example.test" in no_address.value.errors[0].message
    assert bind_server.query("example.test", "MX") == []
    set_record("mail", "A", ["192.0.2.25"])
    set_record("@", "MX", ["10 mail.example.test"])
    assert bind_server.query("example.test", "MX") == ["10 mail.example.test."]

    with pytest.raises(Conflict, match="CNAME cannot share its name"):
        set_record("www", "CNAME", ["elsewhere.test"])
    with pytest.raises(Conflict, match="CNAME cannot share its name"):
        set_record("docs", "A", ["192.0.2.1"])
    with pytest.raises(BadInput) as apex:
        set_record("@", "CNAME", ["elsewhere.test"])
    assert apex.value.errors[0].field == "type"
    assert bind_server.query("docs.example.test", "A") == [] and bind_server.query("example.test", "CNAME") == []

    listed = run(client, "domains.records", {"project": p, "domain": "example.test"})
    assert {(r["name"], r["type"]) for r in listed["items"]} == {
        ("www", "A"),
        ("@", "TXT"),
        ("v6", "AAAA"),
        ("docs", "CNAME"),
        ("mail", "A"),
        ("@", "MX"),
    }
    assert all(r["served"] == r["values"] for r in listed["items"]) and listed["notes"] == []

    # Changed outside the platform: shown, not hidden.
    bind_server.update("example.test", "www", "A", ["198.51.100.1"])
    drift = run(client, "domains.records", {"project": p, "domain": "example.test"})
    assert any("www.example.test A" in n and "198.51.100.1" in n for n in drift["notes"])

    gone = run(client, "domains.delete_record", {"project": p, "domain": "example.test", "name": "www", "type": "A"})
    assert gone == {"domain": "example.test", "name": "www", "type": "A"}
    assert bind_server.query("www.example.test") == []
    with pytest.raises(NotFound, match=re.escape("there is no A record www.example.test")):
        run(client, "domains.delete_record", {"project": p, "domain": "example.test", "name": "www", "type": "A"})
    # A record set with no row (left by a killed operation, or made at the server by hand) goes too.
    bind_server.update("example.test", "stray", "A", ["192.0.2.99"])
    run(client, "domains.delete_record", {"project": p, "domain": "example.test", "name": "stray", "type": "A"})
    assert bind_server.query("stray.example.test") == []
    shown = run(client, "domains.show", {"project": p, "domain": "example.test"})
    assert shown["records"] == 5 and shown["verified"]
    assert "example.test" in [d["domain"] for d in run(client, "domains.list", {"project": p})["items"]]

    removed = run(client, "domains.remove", {"project": p, "domain": "example.test"})
    assert removed["records_deleted"] == 5 and removed["notes"] == []
    for name, rtype in (("docs", "CNAME"), ("v6", "AAAA"), ("mail", "A"), ("", "MX")):
        assert bind_server.query(f"{name}.example.test".lstrip("."), rtype) == []
    with pytest.raises(NotFound):
        run(client, "domains.show", {"project": p, "domain": "example.test"})


def test_unicode_domains_are_punycode(client: PlatformClient, platform: RunningPlatform, bind_server: Bind) -> None:
    p = platform.project
    domain = add_verified(client, bind_server, p, "Bücher.Shop.test", "shop.test")
    assert domain["domain"] == "xn--bcher-kva.shop.test" and domain["unicode"] == "bücher.shop.test"
    assert run(client, "domains.show", {"project": p, "domain": "bücher.shop.test"})["verified"]
    body = {"project": p, "domain": "bücher.shop.test", "name": "grüße", "type": "A", "values": ["192.0.2.80"]}
    rec = run(client, "domains.set_record", body)
    assert rec["fqdn"] == "xn--gre-6ka8l.xn--bcher-kva.shop.test"
    assert bind_server.query("xn--gre-6ka8l.xn--bcher-kva.shop.test") == ["192.0.2.80"]

    # owned_domain, as certificates and the edge ask it.
    db = Database(f"sqlite:///{platform.data_dir / 'codeforge.db'}")
    try:
        with db.session() as session:
            project_id = session.scalars(select(Project.id).where(Project.slug == p)).one()
            for name in (
                "bücher.shop.test",
                "grüße.bücher.shop.test",
                "*.xn--bcher-kva.shop.test",
                "A.B.Bücher.shop.test.",
            ):
                row = owned_domain(session, project_id, name)
                assert row is not None and row.name == "xn--bcher-kva.shop.test", name
            for name in ("shop.test", "other.shop.test", "xn--bcher-kva.shop.test.evil.test", "", "bad..name"):
                assert owned_domain(session, project_id, name) is None, name
            assert owned_domain(session, "no-such-project", "bücher.shop.test") is None
    finally:
        db.dispose()
    run(client, "domains.remove", {"project": p, "domain": "xn--bcher-kva.shop.test"})
    assert bind_server.query("xn--gre-6ka8l.xn--bcher-kva.shop.test") == []


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"domain": "not a domain"}, "domain", "no spaces"),
        ({"domain": "https://shop.example.com/"}, "domain", "give the name alone"),
        ({"domain": "com"}, "domain", "at least two labels"),
        ({"domain": "192.0.2.1"}, "domain", "IP address"),
        ({"domain": "a..example.com"}, "domain", "empty label"),
        ({"domain": "-bad-.example.com"}, "domain", "starting/ending with '-'"),
        ({"domain": "under_score.example.com"}, "domain", "characters other than"),
        ({"domain": "x" * 64 + ".example.com"}, "domain", "longer than 63"),
        ({"domain": "a" + ".b" * 130}, "domain", "longer than 253"),
        ({"domain": "a" + ".b" * 150}, "domain", "at most 300"),
        ({"domain": "xn--zz.example.com"}, "domain", "internationalized"),
        ({"domain": "example.com", "extra": 1}, "extra", "does not take it"),
    ],
)
def test_bad_domains_name_the_field(platform: RunningPlatform, body: dict[str, Any], field: str, says: str) -> None:
    answer = post(platform, "domains.add", {"project": platform.project, **body})
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    problems = answer.json()["errors"]
    assert problems[0]["field"] == field and says in problems[0]["message"] + problems[0]["fix"], problems


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        ({"type": "SRV", "values": ["x"]}, "type", "'A', 'AAAA', 'CNAME', 'TXT' or 'MX'"),
        ({"type": "A", "values": ["192.0.2.1", "300.1.1.1"]}, "values", "value 2: '300.1.1.1' is not an IPv4"),
        ({"type": "A", "values": ["2001:db8::1"]}, "values", "not an IPv4"),
        ({"type": "AAAA", "values": ["192.0.2.1"]}, "values", "not an IPv6"),
        ({"type": "CNAME", "values": ["a.test", "b.test"]}, "values", "exactly one value"),
        ({"type": "CNAME", "values": ["not a host"]}, "values", "target host name"),
        ({"type": "MX", "values": ["mail.example.com"]}, "values", "'PRIORITY HOST'"),
        ({"type": "MX", "values": ["99999 mail.example.com"]}, "values", "priority 0-65535"),
        ({"type": "TXT", "values": ["bell\x07"]}, "values", "control characters"),
        ({"type": "A", "values": []}, "values", "at least 1"),
        ({"type": "A", "values": ["192.0.2.1"], "ttl": 5}, "ttl", "30"),
        ({"type": "A", "values": ["192.0.2.1"], "ttl": 10**7}, "ttl", "604800"),
        ({"type": "A", "values": ["192.0.2.1"], "ttl": "soon"}, "ttl", "int"),
        ({"type": "A", "values": ["192.0.2.1"], "name": "www.example.test."}, "name", "relative"),
        ({"type": "A", "values": ["192.0.2.1"], "name": "a b"}, "name", "no spaces"),
    ],
)
def test_bad_records_name_the_field(platform: RunningPlatform, body: dict[str, Any], field: str, says: str) -> None:
    full = {"project": platform.project, "domain": "example.test", "name": "www", **body}
    answer = post(platform, "domains.set_record", full)
    assert answer.status_code == 422, answer.text
    problems = answer.json()["errors"]
    assert problems[0]["field"] == field and says in problems[0]["message"] + problems[0]["fix"], problems


def test_another_projects_domain_is_a_conflict_naming_no_project(
    client: PlatformClient, platform: RunningPlatform, bind_server: Bind
) -> None:
    p = platform.project
    run(client, "projects.create", {"slug": "rival"})
    add_verified(client, bind_server, p, "owned.outside.test", "outside.test")
    for name in ("owned.outside.test", "api.owned.outside.test", "outside.test"):
        with pytest.raises(Conflict) as taken:
            run(client, "domains.add", {"project": "rival", "domain": name})
        assert "another project" in taken.value.detail and p not in taken.value.message, name
    with pytest.raises(Conflict, match=re.escape("under this project's domain owned.outside.test")):
        run(client, "domains.add", {"project": p, "domain": "sub.owned.outside.test"})

    # Unverified claims block nobody; the first to verify owns the name.
    rival = run(client, "domains.add", {"project": "rival", "domain": "free.outside.test"})
    mine = run(client, "domains.add", {"project": p, "domain": "free.outside.test"})
    publish_token(bind_server, "outside.test", "free.outside.test", rival["token"], mine["token"])
    assert run(client, "domains.verify", {"project": "rival", "domain": "free.outside.test"})["verified"]
    with pytest.raises(Conflict) as late:
        run(client, "domains.verify", {"project": p, "domain": "free.outside.test"})
    assert "another project" in late.value.detail and "rival" not in late.value.message
    assert not run(client, "domains.show", {"project": p, "domain": "free.outside.test"})["verified"]
    with pytest.raises(NotFound):
        run(client, "domains.show", {"project": "rival", "domain": "owned.outside.test"})
    for project, name in ((p, "free.outside.test"), ("rival", "free.outside.test"), (p, "owned.outside.test")):
        run(client, "domains.remove", {"project": project, "domain": name})


def test_each_role(client: PlatformClient, platform: RunningPlatform, bind_server: Bind) -> None:
    p = platform.project
    add_verified(client, bind_server, p, "roles.shop.test", "shop.test")
    run(client, "members.add", {"username": "dns-viewer", "role": "viewer"})
    run(client, "members.add", {"username": "dns-dev", "role": "developer"})
    viewer = run(client, "tokens.create", {"username": "dns-viewer", "name": "t"})["token"]
    developer = run(client, "tokens.create", {"username": "dns-dev", "name": "t"})["token"]
    record = {"project": p, "domain": "roles.shop.test", "name": "www", "type": "A"}
    with PlatformClient(platform.url, viewer) as as_viewer:
        assert "roles.shop.test" in [d["domain"] for d in run(as_viewer, "domains.list", {"project": p})["items"]]
        assert run(as_viewer, "domains.show", {"project": p, "domain": "roles.shop.test"})["verified"]
        assert run(as_viewer, "domains.records", {"project": p, "domain": "roles.shop.test"})["items"] == []
        for op, body in (
            ("domains.add", {"project": p, "domain": "viewer.shop.test"}),
            ("domains.verify", {"project": p, "domain": "roles.shop.test"}),
            ("domains.set_record", {**record, "values": ["192.0.2.1"]}),
            ("domains.delete_record", record),
            ("domains.remove", {"project": p, "domain": "roles.shop.test"}),
        ):
            with pytest.raises(PermissionDenied, match="'viewer' does not allow"):
                run(as_viewer, op, body)
    assert bind_server.query("www.roles.shop.test") == []
    with PlatformClient(platform.url, developer) as as_developer:
        set_ = run(as_developer, "domains.set_record", {**record, "values": ["192.0.2.1"]})
        assert set_["updated_by"] == "dns-dev" and bind_server.query("www.roles.shop.test") == ["192.0.2.1"]
        run(as_developer, "domains.delete_record", record)
        run(as_developer, "domains.remove", {"project": p, "domain": "roles.shop.test"})


def test_http_verification(
    client: PlatformClient, platform: RunningPlatform, bind_server: Bind, web: TokenServer
) -> None:
    p = platform.project
    added = run(client, "domains.add", {"project": p, "domain": "web.shop.test"})
    path = f"/.well-known/codeforge-verify/{added['token']}"
    http = {"project": p, "domain": "web.shop.test", "method": "http"}
    with pytest.raises(Conflict, match="no A or AAAA record"):
        run(client, "domains.verify", http)
    bind_server.update("shop.test", "web", "A", ["127.0.0.1"])
    with pytest.raises(Conflict, match="HTTP 404") as not_served:
        run(client, "domains.verify", http)
    assert path in not_served.value.fix
    web.pages[path] = (200, "not the token")
    with pytest.raises(Conflict, match="the body is not the token"):
        run(client, "domains.verify", http)
    web.pages[path] = (200, added["token"] + "\n")
    verified = run(client, "domains.verify", http)
    assert verified["verified"] and verified["method"] == "http"
    run(client, "domains.remove", {"project": p, "domain": "web.shop.test"})


def test_bind_down(client: PlatformClient, platform: RunningPlatform, bind_server: Bind) -> None:
    p = platform.project
    add_verified(client, bind_server, p, "down.outside.test", "outside.test")
    rec = {"project": p, "domain": "down.outside.test", "name": "api", "type": "A"}
    run(client, "domains.set_record", {**rec, "values": ["192.0.2.50"]})
    pending = run(client, "domains.add", {"project": p, "domain": "later.shop.test"})
    bind_server.stop()
    try:
        with pytest.raises(ExternalFailure) as down:
            run(client, "domains.set_record", {**rec, "name": "www", "values": ["192.0.2.51"]})
        assert bind_server.address in down.value.detail and "could not be reached" in down.value.detail
        assert "check that it runs" in down.value.fix
        with pytest.raises(ExternalFailure, match=f"resolver {bind_server.address}"):
            run(client, "domains.verify", {"project": p, "domain": "later.shop.test"})
        listed = run(client, "domains.records", {"project": p, "domain": "down.outside.test"})
        assert [(r["name"], r["served"]) for r in listed["items"]] == [("api", None)]
        assert any(bind_server.address in n for n in listed["notes"])
        assert {d["domain"] for d in run(client, "domains.list", {"project": p})["items"]} >= {
            "down.outside.test",
            "later.shop.test",
        }
        with pytest.raises(ExternalFailure, match="was not removed") as kept:
            run(client, "domains.remove", {"project": p, "domain": "down.outside.test"})
        assert "--force" in kept.value.fix
        assert run(client, "domains.show", {"project": p, "domain": "down.outside.test"})["records"] == 1
    finally:
        bind_server.start()
    # Nothing half-made: the failed record is neither stored nor served.
    assert bind_server.query("www.down.outside.test") == []
    assert bind_server.query("api.down.outside.test") == ["192.0.2.50"]
    assert [
        r["name"] for r in run(client, "domains.records", {"project": p, "domain": "down.outside.test"})["items"]
    ] == ["api"]
    publish_token(bind_server, "shop.test", "later.shop.test", pending["token"])
    assert run(client, "domains.verify", {"project": p, "domain": "later.shop.test"})["verified"]

    bind_server.stop()
    try:
        forced = run(client, "domains.remove", {"project": p, "domain": "down.outside.test", "force": True})
        assert forced["records_deleted"] == 0 and "api.down.outside.test A" in forced["notes"][0]
    finally:
        bind_server.start()
    assert bind_server.query("api.down.outside.test") == ["192.0.2.50"]  # left there, as it said
    bind_server.update("outside.test", "api.down", "A")
    run(client, "domains.remove", {"project": p, "domain": "later.shop.test"})


def test_wrong_tsig_secret(platform_factory: Callable[..., RunningPlatform], bind_server: Bind) -> None:
    wrong = base64.b64encode(os.urandom(32)).decode()
    other = platform_factory(**bind_server.env(CODEFORGE_DNS_TSIG_SECRET=wrong))
    with PlatformClient(other.url, other.token, timeout=60) as client:
        p = other.project
        add_verified(client, bind_server, p, "tsig.shop.test", "shop.test")  # the resolver needs no key
        with pytest.raises(ExternalFailure) as refused:
            run(
                client,
                "domains.set_record",
                {"project": p, "domain": "tsig.shop.test", "name": "@", "type": "A", "values": ["192.0.2.60"]},
            )
        assert "BADSIG" in refused.value.detail and "CODEFORGE_DNS_TSIG_SECRET" in refused.value.fix
        assert bind_server.query("tsig.shop.test") == []
        assert run(client, "domains.records", {"project": p, "domain": "tsig.shop.test"})["items"] == []
        answer = post(
            other,
            "domains.set_record",
            {"project": p, "domain": "tsig.shop.test", "name": "@", "type": "A", "values": ["192.0.2.60"]},
        )
        assert answer.status_code == 502 and wrong not in answer.text
        run(client, "domains.remove", {"project": p, "domain": "tsig.shop.test"})
    other.stop()
    assert wrong not in other.logs() and bind_server.key_secret not in other.logs()


def test_without_a_dns_server(platform_factory: Callable[..., RunningPlatform], bind_server: Bind) -> None:
    bare = platform_factory(CODEFORGE_DNS_RESOLVER=bind_server.address)
    with PlatformClient(bare.url, bare.token, timeout=60) as client:
        p = bare.project
        added = run(client, "domains.add", {"project": p, "domain": "plain.outside.test"})
        assert not added["managed"] and added["zone"] is None
        assert any("CODEFORGE_DNS_SERVER" in n for n in added["notes"])
        publish_token(bind_server, "outside.test", "plain.outside.test", added["token"])
        assert run(client, "domains.verify", {"project": p, "domain": "plain.outside.test"})["verified"]
        with pytest.raises(PlatformUnavailable, match="no DNS server is configured") as unset:
            run(
                client,
                "domains.set_record",
                {"project": p, "domain": "plain.outside.test", "name": "@", "type": "A", "values": ["192.0.2.70"]},
            )
        assert "CODEFORGE_DNS_SERVER" in unset.value.fix
        run(client, "domains.remove", {"project": p, "domain": "plain.outside.test"})


def test_domains_pane(client: PlatformClient, platform: RunningPlatform, bind_server: Bind) -> None:
    p = platform.project
    add_verified(client, bind_server, p, "pane.shop.test", "shop.test")
    run(
        client,
        "domains.set_record",
        {
            "project": p,
            "domain": "pane.shop.test",
            "name": "www",
            "type": "TXT",
            "values": ["<script>alert(1)</script>"],
        },
    )
    pending = run(client, "domains.add", {"project": p, "domain": "pending.shop.test"})
    link = run(client, "panes.open", {"project": p, "pane": "domains"})
    parts = urlsplit(link["url"])
    html = httpx.get(f"{platform.url}{parts.path}?{parts.query}", timeout=30)
    text = httpx.get(f"{platform.url}{parts.path}?{parts.query}&format=text", timeout=30)
    assert html.status_code == 200 and text.status_code == 200, html.text
    for page in (html.text, text.text):
        for expected in (
            "Domains of",
            "pane.shop.test",
            "verified (txt)",
            "pending.shop.test",
            "not verified yet",
            "www.pane.shop.test",
            "served",
            pending["token"],
            "managed here (zone shop.test)",
        ):
            assert expected in page, expected
    assert "<script>alert(1)</script>" not in html.text and "&lt;script&gt;" in html.text
    for name in ("pane.shop.test", "pending.shop.test"):
        run(client, "domains.remove", {"project": p, "domain": name})
    with pytest.raises(CodeForgeError):
        run(client, "domains.show", {"project": p, "domain": "pane.shop.test"})


def test_the_cli(platform: RunningPlatform, bind_server: Bind) -> None:
    """`codeforge domains …`, derived from the catalog: the same operations, the same errors."""

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "codeforge", "domains", *args, "--project", platform.project],
            env=platform.env | {"COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=120,
        )

    added = cli("add", "cli.shop.test", "--json")
    assert added.returncode == 0, added.stderr
    token = json.loads(added.stdout)["token"]
    publish_token(bind_server, "shop.test", "cli.shop.test", token)
    assert cli("verify", "cli.shop.test").returncode == 0
    record = cli("set-record", "cli.shop.test", "A", "192.0.2.90", "192.0.2.91", "--name", "www")
    assert record.returncode == 0, record.stderr
    assert bind_server.query("www.cli.shop.test") == ["192.0.2.90", "192.0.2.91"]
    bad = cli("set-record", "cli.shop.test", "A", "nope", "--name", "www")
    assert bad.returncode != 0 and "values" in bad.stderr + bad.stdout and "IPv4" in bad.stderr + bad.stdout
    assert cli("remove", "cli.shop.test", "--yes").returncode == 0
    assert bind_server.query("www.cli.shop.test") == []
