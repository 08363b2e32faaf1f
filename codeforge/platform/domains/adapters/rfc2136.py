"""RFC 2136 dynamic updates, signed with TSIG, to one authoritative DNS server (BIND, Knot,
PowerDNS…), and queries to that same server (dnspython). The zone of a name comes from the
configured zones, else from the server's SOA answer for it."""

from __future__ import annotations

import base64
import binascii
import socket
from collections.abc import Sequence
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import dns.tsig
import dns.update

from codeforge.catalog.errors import BadInput, ExternalFailure, NotFound
from codeforge.platform.domains.errors import SETUP_FIX, DnsNotConfigured
from codeforge.platform.domains.settings import DnsSettings, split_host_port

__all__ = ["Rfc2136Provider", "plain_values", "rdatas_of"]

_TSIG_FIX = (
    "make CODEFORGE_DNS_TSIG_NAME, CODEFORGE_DNS_TSIG_ALGORITHM and CODEFORGE_DNS_TSIG_SECRET match a key of the "
    "server's configuration (named.conf: `key NAME {{ algorithm …; secret …; }}`), one its zones allow updates "
    "with (`allow-update {{ key NAME; }}` or `update-policy`)"
)
_TSIG_ERRORS: dict[type[Exception], str] = {
    dns.tsig.PeerBadKey: "BADKEY: it does not know that key name and algorithm",
    dns.tsig.PeerBadSignature: "BADSIG: the secret does not match its own",
    dns.tsig.PeerBadTime: "BADTIME: this host's clock and its own differ by more than it allows",
    dns.tsig.PeerBadTruncation: "BADTRUNC: the signature was truncated",
}


def _name(fqdn: str) -> dns.name.Name:
    text = fqdn.strip().rstrip(".").lower()
    if not text:
        raise BadInput("an empty DNS name was given", fix="give an absolute host name such as www.example.com")
    try:
        return dns.name.from_text(text, origin=dns.name.root)
    except (dns.exception.DNSException, UnicodeError) as exc:
        raise BadInput(
            f"{fqdn!r} is not a DNS name: {exc}", fix="give an absolute host name such as www.example.com"
        ) from None


def _rdtype(rtype: str) -> dns.rdatatype.RdataType:
    try:
        return dns.rdatatype.from_text(rtype.strip().upper())
    except dns.exception.DNSException:
        raise BadInput(f"{rtype!r} is not a DNS record type", fix="use A, AAAA, CNAME, TXT, MX …") from None


def rdatas_of(rdtype: dns.rdatatype.RdataType, values: Sequence[str]) -> list[dns.rdata.Rdata]:
    """Plain values (dns.py's module docstring) as rdata; BadInput naming a wrong one."""
    out: list[dns.rdata.Rdata] = []
    for value in values:
        try:
            if rdtype == dns.rdatatype.TXT:
                raw = value.encode()
                chunks = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
                out.append(dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks))
            else:
                out.append(
                    dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=dns.name.root, relativize=False)
                )
        except (dns.exception.DNSException, ValueError) as exc:
            kind = dns.rdatatype.to_text(rdtype)
            raise BadInput(
                f"{value!r} is not a value of a {kind} record: {exc}",
                fix="A: an IPv4 address; AAAA: an IPv6 address; CNAME: a host name; MX: 'PRIORITY HOST'; TXT: text",
            ) from None
    return out


def plain_values(rdatas: Any) -> list[str]:
    """An rdataset's values in plain form, sorted."""
    out = []
    for rd in rdatas:
        if rd.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            out.append(str(rd.address))
        elif rd.rdtype == dns.rdatatype.TXT:
            out.append(b"".join(rd.strings).decode("utf-8", "replace"))
        elif rd.rdtype == dns.rdatatype.CNAME:
            out.append(rd.target.to_text(omit_final_dot=True))
        elif rd.rdtype == dns.rdatatype.MX:
            out.append(f"{rd.preference} {rd.exchange.to_text(omit_final_dot=True)}")
        else:
            out.append(rd.to_text())
    return sorted(out)


