"""The "Debug this test" / "Debug this file" code lenses of the real `codeforge lsp`, asked
by a pytest-lsp client as an editor asks."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

TESTS = """\
import pytest


def helper():
    return 1


def test_plain():
    assert helper() == 1


@pytest.mark.parametrize("n", [1, 2])
async def test_decorated(n):
    assert n


class TestGroup:
    def test_method(self):
        pass

    def not_a_test(self):
        pass
"""


def _open(lsp: LanguageClient, path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    lsp.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(path.as_uri(), "python", 1, text))
    )


async def _lenses(lsp: LanguageClient, path: Path) -> list[types.CodeLens]:
    got = await lsp.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(path.as_uri())))
    return list(got or [])


async def test_test_functions_get_debug_lenses_with_launch_configurations(lsp: LanguageClient, workspace: Path) -> None:
    assert lsp.initialize_result.capabilities.code_lens_provider is not None  # type: ignore[attr-defined]
    # The command is the editor's to run: the server must not claim it.
    provider = lsp.initialize_result.capabilities.execute_command_provider  # type: ignore[attr-defined]
    assert provider is None or "codeforge.debug.start" not in provider.commands
    path = workspace / "tests" / "test_sample.py"
    _open(lsp, path, TESTS)
    found = await _lenses(lsp, path)
    by_title = [(lens.command.title, lens.range.start.line) for lens in found if lens.command]
    assert by_title == [
        ("Debug this file", 0),
        ("Debug this test", 7),
        ("Debug this test", 11),  # the decorator's line: where the test starts
        ("Debug this test", 17),
    ]
    assert all(lens.command and lens.command.command == "codeforge.debug.start" for lens in found)
    plain = found[1].command
    assert plain is not None and plain.arguments is not None
    assert plain.arguments[0] == {
        "type": "codeforge",
        "request": "launch",
        "name": "Debug test_plain",
        "module": "pytest",
        "args": ["tests/test_sample.py::test_plain", "-q", "-p", "no:cacheprovider"],
        "cwd": str(workspace),
        "justMyCode": False,
    }
    method = found[3].command
    assert method is not None and method.arguments is not None
    assert method.arguments[0]["args"][0] == "tests/test_sample.py::TestGroup::test_method"
    whole = found[0].command
    assert whole is not None and whole.arguments is not None
    assert whole.arguments[0]["program"] == str(path) and whole.arguments[0]["request"] == "launch"


async def test_other_files_get_the_file_lens_only_and_broken_ones_no_test_lenses(
    lsp: LanguageClient, workspace: Path
) -> None:
    script = workspace / "tool.py"
    _open(lsp, script, "def test_lookalike():\n    pass\n")
    assert [lens.command.title for lens in await _lenses(lsp, script) if lens.command] == ["Debug this file"]
    broken = workspace / "test_broken.py"
    _open(lsp, broken, "def test_x(:\n")
    assert [lens.command.title for lens in await _lenses(lsp, broken) if lens.command] == ["Debug this file"]
    notes = workspace / "notes.md"
    _open(lsp, notes, "# test_notes\n")
    assert await _lenses(lsp, notes) == []
