"""codeforge.yaml `domains:` in the editor, through the real `codeforge lsp` (pytest-lsp over
stdio) and a live platform whose DNS server is the real BIND of tests/servers/bind.py: schema
diagnostics at their lines (bad and Unicode names, a section that is not a mapping), a domain
not added (hint, "Add domain"), not verified (warning saying what to publish, "Verify
domain"), refused because another project owns it (error), records set by the section's
action, and completion."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from codeforge.client import PlatformClient
from tests.conftest import RunningPlatform, start_platform
from tests.lsp.conftest import open_document, run, wait_until
from tests.servers.bind import Bind, bind_server

__all__ = ["bind_server"]  # the fixture, imported so that pytest finds it here

CHALLENGE = "_codeforge-challenge"


@pytest.fixture(scope="module")
def live_platform(bind_server: Bind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """tests/lsp/conftest.py's `lsp` and `workspace` use this platform: one with BIND."""
    running = start_platform(tmp_path_factory.mktemp("domains-editor"), **bind_server.env(CODEFORGE_DNS_TIMEOUT="2"))
    yield running
    running.stop()


def _call(platform: RunningPlatform, op: str, body: dict[str, Any]) -> dict[str, Any]:
    with PlatformClient(platform.url, platform.token, timeout=60) as client:
        return dict(client.call(op, body).model_dump(mode="json"))


def _label() -> str:
    return f"ed{secrets.token_hex(3)}"


def _change(client: LanguageClient, uri: str, text: str, version: int, path: Path) -> None:
    """The user edits the whole file and saves it."""
    path.write_text(text)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))


def _ours(client: LanguageClient, uri: str, code: str) -> list[types.Diagnostic]:
    return [d for d in client.diagnostics.get(uri, []) if d.code == code]


async def _fixes(client: LanguageClient, uri: str, diagnostics: list[types.Diagnostic]) -> dict[str, types.CodeAction]:
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostics[0].range,
            context=types.CodeActionContext(diagnostics=diagnostics),
        )
    )
    return {a.title: a for a in found or [] if isinstance(a, types.CodeAction)}


async def _do(client: LanguageClient, action: types.CodeAction) -> Any:
    assert action.command is not None
    return await run(client, action.command.command, *(action.command.arguments or []))


async def test_bad_domains_are_diagnosed_at_their_lines(lsp: LanguageClient, workspace: Path) -> None:
    text = (
        "project: demo\n"
        "domains:\n"
        "  '☃.example.test': {}\n"  # 2: not a valid internationalized name
        "  localhost:\n"  # 3: one label
        "  bücher.example.test: http\n"  # 4: a valid Unicode name (punycode on the platform)
        "  'https://x.example.test/':\n"  # 5: a URL
        "  good.example.test:\n"
        "    verify: smtp\n"  # 7
        "    colour: red\n"  # 8
        "    records:\n"
        "      - {name: www, type: A, values: [300.1.1.1]}\n"  # 10
        "      - name: mail.\n"  # 11: not relative
        "        type: MX\n"
        "        values: ['10 mail.example.test']\n"
        "  BÜCHER.example.test:\n"  # 14: the same name as line 4 (not an error of its own line)
    )
    uri = open_document(lsp, workspace / "codeforge.yaml", text)
    await wait_until(lambda: uri in lsp.diagnostics)
    by_line: dict[int, list[str]] = {}
    for d in lsp.diagnostics[uri]:
        by_line.setdefault(d.range.start.line, []).append(d.message)
    assert {2, 3, 5, 7, 8, 10, 11} <= set(by_line), by_line
    assert 4 not in by_line and 14 not in by_line
    assert "not a valid internationalized name" in by_line[2][0]
    assert "needs at least two labels" in by_line[3][0]
    assert "is not a host name" in by_line[5][0]
    assert "'txt' or 'http'" in by_line[7][0]
    assert "unknown key `colour`" in by_line[8][0] and "a domain entry takes `verify`, `records`" in by_line[8][0]
    assert "'300.1.1.1' is not an IPv4 address" in by_line[10][0]
    assert "relative to the domain" in by_line[11][0]


async def test_two_spellings_of_one_domain(lsp: LanguageClient, workspace: Path) -> None:
    text = "project: demo\ndomains:\n  bücher.example.test:\n  BÜCHER.Example.test.: http\n"
    uri = open_document(lsp, workspace / "codeforge.yaml", text)
    await wait_until(lambda: uri in lsp.diagnostics)
    [problem] = lsp.diagnostics[uri]
    assert problem.range.start.line == 1 and "are the same domain (xn--bcher-kva.example.test)" in problem.message


@pytest.mark.parametrize("value", ["[a.example.test]", "3", "just-text"])
async def test_a_section_that_is_not_a_mapping(lsp: LanguageClient, workspace: Path, value: str) -> None:
    uri = open_document(lsp, workspace / "codeforge.yaml", f"project: demo\ndomains: {value}\n")
    await wait_until(lambda: uri in lsp.diagnostics)
    [problem] = lsp.diagnostics[uri]
    assert problem.range.start.line == 1 and "expected a mapping" in problem.message


