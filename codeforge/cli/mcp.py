"""`codeforge mcp`: every catalog operation as a Model Context Protocol tool, over stdio.

Agents users already run (Claude Code, Cursor, …) start this as an MCP server. Each tool call
is the operation run through the platform's HTTP API with the caller's token, exactly as the
CLI runs it, so the platform checks the permission and writes the audit record. The tools are
the CLI's catalog (capabilities from CODEFORGE_CAPABILITIES included: `codeforge.cli` loads
them before any command runs); their schemas come from codeforge/cli/mcp_tools.py.

- The project context field is optional: it is filled from codeforge.yaml or the login, as the
  CLI fills it, read again on each call.
- A long-running operation waits for its job, turns the job's progress into MCP progress
  notifications when the client sent a progress token, and returns the job's result; a client
  cancelling the call cancels the job.
- A refusal, bad input or a platform that is down is a tool result with `isError` holding the
  platform's one-line message and fix, never a traceback. The token is only ever in a request
  header: no result, error or log line carries it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import typer
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ValidationError

from codeforge import __version__
from codeforge.catalog import CATALOG, CONTEXT_KEY, JobRef, Operation
from codeforge.catalog.errors import CodeForgeError
from codeforge.catalog.jobs import TERMINAL, JobState
from codeforge.catalog.secrets import mask_output, mask_url_passwords, output_schema, reveals
from codeforge.cli.mcp_tools import tool_for, tool_table
from codeforge.client import AsyncPlatformClient, validate_input
from codeforge.project import current_project

__all__ = ["McpTools", "build_server", "serve_stdio"]

log = logging.getLogger("codeforge.mcp")

INSTRUCTIONS = (
    "CodeForge platform operations (databases, environment variables, jobs, projects, …). "
    "Each tool runs as the signed-in user: the platform checks their role and records the call "
    "in its audit log. `project` defaults to the current folder's project. A failed call's "
    "text says what was wrong and what to do next."
)


def _error(err: CodeForgeError) -> types.CallToolResult:
    # A driver's message may quote a URL with its password (the CLI masks it the same way).
    return types.CallToolResult(content=[types.TextContent(text=mask_url_passwords(err.message))], is_error=True)


def _answer(op: Operation[Any, Any], result: BaseModel | dict[str, Any]) -> types.CallToolResult:
    """The output as structured content (it validates against the tool's output schema) and as
    JSON text for clients that read only text. Secrets are masked unless the operation exists
    to show them (`env.reveal`), as in the CLI: an agent's transcript is kept and sent on."""
    model = result if isinstance(result, BaseModel) else op.output.model_validate(result)
    data = model.model_dump(mode="json")
    if not reveals(op):
        data = mask_output(data, output_schema(op))
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(data))], structured_content=data)


class McpTools:
    """The tools of one MCP connection and how a call runs: the platform client with the
    caller's token, and where the project comes from."""

    def __init__(self, client: AsyncPlatformClient, *, project: str | None = None, folder: Path | None = None) -> None:
        self.client = client
        self.project = project  # --project: wins over codeforge.yaml
        self.folder = folder or Path.cwd()
        self.table = tool_table(CATALOG.values())

    def default_project(self) -> str | None:
        """The project a call acts in when it names none; None while codeforge.yaml is broken
        (a call then reports why)."""
        if self.project:
            return self.project
        try:
            return current_project(self.folder)
        except CodeForgeError:
            return None

    def tools(self) -> list[types.Tool]:
        project = self.default_project()
        return [tool_for(name, op, project) for name, op in self.table.items()]

    def operation(self, name: str) -> Operation[Any, Any]:
        op = self.table.get(name) or self.table.get(name.replace(".", "_"))
        if op is None:
            # An unknown tool is a protocol error, not a tool result (the MCP specification).
            raise MCPError(types.INVALID_PARAMS, f"there is no tool {name!r}: list the tools to see what exists")
        return op

    def _arguments(self, op: Operation[Any, Any], arguments: dict[str, Any]) -> dict[str, Any]:
        data = dict(arguments)
        for name, info in op.input.model_fields.items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if extra.get(CONTEXT_KEY) == "project" and not data.get(name):
                data[name] = self.project or current_project(self.folder)
        return data

    async def call(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        op = self.operation(params.name)
        try:
            data = validate_input(op, self._arguments(op, params.arguments or {}))
            result = await self.client.call(op, data)
            if isinstance(result, JobRef):
                return _answer(op, await self._wait(ctx, op, result.job_id))
            return _answer(op, result)
        except CodeForgeError as err:
            return _error(err)
        except ValidationError:
            # The platform answered with something the operation's model does not hold: a
            # platform of another version. Said plainly; the details go to the log.
            log.warning("%s: the platform's answer does not match the operation's output", op.name, exc_info=True)
            return _error(
                CodeForgeError(
                    f"the platform's answer to {op.name} does not match this client's catalog",
                    fix="use the same CodeForge version for `codeforge mcp` as the platform runs",
                )
            )

    async def _wait(self, ctx: ServerRequestContext[Any], op: Operation[Any, Any], job_id: str) -> dict[str, Any]:
        """Follow the job to its end, as progress notifications; its result, or the job's own
        error. A client that cancels the call cancels the job too."""
        sent = -1.0

        async def report(progress: float | None, message: str) -> None:
            nonlocal sent
            # MCP wants each notification's progress above the last.
            if progress is not None and progress > sent:
                sent = progress
                await ctx.session.report_progress(progress, 1.0, mask_url_passwords(message) or None)

        try:
            await report(0.0, "queued")
            async for event in self.client.events(job_id):
                if event.kind in ("progress", "state"):
                    await report(event.progress, event.message)
                if event.state in TERMINAL:
                    break
            job = await self.client.job(job_id)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                try:
                    await self.client.cancel(job_id)
                except CodeForgeError as err:
                    log.warning("could not cancel job %s: %s", job_id, err.message)
            raise
        if job.state == JobState.SUCCEEDED:
            await report(1.0, "done")
            return job.result or {}
        if job.state in TERMINAL:
            reason = job.error or job.message
            raise CodeForgeError(
                f"job {job_id} ({op.name}) {job.state.value}: {reason}",
                # A platform error already says what to do ("…; Fix: …").
                fix="" if "Fix: " in reason else f"call jobs_get with id {job_id} for its details",
            )
        raise CodeForgeError(
            f"the events of job {job_id} ({op.name}) stopped while it was {job.state.value}",
            fix=f"call jobs_get with id {job_id} to see how it ended",
        )


def build_server(tools: McpTools) -> Server[Any]:
    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools.tools())

    async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams) -> types.CallToolResult:
        return await tools.call(ctx, params)

    @asynccontextmanager
    async def lifespan(_: Server[Any]) -> AsyncIterator[dict[str, Any]]:
        try:
            yield {}
        finally:
            await tools.client.aclose()

    return Server(
        "codeforge",
        version=__version__,
        title="CodeForge",
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def serve_stdio(*, project: str | None = None, log_level: str = "WARNING") -> None:
    """Serve until the client closes stdin. Logs go to stderr (stdout is the protocol)."""
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise typer.BadParameter(f"{log_level!r} is not a log level: use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s")
    # httpx logs each request's URL at INFO; never its headers, so never the token.
    server = build_server(McpTools(AsyncPlatformClient(), project=project))

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)
