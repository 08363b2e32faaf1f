"""The platform's ACME client (the `acme` library, RFC 8555): its account at the configured
directory — key generated once, sealed with the platform's cipher, registered at first use —
and the CA's failures turned into catalog errors that say what to check.

Nothing here logs or returns a private key: the account key stays in this process and in the
sealed column; a certificate's key never comes here (only its CSR)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import josepy as jose
import requests
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from codeforge.catalog.errors import CodeForgeError, Conflict, ExternalFailure
from codeforge.platform.certificates.models import AcmeAccount
from codeforge.platform.certificates.settings import AcmeSettings
from codeforge.platform.certificates.store import Sessions
from codeforge.platform.crypto import Cipher

__all__ = ["Account", "acme_failure", "open_account", "validation_problems"]

log = logging.getLogger("codeforge.certificates.acme")

T = TypeVar("T")
USER_AGENT = "CodeForge (acme-python)"


@dataclass
class Account:
    """A client signed in as the platform's account at one directory."""

    client: acme_client.ClientV2
    key: jose.JWK
    settings: AcmeSettings

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one exchange with the CA; its failure as a catalog error naming `what`."""
        try:
            return fn()
        except CodeForgeError:
            raise
        except Exception as exc:
            raise acme_failure(exc, self.settings, what) from None


def _network(settings: AcmeSettings, key: jose.JWK) -> acme_client.ClientNetwork:
    net = acme_client.ClientNetwork(key, alg=jose.RS256, user_agent=USER_AGENT, timeout=30)
    # requests takes a CA bundle's path where a bool goes: the ACME server's HTTPS is checked
    # against that file (Pebble's own CA in tests), else against the system's CAs.
    net.verify_ssl = settings.ca_bundle or True  # type: ignore[assignment]
    return net


def _new_key() -> jose.JWK:
    return jose.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _register(client: acme_client.ClientV2, settings: AcmeSettings) -> str:
    new = messages.NewRegistration.from_data(email=settings.email or None, terms_of_service_agreed=True)
    try:
        regr = client.new_account(new)
    except acme_errors.ConflictError as exc:  # this key has an account there already
        regr = messages.RegistrationResource(body=messages.Registration(), uri=str(exc.location))
        client.net.account = regr
    return str(regr.uri)


def open_account(sessions: Sessions, cipher: Cipher, settings: AcmeSettings, *, fresh: bool = False) -> Account:
    """The platform's account at `settings.directory_url`, registered (and stored) at first
    use. `fresh`: register the stored key again (the CA forgot the account: Pebble restarted)."""
    url = settings.directory_url
    with sessions.session() as session:
        row = session.scalar(select(AcmeAccount).where(AcmeAccount.directory_url == url))
        stored = (cipher.decrypt(row.key_sealed), row.uri) if row is not None else None
    key = jose.JWK.json_loads(stored[0]) if stored else _new_key()
    net = _network(settings, key)

    def connect() -> acme_client.ClientV2:
        return acme_client.ClientV2(acme_client.ClientV2.get_directory(url, net), net)

    account = Account(client=None, key=key, settings=settings)  # type: ignore[arg-type]
    account.client = account.call("reading the ACME directory", connect)
    if stored is not None and not fresh:
        net.account = messages.RegistrationResource(body=messages.Registration(), uri=stored[1])
        return account
    uri = account.call("registering the ACME account", lambda: _register(account.client, settings))
    try:
        with sessions.session() as session:
            row = session.scalar(select(AcmeAccount).where(AcmeAccount.directory_url == url))
            if row is None:
                sealed = cipher.encrypt(key.json_dumps())
                session.add(AcmeAccount(directory_url=url, email=settings.email, key_sealed=sealed, uri=uri))
            elif fresh:
                row.uri = uri
    except Conflict:
        # Another replica registered first: its account is the one kept; this order goes on
        # with the account just made (valid at the CA too), later ones use the stored one.
        pass
    log.info("ACME account registered", extra={"directory": url})
    return account


def _problem(error: Any) -> str:
    if error is None:
        return "no reason given"
    detail = getattr(error, "detail", None) or getattr(error, "title", None) or str(error)
    code = getattr(error, "code", None)
    return f"{detail} ({code})" if code else str(detail)


def validation_problems(exc: acme_errors.ValidationError) -> list[str]:
    """One line per name the CA could not validate: the name and the CA's reason."""
    lines = []
    for authzr in exc.failed_authzrs:
        name = authzr.body.identifier.value
        if getattr(authzr.body, "wildcard", False):
            name = f"*.{name}"
        reasons = [_problem(c.error) for c in authzr.body.challenges if c.error is not None]
        lines.append(f"{name}: {'; '.join(reasons) or 'not validated'}")
    return lines


def acme_failure(exc: BaseException, settings: AcmeSettings, what: str) -> CodeForgeError:
    """A catalog error for a failed exchange with the CA, saying what to check."""
    url = settings.directory_url
    if isinstance(exc, requests.exceptions.SSLError):
        return ExternalFailure(
            f"{what}: the ACME server's HTTPS certificate at {url} is not trusted ({type(exc).__name__})",
            fix="set CODEFORGE_ACME_CA_BUNDLE to a PEM file of the CA that signed it, or check "
            "CODEFORGE_ACME_DIRECTORY_URL",
        )
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return ExternalFailure(
            f"{what}: the ACME server at {url} cannot be reached",
            fix="check that it is up and that CODEFORGE_ACME_DIRECTORY_URL is right, then try again",
        )
    if isinstance(exc, acme_errors.ValidationError):
        return ExternalFailure(
            f"{what}: the CA could not validate " + "; ".join(validation_problems(exc)),
            fix="check that each name resolves to this platform (http-01) or that the platform's DNS server "
            "serves its zone (dns-01), then try again",
        )
    if isinstance(exc, acme_errors.TimeoutError):
        return ExternalFailure(
            f"{what}: the CA did not finish within {settings.timeout_s:g} s",
            fix="try again later (or raise CODEFORGE_ACME_TIMEOUT_S)",
        )
    if isinstance(exc, messages.Error):
        return ExternalFailure(f"{what}: the CA refused: {_problem(exc)}", fix="read the CA's reason, then try again")
    if isinstance(exc, acme_errors.Error | requests.exceptions.RequestException | ValueError):
        text = str(exc) or type(exc).__name__
        return ExternalFailure(f"{what}: {text}", fix="check CODEFORGE_ACME_DIRECTORY_URL, then try again")
    log.error("unexpected ACME failure", exc_info=exc)
    return ExternalFailure(f"{what}: {type(exc).__name__}", fix="see the platform's log, then try again")