class Rfc2136Provider:
    """One authoritative server, updates signed with one TSIG key."""

    name = "rfc2136"

    def __init__(
        self,
        server: str,
        *,
        key_name: str,
        key_secret: str,
        algorithm: str = "hmac-sha256",
        zones: Sequence[str] = (),
        transport: str = "tcp",
        timeout: float = 5.0,
    ) -> None:
        self.server = server.strip()
        try:
            self.host, self.port = split_host_port(self.server)
        except ValueError as exc:
            raise DnsNotConfigured(f"CODEFORGE_DNS_SERVER {exc}", fix=SETUP_FIX) from None
        try:
            base64.b64decode(key_secret, validate=True)
            self.key = dns.tsig.Key(key_name, key_secret, algorithm)
        except (binascii.Error, ValueError):
            raise DnsNotConfigured(
                "CODEFORGE_DNS_TSIG_SECRET is not base64 (the form of named.conf's `secret`)", fix=SETUP_FIX
            ) from None
        except dns.exception.DNSException as exc:
            raise DnsNotConfigured(f"the TSIG key name or algorithm is not valid: {exc}", fix=SETUP_FIX) from None
        if self.key.algorithm not in dns.tsig.mac_sizes:
            raise DnsNotConfigured(f"the TSIG algorithm {algorithm!r} is not one dnspython knows", fix=SETUP_FIX)
        self.key_name = key_name
        self.zones = tuple(z.strip().lower().rstrip(".") for z in zones if z.strip())
        self.transport = transport
        self.timeout = timeout

    @classmethod
    def from_settings(cls, config: DnsSettings) -> Rfc2136Provider:
        return cls(
            config.server,
            key_name=config.tsig_name.strip(),
            key_secret=config.tsig_secret.get_secret_value() if config.tsig_secret else "",
            algorithm=config.tsig_algorithm.strip() or "hmac-sha256",
            zones=config.zone_list,
            transport=config.transport,
            timeout=config.timeout,
        )

    def __repr__(self) -> str:  # never the secret
        return f"Rfc2136Provider(server={self.server!r}, key={self.key_name!r})"

    # -- the DnsProvider protocol ---------------------------------------------------------------

    def replace(self, fqdn: str, rtype: str, values: Sequence[str], ttl: int = 300) -> None:
        if not values:
            self.delete(fqdn, rtype)
            return
        name, rdtype = _name(fqdn), _rdtype(rtype)
        rdatas = rdatas_of(rdtype, values)
        zone = self._zone_or_raise(name)
        update = dns.update.UpdateMessage(zone, keyring=self.key)
        update.replace(name.relativize(zone), int(ttl), *rdatas)
        self._send_update(update, name, zone)

    def delete(self, fqdn: str, rtype: str) -> None:
        name, rdtype = _name(fqdn), _rdtype(rtype)
        zone = self._zone_or_raise(name)
        update = dns.update.UpdateMessage(zone, keyring=self.key)
        update.delete(name.relativize(zone), rdtype)
        self._send_update(update, name, zone)

    def query(self, fqdn: str, rtype: str) -> list[str]:
        name, rdtype = _name(fqdn), _rdtype(rtype)
        response = self._ask(name, rdtype)
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return []
        if rcode == dns.rcode.REFUSED or (rcode == dns.rcode.NOERROR and not response.flags & dns.flags.AA):
            raise self._not_served(name)
        if rcode != dns.rcode.NOERROR:
            raise ExternalFailure(
                f"the DNS server {self.server} answered {dns.rcode.to_text(rcode)} for {name.to_text(True)} "
                f"{dns.rdatatype.to_text(rdtype)}",
                fix="look at the server's log: the zone may have failed to load",
            )
        for rrset in response.answer:
            if rrset.name == name and rrset.rdtype == rdtype:
                return plain_values(rrset)
        return []

    # -- zones ----------------------------------------------------------------------------------

    def zone_of(self, fqdn: str) -> str | None:
        """The zone of this server that holds `fqdn` (configured, else the server's SOA answer),
        or None when it serves none. ExternalFailure when the server cannot be asked."""
        zone = self._zone(_name(fqdn))
        return zone.to_text(omit_final_dot=True) if zone is not None else None

    def _zone(self, name: dns.name.Name) -> dns.name.Name | None:
        if self.zones:
            candidates = [dns.name.from_text(z, origin=dns.name.root) for z in self.zones]
            holding = [z for z in candidates if name.is_subdomain(z)]
            return max(holding, key=lambda z: len(z.labels)) if holding else None
        response = self._ask(name, dns.rdatatype.SOA)
        if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or not response.flags & dns.flags.AA:
            return None  # REFUSED, or an answer it is not the authority for
        for section in (response.answer, response.authority):
            for rrset in section:
                if rrset.rdtype == dns.rdatatype.SOA and name.is_subdomain(rrset.name):
                    return rrset.name
        return None

    def _zone_or_raise(self, name: dns.name.Name) -> dns.name.Name:
        zone = self._zone(name)
        if zone is None:
            raise self._not_served(name)
        return zone

    def _not_served(self, name: dns.name.Name) -> NotFound:
        where = f"the configured zones ({', '.join(self.zones)})" if self.zones else "any zone it serves"
        return NotFound(
            f"{name.to_text(omit_final_dot=True)} is not in {where} on the DNS server {self.server}",
            fix="serve the domain's zone on that server (and list it in CODEFORGE_DNS_ZONES when that is set), "
            "or manage this name's records at the DNS provider that serves it",
        )

    # -- the wire -------------------------------------------------------------------------------

    def _ask(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.Message:
        query = dns.message.make_query(name, rdtype)
        query.flags &= ~dns.flags.RD  # the authority's own data, never its recursion
        return self._exchange(query, f"a query for {name.to_text(True)}")

    def _exchange(self, message: dns.message.Message, what: str) -> dns.message.Message:
        try:
            if self.transport == "udp":
                response = dns.query.udp(message, self.host, port=self.port, timeout=self.timeout)
                if response.flags & dns.flags.TC:  # too large for UDP: again over TCP
                    response = dns.query.tcp(message, self.host, port=self.port, timeout=self.timeout)
                return response
            return dns.query.tcp(message, self.host, port=self.port, timeout=self.timeout)
        except dns.tsig.PeerError as exc:
            reason = next((r for kind, r in _TSIG_ERRORS.items() if isinstance(exc, kind)), type(exc).__name__)
            raise ExternalFailure(
                f"the DNS server {self.server} refused the TSIG key {self.key_name!r} of {what}: {reason}",
                fix=_TSIG_FIX.format(),
            ) from None
        except dns.exception.Timeout:
            raise self._unreachable(what, f"no answer within {self.timeout:g} s") from None
        except socket.gaierror as exc:
            raise self._unreachable(what, f"its host name does not resolve ({exc.strerror})") from None
        except OSError as exc:
            raise self._unreachable(what, exc.strerror or type(exc).__name__) from None
        except (dns.message.BadTSIG, dns.message.UnknownTSIGKey, dns.tsig.BadSignature) as exc:
            raise ExternalFailure(
                f"the DNS server {self.server} answered {what} with a signature this key cannot check: "
                f"{type(exc).__name__}",
                fix=_TSIG_FIX.format(),
            ) from None
        except dns.exception.DNSException as exc:
            raise ExternalFailure(
                f"the DNS server {self.server} gave a malformed answer to {what}: {type(exc).__name__}",
                fix="check that CODEFORGE_DNS_SERVER names a DNS server (and the port its DNS listens on)",
            ) from None

    def _unreachable(self, what: str, why: str) -> ExternalFailure:
        return ExternalFailure(
            f"the DNS server {self.server} could not be reached for {what} over {self.transport.upper()}: {why}",
            fix=f"check that it runs and listens on {self.server} ({self.transport.upper()}), that this host may "
            "reach it (firewall), and that CODEFORGE_DNS_SERVER names it",
        )

    def _send_update(self, update: dns.update.UpdateMessage, name: dns.name.Name, zone: dns.name.Name) -> None:
        what = f"the update of {name.to_text(True)} in zone {zone.to_text(True)}"
        response = self._exchange(update, what)
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        text = dns.rcode.to_text(rcode)
        if rcode == dns.rcode.REFUSED:
            raise ExternalFailure(
                f"the DNS server {self.server} refused {what} (REFUSED): the key {self.key_name!r} may not update "
                "that zone, or the server's checks refused the data (BIND refuses an MX whose host in the zone "
                "has no A or AAAA record)",
                fix=f"allow updates signed with the key {self.key_name!r} for zone {zone.to_text(True)} "
                f"(named.conf: `allow-update {{ key {self.key_name}; }};` or an `update-policy` granting it); "
                "the server's log says which",
            )
        if rcode in (dns.rcode.NOTAUTH, dns.rcode.NOTZONE):
            raise ExternalFailure(
                f"the DNS server {self.server} is not the authority for {what} ({text})",
                fix="send updates to the zone's primary server (CODEFORGE_DNS_SERVER), and check CODEFORGE_DNS_ZONES "
                "and the TSIG key",
            )
        raise ExternalFailure(
            f"the DNS server {self.server} failed {what} ({text})",
            fix="look at the server's log (a zone that failed to load or a journal it cannot write)",
        )
