"""Channel `lsp-proxy`: real basedpyright and python-lsp-server behind `serve`, driven through
in-process links by an editor whose folder is not the workspace's path.

Waits (`Editor.notification`, `Editor.request`) are hang guards that fail saying what was
awaited, never timed assertions.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_asyncio

from codeforge.bridge import lsp_proxy
from codeforge.bridge.link import Link, LinkClosed, memory_pair
from codeforge.bridge.lsp_documents import OpenDocuments, apply_change
from codeforge.bridge.sessions import ChannelContext, Identity, Session
from codeforge.client import AsyncPlatformClient

pytestmark = pytest.mark.asyncio(loop_scope="module")

GUARD_S = 60.0
LIB = "def greet(name: str) -> str:\n    return 'hi ' + name\n"
MAIN = "from lib import greet\n\ncount: int = 'three'\nprint(greet('ana'))\n"
YAML = """\
language_servers:
  missing:
    command: no-such-language-server-xyz --stdio
  dies:
    command: [python3, -c, "import sys; sys.exit(3)"]
  chatty:
    command: [python3, -c, "import time; print('Starting up...', flush=True); time.sleep(120)"]
"""


class Editor:
    """The editor's end of an `lsp-proxy` link: requests, notifications, and answers to the
    server's own requests (configuration: none; everything else: null) as an editor would."""

    def __init__(self, link: Link, root: Path) -> None:
        self.link = link
        self.root = root
        self.next_id = 0
        self.answers: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self.changed = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    async def _read(self) -> None:
        try:
            while True:
                message = json.loads(await self.link.receive())
                if "method" not in message:
                    future = self.answers.pop(message.get("id"), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                    else:
                        self.notifications.append({"unmatched": message})
                elif "id" in message:
                    self.server_requests.append(message)
                    items = (message.get("params") or {}).get("items") or []
                    result = [None] * len(items) if message["method"] == "workspace/configuration" else None
                    await self.link.send(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}))
                else:
                    self.notifications.append(message)
                self.changed.set()
        except LinkClosed:
            pass

    async def send(self, message: dict[str, Any] | str) -> None:
        await self.link.send(message if isinstance(message, str) else json.dumps({"jsonrpc": "2.0", **message}))

    async def request(self, method: str, params: Any = None) -> dict[str, Any]:
        self.next_id += 1
        id_ = self.next_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.answers[id_] = future
        await self.send({"id": id_, "method": method, "params": params})
        try:
            async with asyncio.timeout(GUARD_S):
                return await future
        except TimeoutError:
            raise AssertionError(f"no answer to {method}") from None

    async def notify(self, method: str, params: Any = None) -> None:
        await self.send({"method": method, "params": params})

    async def notification(
        self, method: str, check: Callable[[dict[str, Any]], bool] = lambda p: True, *, after: int = 0
    ) -> dict[str, Any]:
        """The first notification `method` (from index `after`) whose params pass `check`."""
        seen = after
        try:
            async with asyncio.timeout(GUARD_S):
                while True:
                    for message in self.notifications[seen:]:
                        if message.get("method") == method and check(message.get("params") or {}):
                            return dict(message["params"])
                    seen = len(self.notifications)
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            got = [m.get("method") for m in self.notifications[after:]]
            raise AssertionError(f"no {method} notification; got {got}") from None

    async def initialize(self) -> dict[str, Any]:
        root = self.root.as_uri()
        answer = await self.request(
            "initialize",
            {
                "processId": 999_999,  # the editor's pid: meaningless on the bridge's host
                "rootUri": root,
                "rootPath": str(self.root),
                "workspaceFolders": [{"uri": root, "name": self.root.name}],
                "capabilities": {
                    "workspace": {
                        "configuration": True,
                        "workspaceFolders": True,
                        "didChangeWatchedFiles": {"dynamicRegistration": True},
                    },
                    "textDocument": {"publishDiagnostics": {"relatedInformation": True}},
                    "window": {"workDoneProgress": True},
                },
            },
        )
        if "result" in answer:
            await self.notify("initialized", {})
        return answer

    async def open(self, name: str, text: str, version: int = 1) -> None:
        params = {"textDocument": {"uri": self.uri(name), "languageId": "python", "version": version, "text": text}}
        await self.notify("textDocument/didOpen", params)

    def at(self, name: str, line: int, character: int) -> dict[str, Any]:
        return {"textDocument": {"uri": self.uri(name)}, "position": {"line": line, "character": character}}


