"""codeforge.yaml's `language_servers` section and how the bridge resolves a name to a command."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from codeforge.bridge.language_servers import LanguageServerError, configured_servers, resolve
from codeforge.projectfile import ProjectFileError, parse_project_file

VENV_BIN = Path(sys.executable).parent


def test_the_section_takes_a_line_or_a_list_and_text_environment() -> None:
    parsed = parse_project_file(
        "language_servers:\n"
        "  python:\n"
        "    command: basedpyright-langserver --stdio\n"
        "  ruff:\n"
        "    command: [ruff, server, '--preview']\n"
        '    env: {RUFF_LEVEL: 2, RUFF_ON: true, RUFF_DIR: "a b"}\n'
        "  quoted:\n"
        "    command: \"my-server --name 'a b'\"\n"
    ).language_servers
    assert parsed["python"].command == ["basedpyright-langserver", "--stdio"]
    assert parsed["ruff"].command == ["ruff", "server", "--preview"]
    assert parsed["ruff"].env == {"RUFF_LEVEL": "2", "RUFF_ON": "true", "RUFF_DIR": "a b"}
    assert parsed["quoted"].command == ["my-server", "--name", "a b"]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("  Python:\n    command: x\n", "`Python` is not a valid language server name"),
        ("  py:\n    comand: x\n", "unknown key `comand` (a language server entry takes `command`, `env`)"),
        ("  py: {}\n", "language_servers.py.command: `command` is required"),
        ("  py:\n    command: ''\n", "the command is empty"),
        ("  py:\n    command: 'a \"b'\n", "cannot be split into words"),
        ("  py:\n    command: {a: b}\n", "language_servers.py.command: expected a list"),
        ("  py:\n    command: x\n    env: {1X: y}\n", "`1X` is not a valid variable name"),
        ("  py:\n    command: x\n    env: {A: 1.5}\n", "language_servers.py.env.A: expected a string"),
    ],
)
def test_mistakes_are_named(section: str, expected: str) -> None:
    with pytest.raises(ProjectFileError) as caught:
        parse_project_file("language_servers:\n" + section)
    assert expected in str(caught.value)


def test_defaults_without_a_file_and_entries_override_them(tmp_path: Path) -> None:
    assert {"python", "basedpyright", "pylsp"} <= set(configured_servers(tmp_path))
    (tmp_path / "codeforge.yaml").write_text(
        "project: demo\ndatabases: {NOT VALID: 1}\nlanguage_servers:\n  python: {command: pylsp}\n"
    )
    # Only the section is read: a mistake elsewhere in the file does not matter here.
    servers = configured_servers(tmp_path)
    assert servers["python"].command == ["pylsp"]
    assert servers["basedpyright"].command == ["basedpyright-langserver", "--stdio"]


def test_a_name_resolves_to_the_venv_then_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = resolve("basedpyright", tmp_path)
    assert command.argv == [str(VENV_BIN / "basedpyright-langserver"), "--stdio"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "my-ls"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    (tmp_path / "codeforge.yaml").write_text(
        "language_servers:\n"
        "  mine: {command: my-ls --stdio, env: {X: '1'}}\n"
        "  local: {command: ./bin/my-ls}\n"
        "  notexec: {command: ./codeforge.yaml}\n"
    )
    mine = resolve("mine", tmp_path)
    assert mine.argv == [str(tool), "--stdio"] and mine.env == {"X": "1"}
    assert resolve("local", tmp_path).argv == [str(tmp_path / "bin" / "my-ls")]
    with pytest.raises(
        LanguageServerError, match=r"`./codeforge.yaml` is not an executable file.*language_servers.notexec.command"
    ):
        resolve("notexec", tmp_path)


def test_a_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "codeforge.yaml").write_text("language_servers: [\n")
    with pytest.raises(LanguageServerError, match=r"codeforge\.yaml cannot be read"):
        configured_servers(tmp_path)
