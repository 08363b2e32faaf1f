"""`codeforge ssh-config`: SSH access to your workspaces for ssh, scp, rsync, JetBrains
Gateway and VS Code Remote-SSH (docs/bridge.md, "SSH").

It makes a CodeForge key pair once (in the config folder's ssh/), registers its public half
with the platform (`sshkeys.add`, idempotent), asks each bridge for its host key, and writes
a `Host codeforge-<project>` entry per bridge into a managed block of ~/.ssh/config whose
ProxyCommand is `codeforge connect URL --ssh`. Bridges come from the platform (`bridges.list`
of each project: the URL each live bridge reports) or from `--url`.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from codeforge.catalog import bridges, projects, sshkeys
from codeforge.catalog.errors import CodeForgeError, Conflict
from codeforge.cli.render import console, err_console, show_error
from codeforge.client import PlatformClient
from codeforge.config import config_dir, credentials_path, load_client_config

if TYPE_CHECKING:
    from codeforge.bridge.ssh import SshInfo
    from codeforge.bridge.ssh_config import HostEntry

__all__ = ["ssh_config"]


def _codeforge_command() -> list[str]:
    """How ssh should start this program: the installed script when it is the one running."""
    script = Path(sys.argv[0])
    if script.name == "codeforge" and script.is_file():
        return [str(script.absolute())]
    # `python -m codeforge`: the same interpreter, whatever `codeforge` PATH may hold.
    return [sys.executable, "-m", "codeforge"]


def _key_name() -> str:
    host = re.sub(r"[^A-Za-z0-9._-]+", "-", socket.gethostname()).strip("-.") or "host"
    return f"codeforge-{host}"[:90]


def _register(client: PlatformClient, public: str) -> str:
    """Add our key (the platform answers with the one it has when it has it already)."""
    try:
        added = client.call(sshkeys.ADD, {"public_key": public, "name": _key_name()})
    except Conflict:  # a key of that name exists but is not this one (made on another run)
        added = client.call(sshkeys.ADD, {"public_key": public, "name": f"{_key_name()}-{os.urandom(3).hex()}"})
    assert isinstance(added, sshkeys.SshKey)
    return added.name


def _discover(client: PlatformClient, only: str | None) -> list[str]:
    """The URLs of the bridges of every project (or of one), most recently seen first. A
    `stale` bridge is asked too: an idle bridge reports only now and then; `_infos` skips
    one that does not answer."""
    listed = client.call(projects.LIST, {})
    assert isinstance(listed, projects.ProjectList)
    urls: list[str] = []
    for project in listed.items:
        if only and project.slug != only:
            continue
        answer = client.call(bridges.LIST, {"project": project.slug})
        assert isinstance(answer, bridges.BridgeList)
        known = sorted((b for b in answer.bridges if b.url), key=lambda b: b.last_seen, reverse=True)
        urls += [b.url for b in known]
    return urls


async def _infos(urls: list[str], token: str) -> list[tuple[str, SshInfo | str]]:
    """Each bridge's SSH info, or why it could not be had."""
    # The bridge's modules (websockets, asyncssh) load only for this command, not every CLI start.
    from codeforge.bridge import connect, ssh
    from codeforge.bridge.link import DialRefused, LinkClosed

    async def one(url: str) -> tuple[str, SshInfo | str]:
        try:
            connection = connect.Connection(url, token)
        except ValueError as exc:  # not a ws:// or wss:// URL
            return url, str(exc)
        try:
            async with asyncio.timeout(30):
                return url, await ssh.fetch_info(connection.dial)
        except DialRefused as exc:
            return url, f"refused ({exc.status}): {exc.reason}"
        except (OSError, TimeoutError, LinkClosed, ValueError, KeyError) as exc:
            return url, f"unreachable: {exc or type(exc).__name__}"
        finally:
            await connection.close()

    return list(await asyncio.gather(*(one(u) for u in urls)))