def _context(workspace: Path, link: Link, platform: AsyncPlatformClient) -> ChannelContext:
    session = Session(id=os.urandom(6).hex(), user=Identity("ana", "developer", "acme"), token="", platform=platform)
    return ChannelContext(session, workspace, "demo", platform, dict(link.params), {})


class Connection:
    def __init__(self, editor: Editor, task: asyncio.Task[None], bridge_end: Link) -> None:
        self.editor = editor
        self.task = task
        self.bridge_end = bridge_end

    async def ended(self) -> None:
        """Wait for `serve` to return, then close the link as the bridge does."""
        async with asyncio.timeout(GUARD_S):
            await self.task
        await self.bridge_end.close()
        self.editor.reader.cancel()

    def servers(self) -> list[psutil.Process]:
        """The language-server processes this test process started (any connection)."""
        return [p for p in psutil.Process().children(recursive=True) if p.is_running() and p.status() != "zombie"]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def platform() -> AsyncIterator[AsyncPlatformClient]:
    client = AsyncPlatformClient("http://127.0.0.1:9", "not-a-real-token")  # the proxy never calls it
    yield client
    await client.aclose()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(workspace, editor folder): different paths, the editor's with a space and an accent."""
    base = tmp_path_factory.mktemp("proxy")
    workspace = base / "workspace"
    workspace.mkdir()
    (workspace / "lib.py").write_text(LIB)
    (workspace / "main.py").write_text(MAIN)
    (workspace / "codeforge.yaml").write_text(YAML)
    return workspace, base / "home" / "ana" / "my café"


async def connect(workspace: Path, editor_root: Path, platform: AsyncPlatformClient, name: str | None) -> Connection:
    params = {} if name is None else {"name": name}
    editor_end, bridge_end = memory_pair(params)
    task = asyncio.ensure_future(lsp_proxy.serve(bridge_end, _context(workspace, bridge_end, platform)))
    return Connection(Editor(editor_end, editor_root), task, bridge_end)


async def finish(connection: Connection) -> None:
    """shutdown + exit, as an editor ends a session: `serve` returns."""
    if not connection.task.done():
        await connection.editor.request("shutdown")
        await connection.editor.notify("exit")
    await connection.ended()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def pyright(folders: tuple[Path, Path], platform: AsyncPlatformClient) -> AsyncIterator[Connection]:
    """One basedpyright behind the proxy, shared by the tests below (it takes seconds to start)."""
    workspace, editor_root = folders
    connection = await connect(workspace, editor_root, platform, "python")
    answer = await connection.editor.initialize()
    assert "result" in answer, answer
    await connection.editor.open("main.py", MAIN)
    yield connection
    await finish(connection)


async def test_diagnostics_arrive_with_the_editors_uris(pyright: Connection) -> None:
    editor = pyright.editor
    params = await editor.notification("textDocument/publishDiagnostics", lambda p: bool(p.get("diagnostics")))
    # The editor's folder has a space and an accent: the URI is its own, percent-encoded.
    assert params["uri"] == editor.uri("main.py")
    assert "%20" in params["uri"] and "caf%C3%A9" in params["uri"]
    messages = [d["message"] for d in params["diagnostics"]]
    assert any("three" in m and "int" in m for m in messages), messages
    # basedpyright asked for its settings scoped to the workspace; the editor saw its own folder.
    scopes = [
        item.get("scopeUri")
        for r in editor.server_requests
        if r["method"] == "workspace/configuration"
        for item in r["params"]["items"]
    ]
    assert scopes and all(s == editor.root.as_uri() for s in scopes if s is not None), scopes


async def test_hover_and_definition_through_rewritten_uris(pyright: Connection) -> None:
    editor = pyright.editor
    hover = await editor.request("textDocument/hover", editor.at("main.py", 3, 8))
    assert "def greet(name: str) -> str" in json.dumps(hover["result"]["contents"])
    definition = await editor.request("textDocument/definition", editor.at("main.py", 3, 8))
    targets = definition["result"]
    uri = targets[0].get("uri") or targets[0].get("targetUri")
    # Defined in another workspace file: the editor gets its own path for it.
    assert uri == editor.uri("lib.py")
    rng = targets[0].get("range") or targets[0].get("targetSelectionRange")
    assert rng["start"]["line"] == 0


