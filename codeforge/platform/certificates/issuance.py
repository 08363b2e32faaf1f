"""One ACME order, start to end (docs/certificates.md, "Issuing"): a fresh key and CSR, the
order, a challenge per name published (HTTP-01: a row the platform's endpoint answers from;
DNS-01: a TXT record through the domains capability's provider), the CA's checks, the
certificate. Whatever happens, the challenges are taken down before it returns: no row, no TXT
record is left behind (one that cannot be deleted now is left for the crash cleanup, marked
expired). Also the checks every issue and renewal share: the names must be the project's
verified domains or under them."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from acme import challenges, messages
from acme import crypto_util as acme_crypto
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from codeforge.catalog import certificates as C
from codeforge.catalog.errors import BadInput, ExternalFailure, FieldProblem
from codeforge.platform.certificates.acme_client import Account, acme_failure, open_account
from codeforge.platform.certificates.models import AcmeChallenge, Certificate
from codeforge.platform.certificates.settings import AcmeSettings
from codeforge.platform.certificates.store import Sessions, new_key_pem, parse_chain
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import utcnow
from codeforge.platform.settings import Settings

if TYPE_CHECKING:
    from codeforge.platform.domains.dns import DnsProvider

__all__ = ["BOOT", "Progress", "check_names", "obtain", "store_renewal", "sweep_challenges"]

log = logging.getLogger("codeforge.certificates")

BOOT = uuid.uuid4().hex[:12]
TXT_TTL = 60


@dataclass
class Progress:
    """How an order reports: a job's progress and cancel flag, or nothing (background)."""

    report: Callable[[float, str], None] = lambda fraction, message: None
    check_cancelled: Callable[[], None] = lambda: None
    lines: list[str] = field(default_factory=list)


def check_names(session: Session, project_id: str, project_slug: str, names: list[str], challenge: str) -> None:
    """Refuse names the project may not have a certificate for: each must be one of its
    verified domains or under one (a foreign or unverified domain reads the same: the answer
    names no other project). A wildcard needs DNS-01."""
    from codeforge.platform.domains.access import owned_domain

    problems = []
    for name in names:
        if name.startswith("*.") and challenge != C.ChallengeType.DNS_01:
            problems.append(
                FieldProblem("domain", f"{name} is a wildcard", "use challenge dns-01 (the CA checks wildcards by DNS)")
            )
            continue
        base = name[2:] if name.startswith("*.") else name
        if owned_domain(session, project_id, base) is None:
            problems.append(
                FieldProblem(
                    "domain",
                    f"{base} is not a verified domain of project {project_slug!r} nor under one",
                    "add it with `codeforge domains add` and prove it with `codeforge domains verify`",
                )
            )
    if problems:
        raise BadInput("the certificate cannot hold these names", errors=problems)


def _owner(settings: Settings) -> str:
    return f"{settings.resolved_instance_id}/{BOOT}/{os.getpid()}"


def _sleep(seconds: float, progress: Progress) -> None:
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        progress.check_cancelled()
        time.sleep(min(0.25, left))


def _dns_provider(settings: Settings) -> DnsProvider:
    from codeforge.platform.domains.dns import provider_for

    return provider_for(settings)


def _publish_dns(settings: Settings, acme: AcmeSettings, records: dict[str, list[str]], progress: Progress) -> None:
    provider = _dns_provider(settings)
    for fqdn, values in records.items():
        provider.replace(fqdn, "TXT", values, ttl=TXT_TTL)
    deadline = time.monotonic() + acme.timeout_s
    for fqdn, values in records.items():
        while sorted(provider.query(fqdn, "TXT")) != sorted(values):
            if time.monotonic() > deadline:
                raise ExternalFailure(
                    f"the DNS server does not serve the TXT record {fqdn} it was given",
                    fix="check the DNS server (CODEFORGE_DNS_SERVER) accepts updates for that zone, then try again",
                )
            _sleep(0.25, progress)
    if acme.dns_propagation_s:
        progress.report(0.45, f"waiting {acme.dns_propagation_s:g} s for the TXT records to reach every DNS server")
        _sleep(acme.dns_propagation_s, progress)


def _take_down(sessions: Sessions, settings: Settings, ids: list[str], fqdns: list[str]) -> None:
    """Remove the order's challenges: TXT records first, then their rows. A record the DNS
    server will not delete now keeps its row, expired, for the crash cleanup to retry."""
    kept: list[str] = []
    if fqdns:
        try:
            provider = _dns_provider(settings)
        except Exception as exc:
            log.warning("DNS-01 records not removed", extra={"records": fqdns, "error": str(exc)})
            kept = fqdns
        else:
            for fqdn in fqdns:
                try:
                    provider.delete(fqdn, "TXT")
                except Exception as exc:
                    log.warning("DNS-01 record not removed", extra={"record": fqdn, "error": str(exc)})
                    kept.append(fqdn)
    with sessions.session() as session:
        if kept:
            session.execute(
                update(AcmeChallenge)
                .where(AcmeChallenge.id.in_(ids), AcmeChallenge.fqdn.in_(kept))
                .values(expires_at=utcnow())
            )
            session.execute(delete(AcmeChallenge).where(AcmeChallenge.id.in_(ids), AcmeChallenge.fqdn.not_in(kept)))
        else:
            session.execute(delete(AcmeChallenge).where(AcmeChallenge.id.in_(ids)))


