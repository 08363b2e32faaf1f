"""Document events: incremental sync applied by the server's workspace, fanned out to every
subscribing feature, and a capability that contributes from its own module only."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from tests.conftest import RunningPlatform
from tests.lsp.conftest import open_document, request, run, start_client, stop_client, wait_until

WITH_FIXTURE = [
    sys.executable,
    "-c",
    "from codeforge.lsp.server import serve_stdio; serve_stdio(extra_capabilities=['tests.lsp.fixture_capability'])",
]


def _edit(client: LanguageClient, uri: str, version: int, *edits: tuple[int, int, int, int, str]) -> None:
    """Incremental changes, as editors send them: (start line, start char, end line, end char, new text)."""
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=a, character=b), end=types.Position(line=c, character=d)
                    ),
                    text=text,
                )
                for a, b, c, d, text in edits
            ],
        )
    )


def _messages(diagnostics: list[types.Diagnostic]) -> list[str]:
    return [d.message for d in diagnostics]


async def test_the_server_syncs_incrementally(lsp: LanguageClient, workspace: Path) -> None:
    sync = lsp.initialize_result.capabilities.text_document_sync  # type: ignore[attr-defined]
    assert isinstance(sync, types.TextDocumentSyncOptions)
    assert sync.change == types.TextDocumentSyncKind.Incremental
    assert sync.open_close is True and sync.save is not None

    uri = open_document(lsp, workspace / "codeforge.yaml", "project: demo\nenv:\n  GOOD: 1\n")
    await wait_until(lambda: uri in lsp.diagnostics and not lsp.diagnostics[uri])
    # Insert a line: only the edit is sent, and the diagnostic is at the line it made.
    lsp.diagnostics.pop(uri)
    _edit(lsp, uri, 2, (3, 0, 3, 0, "  1BAD: x\n"))
    await wait_until(lambda: bool(lsp.diagnostics.get(uri)))
    [bad] = lsp.diagnostics[uri]
    assert "`1BAD` is not a valid variable name" in bad.message and bad.range.start.line == 3
    # Two edits in one notification, applied in order: rename it, then fix GOOD's value.
    lsp.diagnostics.pop(uri)
    _edit(lsp, uri, 3, (3, 2, 3, 6, "OKAY"), (2, 8, 2, 9, "two"))
    await wait_until(lambda: uri in lsp.diagnostics)
    assert list(lsp.diagnostics[uri]) == []
    # What the server now holds is what the editor holds: a completion at the end of the
    # edited text sees both keys as siblings.
    result = await lsp.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=4, character=2)
        )
    )
    assert isinstance(result, types.CompletionList)
    assert not {"GOOD", "OKAY"} & {i.label for i in result.items}


async def test_a_capability_module_subscribes_and_contributes(live_platform: RunningPlatform, workspace: Path) -> None:
    client = await start_client(live_platform.env, workspace, command=WITH_FIXTURE)
    try:

        def seen(fragment: str) -> bool:
            return any(m.message.startswith(f"[fixture] {fragment}") for m in client.log_messages)

        uri = open_document(client, workspace / "codeforge.yaml", "project: demo\nenv:\n  A: 1\n")
        await wait_until(lambda: seen("open lines=3"))
        _edit(client, uri, 2, (3, 0, 3, 0, "  FIXTURE_FLAG: on\n"))
        await wait_until(lambda: seen("change range lines=4"))
        # Its check runs beside the built-in ones, and its quick fix sits on its diagnostic.
        await wait_until(
            lambda: "the fixture capability saw FIXTURE_FLAG" in _messages(client.diagnostics.get(uri, []))
        )
        [flag] = client.diagnostics[uri]
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=flag.range,
                context=types.CodeActionContext(diagnostics=[flag]),
            )
        )
        [fix] = [a for a in actions or [] if isinstance(a, types.CodeAction) and a.title == "Fixture fix"]
        assert (
            fix.kind == types.CodeActionKind.QuickFix
            and list(fix.diagnostics or []) == [flag]
            and fix.command is not None
        )
        assert await run(client, fix.command.command, *(fix.command.arguments or [])) == {"echo": "fixed"}
        # Its command goes through the one command decorator: the argument is checked.
        with pytest.raises(JsonRpcInvalidParams) as info:
            await run(client, "codeforge.fixture.echo", {"word": 1})
        assert "word" in info.value.message
        provider = client.initialize_result.capabilities.execute_command_provider  # type: ignore[attr-defined]
        assert "codeforge.fixture.echo" in provider.commands
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        await wait_until(lambda: seen("save lines=4") and seen("close"))
        await wait_until(
            lambda: uri in client.diagnostics and not client.diagnostics[uri]
        )  # closed: its diagnostics are cleared
    finally:
        await stop_client(client)


async def test_capabilities_named_by_manifests_contribute_too(live_platform: RunningPlatform, workspace: Path) -> None:
    # A capability from outside this package (tests/fixtures/capability_demo, found through
    # CODEFORGE_CAPABILITIES as the platform and the CLI find it): its manifest names its
    # catalog, whose operations become commands, and its editor module.
    env = {**live_platform.env, "CODEFORGE_CAPABILITIES": "tests.fixtures.capability_demo"}
    client = await start_client(env, workspace)
    try:
        provider = client.initialize_result.capabilities.execute_command_provider  # type: ignore[attr-defined]
        assert "codeforge.greetings.say" in provider.commands and "codeforge.env.set" in provider.commands
        catalog = await request(client, "codeforge/catalog")
        assert "greetings.say" in {e["name"] for e in catalog["operations"]}
        # Its codeforge.yaml section is checked, completed and described like the built-in ones.
        text = "project: demo\nenv:\n  HELLO: 1\ngreetings:\n  greet: [Ada]\n  shout: 1\n  \n"
        uri = open_document(client, workspace / "codeforge.yaml", text)
        await wait_until(lambda: bool(client.diagnostics.get(uri)))
        [unknown] = client.diagnostics[uri]
        assert unknown.range.start.line == 5 and "unknown key `shout`" in unknown.message
        completion = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=6, character=2)
            )
        )
        assert isinstance(completion, types.CompletionList) and "loud" in {i.label for i in completion.items}
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=4, character=3)
            )
        )
        assert hover is not None and isinstance(hover.contents, types.MarkupContent)
        assert "Whom to greet" in hover.contents.value
        _edit(client, uri, 2, (5, 0, 6, 0, ""))
        await wait_until(lambda: uri in client.diagnostics and not client.diagnostics[uri])
        applied = await run(client, "codeforge.projectFile.apply", {"uri": uri, "section": "env"})
        assert applied["set"] == ["HELLO"]
    finally:
        await stop_client(client)


def test_every_built_in_editor_module_is_named_by_its_manifest() -> None:
    # The server loads only what manifests name: a module added under
    # codeforge/lsp/capabilities/ without its manifest's `editor` would never contribute.
    import pkgutil

    from codeforge.lsp import capabilities
    from codeforge.lsp.server import editor_modules

    here = {f"{capabilities.__name__}.{info.name}" for info in pkgutil.iter_modules(capabilities.__path__)}
    assert here and here <= set(editor_modules())


def test_a_bad_capability_package_leaves_the_built_in_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    from codeforge.lsp.server import editor_modules

    monkeypatch.setenv("CODEFORGE_CAPABILITIES", "no_such_capability_package")
    assert "codeforge.lsp.capabilities.databases" in editor_modules()