async def test_a_killed_server_is_restarted_with_the_current_text(pyright: Connection) -> None:
    editor = pyright.editor
    # Edits before the crash, the second after a non-BMP character (two UTF-16 units): the
    # restarted server must get the text as it is now, counted as LSP counts.
    uri = editor.uri("main.py")
    line = {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}}
    xyz = {"start": {"line": 3, "character": 14}, "end": {"line": 3, "character": 17}}
    for version, rng, text in [(2, line, "emoji = '😀'; xyz\n"), (3, xyz, "total: str = greet('b')")]:
        await editor.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"range": rng, "text": text}]},
        )

    async def hover_total() -> str:
        hover = await editor.request("textDocument/hover", editor.at("main.py", 3, 16))
        text = json.dumps(hover.get("result"))
        assert "total: str" in text and "xtotal" not in text, hover
        return text

    await hover_total()
    node = [p for p in pyright.servers() if "langserver.index" in " ".join(p.cmdline())]
    assert len(node) == 1, node
    # Freeze the server, ask it something, and only then kill it: the question is in flight.
    node[0].send_signal(signal.SIGSTOP)
    before = len(editor.notifications)
    in_flight = asyncio.ensure_future(editor.request("textDocument/hover", editor.at("main.py", 4, 8)))
    # The proxy handles messages in order and answers a non-JSON one itself: once that answer
    # is back, the hover has been handed to the (frozen) server.
    parse_error = asyncio.get_running_loop().create_future()
    editor.answers[None] = parse_error
    await editor.send("this is not json")
    assert (await asyncio.wait_for(parse_error, GUARD_S))["error"]["code"] == -32700
    node[0].kill()
    answer = await asyncio.wait_for(in_flight, GUARD_S)
    assert "stopped unexpectedly" in answer["error"]["message"] and "textDocument/hover" in answer["error"]["message"]
    state = await editor.notification(lsp_proxy.STATE_METHOD, lambda p: p["state"] == "restarting", after=before)
    assert state["name"] == "python" and state["restarts"] == 1
    shown = await editor.notification("window/showMessage", lambda p: "restarting" in p["message"], after=before)
    assert shown["type"] == 2
    await editor.notification(lsp_proxy.STATE_METHOD, lambda p: p["state"] == "running", after=before)
    # The new server has the document as it is now (line 3 exists only after the edits).
    await hover_total()
    definition = await editor.request("textDocument/definition", editor.at("main.py", 4, 8))
    assert definition["result"][0].get("uri", definition["result"][0].get("targetUri")) == editor.uri("lib.py")
    diagnostics = await editor.notification(
        "textDocument/publishDiagnostics",
        lambda p: p["uri"] == editor.uri("main.py") and bool(p["diagnostics"]),
        after=before,
    )
    assert any("three" in d["message"] for d in diagnostics["diagnostics"])
    assert not psutil.pid_exists(node[0].pid) or node[0].status() == "zombie"
    # What the dead process registered in the editor was unregistered; the ids the editor saw
    # for each process's requests differ, so a late answer cannot reach the wrong one.
    registered = [
        r["id"]
        for q in editor.server_requests
        if q["method"] == "client/registerCapability"
        for r in q["params"]["registrations"]
    ]
    unregistered = [
        u["id"]
        for q in editor.server_requests
        if q["method"] == "client/unregisterCapability"
        for u in q["params"]["unregisterations"]
    ]
    assert registered and set(unregistered) <= set(registered) and unregistered, (registered, unregistered)
    generations = {
        str(q["id"]).split(":")[0] for q in editor.server_requests if not str(q["id"]).startswith("codeforge/")
    }
    assert generations == {"1", "2"}, generations


