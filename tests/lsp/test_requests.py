"""The custom requests editor extensions use: codeforge/catalog and codeforge/status."""

from __future__ import annotations

from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcInvalidParams
from pytest_lsp import LanguageClient

from codeforge.catalog import describe_catalog
from tests.conftest import RunningPlatform
from tests.lsp.conftest import request, run, shown, start_client, stop_client


async def test_catalog_lists_every_operation_with_its_schemas(lsp: LanguageClient) -> None:
    catalog = await request(lsp, "codeforge/catalog")
    entries = {e["name"]: e for e in catalog["operations"]}
    # What people run: not bridges.attach, which only a bridge calls.
    assert set(entries) == {e["name"] for e in describe_catalog() if e["palette"]}
    assert "bridges.attach" not in entries and "bridges.list" in entries
    env_set = entries["env.set"]
    assert env_set["command"] == "codeforge.env.set" and env_set["long_running"] is False
    assert env_set["input_schema"]["properties"]["project"]["x-codeforge-context"] == "project"
    assert entries["env.import"]["long_running"] is True
    # Declaration order, which a client decoding JSON into an unordered table (Lua) has lost.
    assert [f["name"] for f in env_set["input_fields"]] == ["name", "value", "secret"]


async def test_status_says_who_and_where(lsp: LanguageClient, live_platform: RunningPlatform) -> None:
    status = await request(lsp, "codeforge/status")
    assert status["platform"] == live_platform.url
    assert status["connected"] is True
    assert status["project"] == "demo"
    assert status["role"] == "owner"
    assert status["username"] and status["organization"]


async def test_status_with_a_broken_codeforge_yaml_is_still_connected(
    live_platform: RunningPlatform, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "codeforge.yaml").write_text("project: [\n")
    client = await start_client(live_platform.env, folder)
    try:
        status = await request(client, "codeforge/status")
        with pytest.raises(JsonRpcInvalidParams) as info:
            await run(client, "codeforge.env.list", {})
    finally:
        await stop_client(client)
    assert status["connected"] is True and status["project"] is None
    assert "not valid YAML" in status["project_error"]
    assert "codeforge.yaml needs fixing" in info.value.message


async def test_show_results_changes_skips_reads(live_platform: RunningPlatform, workspace: Path) -> None:
    client = await start_client(live_platform.env, workspace, {"showResults": "changes"})
    try:
        await run(client, "codeforge.env.list", {})
        await run(client, "codeforge.env.set", {"name": "SHOWN", "value": "1"})
        message = await shown(client, lambda m: m.startswith("Set an environment variable"))
    finally:
        await stop_client(client)
    assert [m.message for m in client.messages] == [message]
