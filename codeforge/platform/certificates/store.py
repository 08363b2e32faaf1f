"""Certificates as stored (docs/certificates.md), and the API other capabilities use:

    pem_for(db, cipher, hostname) -> (chain_pem, key_pem) | None

the newest unexpired certificate that covers `hostname` (itself, or a wildcard one label up),
its private key decrypted for the caller (the edge hands both to Caddy). Keys are sealed with
the platform's cipher at rest and never leave through an operation."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codeforge.platform.certificates.models import Certificate
from codeforge.platform.crypto import Cipher
from codeforge.platform.db import Database, conflict_of, utcnow

__all__ = ["Issued", "Sessions", "Side", "covers", "new_key_pem", "parse_chain", "pem_for"]


class Sessions(Protocol):
    """Units of work committed when their block ends: the platform's Database, or Side."""

    def session(self) -> AbstractContextManager[Session]: ...


class Side:
    """Units of work beside an operation's own, each committed when its block ends (on SQLite a
    thread writing through the operation's session and then a second one waits for itself, and
    challenges must be readable by the HTTP-01 endpoint before the operation ends)."""

    def __init__(self, bind: Engine) -> None:
        self.bind = bind

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = Session(bind=self.bind, expire_on_commit=False)
        try:
            with session.begin():
                yield session
        except IntegrityError as exc:
            if (conflict := conflict_of(exc)) is None:
                raise
            raise conflict from exc
        finally:
            session.close()


@dataclass(frozen=True)
class Issued:
    """What a certificate says about itself."""

    names: list[str]
    issuer: str
    serial: str
    fingerprint: str
    not_before: datetime
    not_after: datetime


def new_key_pem() -> bytes:
    """A fresh private key for a certificate (ECDSA P-256), PEM PKCS#8."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def parse_chain(chain_pem: str) -> Issued:
    """The leaf (first certificate) of a PEM chain, described."""
    leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [str(n) for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    issuer_cn = leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
    issuer = str(issuer_cn[0].value) if issuer_cn else leaf.issuer.rfc4514_string()
    return Issued(
        names=names,
        issuer=issuer,
        serial=f"{leaf.serial_number:x}",
        fingerprint=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
    )


def fingerprint_of(chain_pem: str) -> str:
    leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    return leaf.fingerprint(hashes.SHA256()).hex()


def covers(names: list[str], hostname: str) -> bool:
    """Whether a certificate for `names` is valid for `hostname` (a wildcard covers one label)."""
    host = hostname.lower().rstrip(".")
    for name in names:
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def pem_for(db: Database, cipher: Cipher, hostname: str) -> tuple[str, str] | None:
    """(chain PEM, private key PEM) of the unexpired certificate that covers `hostname` and
    expires last, or None when there is none."""
    now = utcnow()
    host = hostname.lower().rstrip(".")
    parent = host.split(".", 1)[1] if "." in host else host
    with db.session() as session:
        rows = session.scalars(select(Certificate).where(Certificate.not_after > now).order_by(Certificate.not_after))
        found = [r for r in rows if (host in r.names or f"*.{parent}" in r.names) and covers(r.names, host)]
        if not found:
            return None
        best = found[-1]
        return best.chain_pem, cipher.decrypt(best.key_sealed)
