"""Catalog operations as LSP commands, over stdio, against a live platform."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from codeforge.catalog import CATALOG
from tests.conftest import RunningPlatform, free_port
from tests.lsp.conftest import request, run, shown, start_client, stop_client

REQUEST_FAILED = -32803


async def test_every_operation_is_a_listed_command(lsp: LanguageClient) -> None:
    provider = lsp.initialize_result.capabilities.execute_command_provider  # type: ignore[attr-defined]
    assert provider is not None
    commands = set(provider.commands)
    assert {op.command for op in CATALOG.values()} <= commands
    assert "codeforge.env.import" in commands and "codeforge.jobs.cancel" in commands


async def test_env_set_then_list_fills_the_project_from_codeforge_yaml(lsp: LanguageClient) -> None:
    out = await run(lsp, "codeforge.env.set", {"name": "GREETING", "value": "hello"})
    assert out["name"] == "GREETING" and out["secret"] is False
    listed = await run(lsp, "codeforge.env.list", {})
    item = next(i for i in listed["items"] if i["name"] == "GREETING")
    assert item["value"] == "hello"
    await shown(lsp, lambda m: m.startswith("Set an environment variable or secret: done"))
    await shown(lsp, lambda m: m == f"List environment variables: {len(listed['items'])} item(s)")


async def test_no_argument_means_an_empty_object(lsp: LanguageClient) -> None:
    listed = await run(lsp, "codeforge.env.list")
    assert isinstance(listed["items"], list)


async def test_bad_argument_names_the_field_and_the_fix(lsp: LanguageClient) -> None:
    with pytest.raises(JsonRpcInvalidParams) as info:
        await run(lsp, "codeforge.env.set", {"name": "1BAD", "value": "x"})
    message = info.value.message
    assert "name: " in message and "letters, digits and underscores" in message
    assert "Traceback" not in message and "\n" not in message
    [problem] = info.value.data["errors"]
    assert problem["field"] == "name" and problem["fix"]


async def test_unknown_field_is_refused(lsp: LanguageClient) -> None:
    with pytest.raises(JsonRpcInvalidParams) as info:
        await run(lsp, "codeforge.env.set", {"name": "COLOUR", "value": "x", "colour": "red"})
    assert "colour" in info.value.message and "remove `colour`" in info.value.message


async def test_argument_of_the_wrong_shape(lsp: LanguageClient) -> None:
    with pytest.raises(JsonRpcInvalidParams) as info:
        await run(lsp, "codeforge.env.set", "NAME", "value")
    assert "takes one argument, an object" in info.value.message


async def test_unknown_command(lsp: LanguageClient) -> None:
    with pytest.raises(JsonRpcException) as info:
        await run(lsp, "codeforge.nothing.here", {})
    assert "codeforge.nothing.here" in info.value.message


async def test_explicit_project_wins_and_platform_errors_are_one_line(lsp: LanguageClient) -> None:
    await run(lsp, "codeforge.projects.create", {"slug": "explicit"})
    await run(lsp, "codeforge.env.set", {"project": "explicit", "name": "ONLY_THERE", "value": "1"})
    demo = await run(lsp, "codeforge.env.list", {})
    assert "ONLY_THERE" not in {i["name"] for i in demo["items"]}
    with pytest.raises(JsonRpcException) as info:
        await run(lsp, "codeforge.env.reveal", {"project": "explicit", "name": "ABSENT"})
    assert info.value.code == REQUEST_FAILED
    assert "ABSENT" in info.value.message and "\n" not in info.value.message


async def test_secret_values_never_reach_messages(lsp: LanguageClient) -> None:
    await run(lsp, "codeforge.env.set", {"name": "API_KEY", "value": "s3cr3t-value", "secret": True})
    revealed = await run(lsp, "codeforge.env.reveal", {"name": "API_KEY"})
    assert revealed["value"] == "s3cr3t-value"
    await shown(lsp, lambda m: m.startswith("Reveal a secret's value: done"))
    assert all("s3cr3t-value" not in m.message for m in lsp.messages)
    assert all("s3cr3t-value" not in m.message for m in lsp.log_messages)


async def test_project_comes_from_the_workspace_codeforge_yaml(
    live_platform: RunningPlatform, lsp: LanguageClient, tmp_path: Path
) -> None:
    await run(lsp, "codeforge.projects.create", {"slug": "from-yaml"})
    other = tmp_path / "other"
    other.mkdir()
    (other / "codeforge.yaml").write_text("project: from-yaml\nenv:\n  1BAD: ignored for context\n")
    client = await start_client(live_platform.env, other)
    try:
        await run(client, "codeforge.env.set", {"name": "IN_YAML_PROJECT", "value": "yes"})
    finally:
        await stop_client(client)
    names = {i["name"] for i in (await run(lsp, "codeforge.env.list", {"project": "from-yaml"}))["items"]}
    assert "IN_YAML_PROJECT" in names


async def test_missing_project_says_where_to_set_it(live_platform: RunningPlatform, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    creds = json.loads((live_platform.config_dir / "credentials.json").read_text())
    creds["project"] = ""
    (config / "credentials.json").write_text(json.dumps(creds))
    bare = tmp_path / "bare"
    bare.mkdir()
    client = await start_client({**live_platform.env, "CODEFORGE_CONFIG_DIR": str(config)}, bare)
    try:
        with pytest.raises(JsonRpcInvalidParams) as info:
            await run(client, "codeforge.env.list", {})
    finally:
        await stop_client(client)
    assert "project" in info.value.message and "codeforge.yaml" in info.value.message


async def test_platform_down_says_how_to_start_it(live_platform: RunningPlatform, workspace: Path) -> None:
    client = await start_client(live_platform.env, workspace, {"url": f"http://127.0.0.1:{free_port()}"})
    try:
        with pytest.raises(JsonRpcException) as info:
            await run(client, "codeforge.env.list", {})
        status = await request(client, "codeforge/status")
    finally:
        await stop_client(client)
    assert info.value.code == REQUEST_FAILED
    assert "cannot reach the platform" in info.value.message
    assert "start it with `codeforge up`" in info.value.message
    assert status["connected"] is False and "codeforge up" in status["error"]


async def test_a_viewer_is_refused_with_the_reason(
    live_platform: RunningPlatform, lsp: LanguageClient, workspace: Path
) -> None:
    await run(lsp, "codeforge.members.add", {"username": "vera", "role": "viewer"})
    token = (await run(lsp, "codeforge.tokens.create", {"name": "vera's", "username": "vera"}))["token"]
    await shown(lsp, lambda m: m.startswith("Create an API token: done"))
    assert all(token not in m.message for m in lsp.messages)
    client = await start_client(live_platform.env, workspace, {"token": token, "showResults": "none"})
    try:
        listed = await run(client, "codeforge.env.list", {})
        assert isinstance(listed["items"], list)
        with pytest.raises(JsonRpcException) as info:
            await run(client, "codeforge.env.set", {"name": "NOPE", "value": "x"})
        assert client.messages == []
    finally:
        await stop_client(client)
    assert info.value.code == REQUEST_FAILED
    assert "role 'viewer' does not allow env.set" in info.value.message
    assert info.value.data["type"] == "permission-denied"


async def test_bad_initialization_options_are_shown_not_fatal(live_platform: RunningPlatform, workspace: Path) -> None:
    client = await start_client(live_platform.env, workspace, {"showResults": "sometimes"})
    try:
        listed = await run(client, "codeforge.env.list", {})
    finally:
        await stop_client(client)
    assert isinstance(listed["items"], list)
    assert any(
        m.type == types.MessageType.Error and "initializationOptions.showResults" in m.message for m in client.messages
    )
