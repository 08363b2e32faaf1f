"""`codeforge serve` and `codeforge up`: the platform in this process, under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
import uvicorn
from rich.panel import Panel

from codeforge.catalog.errors import CodeForgeError
from codeforge.cli.render import err_console, show_error
from codeforge.platform.logs import configure_logging
from codeforge.platform.settings import Settings
from codeforge.project import current_project

__all__ = ["run_platform", "run_up"]


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _run(settings: Settings, on_started: Any = None) -> None:
    from codeforge.platform.app import create_app

    configure_logging(settings.log_level)
    app = create_app(settings, on_started=on_started)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False)


def run_platform(*, host: str | None, port: int | None, data_dir: Path | None) -> None:
    _run(_settings(host=host, port=port, data_dir=data_dir))


def run_up(*, port: int | None, data_dir: Path | None, folder: Path) -> None:
    try:
        project = current_project(folder)
    except CodeForgeError as err:
        show_error(err)
        raise typer.Exit(2) from None
    settings = _settings(port=port, data_dir=data_dir, bootstrap=True, bootstrap_project=project)
    if "CODEFORGE_LOG_LEVEL" not in os.environ:  # a person is watching: the panel, then only problems
        settings.log_level = "WARNING"

    def started(platform: Any) -> None:
        url = settings.resolved_public_url
        err_console.print(
            Panel.fit(
                f"[bold green]CodeForge is running[/] at {url} for project [bold]{settings.bootstrap_project}[/]\n"
                f"Data: {settings.data_dir}\n\n"
                "[bold]Connect an editor[/] (credentials are saved where they find them):\n"
                "  VS Code    install extensions/vscode/*.vsix, then open this folder\n"
                "  Neovim     add extensions/nvim to 'runtimepath', then :lua vim.lsp.enable('codeforge')\n"
                "  JetBrains  import extensions/jetbrains/template in LSP4IJ (see its README)\n"
                "  Any editor start `codeforge lsp` as a stdio language server\n\n"
                "[bold]From the shell:[/] codeforge env list · codeforge catalog · Ctrl-C stops",
                title="codeforge up",
            )
        )

    _run(settings, on_started=started)
