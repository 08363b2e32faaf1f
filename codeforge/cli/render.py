"""How the CLI shows results, errors and jobs: rich tables and progress bars.

A terminal keeps its scrollback and its output is often logged, so outside an explicit reveal
(`env reveal`, `databases reveal`, `tokens create`) a result's secret fields, per the
operation's output schema, and the password of any URL are masked (codeforge/catalog/secrets.py).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.syntax import Syntax
from rich.table import Table

from codeforge.catalog.base import Operation
from codeforge.catalog.errors import CodeForgeError
from codeforge.catalog.jobs import JobState
from codeforge.catalog.secrets import mask_output, mask_url_passwords, output_schema, reveals
from codeforge.client import PlatformClient

__all__ = ["console", "err_console", "follow_job", "show_error", "show_lines", "show_result"]

console = Console()
err_console = Console(stderr=True)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def show_result(result: BaseModel | dict[str, Any], *, as_json: bool, op: Operation[Any, Any] | None = None) -> None:
    """Print a result; `op` is the operation that answered it (its output schema says what is
    secret). Without it only URL passwords can be recognized, and they are masked."""
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    if op is None:
        data = mask_output(data, {})
    elif not reveals(op):
        data = mask_output(data, output_schema(op))
    if as_json:
        console.print_json(json.dumps(data))
        return
    items = data.get("items") if isinstance(data, dict) else None
    if isinstance(items, list):
        if not items:
            console.print("[dim](none)[/]")
            return
        _print_items(items)
        return
    if isinstance(data, dict) and isinstance(data.get("text"), str):
        console.print(data["text"], highlight=False)  # a result drawn as text (a tree) says it best
        return
    if isinstance(data, dict) and isinstance(data.get("diff"), str):
        _print_change(data)
        return
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        table.add_row(f"[bold]{key}[/]", _cell(value))
    console.print(table)


def show_lines(page: BaseModel, *, as_json: bool, op: Operation[Any, Any]) -> None:
    """A followed page's items, one line each as they come (`--follow`): a log line as
    `time level line {labels}`, a notice as `time kind title: message`, else its JSON."""
    data = page.model_dump(mode="json")
    if not reveals(op):
        data = mask_output(data, output_schema(op))
    for item in data.get("items") or []:
        if as_json:
            console.print(json.dumps(item, default=str), highlight=False, soft_wrap=True)
            continue
        when = str(item.get("time") or item.get("created_at") or "")[:23].replace("T", " ")
        if "line" in item:
            labels = " ".join(f"{k}={v}" for k, v in (item.get("labels") or {}).items() if k != "level")
            text = escape(f"{when} {item.get('level') or '-':<8} {item['line']}")
            console.print(text + (f"  [dim]{escape(labels)}[/]" if labels else ""), soft_wrap=True)
        elif "title" in item:
            console.print(
                escape(f"{when} {item.get('kind', '')} {item['title']}: {item.get('message', '')}"), soft_wrap=True
            )
        else:
            console.print(json.dumps(item, default=str), highlight=False, soft_wrap=True)


def _print_change(data: dict[str, Any]) -> None:
    """A result that carries a change (an agent run): its fields, its transcript as lines, its
    diff coloured as a diff, which people read better than JSON of hunks."""
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if key not in ("diff", "changes", "transcript"):
            table.add_row(f"[bold]{key}[/]", _cell(value))
    console.print(table)
    for entry in data.get("transcript") or []:
        if isinstance(entry, dict):
            kind, who, message = entry.get("kind", ""), entry.get("agent", ""), entry.get("message", "")
            console.print(
                f"[dim]{escape(str(kind)):>6}[/] [cyan]{escape(str(who))}[/] {escape(str(message))}", highlight=False
            )
    if data["diff"]:
        console.print(Syntax(data["diff"], "diff", theme="ansi_dark", background_color="default"))
    else:
        console.print("[dim](no change)[/]")


def _fitting_columns(rows: list[dict[str, str]], width: int) -> tuple[list[str], list[str]]:
    """The columns that fit `width`, in their order, and those with values left out (a column
    with no value in any row is not shown). The first column always stays."""
    keys = list(rows[0])
    filled = [k for k in keys if any(r.get(k, "—") != "—" for r in rows)]
    shown: list[str] = []
    used = 1  # the table's left border
    for key in filled:
        need = max(len(key), *(len(r.get(key, "")) for r in rows)) + 3  # padding and border
        if shown and used + need > width:
            continue
        shown.append(key)
        used += need
    return shown, [k for k in filled if k not in shown]


def _print_items(items: list[dict[str, Any]]) -> None:
    """A table with as many columns as the terminal shows whole; the rest is named below it."""
    rows = [{k: _cell(v) for k, v in item.items()} for item in items]
    shown, left_out = _fitting_columns(rows, console.width)
    table = Table(*shown, header_style="bold")
    for row in rows:
        table.add_row(*(row.get(k, "") for k in shown))
    console.print(table)
    if left_out:
        console.print(f"[dim]not shown: {', '.join(left_out)} (--json shows every field)[/]")


def show_error(err: CodeForgeError) -> None:
    # A driver's message may quote the URL it was given, password included.
    err_console.print(f"[bold red]Error:[/] {mask_url_passwords(err.detail)}")
    for problem in err.errors:
        err_console.print(f"  [yellow]{problem.field}[/]: {mask_url_passwords(problem.message)} — {problem.fix}")
    if err.fix:
        err_console.print(f"[bold]What to do:[/] {err.fix}")


def follow_job(client: PlatformClient, job_id: str, title: str) -> dict[str, Any]:
    """A progress bar fed by the job's events; Ctrl-C cancels the job on the platform."""
    final: dict[str, Any] = {}
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task(title, total=1.0, message="queued")
        try:
            for event in client.events(job_id):
                if event.kind == "log":
                    progress.console.print(f"[dim]{mask_url_passwords(event.message)}[/]")
                elif event.kind == "progress":
                    progress.update(task, completed=event.progress or 0, message=event.message)
                elif event.kind == "state":
                    progress.update(task, message=event.message)
                    if event.state == JobState.SUCCEEDED:
                        progress.update(task, completed=1.0)
                        final = event.result or {}
                    elif event.state in (JobState.FAILED, JobState.CANCELLED):
                        reason = event.error or event.message
                        raise CodeForgeError(
                            f"job {job_id} {event.state.value}: {reason}",
                            # A platform error already says what to do ("…; Fix: …").
                            fix="" if "Fix: " in reason else f"see `codeforge jobs get {job_id}`",
                        )
        except KeyboardInterrupt:
            client.cancel(job_id)
            raise CodeForgeError(f"cancelled job {job_id}", fix="run the operation again when you are ready") from None
    return final
