"""The LSP4IJ template in extensions/jetbrains/codeforge/: its files follow LSP4IJ's template
format, and `codeforge lsp` started exactly as the template says (command, arguments,
initialization options, file mapping) serves a JetBrains-like client over stdio."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import LanguageClient

from codeforge.catalog import describe_catalog
from tests.conftest import RunningPlatform
from tests.extensions.conftest import ARTIFACTS, EXTENSIONS, PROJECT_YAML
from tests.extensions.remote_harness import running_bridge
from tests.lsp.conftest import start_client

TEMPLATE = EXTENSIONS / "jetbrains" / "codeforge"
# The remote variant: the same server through `codeforge connect URL` to a workspace's bridge.
REMOTE_TEMPLATE = EXTENSIONS / "jetbrains" / "codeforge-remote"
TEMPLATES = [TEMPLATE, REMOTE_TEMPLATE]
# The placeholder a person replaces with the address `codeforge bridge` printed.
REMOTE_PLACEHOLDER = "wss://BRIDGE-HOST:8471"
# LSP4IJ reads these keys (LanguageServerTemplate: id, name, url, programArgs per OS,
# fileTypeMappings, languageMappings); programArgs is keyed by OS.
TEMPLATE_KEYS = {"id", "name", "url", "programArgs", "fileTypeMappings", "languageMappings"}
OS_KEYS = {"default", "windows", "mac", "unix"}
# Files LSP4IJ loads from a template folder (UserDefinedLanguageServerTemplate.md).
KNOWN_FILES = {
    "template.json",
    "settings.json",
    "settings.schema.json",
    "initializationOptions.json",
    "initializationOptions.schema.json",
    "clientSettings.json",
    "installer.json",
    "README.md",
}


def _json(name: str, folder: Path = TEMPLATE) -> Any:
    return json.loads((folder / name).read_text())


@pytest.mark.parametrize("folder", TEMPLATES, ids=lambda p: p.name)
def test_template_folder_has_only_files_lsp4ij_reads(folder: Path) -> None:
    names = {p.name for p in folder.iterdir()}
    assert "template.json" in names, "LSP4IJ requires template.json"
    assert names <= KNOWN_FILES, f"unknown files: {names - KNOWN_FILES}"
    for name in names - {"README.md"}:
        _json(name, folder)  # each is valid JSON


@pytest.mark.parametrize("folder", TEMPLATES, ids=lambda p: p.name)
def test_template_descriptor_follows_lsp4ij_format(folder: Path) -> None:
    template = _json("template.json", folder)
    assert set(template) <= TEMPLATE_KEYS, set(template) - TEMPLATE_KEYS
    args = template["programArgs"]
    assert isinstance(args, dict) and "default" in args and set(args) <= OS_KEYS, args
    if folder == TEMPLATE:
        assert template["id"] == "codeforge" and template["name"] == "CodeForge"
        assert all(isinstance(v, str) and v.split()[-1] == "lsp" for v in args.values()), args
    else:
        # Two templates imported side by side must not share an id.
        assert template["id"] == "codeforge-remote" and "remote" in template["name"].lower()
        for command in args.values():
            words = shlex.split(command)
            assert words[0] in ("codeforge", "codeforge.exe") and words[1:] == ["connect", REMOTE_PLACEHOLDER], command
    mappings = template["fileTypeMappings"]
    assert mappings, "no file mapping: the server would never start"
    for mapping in mappings:
        assert set(mapping) <= {"fileType", "languageId"}, mapping
        file_type = mapping["fileType"]
        assert set(file_type) <= {"name", "patterns"} and file_type, file_type
        assert all(isinstance(p, str) and p for p in file_type.get("patterns", [])), file_type
        assert isinstance(mapping.get("languageId", ""), str)
    patterns = [p for m in mappings for p in m["fileType"].get("patterns", [])]
    assert any(fnmatch.fnmatch("codeforge.yaml", p) for p in patterns), patterns
    assert not any(fnmatch.fnmatch("docker-compose.yaml", p) for p in patterns), "maps every YAML file"


@pytest.mark.parametrize("folder", TEMPLATES, ids=lambda p: p.name)
def test_initialization_options_match_their_schema_and_the_server(folder: Path) -> None:
    from codeforge.lsp.settings import ServerOptions

    options = _json("initializationOptions.json", folder)
    schema = _json("initializationOptions.schema.json", folder)
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(options, schema)
    # Every key the template sends is one the server reads (camelCase, as editors send them).
    server_keys = {field.alias or name for name, field in ServerOptions.model_fields.items()}
    assert set(options) <= server_keys, set(options) - server_keys
    ServerOptions.model_validate(options)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**options, "showResults": "sometimes"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**options, "urll": "typo"}, schema)


def test_readme_explains_the_import_and_the_missing_native_plugin() -> None:
    readme = (EXTENSIONS / "jetbrains" / "README.md").read_text()
    for needed in ("Import from custom template", "LSP4IJ", "codeforge up", "native JetBrains plugin"):
        assert needed in readme, needed
    # The remote variant: where the URL goes, where the token must not, and the proxied servers.
    for needed in ("codeforge-remote/", REMOTE_PLACEHOLDER, "CODEFORGE_TOKEN", "--lsp python", "codeforge ssh-config"):
        assert needed in readme, needed
    remote_readme = (REMOTE_TEMPLATE / "README.md").read_text()
    assert REMOTE_PLACEHOLDER in remote_readme and "codeforge bridge" in remote_readme
    # Debugging: LSP4IJ's DAP run configuration with the same relay every editor uses.
    dap_command = f"codeforge connect {REMOTE_PLACEHOLDER} --dap --local-root"
    for needed in ("Debug Adapter Protocol", dap_command, '"request": "launch"', '"request": "attach"', "--join"):
        assert needed in readme, needed
    assert dap_command in remote_readme
    # The DAP parameters shown are valid JSON an IDE can paste.
    blocks = re.findall(r"```json\n(.*?)```", readme, re.S)
    assert blocks and all(json.loads(b)["type"] == "codeforge" for b in blocks)


async def _start(env: dict[str, str], workspace: Path) -> LanguageClient:
    # Like an IDE: the template's command, looked up on PATH, run in the project folder.
    command = shlex.split(_json("template.json")["programArgs"]["default"])
    return await start_client(env, workspace, _json("initializationOptions.json"), command=command, cwd=workspace)


@pytest_asyncio.fixture
async def ide(live_platform: RunningPlatform, project_dir: Path) -> AsyncIterator[LanguageClient]:
    # The environment an IDE gives the server: PATH with codeforge on it, the stored login.
    env = {**live_platform.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    client = await _start(env, project_dir)
    yield client
    await client.shutdown_session()
    await client.stop()


async def test_template_command_serves_the_project(ide: LanguageClient, project_dir: Path) -> None:
    # Every catalog operation is a command the IDE can run (code actions run them).
    provider = ide.initialize_result.capabilities.execute_command_provider  # type: ignore[attr-defined]
    assert provider is not None
    assert {op["command"] for op in describe_catalog()} <= set(provider.commands)

    # The empty initialization options fall back to the login `codeforge up` stored.
    status = await ide.protocol.send_request_async("codeforge/status", {})
    assert status["connected"] is True and status["project"] == "demo", status

    # codeforge.yaml, mapped by the template as languageId yaml, gets its diagnostics ...
    uri = (project_dir / "codeforge.yaml").as_uri()
    language_id = _json("template.json")["fileTypeMappings"][0]["languageId"]
    ide.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language_id, version=1, text=PROJECT_YAML)
        )
    )
    await ide.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    for _ in range(20):
        if any("not set on the platform" in d.message for d in ide.diagnostics.get(uri, [])):
            break
        await ide.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    messages = [d.message for d in ide.diagnostics.get(uri, [])]
    assert any("`API_KEY` is declared here but not set on the platform" in m for m in messages), messages

    # ... and the code action that carries it out, which the IDE runs as a command.
    actions = await ide.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert actions, "no code action for codeforge.yaml"
    action = actions[0]
    command = action.command if isinstance(action, types.CodeAction) else action
    assert command is not None
    result = await ide.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command.command, arguments=command.arguments)
    )
    assert isinstance(result, dict) and result["set"] == ["LOG_LEVEL"], result

    # Editors ask for source actions by kind (VS Code's "Source Action…" sends only=["source"]).
    sourced = await ide.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=3, character=2), end=types.Position(line=3, character=2)),
            context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.Source]),
        )
    )
    assert sourced and [a.title for a in sourced] == [a.title for a in actions], sourced

    # A bad argument comes back as an error that names the field and the fix.
    with pytest.raises(Exception, match=r"; name: .*letters, digits and underscores"):
        await ide.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codeforge.env.set", arguments=[{"name": "1BAD", "value": "x"}])
        )


async def test_remote_template_command_serves_through_a_bridge(
    live_platform: RunningPlatform, project_dir: Path, tmp_path: Path
) -> None:
    """The remote variant as an IDE runs it: the template's command with the placeholder
    replaced by a real bridge's URL, started in the IDE's project folder (a copy of the
    workspace), serving the workspace's CodeForge language server with this folder's paths."""
    workspace = tmp_path / "workspace"
    shutil.copytree(project_dir, workspace)
    command = shlex.split(_json("template.json", REMOTE_TEMPLATE)["programArgs"]["default"])
    env = {**live_platform.env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with running_bridge(live_platform, workspace, ARTIFACTS / "jetbrains-remote-bridge.log") as bridge:
        url = bridge.url
        command = [url if word == REMOTE_PLACEHOLDER else word for word in command]
        assert command[1:] == ["connect", url], command
        ide = await start_client(
            env, project_dir, _json("initializationOptions.json", REMOTE_TEMPLATE), command=command, cwd=project_dir
        )
        try:
            status = await ide.protocol.send_request_async("codeforge/status", {})
            assert status["connected"] is True and status["project"] == "demo", status
            # codeforge.yaml's diagnostics name the IDE's file, not the workspace's.
            uri = (project_dir / "codeforge.yaml").as_uri()
            ide.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(uri=uri, language_id="yaml", version=1, text=PROJECT_YAML)
                )
            )
            for _ in range(20):
                if any("not set on the platform" in d.message for d in ide.diagnostics.get(uri, [])):
                    break
                await ide.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            assert any("not set on the platform" in d.message for d in ide.diagnostics.get(uri, [])), ide.diagnostics
            assert not any(str(workspace) in u for u in ide.diagnostics), list(ide.diagnostics)
        finally:
            await ide.shutdown_session()
            await ide.stop()
