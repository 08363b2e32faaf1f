"""A pytest-lsp client driving the real `codeforge lsp` over stdio, against a live platform."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.protocol import JsonRPCResponseMessage
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from tests.conftest import ROOT, RunningPlatform

SERVER = [sys.executable, "-m", "codeforge", "lsp"]


async def start_client(
    env: dict[str, str],
    workspace: Path,
    init_options: dict[str, Any] | None = None,
    capabilities: types.ClientCapabilities | None = None,
    command: Sequence[str] = SERVER,
    cwd: Path = ROOT,
) -> LanguageClient:
    """Start `command` (by default this checkout's `codeforge lsp`, run from the repository so
    that `-m codeforge` imports it) and initialize it as VS Code would."""
    client = make_test_lsp_client()
    # pygls turns responses to custom requests into named tuples, renaming keys such as
    # "x-codeforge-context"; an editor sees the JSON as sent, so keep it.
    converter = client.protocol._converter
    converter.register_structure_hook(JsonRPCResponseMessage, lambda obj, cls: cls(**obj))
    # lsprotocol reads any code action that has a `command` as a bare Command, even when
    # that command is an object (a CodeAction's); editors tell them apart by its type.
    converter.register_structure_hook(
        types.Command | types.CodeAction,
        lambda obj, _: converter.structure(
            obj, types.Command if isinstance(obj.get("command"), str) else types.CodeAction
        ),
    )
    await client.start_io(*command, env=env, cwd=str(cwd))
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities or client_capabilities("visual-studio-code"),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name=workspace.name)],
            initialization_options=init_options,
        )
    )
    client.initialize_result = result  # type: ignore[attr-defined]
    return client


async def stop_client(client: LanguageClient) -> None:
    await client.shutdown_session()
    await client.stop()


@pytest.fixture
def workspace(tmp_path: Path, live_platform: RunningPlatform) -> Path:
    folder = tmp_path / "ws"
    folder.mkdir()
    (folder / "codeforge.yaml").write_text(f"project: {live_platform.project}\n")
    return folder


@pytest_asyncio.fixture
async def lsp(live_platform: RunningPlatform, workspace: Path) -> AsyncIterator[LanguageClient]:
    client = await start_client(live_platform.env, workspace)
    yield client
    await stop_client(client)


async def run(client: LanguageClient, command: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )


def open_document(client: LanguageClient, path: Path, text: str, language: str = "yaml") -> str:
    """Write the file and open it in the client with that text (version 1); its URI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)
        )
    )
    return uri


async def request(client: LanguageClient, method: str, params: Any = None) -> Any:
    return await client.protocol.send_request_async(method, params or {})


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll until the condition holds; the test's timeout bounds the wait."""
    while not predicate():
        await asyncio.sleep(0.01)


async def shown(client: LanguageClient, predicate: Callable[[str], bool]) -> str:
    """Wait for a window/showMessage whose text satisfies the predicate (summaries follow
    the command's response)."""
    await wait_until(lambda: any(predicate(m.message) for m in client.messages))
    return next(m.message for m in client.messages if predicate(m.message))
