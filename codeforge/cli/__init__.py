"""The `codeforge` command: platform and editor processes, and every catalog operation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from codeforge.catalog import describe_catalog
from codeforge.cli.admin import admin_app
from codeforge.cli.bridge import add_bridge_commands
from codeforge.cli.call import call
from codeforge.cli.operations import add_operation_commands
from codeforge.cli.render import console
from codeforge.cli.ssh import ssh_config

__all__ = ["app", "main"]

app = typer.Typer(
    name="codeforge",
    help="CodeForge: a development platform that lives inside the editor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where platform state lives.")] = None,
) -> None:
    """Run the platform service (settings from CODEFORGE_* variables)."""
    from codeforge.cli.serving import run_platform

    run_platform(host=host, port=port, data_dir=data_dir)


@app.command()
def up(
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where platform state lives.")] = None,
    project: Annotated[
        str | None, typer.Option(help="Project to set up (default: codeforge.yaml's, else the folder's name).")
    ] = None,
) -> None:
    """Run CodeForge for the current folder on embedded defaults, and save a login for it."""
    from codeforge.cli.serving import run_up

    run_up(port=port, data_dir=data_dir, folder=Path.cwd(), project=project)


class _LspCommand(TyperCommand):
    """`codeforge lsp --help` lists the server's options, built only when it is asked for:
    they come from the language server's package, whose import costs a quarter of a second
    that every other command would pay at start."""

    def format_help(self, ctx: Any, formatter: Any) -> None:  # typer's own (vendored) click types
        from codeforge.lsp.settings import option_flags_help

        self.help = (
            "Run the language server over stdio (editors start this).\n\n"
            "Options (the same as the editor's initializationOptions):\n\n" + option_flags_help()
        )
        super().format_help(ctx, formatter)


@app.command(cls=_LspCommand, context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def lsp(
    ctx: typer.Context,
    log_level: Annotated[str, typer.Option(help="Log level of stderr.")] = "WARNING",
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Accepted for editors that pass it; stdio is the default.")
    ] = True,
) -> None:
    """Run the language server over stdio (editors start this)."""
    from codeforge.lsp.server import serve_stdio
    from codeforge.lsp.settings import options_from_flags

    try:
        options = options_from_flags(ctx.args, strict=True)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    serve_stdio(options, log_level=log_level)


@app.command()
def mcp(
    project: Annotated[
        str | None, typer.Option(help="Project the tools act in (default: codeforge.yaml's, else the login's).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level of stderr.")] = "WARNING",
) -> None:
    """Serve every platform operation as a Model Context Protocol tool over stdio (agents start this)."""
    from codeforge.cli.mcp import serve_stdio

    serve_stdio(project=project, log_level=log_level)


@app.command("catalog")
def show_catalog() -> None:
    """List every platform operation."""
    from rich.table import Table

    table = Table("operation", "title", "permission", "job", header_style="bold")
    for entry in describe_catalog():
        table.add_row(
            str(entry["name"]), str(entry["title"]), str(entry["permission"]), "yes" if entry["long_running"] else ""
        )
    console.print(table)


app.command("ssh-config")(ssh_config)
app.command("call")(call)
app.add_typer(admin_app, name="admin")
add_bridge_commands(app)
add_operation_commands(app)


def main() -> None:
    app(prog_name="codeforge")
