"""The databases capability through the language server (`codeforge lsp` over stdio, pytest-lsp),
against a real platform: provision, branch (a job with progress), bad input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.conftest import RunningPlatform
from tests.lsp.conftest import run, start_client, stop_client


@pytest_asyncio.fixture
async def lsp(platform: RunningPlatform, tmp_path: Path) -> AsyncIterator[LanguageClient]:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "codeforge.yaml").write_text(f"project: {platform.project}\n")
    client = await start_client(platform.env, ws)
    yield client
    await stop_client(client)


async def test_provision_branch_and_tree_from_the_editor(lsp: LanguageClient) -> None:
    commands = lsp.initialize_result.capabilities.execute_command_provider.commands  # type: ignore[attr-defined]
    for name in (
        "databases.create",
        "databases.branch",
        "databases.reset",
        "backups.create",
        "migrations.apply",
        "databases.pool_stats",
        "engines.register",
    ):
        assert f"codeforge.{name}" in commands
    # The project comes from codeforge.yaml: the command names only the database.
    made = await run(lsp, "codeforge.databases.create", {"name": "app"})
    assert made["name"] == "app" and made["env_var"] == "DATABASE_URL"
    # A long-running branch: progress while it runs, the result when it ends.
    branch = await run(
        lsp, "codeforge.databases.branch", {"source": "app", "name": "feature-login", "env_var": "DATABASE_URL"}
    )
    assert branch["parent"] == "app" and branch["method"] in ("template-copy", "btrfs-snapshot")
    assert lsp.progress_reports, "the branch job reported $/progress"
    tree = await run(lsp, "codeforge.databases.tree", {})
    assert "└─ feature-login" in tree["text"]
    gone = await run(lsp, "codeforge.databases.delete", {"name": "app", "cascade": True})
    assert gone["deleted"] == ["feature-login", "app"]


async def test_bad_arguments_name_the_field(lsp: LanguageClient) -> None:
    with pytest.raises(JsonRpcException) as err:
        await run(lsp, "codeforge.databases.create", {"name": "Not Valid"})
    assert "name" in str(err.value)
    with pytest.raises(JsonRpcException) as err2:
        await run(lsp, "codeforge.databases.branch", {"source": "nosuch", "name": "x"})
    assert "nosuch" in str(err2.value)
