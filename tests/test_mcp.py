"""`codeforge mcp` driven by the `mcp` package's own client over stdio, against a real platform:
the tools are the catalog (a capability from CODEFORGE_CAPABILITIES included), calls run with
the caller's role and land in the audit log, refusals and bad input come back as error results
with the platform's message, a job is waited for with progress, and the token leaks nowhere."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from codeforge.catalog import CATALOG, CONTEXT_KEY, Empty, Operation, Permission
from codeforge.cli.mcp_tools import TOOL_NAME, tool_name, tool_table
from codeforge.client import AsyncPlatformClient
from codeforge.platform.registry import discover_capabilities
from tests.conftest import ROOT, RunningPlatform, free_port, start_platform

DEMO = "tests.fixtures.capability_demo"
# Enough variables that the import runs for a while after its first progress report.
BIG_IMPORT = 20_000


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """A platform with the demo capability from outside the package, and two more members."""
    running = start_platform(tmp_path_factory.mktemp("mcp"), CODEFORGE_CAPABILITIES=DEMO, PYTHONPATH=str(ROOT))
    with running.client() as owner:
        for role in ("developer", "viewer"):
            owner.call("members.add", {"username": f"mcp-{role}", "role": role})
        owner.call("projects.create", {"slug": "other"})
    yield running
    running.stop()


def token_of(platform: RunningPlatform, username: str) -> str:
    with platform.client() as owner:
        return str(owner.call("tokens.create", {"name": "mcp", "username": username}).token)


@asynccontextmanager
async def connect(
    platform: RunningPlatform, cwd: Path, errlog: Path, *args: str, **env: str
) -> AsyncIterator[ClientSession]:
    """An MCP session with `codeforge mcp` started the way an agent starts it."""
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "codeforge", "mcp", *args],
        env=platform.env | {"PYTHONPATH": str(ROOT)} | env,
        cwd=cwd,
    )
    with errlog.open("a") as err:
        async with stdio_client(server, errlog=err) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def catalog_with_demo() -> dict[str, Operation[Any, Any]]:
    """The operations the CLI has with CODEFORGE_CAPABILITIES naming the demo: every
    capability's catalog modules, as codeforge/cli/operations.py imports them."""
    for cap in discover_capabilities([DEMO]):
        for module in cap.catalog:
            importlib.import_module(module)
    return dict(CATALOG)


async def test_the_tools_are_the_catalog(platform: RunningPlatform, tmp_path: Path) -> None:
    async with connect(platform, tmp_path, tmp_path / "err.log") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
    ops = catalog_with_demo()
    assert set(tools) == {name.replace(".", "_") for name in ops}
    assert "greetings_say" in tools and "databases_branch" in tools
    by_tool = {op.name.replace(".", "_"): op for op in ops.values()}
    for name, tool in tools.items():
        op = by_tool[name]
        declared = op.input.model_json_schema()
        schema = tool.input_schema
        assert tool.title == op.title and op.title in (tool.description or "")
        assert op.permission.value in (tool.description or "")
        assert ("Long-running" in (tool.description or "")) == op.long_running
        assert tool.output_schema == op.output.model_json_schema(), name
        assert tool.annotations is not None and tool.annotations.destructive_hint == op.destructive, name
        if tool.annotations.read_only_hint:
            assert op.permission.value in ("view", "audit", "reveal") and not op.destructive, name
        context = [k for k, v in declared["properties"].items() if v.get(CONTEXT_KEY) == "project"]
        assert set(schema.get("required", [])) == set(declared.get("required", [])) - set(context), name
        for key, prop in schema["properties"].items():
            assert {k: v for k, v in prop.items() if k != "default" or key not in context} == declared["properties"][
                key
            ]
            if key in context:  # filled from codeforge.yaml or the login, as in the CLI
                assert prop["default"] == "demo"
    hints = {name: tool.annotations for name, tool in tools.items() if tool.annotations is not None}
    assert hints["env_unset"].destructive_hint and hints["env_list"].read_only_hint
    # `view` is not read-only: a viewer may create a token or comment; only reading verbs are.
    for changes in ("env_set", "tokens_create", "collab_comment", "databases_branch"):
        assert hints[changes].read_only_hint is False, changes


