"""One editor's session with the language server: its settings, its platform client, the
project it works in and the jobs it follows. pygls serves one client per `LanguageServer`,
so the session is the server object every feature handler receives as `ls`.

This module knows no feature and no capability: features and capabilities import it, the
assembly (`server.py`) builds it. A capability keeps its own per-session state with
`ls.state(SomeState)` instead of adding attributes here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import from_fs_path, to_fs_path

from codeforge import __version__
from codeforge.catalog.errors import CodeForgeError
from codeforge.client import AsyncPlatformClient
from codeforge.lsp.project_context import ProjectContext
from codeforge.lsp.settings import ServerOptions, ServerSettings, parse_init_options, resolve_settings

__all__ = ["CodeForgeSession"]

log = logging.getLogger(__name__)

_State = TypeVar("_State")


class CodeForgeSession(LanguageServer):
    """The state of one client's session; `launch` are the command line's options, which
    the editor's initializationOptions override."""

    def __init__(
        self,
        launch: ServerOptions | None = None,
        *,
        protocol_cls: type[LanguageServerProtocol] = LanguageServerProtocol,
    ) -> None:
        # Incremental sync: the editor sends only what changed (pygls' workspace applies
        # it), which collaboration needs as edits and which keeps big files cheap.
        super().__init__(
            "codeforge",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=protocol_cls,
        )
        self.launch = launch or ServerOptions()
        self.settings: ServerSettings = resolve_settings(self.launch)
        self._platform: AsyncPlatformClient | None = None
        self.projects = ProjectContext()
        # Input fields each operation takes from context, worked out once at registration.
        self.context_fields: dict[str, dict[str, str]] = {}
        # Progress token -> job id, so the editor's cancel reaches the right job.
        self.job_tokens: dict[str, str] = {}
        self._states: dict[type[Any], Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifetime -------------------------------------------------------------------------

    def configure(self, init_options: Any) -> None:
        """Apply the editor's initializationOptions; a bad one is shown, not fatal."""
        try:
            options = parse_init_options(init_options)
        except CodeForgeError as exc:
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Error,
                    message=f"CodeForge: ignoring initializationOptions: {exc.message}",
                )
            )
            return
        self.settings = resolve_settings(options, self.launch)
        self._platform = None  # made again, lazily, with the new settings

    async def close(self) -> None:
        """The editor shut the session down: release the platform connection."""
        if self._platform is not None:
            await self._platform.aclose()
            self._platform = None

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a coroutine in the background, holding a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def state(self, kind: type[_State]) -> _State:
        """This session's instance of a feature's or capability's state class, made on first
        use (the class takes no arguments)."""
        found = self._states.get(kind)
        if found is None:
            found = self._states[kind] = kind()
        return found

    def provide(self, value: object) -> None:
        """Make `value` this session's `state(type(value))` (the assembly hands over the
        contributions this way, so this module needs to know nothing of them)."""
        self._states[type(value)] = value

    # -- the platform and the project -------------------------------------------------------

    @property
    def platform(self) -> AsyncPlatformClient:
        """One client per session, so calls reuse its keep-alive connection."""
        if self._platform is None:
            self._platform = AsyncPlatformClient(self.settings.url, self.settings.token)
        return self._platform

    def workspace_root(self) -> Path | None:
        try:
            workspace = self.workspace
        except RuntimeError:  # not initialized yet
            return None
        if workspace.root_path:
            return Path(workspace.root_path)
        for folder in workspace.folders.values():
            if path := to_fs_path(folder.uri):
                return Path(path)
        return None

    def open_text(self, path: Path) -> str | None:
        """The editor's buffer of this file when it is open, else None."""
        try:
            documents = self.workspace.text_documents
        except RuntimeError:
            return None
        uri = from_fs_path(str(path))
        doc = documents.get(uri) if uri else None
        return doc.source if doc is not None else None

    def context_project(self) -> str:
        """The project for context fields: the editor's override, else codeforge.yaml's
        `project:`, else the login's project; "" when none is known."""
        return (
            self.settings.project_override
            or self.projects.declared_project(self.workspace_root(), self.open_text)
            or self.settings.login_project
        )

    def context_value(self, kind: str) -> str:
        if kind == "project":
            return self.context_project()
        return ""

    # -- messages -------------------------------------------------------------------------

    def info(self, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=message))

    def report_server_error(self, error: Exception, source: Any) -> None:
        # pygls would show "Error in server: <repr>"; the client got our one-line message.
        if isinstance(error, JsonRpcException):
            return
        super().report_server_error(error, source)
