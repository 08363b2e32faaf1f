"""Two core services capabilities share: diagnostics layers (several owners on one document,
published as their union) and session hooks (started after `initialized`, stopped on shutdown
or exit).

The real `codeforge lsp` runs over stdio (pytest-lsp) with two small capabilities made here,
`alpha` and `beta`, plus one whose hooks fail (`broken`): each says when its hook starts and
stops (window/logMessage, and a line in $LIFECYCLE_LOG) and has commands that publish and clear
its own diagnostics layer. The platform is one nobody listens on: nothing here needs it, and
the built-in capabilities' hooks (monitoring's feed) must start and stop without it. The
layers and the lifecycle's edge cases are also driven in-process, through the session's own
protocol writing to a buffer (as the bridge's link does)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from codeforge.lsp.command import CommandArguments, lsp_command
from codeforge.lsp.contributions import Contributions, Notification, SessionHook
from codeforge.lsp.features import lifecycle
from codeforge.lsp.features.diagnostics import SOURCE as YAML_SOURCE
from codeforge.lsp.features.layers import clear_layer, layer, publish_layer, union
from codeforge.lsp.session import CodeForgeSession
from tests.conftest import free_port
from tests.lsp.conftest import open_document, run, start_client, wait_until

SERVER = [
    sys.executable,
    "-c",
    "from codeforge.lsp.server import serve_stdio; "
    "from tests.lsp.test_contributions_lifecycle import CAPABILITIES; "
    "serve_stdio(extra_capabilities=CAPABILITIES)",
]


# -- the capabilities the server loads -------------------------------------------------------


def _say(ls: CodeForgeSession, name: str, what: str) -> None:
    ls.window_log_message(types.LogMessageParams(type=types.MessageType.Info, message=f"[{name}] {what}"))
    if path := os.environ.get("LIFECYCLE_LOG"):
        with open(path, "a") as out:
            out.write(f"{name} {what}\n")


class PublishArguments(CommandArguments):
    uri: str
    messages: list[str]


def _capability(name: str) -> ModuleType:
    """A capability module: a session hook (alpha's start is a plain function and its stop a
    coroutine, beta's the other way round) and `codeforge.test<name>.publish/clear`."""

    def start(ls: CodeForgeSession) -> None:
        root = ls.workspace_root()  # initialize has been handled: the workspace is known
        _say(ls, name, f"started in {root.name if root else None}")

    async def start_later(ls: CodeForgeSession) -> None:
        await asyncio.sleep(0)
        start(ls)

    def stop(ls: CodeForgeSession) -> None:
        _say(ls, name, "stopped")

    async def stop_later(ls: CodeForgeSession) -> None:
        await asyncio.sleep(0)
        stop(ls)

    @lsp_command(f"codeforge.test{name}.publish", PublishArguments)
    async def publish(ls: CodeForgeSession, args: PublishArguments) -> dict[str, Any]:
        found = [
            types.Diagnostic(
                range=types.Range(start=types.Position(line=i, character=0), end=types.Position(line=i, character=1)),
                message=message,
                source=f"test {name}",
            )
            for i, message in enumerate(args.messages)
        ]
        return {"sent": publish_layer(ls, args.uri, name, found)}

    @lsp_command(f"codeforge.test{name}.clear", None)
    async def clear(ls: CodeForgeSession, args: dict[str, Any]) -> dict[str, Any]:
        return {"uris": clear_layer(ls, name)}

    hook = SessionHook(name, start, stop_later) if name == "alpha" else SessionHook(name, start_later, stop)
    module = ModuleType(f"test_capability_{name}")
    module.contribute = lambda c: c.add(hook, publish, clear)  # type: ignore[attr-defined]
    return module


def _broken_start(ls: CodeForgeSession) -> None:
    raise RuntimeError("the broken capability cannot start")


async def _broken_stop(ls: CodeForgeSession) -> None:
    raise RuntimeError("the broken capability cannot stop")


BROKEN = ModuleType("test_capability_broken")
BROKEN.contribute = lambda c: c.add(SessionHook("broken", _broken_start, _broken_stop))  # type: ignore[attr-defined]
# The broken one first: the others start and stop all the same.
CAPABILITIES = [BROKEN, _capability("alpha"), _capability("beta")]


# -- over stdio --------------------------------------------------------------------------------


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")}
    return {
        **env,
        "CODEFORGE_URL": f"http://127.0.0.1:{free_port()}",  # nobody listens
        "CODEFORGE_TOKEN": "no-platform",
        "CODEFORGE_CONFIG_DIR": str(tmp_path / "config"),
        **extra,
    }


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "codeforge.yaml").write_text("project: demo\n")
    return ws