def test_tool_names_never_collide() -> None:
    """`a_b.c` and `a.b_c` would both be `a_b_c`: the later keeps its dotted name (MCP allows
    dots), rather than one operation shadowing the other."""
    ops = [Operation(name, name, Empty, Empty, Permission.VIEW) for name in ("a_b.c", "a.b_c", "a.d")]
    assert {name: op.name for name, op in tool_table(ops).items()} == {"a_b_c": "a.b_c", "a_b.c": "a_b.c", "a_d": "a.d"}
    assert all(TOOL_NAME.match(tool_name(op)) for op in catalog_with_demo().values())


async def test_a_call_runs_with_the_callers_role(platform: RunningPlatform, tmp_path: Path) -> None:
    developer, viewer = token_of(platform, "mcp-developer"), token_of(platform, "mcp-viewer")
    async with connect(platform, tmp_path, tmp_path / "err.log", CODEFORGE_TOKEN=developer) as session:
        made = await session.call_tool("env_set", {"name": "FROM_MCP", "value": "agent"})
        assert not made.is_error, text_of(made)
        assert made.structured_content and made.structured_content["name"] == "FROM_MCP"
        greeted = await session.call_tool("greetings_say", {"name": "Ada"})  # an outside capability's operation
        assert not greeted.is_error and "Ada" in greeted.structured_content["text"], text_of(greeted)
    async with connect(platform, tmp_path, tmp_path / "err.log", CODEFORGE_TOKEN=viewer) as session:
        listed = await session.call_tool("env_list", {})
        assert not listed.is_error and "FROM_MCP" in {i["name"] for i in listed.structured_content["items"]}
        refused = await session.call_tool("env_set", {"name": "VIEWER_WAS_HERE", "value": "x"})
        assert refused.is_error and refused.structured_content is None
        message = text_of(refused)
        assert "your role 'viewer' does not allow env.set" in message and "Fix:" in message, message
        assert "\n" not in message  # the platform's one line: what was wrong, then what to do
    with platform.client() as owner:
        names = {v.name for v in owner.call("env.list", {"project": "demo"}).items}
        assert "FROM_MCP" in names and "VIEWER_WAS_HERE" not in names
        audit = owner.call("audit.list", {"operation": "env.set"}).items
    assert any(r.actor == "mcp-developer" and r.target == "demo/FROM_MCP" and r.outcome == "succeeded" for r in audit)
    assert any(r.actor == "mcp-viewer" and r.outcome.startswith("denied") for r in audit), audit


async def test_project_comes_from_codeforge_yaml(platform: RunningPlatform, tmp_path: Path) -> None:
    (tmp_path / "codeforge.yaml").write_text("project: other\n")
    async with connect(platform, tmp_path, tmp_path / "err.log") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert tools["env_set"].input_schema["properties"]["project"]["default"] == "other"
        made = await session.call_tool("env_set", {"name": "IN_OTHER", "value": "1"})
        assert not made.is_error, text_of(made)
        named = await session.call_tool("env_list", {"project": "demo"})  # an explicit project wins
        assert "IN_OTHER" not in {i["name"] for i in named.structured_content["items"]}
    with platform.client() as owner:
        assert "IN_OTHER" in {v.name for v in owner.call("env.list", {"project": "other"}).items}
    (tmp_path / "codeforge.yaml").write_text("project: [broken\n")
    async with connect(platform, tmp_path, tmp_path / "err.log") as session:
        broken = await session.call_tool("env_list", {})
        assert broken.is_error and "codeforge.yaml" in text_of(broken), text_of(broken)


async def test_bad_arguments_name_the_field(platform: RunningPlatform, tmp_path: Path) -> None:
    async with connect(platform, tmp_path, tmp_path / "err.log") as session:
        bad_name = await session.call_tool("env_set", {"name": "9LIVES", "value": "x"})
        assert bad_name.is_error and text_of(bad_name).count("name") >= 1, text_of(bad_name)
        assert "9LIVES" not in text_of(bad_name)  # the value is never echoed: it may be a secret
        missing = await session.call_tool("env_set", {"name": "OK_NAME"})
        assert missing.is_error and "value" in text_of(missing) and "add `value`" in text_of(missing)
        extra = await session.call_tool("env_list", {"colour": "blue"})
        assert extra.is_error and "colour" in text_of(extra)
        wrong_type = await session.call_tool("jobs_list", {"limit": "many"})
        assert wrong_type.is_error and "limit" in text_of(wrong_type)
        with pytest.raises(MCPError, match="no tool"):
            await session.call_tool("env_explode", {})


