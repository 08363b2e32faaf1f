"""`codeforge lsp`: the CodeForge language server (pygls 2) an editor starts over stdio.

`build_server()` makes the server and registers every feature; `serve_stdio()` runs it on
stdin/stdout and is what the CLI's `codeforge lsp` calls. One server serves one client.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCResponseMessage, LanguageServerProtocol
from pygls.uris import to_fs_path

from codeforge import __version__
from codeforge.catalog.errors import CodeForgeError
from codeforge.client import AsyncPlatformClient
from codeforge.lsp.project_context import ProjectContext
from codeforge.lsp.settings import ServerSettings, ShowResults, parse_init_options, resolve_settings

__all__ = ["CodeForgeLanguageServer", "CodeForgeProtocol", "build_server", "main", "run_stdio", "serve_stdio"]

log = logging.getLogger(__name__)


class CodeForgeProtocol(LanguageServerProtocol):
    """pygls' protocol, serialising responses without walking their results.

    pygls unstructures a response envelope with cattrs, which visits every value of the
    result first: for a command returning a list that is most of the server's CPU per
    call. A result here is plain JSON, or holds lsprotocol objects that `json.dumps` hands
    back to this hook one at a time, so the envelope can be a plain dict."""

    def _serialize_message(self, data: Any) -> Any:
        if type(data) is JsonRPCResponseMessage:
            return {"jsonrpc": data.jsonrpc, "id": data.id, "result": data.result}
        return super()._serialize_message(data)


class CodeForgeLanguageServer(LanguageServer):
    """The server and the state of its one session: settings, platform client, context."""

    def __init__(
        self,
        *,
        url: str | None = None,
        token: str | None = None,
        project: str | None = None,
        show_results: ShowResults | None = None,
    ) -> None:
        # Full sync: codeforge.yaml is small, and whole texts keep YAML positions simple.
        super().__init__(
            "codeforge",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Full,
            protocol_cls=CodeForgeProtocol,
        )
        self._arguments: dict[str, Any] = {
            "url": url,
            "token": token,
            "project": project,
            "show_results": show_results,
        }
        self.settings: ServerSettings = resolve_settings(None, **self._arguments)
        self._platform: AsyncPlatformClient | None = None
        self.projects = ProjectContext()
        # Input fields each operation takes from context, worked out once at registration.
        self.context_fields: dict[str, dict[str, str]] = {}
        # Progress token -> job id, so the editor's cancel reaches the right job.
        self.job_tokens: dict[str, str] = {}
        # codeforge.yaml uri -> variables it declares without a value that the platform lacks.
        self.missing_env: dict[str, set[str]] = {}
        # codeforge.yaml uri -> database name -> the engine it names, which the platform lacks.
        self.unknown_engines: dict[str, dict[str, str]] = {}
        # Migration file uri -> database, for files that have a pending/drifted diagnostic.
        self.migration_files: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine in the background, holding a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        self.settings = resolve_settings(options, **self._arguments)
        self._platform = None  # made again, lazily, with the new settings

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

    def context_project(self) -> str:
        """The project for context fields: the editor's override, else codeforge.yaml's
        `project:`, else the login's project; "" when none is known."""
        return (
            self.settings.project_override
            or self.projects.declared_project(self.workspace_root())
            or self.settings.login_project
        )

    def context_value(self, kind: str) -> str:
        if kind == "project":
            return self.context_project()
        return ""

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        """pygls' stdio loop, reading stdin with the event loop instead of a thread.

        pygls reads each header line and body through a thread pool, three or four thread
        hand-offs per message; an asyncio pipe reader takes none, which is most of this
        server's share of a command's round trip (benchmarks/lsp_roundtrip.py)."""
        stdin = stdin or sys.stdin.buffer
        stop = self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

        async def serve() -> None:
            reader: Any = await _pipe_reader(stdin) or StdinAsyncReader(stdin, self.thread_pool)
            await run_async(
                stop_event=stop,
                reader=reader,
                protocol=self.protocol,
                logger=log,
                error_handler=self.report_server_error,
            )

        try:
            asyncio.run(serve())
        except BrokenPipeError:
            log.error("the editor closed the connection; stopping")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def report_server_error(self, error: Exception, source: Any) -> None:
        # pygls would show "Error in server: <repr>"; show our one-line message instead.
        if isinstance(error, JsonRpcException):
            return
        super().report_server_error(error, source)


async def _pipe_reader(stdin: Any) -> asyncio.StreamReader | None:
    """stdin as an asyncio stream; None where it is not a pipe or socket (a file, a tty)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    except (ValueError, OSError):
        return None
    return reader


class _ExpectedErrors(logging.Filter):
    """pygls logs a traceback for every failed request, including expected ones (bad
    input, platform down) that the client already got as a clear error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, JsonRpcException)


def build_server(
    *,
    url: str | None = None,
    token: str | None = None,
    project: str | None = None,
    show_results: ShowResults | None = None,
) -> CodeForgeLanguageServer:
    """The server with every feature registered; arguments are defaults that the editor's
    initializationOptions override."""
    from codeforge.lsp import features
    from codeforge.lsp.commands import register_catalog_commands

    ls = CodeForgeLanguageServer(url=url, token=token, project=project, show_results=show_results)

    @ls.feature(types.INITIALIZE)
    def on_initialize(ls: CodeForgeLanguageServer, params: types.InitializeParams) -> None:
        ls.configure(params.initialization_options)

    @ls.feature(types.SHUTDOWN)
    async def on_shutdown(ls: CodeForgeLanguageServer, params: None) -> None:
        if ls._platform is not None:
            await ls._platform.aclose()
            ls._platform = None

    register_catalog_commands(ls)
    features.register_all(ls)
    return ls


def serve_stdio(
    *,
    url: str | None = None,
    token: str | None = None,
    project: str | None = None,
    show_results: ShowResults | None = None,
    log_level: str = "WARNING",
) -> None:
    """Run the language server on stdin/stdout until the client exits it.

    `codeforge lsp` calls this. stdout carries the protocol only: logs go to stderr."""
    logging.basicConfig(stream=sys.stderr, level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_ExpectedErrors())
    build_server(url=url, token=token, project=project, show_results=show_results).start_io()


run_stdio = serve_stdio


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m codeforge.lsp [--url URL] [--token TOKEN] [--project SLUG]`."""
    parser = argparse.ArgumentParser(prog="codeforge lsp", description=__doc__)
    parser.add_argument("--url", help="platform URL (default: the stored login, CODEFORGE_URL)")
    parser.add_argument("--token", help="API token (default: the stored login, CODEFORGE_TOKEN)")
    parser.add_argument("--project", help="project for context fields (default: codeforge.yaml, the login)")
    parser.add_argument("--show-results", choices=["all", "changes", "none"], help="which results to show")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level (default WARNING)")
    args = parser.parse_args(argv)
    serve_stdio(
        url=args.url,
        token=args.token,
        project=args.project,
        show_results=args.show_results,
        log_level=args.log_level,
    )
