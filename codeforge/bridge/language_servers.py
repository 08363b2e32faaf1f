"""The workspace's language servers as processes: which command a name means, starting and
stopping one, and LSP's Content-Length framing on its stdio. `lsp_proxy` drives them.

A name is looked up in codeforge.yaml's `language_servers` section, read afresh for every
editor (so an edit applies to the next connection), over the defaults
(`DEFAULT_LANGUAGE_SERVERS`). Only that section is read: a mistake elsewhere in the file
does not take an editor's language server away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from codeforge.bridge import framing
from codeforge.projectfile import ProjectFile, find_project_file, project_file_problems
from codeforge.projectfile.language_servers import DEFAULT_LANGUAGE_SERVERS, LanguageServerEntry

__all__ = [
    "LanguageServerError",
    "ServerCommand",
    "configured_servers",
    "read_message",
    "resolve",
    "start_server",
    "stop_server",
    "wait_exit",
]

log = logging.getLogger(__name__)

# The bridge's own credentials never reach a language server (its plugins run project code).
_HIDDEN_ENV = ("CODEFORGE_TOKEN", "CODEFORGE_BRIDGE_TOKEN")
# A header block longer than this is not LSP: the server is writing something else to stdout.
_MAX_BODY = 256 * 1024 * 1024


class LanguageServerError(Exception):
    """A language server cannot be started; the message says what to change."""


@dataclass(frozen=True)
class ServerCommand:
    """What to run for one name: the resolved argv and its extra environment."""

    name: str
    argv: list[str]
    env: dict[str, str]


def configured_servers(workspace: Path) -> dict[str, LanguageServerEntry]:
    """The defaults, overlaid with the workspace's codeforge.yaml `language_servers`."""
    servers = dict(DEFAULT_LANGUAGE_SERVERS)
    path = find_project_file(workspace)
    if path is None:
        return servers
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise LanguageServerError(
            f"{path.name} cannot be read ({type(exc).__name__}): fix it to use its language servers"
        ) from None
    section = data.get("language_servers") if isinstance(data, dict) else None
    if section is None:
        return servers
    try:
        parsed = ProjectFile.model_validate({"language_servers": section})
    except ValidationError as exc:
        problems = "; ".join(f"{p.field}: {p.message} ({p.fix})" for _, p in project_file_problems(exc.errors()))
        raise LanguageServerError(f"{path.name} needs fixing: {problems}") from None
    servers.update(parsed.language_servers)
    return servers


def resolve(name: str, workspace: Path) -> ServerCommand:
    """The command for language server `name`; LanguageServerError naming what to change."""
    servers = configured_servers(workspace)
    entry = servers.get(name)
    if entry is None:
        known = ", ".join(f"`{n}`" for n in sorted(servers))
        raise LanguageServerError(
            f"no language server `{name}` in this workspace: the known ones are {known}; "
            f"add `language_servers: {{{name}: {{command: …}}}}` to codeforge.yaml for another"
        )
    program = entry.command[0]
    setting = f"`language_servers.{name}.command` in codeforge.yaml"
    venv_bin = Path(sys.executable).parent  # not resolved: a venv's python is a symlink out of it
    if "/" in program:
        candidate = Path(program) if Path(program).is_absolute() else workspace / program
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            raise LanguageServerError(
                f"language server `{name}`: `{program}` is not an executable file on the bridge's host; fix {setting}"
            )
        found = str(candidate)
    else:
        local = venv_bin / program
        found = str(local) if local.is_file() and os.access(local, os.X_OK) else (shutil.which(program) or "")
        if not found:
            raise LanguageServerError(
                f"language server `{name}`: `{program}` was not found in {venv_bin} nor on PATH of the bridge's "
                f"host: install it there (for example `pip install {_package_hint(program)}`) or set {setting}"
            )
    return ServerCommand(name=name, argv=[found, *entry.command[1:]], env=dict(entry.env))


def _package_hint(program: str) -> str:
    return {"basedpyright-langserver": "basedpyright", "pylsp": "python-lsp-server"}.get(program, program)


async def start_server(command: ServerCommand, workspace: Path) -> asyncio.subprocess.Process:
    """Start the server in the workspace, in a process group of its own (so stopping it
    stops whatever it started: basedpyright's Node, pylsp's plugins). Its stderr is a pipe
    the proxy copies to the bridge's log, never to the editor."""
    env = {k: v for k, v in os.environ.items() if k not in _HIDDEN_ENV}
    env.update(command.env)
    try:
        return await asyncio.create_subprocess_exec(
            *command.argv,
            cwd=workspace,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=1 << 20,
        )
    except OSError as exc:
        raise LanguageServerError(f"language server `{command.name}` could not start: {exc.strerror or exc}") from None


async def wait_exit(process: asyncio.subprocess.Process) -> int:
    """The exit status once the server's main process has exited. Not `process.wait()`:
    on Python 3.11 that also waits until every process holding its pipes is gone, and
    basedpyright's wrapper leaves Node holding them."""
    if process.returncode is None:
        try:
            fd = os.pidfd_open(process.pid)
        except (AttributeError, OSError):
            fd = -1  # no pidfd (old kernel) or already reaped: poll the status below
        if fd >= 0:
            loop = asyncio.get_running_loop()
            exited: asyncio.Future[None] = loop.create_future()

            def readable() -> None:
                if not exited.done():
                    exited.set_result(None)

            loop.add_reader(fd, readable)
            try:
                await exited
            finally:
                loop.remove_reader(fd)
                os.close(fd)
        # The child watcher records the status just after the exit.
        while process.returncode is None:
            await asyncio.sleep(0.01 if fd >= 0 else 0.25)
    return process.returncode


async def stop_server(process: asyncio.subprocess.Process, *, grace: float = 2.0) -> None:
    """Stop the server's whole process group: politely, then for good after `grace`."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wait_exit(process), grace)
        # Children the server left behind share its group even after it exited. (A process
        # that had exited before this call had its group ended by whoever reaped it: its
        # pid may since name another group, which must not be signalled.)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wait_exit(process), 5.0)
    if process.stdin is not None:
        process.stdin.close()


async def read_message(reader: asyncio.StreamReader) -> bytes | None:
    """The next message body from a server's stdout; None at its end. A stream that is not
    LSP raises ValueError (the server is then treated as crashed)."""
    try:
        return await framing.read_message(reader, limit=_MAX_BODY)
    except framing.FramingError as exc:
        raise ValueError(
            f"it wrote something that is not LSP to its stdout ({exc}): a server must keep stdout for LSP"
        ) from None