async def test_pylsp_hover_definition_and_clean_exit(folders: tuple[Path, Path], platform: AsyncPlatformClient) -> None:
    workspace, editor_root = folders
    connection = await connect(workspace, editor_root, platform, "pylsp")
    editor = connection.editor
    answer = await editor.initialize()
    assert answer["result"]["serverInfo"]["name"] == "pylsp"
    await editor.open("main.py", MAIN)
    published = await editor.notification("textDocument/publishDiagnostics")
    assert published["uri"] == editor.uri("main.py")
    hover = await editor.request("textDocument/hover", editor.at("main.py", 3, 8))
    assert "greet(name: str) -> str" in json.dumps(hover["result"])
    definition = await editor.request("textDocument/definition", editor.at("main.py", 3, 8))
    assert definition["result"][0]["uri"] == editor.uri("lib.py")
    # A reference from the editor's folder resolves in the workspace (references carry URIs in).
    refs = await editor.request(
        "textDocument/references", {**editor.at("main.py", 3, 8), "context": {"includeDeclaration": True}}
    )
    assert {r["uri"] for r in refs["result"]} == {editor.uri("main.py"), editor.uri("lib.py")}
    # Garbage from the editor is answered or dropped; the session goes on.
    for bad, code in [("[1, 2]", -32600), ('{"jsonrpc": "2.0"}', -32600), ("[" * 5000 + "]" * 5000, -32700)]:
        answer_to_bad = asyncio.get_running_loop().create_future()
        editor.answers[None] = answer_to_bad
        await editor.send(bad)
        assert (await asyncio.wait_for(answer_to_bad, GUARD_S))["error"]["code"] == code
    bad_change = {"range": {"start": {"line": "x"}, "end": None}, "text": "?"}
    await editor.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": editor.uri("main.py"), "version": {}}, "contentChanges": [bad_change]},
    )
    hover = await editor.request("textDocument/hover", editor.at("lib.py", 0, 5))
    assert "greet" in json.dumps(hover), hover
    pylsp = [p for p in connection.servers() if "pylsp" in " ".join(p.cmdline())]
    assert pylsp
    await finish(connection)
    for process in pylsp:
        assert not process.is_running() or process.status() == "zombie"


async def test_closing_the_link_kills_the_server(folders: tuple[Path, Path], platform: AsyncPlatformClient) -> None:
    workspace, editor_root = folders
    connection = await connect(workspace, editor_root, platform, "pylsp")
    assert "result" in await connection.editor.initialize()
    pylsp = [p for p in connection.servers() if "pylsp" in " ".join(p.cmdline())]
    assert len(pylsp) == 1
    await connection.editor.link.close("session over")  # what a session's end looks like to serve
    await connection.ended()
    assert not pylsp[0].is_running() or pylsp[0].status() == "zombie"


async def test_a_server_that_keeps_crashing_is_given_up(
    folders: tuple[Path, Path], platform: AsyncPlatformClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lsp_proxy, "MAX_RESTARTS", 1)
    workspace, editor_root = folders
    connection = await connect(workspace, editor_root, platform, "pylsp")
    editor = connection.editor
    assert "result" in await editor.initialize()
    await editor.open("lib.py", LIB)
    for expected in ("running", "failed"):
        before = len(editor.notifications)
        for process in connection.servers():
            if "pylsp" in " ".join(process.cmdline()):
                process.kill()
        await editor.notification(lsp_proxy.STATE_METHOD, lambda p, e=expected: p["state"] == e, after=before)
    shown = await editor.notification("window/showMessage", lambda p: p["type"] == 1)
    assert "is not restarted again" in shown["message"] and "`pylsp`" in shown["message"]
    answer = await editor.request("textDocument/hover", editor.at("lib.py", 0, 5))
    assert "is not restarted again" in answer["error"]["message"]
    await editor.notify("exit")
    await connection.ended()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "nope",
            [
                "no language server `nope`",
                "`basedpyright`",
                "`dies`",
                "`missing`",
                "`pylsp`",
                "`python`",
                "codeforge.yaml",
            ],
        ),
        ("missing", ["`no-such-language-server-xyz` was not found", "language_servers.missing.command"]),
        (None, ["--lsp NAME"]),
        ("dies", ["stopped unexpectedly (exit code 3)", "did not finish starting"]),
        ("chatty", ["`chatty` was stopped: it wrote something that is not LSP to its stdout", "did not finish"]),
    ],
)
async def test_a_server_that_cannot_run_is_a_clear_initialize_error(
    folders: tuple[Path, Path], platform: AsyncPlatformClient, name: str | None, expected: list[str]
) -> None:
    workspace, editor_root = folders
    connection = await connect(workspace, editor_root, platform, name)
    editor = connection.editor
    answer = await editor.initialize()
    for words in expected:
        assert words in answer["error"]["message"], answer
    # Later requests get the reason too, and `exit` ends the link.
    later = await editor.request("textDocument/hover", editor.at("main.py", 0, 0))
    assert later["error"]["message"] == answer["error"]["message"]
    await editor.notify("exit")
    await connection.ended()


async def test_a_broken_language_servers_section_is_named(tmp_path: Path, platform: AsyncPlatformClient) -> None:
    (tmp_path / "codeforge.yaml").write_text("project: demo\nlanguage_servers:\n  Python:\n    comand: x\n")
    connection = await connect(tmp_path, tmp_path / "editor", platform, "python")
    answer = await connection.editor.initialize()
    message = answer["error"]["message"]
    assert "codeforge.yaml needs fixing" in message and "language_servers.Python" in message, message
    await connection.editor.link.close()
    await connection.ended()