@pytest_asyncio.fixture
async def client(tmp_path: Path, folder: Path) -> AsyncIterator[LanguageClient]:
    started = await start_client(_env(tmp_path), folder, command=SERVER)
    yield started
    await started.stop()


def _said(client: LanguageClient, text: str) -> int:
    return sum(1 for m in client.log_messages if m.message == text)


def _messages(client: LanguageClient, uri: str) -> list[str]:
    return [d.message for d in client.diagnostics.get(uri, [])]


async def _published(client: LanguageClient, uri: str, expected: list[str]) -> None:
    await wait_until(lambda: _messages(client, uri) == expected)


@pytest.mark.timeout(60)
async def test_hooks_start_once_layers_stack_and_hooks_stop_on_shutdown(client: LanguageClient, folder: Path) -> None:
    await wait_until(lambda: _said(client, "[alpha] started in ws") and _said(client, "[beta] started in ws"))
    uri = open_document(client, folder / "app.py", "a = 1\nb = 2\nc = 3\n", language="python")

    # Two owners on one file: the editor gets both; clearing one leaves the other.
    assert await run(client, "codeforge.testalpha.publish", {"uri": uri, "messages": ["alpha 1"]}) == {"sent": True}
    await _published(client, uri, ["alpha 1"])
    await run(client, "codeforge.testbeta.publish", {"uri": uri, "messages": ["beta 1", "beta 2"]})
    await _published(client, uri, ["alpha 1", "beta 1", "beta 2"])
    # The same layer again changes nothing and is not sent again.
    assert await run(client, "codeforge.testbeta.publish", {"uri": uri, "messages": ["beta 1", "beta 2"]}) == {
        "sent": False
    }
    assert await run(client, "codeforge.testalpha.clear", {}) == {"uris": [uri]}
    await _published(client, uri, ["beta 1", "beta 2"])
    assert await run(client, "codeforge.testalpha.clear", {}) == {"uris": []}  # nothing left to clear
    await run(client, "codeforge.testbeta.publish", {"uri": uri, "messages": []})
    await _published(client, uri, [])

    # codeforge.yaml's own diagnostics are a layer too: a capability's stay beside them.
    yaml = open_document(client, folder / "codeforge.yaml", "project: demo\nbogus: 1\n")
    await wait_until(lambda: any("bogus" in m for m in _messages(client, yaml)))
    [own] = _messages(client, yaml)
    await run(client, "codeforge.testalpha.publish", {"uri": yaml, "messages": ["alpha on yaml"]})
    await _published(client, yaml, ["alpha on yaml", own])
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=yaml, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="project: demo\n")],
        )
    )
    await _published(client, yaml, ["alpha on yaml"])  # the file's problem fixed; alpha's stays
    assert all(d.source != YAML_SOURCE for d in client.diagnostics[yaml])
    # Closing the file drops its own diagnostics (none now), not another owner's.
    client.diagnostics.pop(yaml)
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(yaml)))
    await _published(client, yaml, ["alpha on yaml"])

    # Bad arguments are named.
    with pytest.raises(JsonRpcInvalidParams, match="messages"):
        await run(client, "codeforge.testalpha.publish", {"uri": uri})
    with pytest.raises(JsonRpcInvalidParams, match="uri"):
        await run(client, "codeforge.testalpha.publish", {"uri": 3, "messages": ["m"]})

    # Documents did not start the hooks a second time; the broken hook stopped no other.
    assert _said(client, "[alpha] started in ws") == 1 and _said(client, "[beta] started in ws") == 1
    await client.shutdown_session()
    assert _said(client, "[alpha] stopped") == 1 and _said(client, "[beta] stopped") == 1


@pytest.mark.timeout(60)
async def test_exit_without_shutdown_stops_hooks(tmp_path: Path, folder: Path) -> None:
    record = tmp_path / "lifecycle.log"
    client = await start_client(_env(tmp_path, LIFECYCLE_LOG=str(record)), folder, command=SERVER)
    try:
        await wait_until(lambda: _said(client, "[beta] started in ws") == 1)
        client.exit(None)  # an editor that went away without asking to shut down

        def lines() -> list[str]:
            return record.read_text().splitlines() if record.exists() else []

        await wait_until(lambda: {"alpha stopped", "beta stopped"} <= set(lines()))
        assert sorted(lines()) == ["alpha started in ws", "alpha stopped", "beta started in ws", "beta stopped"]
    finally:
        await client.stop()