def _new_order(
    account: Account, sessions: Sessions, cipher: Cipher, csr: bytes
) -> tuple[Account, messages.OrderResource]:
    try:
        return account, account.client.new_order(csr)
    except messages.Error as exc:
        if exc.code != "accountDoesNotExist":
            raise acme_failure(exc, account.settings, "placing the order") from None
    except Exception as exc:
        raise acme_failure(exc, account.settings, "placing the order") from None
    # The CA no longer knows the stored account (a test CA restarted): register the key again.
    account = open_account(sessions, cipher, account.settings, fresh=True)
    return account, account.call("placing the order", lambda: account.client.new_order(csr))


def obtain(
    sessions: Sessions,
    cipher: Cipher,
    settings: Settings,
    acme: AcmeSettings,
    *,
    project_id: str,
    names: list[str],
    challenge: str,
    progress: Progress,
) -> tuple[str, str]:
    """(chain PEM, private key PEM) of a new certificate for `names`, proved with `challenge`."""
    key_pem = new_key_pem()
    csr = acme_crypto.make_csr(key_pem, names)
    progress.report(0.1, f"signing in to the CA at {acme.directory_url}")
    account = open_account(sessions, cipher, acme)
    progress.check_cancelled()
    progress.report(0.2, f"ordering a certificate for {', '.join(names)}")
    account, order = _new_order(account, sessions, cipher, csr)
    want = challenges.DNS01 if challenge == C.ChallengeType.DNS_01 else challenges.HTTP01
    answers: list[tuple[messages.ChallengeBody, challenges.ChallengeResponse]] = []
    rows: list[AcmeChallenge] = []
    records: dict[str, list[str]] = {}
    expires = utcnow() + dt.timedelta(seconds=2 * acme.timeout_s + acme.dns_propagation_s + 60)
    for authzr in order.authorizations:
        if authzr.body.status == messages.STATUS_VALID:
            continue  # proved recently; the CA needs nothing more for this name
        ident = authzr.body.identifier.value
        challb = next((c for c in authzr.body.challenges if isinstance(c.chall, want)), None)
        if challb is None:
            offered = ", ".join(sorted({c.chall.typ for c in authzr.body.challenges})) or "none"
            raise ExternalFailure(
                f"the CA offers no {challenge} challenge for {ident} (it offers {offered})",
                fix="issue it with another challenge type",
            )
        response, validation = challb.response_and_validation(account.key)
        token = challb.chall.encode("token")
        if isinstance(challb.chall, challenges.DNS01):
            fqdn = challb.chall.validation_domain_name(ident)
            records.setdefault(fqdn, []).append(str(validation))
        else:
            fqdn = ""
        rows.append(
            AcmeChallenge(
                project_id=project_id,
                kind=challenge,
                hostname=ident,
                token=token,
                validation=str(validation),
                fqdn=fqdn,
                owner=_owner(settings),
                expires_at=expires,
            )
        )
        answers.append((challb, response))
    with sessions.session() as session:  # before anything is published: a crash leaves a record of it
        session.add_all(rows)
    ids = [r.id for r in rows]
    try:
        if records:
            progress.report(0.3, f"publishing {len(records)} TXT record(s) for DNS-01")
            _publish_dns(settings, acme, records, progress)
        progress.check_cancelled()
        progress.report(0.5, f"the CA is checking {len(answers)} name(s) by {challenge}")
        for challb, response in answers:
            account.call("answering a challenge", partial(account.client.answer_challenge, challb, response))
        deadline = dt.datetime.now() + dt.timedelta(seconds=acme.timeout_s)  # the acme library's clock is naive
        order = account.call("waiting for the CA's checks", lambda: account.client.poll_authorizations(order, deadline))
        progress.check_cancelled()
        progress.report(0.8, "names validated; the CA is signing")
        order = account.call("finalizing the order", lambda: account.client.finalize_order(order, deadline))
    finally:
        _take_down(sessions, settings, ids, sorted(records))
    if not order.fullchain_pem:
        raise ExternalFailure("the CA answered without a certificate", fix="try again")
    return str(order.fullchain_pem), key_pem.decode()


def store_renewal(session: Session, row: Certificate, cipher: Cipher, chain: str, key_pem: str) -> None:
    """Put a renewed certificate in place of the old one (in `session`)."""
    issued = parse_chain(chain)
    row.chain_pem, row.key_sealed = chain, cipher.encrypt(key_pem)
    row.names = issued.names or row.names
    row.issuer, row.serial, row.fingerprint = issued.issuer, issued.serial, issued.fingerprint
    row.not_before, row.not_after = issued.not_before, issued.not_after
    row.renewal_error, row.renewal_failures = "", 0
    row.next_attempt_at = row.notified_at = None
    row.renewed_at = utcnow()


def sweep_challenges(sessions: Sessions, settings: Settings) -> list[str]:
    """The crash cleanup: challenges of orders whose process died go, their TXT records first.
    Dead: past `expires_at` (any replica), or made by an earlier boot of this very instance (a
    restart: its orders cannot be running). Returns what it removed."""
    now = utcnow()
    mine = f"{settings.resolved_instance_id}/"
    this_boot = f"{mine}{BOOT}/"
    with sessions.session() as session:
        rows = list(session.scalars(select(AcmeChallenge)))
        found = [
            (r.id, r.fqdn, r.kind, r.hostname)
            for r in rows
            if r.expires_at < now or (r.owner.startswith(mine) and not r.owner.startswith(this_boot))
        ]
    if not found:
        return []
    _take_down(sessions, settings, [i for i, *_ in found], sorted({f for _, f, *_ in found if f}))
    with sessions.session() as session:
        left = set(session.scalars(select(AcmeChallenge.id).where(AcmeChallenge.id.in_([i for i, *_ in found]))))
    return [f"{kind} challenge for {host}" for i, _, kind, host in found if i not in left]
