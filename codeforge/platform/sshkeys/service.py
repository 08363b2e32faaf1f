"""A member's own SSH public keys: added (validated), listed, removed.

Only the caller's keys are ever visible or changed here: a bridge asks with the token of the
member who opened the tunnel, so the keys it accepts are that member's and nobody else's.
"""

from __future__ import annotations

import re

import asyncssh
from sqlalchemy import select

from codeforge import catalog
from codeforge.catalog.errors import BadInput, Conflict, FieldProblem, NotFound
from codeforge.platform.context import Context
from codeforge.platform.registry import implements
from codeforge.platform.sshkeys.models import SshKeyRow

__all__ = ["ParsedKey", "parse_public_key"]

_NAME = re.compile(catalog.sshkeys.KEY_NAME_PATTERN)
_MIN_RSA_BITS = 2048
_HOW = "paste one line of your .pub file, e.g. the output of `cat ~/.ssh/id_ed25519.pub`"


class ParsedKey:
    """A validated public key: its algorithm, SHA256 fingerprint, `type base64` line, comment."""

    def __init__(self, key: asyncssh.SSHKey) -> None:
        self.key_type = key.get_algorithm()
        self.fingerprint = key.get_fingerprint("sha256")
        line = key.export_public_key("openssh").decode().split()
        self.line = f"{line[0]} {line[1]}"
        self.comment = (key.get_comment() or "").strip()


def _bad(message: str, fix: str = _HOW) -> BadInput:
    return BadInput(f"public_key {message}", errors=[FieldProblem("public_key", message, fix)])


def parse_public_key(text: str) -> ParsedKey:
    """The key of one OpenSSH public key line, or BadInput saying what is wrong with it."""
    text = text.strip()
    if "PRIVATE KEY" in text:
        # asyncssh would derive the public half; refusing says the user leaked a secret.
        raise _bad(
            "is a private key, which must never leave your machine",
            fix="give the .pub file instead (e.g. ~/.ssh/id_ed25519.pub), and consider this private key exposed",
        )
    if text.startswith("----"):  # PEM or RFC 4716 (SSH2) armour
        raise _bad("is not in OpenSSH format", fix="convert it with `ssh-keygen -i -f KEY.pub` and add its output")
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) != 1:
        raise _bad(f"holds {len(lines)} keys; add one key at a time" if lines else "is empty")
    try:
        key = asyncssh.import_public_key(lines[0])
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise _bad(f"is not an OpenSSH public key ({exc})") from None
    if isinstance(key, asyncssh.SSHCertificate):  # pragma: no cover - import_public_key never returns one
        raise _bad("is a certificate, not a key")
    pyca = getattr(key, "pyca_key", None)
    bits = getattr(pyca, "key_size", None)
    if key.get_algorithm() == "ssh-rsa" and isinstance(bits, int) and bits < _MIN_RSA_BITS:
        raise _bad(
            f"is a {bits}-bit RSA key, too weak",
            fix="make an ed25519 key with `ssh-keygen -t ed25519` and add its .pub file",
        )
    return ParsedKey(key)


def _out(row: SshKeyRow) -> catalog.sshkeys.SshKey:
    return catalog.sshkeys.SshKey(
        name=row.name,
        key_type=row.key_type,
        fingerprint=row.fingerprint,
        public_key=row.public_key,
        created_at=row.created_at,
    )


def _own(ctx: Context) -> list[SshKeyRow]:
    query = select(SshKeyRow).where(SshKeyRow.user_id == ctx.actor.user_id).order_by(SshKeyRow.created_at)
    return list(ctx.session.scalars(query))


def _default_name(parsed: ParsedKey) -> str:
    """The key's comment when it makes a valid name (`me@laptop`), else its type and fingerprint."""
    comment = re.sub(r"[^A-Za-z0-9._@+-]+", "-", parsed.comment).strip("-._@+")[:100]
    if comment and _NAME.match(comment):
        return comment
    return f"{parsed.key_type.removeprefix('ssh-')}-{re.sub(r'[^A-Za-z0-9]', '', parsed.fingerprint[7:])[:12]}"


@implements(catalog.sshkeys.ADD)
def add_key(ctx: Context, data: catalog.sshkeys.SshKeyAddInput) -> catalog.sshkeys.SshKey:
    """Idempotent for one key: adding a key the member has already returns it, whatever the
    name (`codeforge ssh-config` adds its key on every run)."""
    parsed = parse_public_key(data.public_key)
    name = data.name or _default_name(parsed)
    keys = _own(ctx)
    same = next((k for k in keys if k.fingerprint == parsed.fingerprint), None)
    if same is not None:
        return _out(same)
    if any(k.name == name for k in keys):
        raise Conflict(
            f"you already have an SSH key named {name!r}",
            fix="give this key another `name`, or remove the old one with `codeforge sshkeys remove`",
        )
    row = SshKeyRow(
        user_id=ctx.actor.user_id,
        name=name,
        key_type=parsed.key_type,
        fingerprint=parsed.fingerprint,
        public_key=parsed.line,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return _out(row)


@implements(catalog.sshkeys.LIST)
def list_keys(ctx: Context, data: catalog.Empty) -> catalog.sshkeys.SshKeyList:
    return catalog.sshkeys.SshKeyList(items=[_out(k) for k in _own(ctx)])


@implements(catalog.sshkeys.REMOVE)
def remove_key(ctx: Context, data: catalog.sshkeys.SshKeyNameInput) -> catalog.sshkeys.SshKey:
    row = next((k for k in _own(ctx) if k.name == data.name), None)
    if row is None:
        raise NotFound(f"you have no SSH key named {data.name!r}", fix="list yours with `codeforge sshkeys list`")
    out = _out(row)
    ctx.session.delete(row)
    return out