async def test_add_verify_and_records_from_the_file(
    lsp: LanguageClient, workspace: Path, live_platform: RunningPlatform, bind_server: Bind
) -> None:
    label = _label()
    name, unicode = f"{label}.shop.test", f"bü{label}.shop.test"
    path = workspace / "codeforge.yaml"
    text = f"project: demo\ndomains:\n  {name}:\n  {unicode}: http\n"
    uri = open_document(lsp, path, text)

    await wait_until(lambda: len(_ours(lsp, uri, "domain-not-added")) == 2)
    hints = _ours(lsp, uri, "domain-not-added")
    assert {h.range.start.line for h in hints} == {2, 3}
    assert all(h.severity == types.DiagnosticSeverity.Hint for h in hints)
    assert f"domain `{name}` is not added to project demo yet" in hints[0].message

    # "Add domain": the quick fix of the hint (the section's action for that one entry).
    [hint] = [h for h in hints if h.range.start.line == 2]
    fixes = await _fixes(lsp, uri, [hint])
    add = fixes[f"Add domain `{name}`"]
    assert add.kind == types.CodeActionKind.QuickFix and add.command is not None
    assert list(add.command.arguments or []) == [{"uri": uri, "section": "domains", "name": name}]
    result = await _do(lsp, add)
    assert result["added"] == [name] and result["refused"] == {}
    shown = _call(live_platform, "domains.show", {"project": "demo", "domain": name})
    assert not shown["verified"]

    # Added, not verified: a warning saying what to publish, with "Verify domain".
    def unverified() -> list[types.Diagnostic]:
        return _ours(lsp, uri, "domain-not-verified")

    await wait_until(lambda: len(unverified()) == 1)
    [warning] = unverified()
    assert warning.severity == types.DiagnosticSeverity.Warning and warning.range.start.line == 2
    assert f"`{CHALLENGE}.{name}`" in warning.message and shown["token"] in warning.message
    verify = (await _fixes(lsp, uri, [warning]))[f"Verify domain `{name}`"]
    with pytest.raises(JsonRpcException, match="has no TXT record"):
        await _do(lsp, verify)  # nothing published yet: the platform says what it found
    bind_server.update("shop.test", f"{CHALLENGE}.{label}", "TXT", [f'"{shown["token"]}"'])
    verified = await _do(lsp, verify)
    assert verified["verified"] and verified["method"] == "txt"
    await wait_until(lambda: not unverified() and uri in lsp.diagnostics)

    # The Unicode one: added through the section's action, matched by its punycode name.
    result = await run(lsp, "codeforge.projectFile.apply", {"uri": uri, "section": "domains"})
    assert result["added"] == [unicode]
    await wait_until(lambda: [d.range.start.line for d in unverified()] == [3])
    assert "/.well-known/codeforge-verify/" in unverified()[0].message  # its method is http

    # Records of a verified domain are set by the section's action, on the real server.
    text = (
        f"project: demo\ndomains:\n  {name}:\n    records:\n"
        "      - {name: www, type: A, values: [192.0.2.10]}\n"
        f"  {unicode}: http\n  api.{name}:\n"
    )
    _change(lsp, uri, text, 2, path)
    # A name under another of the file's domains is an error at its key.
    await wait_until(
        lambda: any("is under" in d.message and d.range.start.line == 6 for d in lsp.diagnostics.get(uri, []))
    )
    result = await run(lsp, "codeforge.projectFile.apply", {"uri": uri, "section": "domains", "name": name})
    assert result["records"] == [f"www A ({name})"]
    assert bind_server.query(f"www.{name}") == ["192.0.2.10"]

    # deploy: hosts under the verified domain are the project's; others are said at `hosts`.
    text = f"project: demo\ndeploy:\n  web:\n    workspace: nosuch\n    hosts: [www.{name}, other.outside.test]\n"
    _change(lsp, uri, text, 3, path)

    def host_warnings() -> list[types.Diagnostic]:
        return _ours(lsp, uri, "deploy-host-not-owned")

    await wait_until(lambda: bool(host_warnings()))
    [hosts] = host_warnings()
    assert hosts.range.start.line == 4 and "`other.outside.test` not under a verified domain" in hosts.message
    assert name not in hosts.message


async def test_a_domain_another_project_owns_is_an_error_after_add(
    lsp: LanguageClient, workspace: Path, live_platform: RunningPlatform, bind_server: Bind
) -> None:
    label = _label()
    name = f"{label}.outside.test"
    _call(live_platform, "projects.create", {"slug": f"rival-{label}"})
    theirs = _call(live_platform, "domains.add", {"project": f"rival-{label}", "domain": name})
    bind_server.update("outside.test", f"{CHALLENGE}.{label}", "TXT", [f'"{theirs["token"]}"'])
    assert _call(live_platform, "domains.verify", {"project": f"rival-{label}", "domain": name})["verified"]

    uri = open_document(lsp, workspace / "codeforge.yaml", f"project: demo\ndomains:\n  {name}:\n")
    await wait_until(lambda: bool(_ours(lsp, uri, "domain-not-added")))
    result = await _do(lsp, (await _fixes(lsp, uri, _ours(lsp, uri, "domain-not-added")))[f"Add domain `{name}`"])
    assert result["added"] == [] and "another project" in result["refused"][name]
    await wait_until(lambda: bool(_ours(lsp, uri, "domain-refused")))
    [error] = _ours(lsp, uri, "domain-refused")
    assert error.severity == types.DiagnosticSeverity.Error and error.range.start.line == 2
    assert "another project" in error.message and f"rival-{label}" not in error.message


async def test_completion_offers_methods_and_the_projects_domains(
    lsp: LanguageClient, workspace: Path, live_platform: RunningPlatform
) -> None:
    name = f"{_label()}.example.test"
    _call(live_platform, "domains.add", {"project": "demo", "domain": name})
    uri = open_document(
        lsp, workspace / "codeforge.yaml", "project: demo\ndomains:\n  x.example.test:\n    verify: \n  \n"
    )

    async def labels(line: int, character: int) -> set[str]:
        result = await lsp.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=character),
            )
        )
        assert isinstance(result, types.CompletionList)
        return {i.label for i in result.items}

    assert await labels(3, 12) == {"txt", "http"}
    assert name in await labels(4, 2)
    assert {"verify", "records"} <= await labels(3, 4)
