"""Ownership checks (docs/domains.md, "Verification"): a TXT record the owner publishes at their
DNS, looked up through the configured resolver, or a token their web server answers over plain
HTTP at the domain's address. The platform publishes nothing itself: proving ownership is
something only the domain's owner can do."""

from __future__ import annotations

import ipaddress
import socket

import dns.exception
import dns.inet
import dns.resolver
import httpx

from codeforge.catalog.errors import Conflict, ExternalFailure
from codeforge.platform.domains.settings import DnsSettings, split_host_port

__all__ = ["CHALLENGE_LABEL", "WELL_KNOWN", "challenge_name", "challenge_url", "check_http", "check_txt"]

CHALLENGE_LABEL = "_codeforge-challenge"
WELL_KNOWN = "/.well-known/codeforge-verify/"
_MAX_BODY = 4096


def challenge_name(domain: str) -> str:
    return f"{CHALLENGE_LABEL}.{domain}"


def challenge_url(domain: str, token: str, port: int = 80) -> str:
    return f"http://{domain}{'' if port == 80 else f':{port}'}{WELL_KNOWN}{token}"


def _resolver(config: DnsSettings) -> tuple[dns.resolver.Resolver, str]:
    """The resolver of ownership checks, and how to name it in a message."""
    if not config.resolver.strip():
        try:
            resolver = dns.resolver.Resolver(configure=True)
        except dns.resolver.NoResolverConfiguration:
            raise ExternalFailure(
                "this host has no DNS resolver configured (/etc/resolv.conf) to check ownership with",
                fix="set CODEFORGE_DNS_RESOLVER=host:port of a resolver (or the domain's authoritative server)",
            ) from None
        label = "the system's resolver"
    else:
        try:
            host, port = split_host_port(config.resolver)
        except ValueError as exc:
            raise ExternalFailure(f"CODEFORGE_DNS_RESOLVER {exc}", fix="set it to host:port") from None
        if not dns.inet.is_address(host):
            try:
                host = socket.gethostbyname(host)
            except OSError:
                raise ExternalFailure(
                    f"the resolver {config.resolver} (CODEFORGE_DNS_RESOLVER) does not resolve to an address",
                    fix="set CODEFORGE_DNS_RESOLVER to an address:port",
                ) from None
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [host]
        resolver.port = port
        label = f"the resolver {config.resolver}"
    resolver.lifetime = config.timeout
    resolver.timeout = config.timeout
    resolver.cache = None
    return resolver, label


def _lookup(config: DnsSettings, name: str, rtype: str) -> list[str]:
    """The answers for (name, rtype), [] when there are none; ExternalFailure when the
    resolver cannot be asked or cannot answer."""
    resolver, label = _resolver(config)
    try:
        answer = resolver.resolve(name, rtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return []
    except dns.resolver.LifetimeTimeout:
        raise ExternalFailure(
            f"{label} did not answer a lookup of {name} {rtype} within {config.timeout:g} s",
            fix="check that it runs and this host may reach it (CODEFORGE_DNS_RESOLVER names it), then verify again",
        ) from None
    except dns.resolver.NoNameservers as exc:
        raise ExternalFailure(
            f"{label} could not look up {name} {rtype}: {exc.msg if hasattr(exc, 'msg') else 'no server answered'}",
            fix="check that the domain is delegated to a DNS server that answers for it (or that "
            "CODEFORGE_DNS_RESOLVER names a resolver that serves or recurses for it), then verify again",
        ) from None
    except dns.exception.DNSException as exc:
        raise ExternalFailure(
            f"{label} failed a lookup of {name} {rtype}: {type(exc).__name__}",
            fix="check CODEFORGE_DNS_RESOLVER, then verify again",
        ) from None
    if answer.rrset is None:
        return []
    if rtype == "TXT":
        return [b"".join(rd.strings).decode("utf-8", "replace") for rd in answer.rrset]
    return [rd.to_text() for rd in answer.rrset]


def check_txt(config: DnsSettings, domain: str, token: str) -> None:
    """Returns when _codeforge-challenge.<domain> holds the token; Conflict saying what was
    found otherwise."""
    name = challenge_name(domain)
    found = _lookup(config, name, "TXT")
    if token in (v.strip() for v in found):
        return
    seen = (
        f"it has {len(found)} TXT value(s), none of them the token"
        if found
        else "it has no TXT record (or the change has not reached the resolver yet)"
    )
    raise Conflict(
        f"{domain} is not verified: {seen}",
        fix=f"add a TXT record {name} with the value {token} at the DNS provider of {domain}, wait for its TTL, "
        "then verify again",
    )


def check_http(config: DnsSettings, domain: str, token: str) -> None:
    """Returns when http://<domain>/.well-known/codeforge-verify/<token> answers the token
    (from an address the resolver gives for the domain); Conflict saying what happened
    otherwise."""
    url = challenge_url(domain, token, config.verify_http_port)
    fix = f"serve the token {token} as the body of {url} (plain HTTP, status 200, no redirect), then verify again"
    addresses = _lookup(config, domain, "A") + _lookup(config, domain, "AAAA")
    if not addresses:
        raise Conflict(f"{domain} is not verified: it has no A or AAAA record, so {url} cannot be fetched", fix=fix)
    problems: list[str] = []
    for address in addresses:
        ip = ipaddress.ip_address(address)
        host = f"[{ip}]" if ip.version == 6 else str(ip)
        try:
            port = config.verify_http_port
            with (
                httpx.Client(timeout=config.timeout, follow_redirects=False, trust_env=False) as client,
                client.stream(
                    "GET",
                    f"http://{host}:{port}{WELL_KNOWN}{token}",
                    headers={"Host": domain if port == 80 else f"{domain}:{port}"},
                ) as response,
            ):
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > _MAX_BODY:
                        break
        except httpx.TimeoutException:
            problems.append(f"{address}: no answer within {config.timeout:g} s")
            continue
        except httpx.HTTPError as exc:
            problems.append(f"{address}: {type(exc).__name__} ({_reason(exc)})")
            continue
        if response.status_code != 200:
            problems.append(f"{address}: HTTP {response.status_code}")
        elif body.decode("utf-8", "replace").strip() != token:
            problems.append(f"{address}: the body is not the token")
        else:
            return
    raise Conflict(f"{domain} is not verified: fetching {url} failed: {'; '.join(problems)}", fix=fix)


def _reason(exc: Exception) -> str:
    cause: BaseException | None = exc
    while cause is not None and cause.__cause__ is not None:
        cause = cause.__cause__
    return getattr(cause, "strerror", None) or str(cause or exc)[:120] or "connection failed"
