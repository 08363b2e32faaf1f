"""The DNS provider other capabilities call (codeforge.platform.domains.dns, docs/edge.md)
against a real BIND: record sets replaced, queried and deleted as BIND answers them, zones found
by SOA or from settings, and every failure a catalog error naming the server and the fix,
never the TSIG secret."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import pytest

from codeforge.catalog.errors import BadInput, CodeForgeError, ExternalFailure, NotFound
from codeforge.platform.domains.adapters.rfc2136 import Rfc2136Provider
from codeforge.platform.domains.dns import DnsNotConfigured, DnsProvider, provider_for
from codeforge.platform.settings import Settings
from tests.conftest import free_port
from tests.servers.bind import Bind


def provider(bind: Bind, **kw: object) -> Rfc2136Provider:
    args: dict[str, object] = {"key_name": bind.key_name, "key_secret": bind.key_secret, "timeout": 2.0}
    args.update(kw)
    return Rfc2136Provider(bind.address, **args)  # type: ignore[arg-type]


@pytest.fixture
def dns_env(bind_server: Bind, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bind]:
    for key in [k for k in os.environ if k.startswith("CODEFORGE_DNS_")]:
        monkeypatch.delenv(key)
    for key, value in bind_server.env().items():
        monkeypatch.setenv(key, value)
    yield bind_server


def test_provider_for_reads_the_settings(dns_env: Bind) -> None:
    dns = provider_for(Settings())
    assert isinstance(dns, DnsProvider) and dns.name == "rfc2136"
    dns.replace("api.example.test", "A", ["192.0.2.7"])
    assert dns.query("api.example.test", "A") == ["192.0.2.7"]
    assert dns_env.query("api.example.test") == ["192.0.2.7"]
    dns.delete("api.example.test", "A")
    assert dns_env.query("api.example.test") == []


def test_provider_for_says_what_to_set(monkeypatch: pytest.MonkeyPatch, bind_server: Bind) -> None:
    for key in [k for k in os.environ if k.startswith("CODEFORGE_DNS_")]:
        monkeypatch.delenv(key)
    with pytest.raises(DnsNotConfigured) as none:
        provider_for(Settings())
    assert "CODEFORGE_DNS_SERVER" in none.value.fix and none.value.status == 503
    monkeypatch.setenv("CODEFORGE_DNS_SERVER", bind_server.address)
    with pytest.raises(DnsNotConfigured) as no_key:
        provider_for(Settings())
    assert "CODEFORGE_DNS_TSIG_NAME and CODEFORGE_DNS_TSIG_SECRET are not" in no_key.value.detail
    monkeypatch.setenv("CODEFORGE_DNS_TSIG_NAME", bind_server.key_name)
    monkeypatch.setenv("CODEFORGE_DNS_TSIG_SECRET", "not base64 at all!")
    with pytest.raises(DnsNotConfigured) as not_base64:
        provider_for(Settings())
    assert "not base64" in not_base64.value.detail and "not base64 at all" not in not_base64.value.message
    monkeypatch.setenv("CODEFORGE_DNS_TSIG_SECRET", bind_server.key_secret)
    monkeypatch.setenv("CODEFORGE_DNS_SERVER", "127.0.0.1:http")
    with pytest.raises(DnsNotConfigured, match="port must be a number"):
        provider_for(Settings())


def test_each_record_type_as_bind_answers_it(bind_server: Bind) -> None:
    dns = provider(bind_server)
    dns.replace("www.lab.example.test.", "A", ["192.0.2.1", "192.0.2.2"], ttl=120)
    assert bind_server.query("www.lab.example.test") == ["192.0.2.1", "192.0.2.2"]
    assert bind_server.ttl("www.lab.example.test") == 120
    dns.replace("www.lab.example.test", "A", ["192.0.2.3"])  # replaces the whole set
    assert dns.query("www.lab.example.test", "A") == ["192.0.2.3"] == bind_server.query("www.lab.example.test")

    dns.replace("v6.lab.example.test", "AAAA", ["2001:db8::1"])
    assert bind_server.query("v6.lab.example.test", "AAAA") == ["2001:db8::1"]

    dns.replace("alias.lab.example.test", "CNAME", ["www.lab.example.test"])
    assert bind_server.query("alias.lab.example.test", "CNAME") == ["www.lab.example.test."]
    assert dns.query("alias.lab.example.test", "CNAME") == ["www.lab.example.test"]

    long_text = "v=spf1 " + "x" * 400  # more than one 255-byte string on the wire
    dns.replace("lab.example.test", "TXT", [long_text, "ünïcødé text"])
    assert sorted(dns.query("lab.example.test", "TXT")) == sorted([long_text, "ünïcødé text"])
    assert any(v.count('" "') == 1 for v in bind_server.query("lab.example.test", "TXT"))

    dns.replace("mail.lab.example.test", "A", ["192.0.2.25"])
    dns.replace("lab.example.test", "MX", ["10 mail.lab.example.test", "20 mx.elsewhere.test"])
    assert bind_server.query("lab.example.test", "MX") == ["10 mail.lab.example.test.", "20 mx.elsewhere.test."]
    assert dns.query("lab.example.test", "MX") == ["10 mail.lab.example.test", "20 mx.elsewhere.test"]

    dns.delete("www.lab.example.test", "A")
    dns.delete("www.lab.example.test", "A")  # nothing there: no error
    assert bind_server.query("www.lab.example.test") == [] == dns.query("www.lab.example.test", "A")
    dns.replace("v6.lab.example.test", "AAAA", [])  # no values: deleted
    assert bind_server.query("v6.lab.example.test", "AAAA") == []
    for name, rtype in (("lab.example.test", "TXT"), ("lab.example.test", "MX"), ("mail.lab.example.test", "A")):
        dns.delete(name, rtype)
    dns.delete("alias.lab.example.test", "CNAME")
    assert bind_server.query("lab.example.test", "MX") == []


def test_zones_found_by_soa_or_from_settings(bind_server: Bind) -> None:
    dns = provider(bind_server)
    assert dns.zone_of("a.b.shop.test") == "shop.test"
    assert dns.zone_of("shop.test") == "shop.test"
    assert dns.zone_of("example.test") == "example.test"
    assert dns.zone_of("nowhere.invalid") is None
    limited = provider(bind_server, zones=["shop.test"])
    assert limited.zone_of("x.shop.test") == "shop.test" and limited.zone_of("x.example.test") is None
    with pytest.raises(NotFound) as outside:
        limited.replace("x.example.test", "A", ["192.0.2.1"])
    assert "configured zones (shop.test)" in outside.value.detail
    with pytest.raises(NotFound, match="not in any zone it serves"):
        dns.replace("x.nowhere.invalid", "A", ["192.0.2.1"])
    with pytest.raises(NotFound):
        dns.query("x.nowhere.invalid", "A")


def test_bad_values_are_bad_input(bind_server: Bind) -> None:
    dns = provider(bind_server)
    for rtype, value in (("A", "300.1.2.3"), ("AAAA", "192.0.2.1"), ("MX", "mail.example.test"), ("BOGUS", "x")):
        with pytest.raises(BadInput):
            dns.replace("bad.example.test", rtype, [value])
    with pytest.raises(BadInput):
        dns.query("", "A")


def test_refusals_and_outages_say_which_server_and_what_to_check(bind_server: Bind) -> None:
    wrong_secret = base64.b64encode(os.urandom(32)).decode()
    refusals: list[tuple[Rfc2136Provider, str]] = [
        (provider(bind_server, key_secret=wrong_secret), "BADSIG"),
        (provider(bind_server, key_name="no-such-key"), "BADKEY"),
    ]
    for dns, code in refusals:
        with pytest.raises(ExternalFailure) as refused:
            dns.replace("t.example.test", "A", ["192.0.2.9"])
        assert code in refused.value.detail and bind_server.address in refused.value.detail
        assert "CODEFORGE_DNS_TSIG_SECRET" in refused.value.fix
        assert wrong_secret not in refused.value.message and bind_server.key_secret not in refused.value.message
        assert wrong_secret not in repr(dns) and bind_server.key_secret not in repr(dns)
    assert bind_server.query("t.example.test") == []

    with pytest.raises(ExternalFailure) as locked:
        provider(bind_server).replace("t.locked.test", "A", ["192.0.2.9"])
    assert "REFUSED" in locked.value.detail and "allow-update" in locked.value.fix

    closed = f"127.0.0.1:{free_port()}"
    for transport in ("tcp", "udp"):
        down = Rfc2136Provider(
            closed, key_name="k", key_secret=bind_server.key_secret, transport=transport, timeout=1.0
        )
        for op, args in (("replace", ("t.example.test", "A", ["192.0.2.9"])), ("query", ("x.test", "A"))):
            with pytest.raises(ExternalFailure) as unreachable:
                getattr(down, op)(*args)
            assert closed in unreachable.value.detail and "could not be reached" in unreachable.value.detail
            assert "check that it runs" in unreachable.value.fix


def test_bind_stopped_then_back(bind_server: Bind) -> None:
    dns = provider(bind_server, timeout=1.0)
    dns.replace("kept.shop.test", "A", ["192.0.2.44"])
    bind_server.stop()
    try:
        with pytest.raises(CodeForgeError) as down:
            dns.replace("kept.shop.test", "A", ["192.0.2.45"])
        assert isinstance(down.value, ExternalFailure) and bind_server.address in down.value.detail
    finally:
        bind_server.start()
    assert dns.query("kept.shop.test", "A") == ["192.0.2.44"]  # the zone's journal kept the update