async def test_requests_before_initialize_are_refused(
    folders: tuple[Path, Path], platform: AsyncPlatformClient
) -> None:
    workspace, editor_root = folders
    connection = await connect(workspace, editor_root, platform, "pylsp")
    answer = await connection.editor.request("textDocument/hover", connection.editor.at("main.py", 0, 0))
    assert answer["error"]["code"] == -32002 and "initialize" in answer["error"]["message"]
    await connection.editor.link.close()
    await connection.ended()
    assert not [p for p in connection.servers() if "pylsp" in " ".join(p.cmdline())]


@pytest.mark.parametrize(
    ("encoding", "character", "expected"),
    [
        # "a😀b": the emoji is two UTF-16 units, four UTF-8 bytes, one code point.
        ("utf-16", 3, "a😀Xb"),
        ("utf-8", 5, "a😀Xb"),
        ("utf-32", 2, "a😀Xb"),
    ],
)
async def test_document_changes_count_in_the_negotiated_encoding(encoding: str, character: int, expected: str) -> None:
    at = {"line": 1, "character": character}
    assert (
        apply_change("first\na😀b\n", {"range": {"start": at, "end": at}, "text": "X"}, encoding)
        == f"first\n{expected}\n"
    )


async def test_document_changes_across_line_breaks_and_past_the_end() -> None:
    text = "one\r\ntwo\rthree\nfour"
    whole = {"start": {"line": 0, "character": 2}, "end": {"line": 2, "character": 3}}
    assert apply_change(text, {"range": whole, "text": "-"}) == "on-ee\nfour"
    beyond = {"start": {"line": 9, "character": 0}, "end": {"line": 9, "character": 0}}
    assert apply_change(text, {"range": beyond, "text": "!"}) == text + "!"
    long_column = {"start": {"line": 0, "character": 99}, "end": {"line": 1, "character": 0}}
    assert apply_change(text, {"range": long_column, "text": " "}) == "one two\rthree\nfour"
    assert apply_change(text, {"text": "replaced"}) == "replaced"
    docs = OpenDocuments()
    docs.follow(
        "textDocument/didOpen",
        {"textDocument": {"uri": "file:///w/a.py", "languageId": "python", "version": 1, "text": "x = 1\n"}},
    )
    docs.follow(
        "textDocument/didChange",
        {"textDocument": {"uri": "file:///w/a.py", "version": 4}, "contentChanges": [{"text": "y = 2\n"}]},
    )
    docs.follow(
        "textDocument/didChange",
        {"textDocument": {"uri": "file:///w/other.py", "version": 1}, "contentChanges": [{"text": "?"}]},
    )
    [reopen] = docs.reopen_messages()
    assert reopen["params"]["textDocument"] == {
        "uri": "file:///w/a.py",
        "languageId": "python",
        "version": 4,
        "text": "y = 2\n",
    }
    docs.follow("textDocument/didClose", {"textDocument": {"uri": "file:///w/a.py"}})
    assert docs.reopen_messages() == []


async def test_killing_the_wrapper_not_node_is_noticed(
    folders: tuple[Path, Path], platform: AsyncPlatformClient
) -> None:
    """basedpyright-langserver is a Python wrapper running Node: when only the wrapper dies,
    Node still holds the pipes, so the exit itself must be noticed and the group ended."""
    workspace, editor_root = folders
    others = {p.pid for p in psutil.Process().children(recursive=True)}  # the shared basedpyright
    connection = await connect(workspace, editor_root, platform, "basedpyright")
    editor = connection.editor
    assert "result" in await editor.initialize()
    await editor.open("lib.py", LIB)

    def generation() -> tuple[psutil.Process, psutil.Process]:
        servers = [p for p in connection.servers() if p.pid not in others]
        [node] = [p for p in servers if "langserver.index" in " ".join(p.cmdline())]
        [wrapper] = [p for p in servers if p.pid == node.ppid()]
        return wrapper, node

    wrapper, node = generation()
    before = len(editor.notifications)
    wrapper.kill()
    await editor.notification(lsp_proxy.STATE_METHOD, lambda p: p["state"] == "running", after=before)
    assert not node.is_running() or node.status() == "zombie"
    _, new_node = generation()
    assert new_node.pid != node.pid
    hover = await editor.request("textDocument/hover", editor.at("lib.py", 0, 5))
    assert "greet" in json.dumps(hover["result"]), hover
    await finish(connection)
    assert not new_node.is_running() or new_node.status() == "zombie"