def ssh_config(
    url: Annotated[
        list[str] | None,
        typer.Option(
            "--url",
            help="A bridge URL (ws:// or wss://); repeatable. Without it: every bridge the platform lists.",
        ),
    ] = None,
    file: Annotated[Path | None, typer.Option(help="The ssh config file to write (default ~/.ssh/config).")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project's bridges (without --url).")] = None,
) -> None:
    """Write `Host codeforge-<project>` entries to your ssh config: ssh, scp, rsync, JetBrains
    Gateway and VS Code Remote-SSH then reach your workspaces through `codeforge connect --ssh`."""
    try:
        code = _run(url or [], file or Path.home() / ".ssh" / "config", project)
    except CodeForgeError as err:
        show_error(err)
        raise typer.Exit(1) from None
    if code:
        raise typer.Exit(code)


def _entries(
    targets: list[str], token: str, previous: dict[str, HostEntry], *, keep_others: bool
) -> tuple[dict[str, HostEntry], int]:
    """The entries to write (by alias) and how many bridges could not be asked. A bridge keeps
    the alias it had; `keep_others` keeps the entries of bridges not asked this time."""
    from codeforge.bridge.ssh_config import HostEntry, alias_for

    kept = dict(previous) if keep_others else {}
    alias_of_url = {e.url: e.alias for e in previous.values()}
    failed = 0
    for target, info in asyncio.run(_infos(targets, token)):
        if isinstance(info, str):
            err_console.print(f"[yellow]Skipped[/] {target}: {info}")
            failed += 1
            continue
        kept = {a: e for a, e in kept.items() if e.url != target}
        alias = alias_of_url.get(target) or alias_for(info.project, kept)
        kept[alias] = HostEntry(alias, target, info.username, info.host_key)
    return kept, failed


def _run(urls: list[str], file: Path, only: str | None) -> int:
    from codeforge.bridge.ssh_config import (
        ensure_key_pair,
        read_block_entries,
        read_known_hosts,
        render_block,
        replace_block,
        write_known_hosts,
        write_private,
    )

    cfg = load_client_config()
    if not cfg.url or not cfg.token:
        raise CodeForgeError(
            "no platform login found", fix="run `codeforge up`, or set CODEFORGE_URL and CODEFORGE_TOKEN"
        )
    folder = config_dir() / "ssh"
    identity, public = ensure_key_pair(folder)
    with PlatformClient(cfg.url, cfg.token) as client:
        key_name = _register(client, public)
        targets = list(dict.fromkeys(urls or _discover(client, only)))
    console.print(f"SSH key [bold]{key_name}[/] ({identity}) is registered with the platform.")
    if not targets:
        where = f" for project {only!r}" if only else ""
        err_console.print(
            f"No bridge found{where}: start one with `codeforge bridge FOLDER`, or give its address with --url."
        )
        return 1
    file = file.resolve()  # a symlinked config (dotfiles) is written through, never replaced
    known_path = folder / "known_hosts"
    text = file.read_text() if file.is_file() else ""
    try:
        previous = read_block_entries(text, read_known_hosts(known_path))
    except ValueError as exc:  # the block's end marker is gone: nothing is written
        raise CodeForgeError(
            f"{file}: {exc}", fix="remove what is left of the CodeForge block, then run again"
        ) from None
    entries, failed = _entries(targets, cfg.token, previous, keep_others=bool(urls))
    if not entries:
        return 1
    # `connect` must find the same login as this run: a non-default config folder goes along.
    environment = (
        {"CODEFORGE_CONFIG_DIR": str(config_dir().resolve())} if os.environ.get("CODEFORGE_CONFIG_DIR") else {}
    )
    block = render_block(
        entries.values(),
        identity=identity,
        known_hosts=known_path,
        command=_codeforge_command(),
        environment=environment,
    )
    try:
        write_known_hosts(known_path, entries.values())
        write_private(file, replace_block(text, block), (file.stat().st_mode & 0o777) if file.exists() else 0o600)
    except OSError as exc:
        raise CodeForgeError(
            f"cannot write {exc.filename or file}: {exc.strerror or exc}", fix="check its permissions"
        ) from None
    for entry in sorted(entries.values(), key=lambda e: e.alias):
        console.print(f"  [bold]{entry.alias}[/]  {entry.url}")
    if not credentials_path().is_file():
        err_console.print(
            f"Note: ssh starts `codeforge connect`, which reads your login from {credentials_path()}; "
            "it is absent, so CODEFORGE_TOKEN must be set where ssh runs."
        )
    console.print(f"Written to {file}. Try: ssh {min(entries)} (or scp, rsync -e ssh, JetBrains Gateway).")
    return 1 if failed else 0
