"""What `codeforge ssh-config` writes: a key pair, a known_hosts file and a managed block of
`Host` entries in an OpenSSH client config, as Coder's `config-ssh` does.

The block sits between two marker lines and is the only part of the file ever changed: a
rewrite replaces it in place (or appends it the first time) and leaves every other byte of the
user's file as it was. Files holding keys or trust are written whole (temporary file, then
rename) and readable by the owner only.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncssh

__all__ = [
    "BEGIN",
    "END",
    "HostEntry",
    "alias_for",
    "ensure_key_pair",
    "read_block_entries",
    "read_known_hosts",
    "render_block",
    "replace_block",
    "write_known_hosts",
    "write_private",
]

BEGIN = "# ------------START-CODEFORGE-SSH------------"
END = "# -------------END-CODEFORGE-SSH-------------"
_ENTRY = "# codeforge-entry: "
KEY_FILE = "id_ed25519"


@dataclass(frozen=True)
class HostEntry:
    """One `Host` entry: the alias `ssh` is given, the bridge behind it and its host key."""

    alias: str
    url: str
    user: str
    host_key: str  # "ssh-ed25519 AAAA…"


def alias_for(project: str, taken: Iterable[str] = ()) -> str:
    """`codeforge-<project>`, or with -2, -3… when another bridge of the project has it."""
    base = "codeforge-" + re.sub(r"[^A-Za-z0-9._-]+", "-", project).strip("-")
    used = set(taken)
    alias, n = base, 1
    while alias in used:
        n += 1
        alias = f"{base}-{n}"
    return alias


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """Write a whole file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, mode)  # the umask may have narrowed it; never widened
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_key_pair(folder: Path) -> tuple[Path, str]:
    """The CodeForge key pair in `folder` (made once, ed25519, private key 0600): its private
    key's path and its public line."""
    private = folder / KEY_FILE
    if private.is_file():
        key = asyncssh.read_private_key(private)
    else:
        key = asyncssh.generate_private_key("ssh-ed25519", comment="codeforge")
        write_private(private, key.export_private_key("openssh").decode())
        write_private(private.with_suffix(".pub"), key.export_public_key("openssh").decode(), 0o644)
    public = " ".join(key.export_public_key("openssh").decode().split()[:2])
    return private, public


def _quote_path(path: Path) -> str:
    text = str(path)
    if '"' in text or "\n" in text:
        raise ValueError(f"{text!r}: an ssh_config path cannot hold a double quote or a newline")
    return f'"{text}"'


def _proxy_command(command: list[str], url: str, environment: Mapping[str, str]) -> str:
    """The ProxyCommand line: shell words (ssh runs it with /bin/sh), `%` doubled (ssh expands
    %h, %p… in it). Environment variables the command needs come first, through env(1)."""
    prefix = ["env", *(f"{k}={v}" for k, v in environment.items())] if environment else []
    words = [*prefix, *command, "connect", url, "--ssh"]
    return " ".join(shlex.quote(w) for w in words).replace("%", "%%")


def render_block(
    entries: Iterable[HostEntry],
    *,
    identity: Path,
    known_hosts: Path,
    command: list[str],
    environment: Mapping[str, str],
) -> str:
    """The managed block, markers included, ending with a newline."""
    lines = [
        BEGIN,
        "# Written by `codeforge ssh-config`: run it again to update this block; edits inside",
        "# it are lost, everything outside it is left alone.",
    ]
    for entry in sorted(entries, key=lambda e: e.alias):
        record = {"alias": entry.alias, "url": entry.url, "user": entry.user}
        lines += [
            "",
            _ENTRY + json.dumps(record, sort_keys=True),
            f"Host {entry.alias}",
            f"  HostName {entry.alias}",
            f"  User {entry.user}",
            f"  ProxyCommand {_proxy_command(command, entry.url, environment)}",
            f"  IdentityFile {_quote_path(identity)}",
            "  IdentitiesOnly yes",
            f"  UserKnownHostsFile {_quote_path(known_hosts)}",
            "  StrictHostKeyChecking yes",
            f"  HostKeyAlias {entry.alias}",
            "  ForwardAgent no",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def _block_span(text: str) -> tuple[int, int] | None:
    start = text.find(BEGIN + "\n")
    if start < 0 or (start > 0 and text[start - 1] != "\n"):
        return None
    end = text.find(END, start)
    if end < 0:
        raise ValueError(f"the CodeForge block has a start marker but no end marker ({END!r})")
    end += len(END)
    if text[end : end + 1] == "\n":
        end += 1
    return start, end


def replace_block(text: str, block: str) -> str:
    """`text` with its CodeForge block replaced by `block` (appended when it has none)."""
    span = _block_span(text)
    if span is None:
        if text and not text.endswith("\n"):
            text += "\n"
        return text + ("\n" if text else "") + block
    start, end = span
    return text[:start] + block + text[end:]


def read_block_entries(text: str, known_hosts: Mapping[str, str]) -> dict[str, HostEntry]:
    """The entries the current block holds (with their keys from known_hosts), for a run that
    updates some entries and keeps the others."""
    span = _block_span(text)
    if span is None:
        return {}
    found: dict[str, HostEntry] = {}
    for line in text[span[0] : span[1]].splitlines():
        if not line.startswith(_ENTRY):
            continue
        try:
            record = json.loads(line.removeprefix(_ENTRY))
            alias, url, user = str(record["alias"]), str(record["url"]), str(record["user"])
        except (ValueError, KeyError, TypeError):
            continue  # a hand-edited line: dropped, the next run writes what it knows
        if alias in known_hosts:
            found[alias] = HostEntry(alias, url, user, known_hosts[alias])
    return found


def read_known_hosts(path: Path) -> dict[str, str]:
    """alias → "type base64" from a known_hosts file this module wrote."""
    hosts: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and not line.startswith("#"):
                hosts[parts[0]] = f"{parts[1]} {parts[2]}"
    return hosts


def write_known_hosts(path: Path, entries: Iterable[HostEntry]) -> None:
    """Pin each entry's host key under its alias; other aliases' keys stay (another ssh
    config file may use them)."""
    hosts = read_known_hosts(path)
    hosts.update({e.alias: e.host_key for e in entries})
    body = "".join(f"{alias} {key}\n" for alias, key in sorted(hosts.items()))
    write_private(path, "# Written by `codeforge ssh-config`: the host keys of CodeForge bridges.\n" + body, 0o644)