# -- in-process: the session's protocol writing to a buffer ----------------------------------


class _Buffer:
    """pygls' writer: each message as JSON (the bridge's link writer does the same)."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.sent.append(json.loads(data))

    def close(self) -> None:
        pass

    def published(self) -> list[tuple[str, int | None, list[str]]]:
        return [
            (m["params"]["uri"], m["params"].get("version"), [d["message"] for d in m["params"]["diagnostics"]])
            for m in self.sent
            if m.get("method") == "textDocument/publishDiagnostics"
        ]


def _session(*hooks: SessionHook) -> tuple[CodeForgeSession, _Buffer]:
    ls = CodeForgeSession()
    buffer = _Buffer()
    ls.protocol.set_writer(buffer, include_headers=False)
    contributions = Contributions()
    contributions.add(*hooks)
    ls.provide(contributions)
    return ls, buffer


def _diagnostic(message: str) -> types.Diagnostic:
    return types.Diagnostic(range=types.Range(start=types.Position(0, 0), end=types.Position(0, 1)), message=message)


def test_layers_publish_the_union_once_per_change() -> None:
    ls, buffer = _session()
    a, b = "file:///ws/a.py", "file:///ws/b.py"
    assert publish_layer(ls, a, "yaml", [], version=1)  # a first publication is sent even empty
    assert not publish_layer(ls, a, "yaml", [], version=1)
    assert publish_layer(ls, a, "yaml", [], version=2)  # a new version of the same
    publish_layer(ls, a, "zeta", [_diagnostic("z")])
    publish_layer(ls, a, "alpha", [_diagnostic("a1"), _diagnostic("a2")])
    publish_layer(ls, b, "alpha", [_diagnostic("b")])
    assert [d.message for d in union(ls, a)] == ["a1", "a2", "z"]  # owners in name order
    assert set(layer(ls, "alpha")) == {a, b}
    assert clear_layer(ls, "alpha", b) == [b] and set(layer(ls, "alpha")) == {a}
    assert clear_layer(ls, "alpha") == [a]
    assert clear_layer(ls, "alpha") == [] and clear_layer(ls, "nobody", a) == []
    assert buffer.published() == [
        (a, 1, []),
        (a, 2, []),
        (a, None, ["z"]),
        (a, None, ["a1", "a2", "z"]),
        (b, None, ["b"]),
        (b, None, []),
        (a, None, ["z"]),
    ]
    with pytest.raises(ValueError, match="owner"):
        publish_layer(ls, a, "", [_diagnostic("x")])


def test_lifecycle_messages_are_the_servers_own() -> None:
    c = Contributions()
    for method in ("initialized", "shutdown", "exit", "initialize"):
        with pytest.raises(ValueError, match="SessionHook"):
            c.add(Notification(method, lambda ls, params: None))
    c.add(SessionHook("one", lambda ls: None))
    with pytest.raises(ValueError, match="two session hooks named 'one'"):
        c.add(SessionHook("one", lambda ls: None))
    with pytest.raises(TypeError, match="not an editor contribution"):
        c.add(lambda ls: None)  # type: ignore[arg-type]
    assert [h.name for h in c.session_hooks] == ["one"]


async def test_hooks_start_once_stop_once_and_a_stuck_stop_is_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    never = asyncio.Event()

    async def stuck(ls: CodeForgeSession) -> None:
        seen.append("stuck stopping")
        await never.wait()

    ls, _ = _session(
        SessionHook("stuck", lambda ls: seen.append("stuck started"), stuck),
        SessionHook("plain", lambda ls: seen.append("plain started"), lambda ls: seen.append("plain stopped")),
    )
    # A session that never started stops nothing; one that stopped never starts.
    await lifecycle.stop(ls)
    lifecycle.start(ls)
    assert seen == []

    ls, _ = _session(
        SessionHook("stuck", lambda ls: seen.append("stuck started"), stuck),
        SessionHook("plain", lambda ls: seen.append("plain started"), lambda ls: seen.append("plain stopped")),
    )
    lifecycle.start(ls)
    lifecycle.start(ls)  # initialized and then a document: once
    assert seen == ["stuck started", "plain started"]
    monkeypatch.setattr(lifecycle, "STOP_WAIT_S", 0.05)
    await lifecycle.stop(ls)  # returns although `stuck` never ends
    await lifecycle.stop(ls)
    # Plain hooks run at once, coroutines after them.
    assert seen == ["stuck started", "plain started", "plain stopped", "stuck stopping"]