async def test_a_long_running_operation_returns_its_jobs_result(platform: RunningPlatform, tmp_path: Path) -> None:
    reports: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))

    dotenv = "\n".join(f"MCP_IMP_{i}={i}" for i in range(200))
    async with connect(platform, tmp_path, tmp_path / "err.log") as session:
        imported = await session.call_tool("env_import", {"content": dotenv}, progress_callback=on_progress)
        assert not imported.is_error, text_of(imported)
        assert imported.structured_content["imported"] == 200
        assert json.loads(text_of(imported)) == imported.structured_content
        failed = await session.call_tool("backups_create", {"name": "no-such-db"})
        assert failed.is_error and "no-such-db" in text_of(failed), text_of(failed)
    values = [p[0] for p in reports]
    assert values and values == sorted(set(values)) and values[-1] == 1.0, reports


async def test_cancelling_the_call_cancels_the_job(platform: RunningPlatform, tmp_path: Path) -> None:
    """The client gives up on a long import once its job reports progress: the server cancels
    the job on the platform, and the import (all or nothing) writes no variable."""
    dotenv = "\n".join(f"MCP_BIG_{i}={i}" for i in range(BIG_IMPORT))
    async with connect(platform, tmp_path, tmp_path / "err.log") as session:
        with anyio.CancelScope() as scope:

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                if progress > 0:  # the job runs: cancel the call, as an agent's user would
                    scope.cancel()

            await session.call_tool("env_import", {"content": dotenv}, progress_callback=on_progress)
        assert scope.cancelled_caught, "the import ended before the call was cancelled"
        # Asynchronously: a blocking call here would hold up the client's cancel notification.
        owner = AsyncPlatformClient(platform.url, platform.token)
        try:
            jobs = (await owner.call("jobs.list", {"project": "demo"})).items
            job = await owner.wait(max((j for j in jobs if j.operation == "env.import"), key=lambda j: j.created_at).id)
            assert job.state == "cancelled", job
            names = {v.name for v in (await owner.call("env.list", {"project": "demo"})).items}
        finally:
            await owner.aclose()
        assert not any(name.startswith("MCP_BIG_") for name in names)
        assert not (await session.call_tool("env_list", {})).is_error  # the connection carries on


async def test_the_token_appears_nowhere(platform: RunningPlatform, tmp_path: Path) -> None:
    real = token_of(platform, "mcp-developer")
    bogus = "cf_" + "z" * 40
    seen: list[str] = []
    errlog = tmp_path / "err.log"
    for token, tool, args in ((real, "env_list", {}), (real, "env_set", {"name": "9X", "value": "v"})):
        async with connect(platform, tmp_path, errlog, "--log-level", "DEBUG", CODEFORGE_TOKEN=token) as session:
            seen += [text_of(await session.call_tool(tool, args))]
    async with connect(platform, tmp_path, errlog, "--log-level", "DEBUG", CODEFORGE_TOKEN=bogus) as session:
        signed_out = await session.call_tool("env_list", {})
        assert signed_out.is_error, text_of(signed_out)
        seen.append(text_of(signed_out))
    down_env = {"CODEFORGE_TOKEN": real, "CODEFORGE_URL": f"http://127.0.0.1:{free_port()}"}
    async with connect(platform, tmp_path, errlog, "--log-level", "DEBUG", **down_env) as session:
        down = await session.call_tool("env_list", {})
        assert down.is_error and "codeforge up" in text_of(down), text_of(down)
        seen.append(text_of(down))
    logged = errlog.read_text()
    assert "HTTP Request" in logged  # the log was written at DEBUG, so it was looked at
    for token in (real, bogus, platform.token):
        assert all(token not in text for text in seen) and token not in logged
    assert "Traceback" not in logged
