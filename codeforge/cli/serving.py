"""`codeforge serve` and `codeforge up`: the platform in this process, under uvicorn.

SIGTERM (or Ctrl-C) drains before uvicorn shuts down: operations are refused with 503 at once,
running jobs get CODEFORGE_SHUTDOWN_GRACE_SECONDS to finish and are then cancelled saying
why, so their event streams end, and the process exits. A second signal stops at once."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer
import uvicorn
from rich.panel import Panel

from codeforge.catalog.errors import CodeForgeError
from codeforge.cli.editors import editor_setup_lines
from codeforge.cli.render import err_console, show_error
from codeforge.platform.logs import configure_logging
from codeforge.platform.settings import Settings
from codeforge.project import current_project

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["DrainingServer", "run_platform", "run_up"]

log = logging.getLogger("codeforge.serve")

# After the jobs have drained: how long uvicorn waits for other open connections (event
# streams of another replica's jobs, slow clients) before it closes them.
_CONNECTIONS_GRACE = 3


class DrainingServer(uvicorn.Server):
    """uvicorn, whose first SIGTERM/SIGINT drains the platform before the usual shutdown."""

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app
        self._drainer: threading.Thread | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._drainer is not None:  # a second signal: stop now
            super().handle_exit(sig, frame)
            return
        self._drainer = threading.Thread(target=self._drain, args=(sig,), name="codeforge-drain", daemon=True)
        self._drainer.start()

    def _drain(self, sig: int) -> None:
        try:
            self.app.state.platform.drain()
        except Exception:
            log.exception("draining the platform failed; stopping anyway")
        super().handle_exit(sig, None)


def _settings(**overrides: Any) -> Settings:
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _run(settings: Settings, on_started: Any = None) -> None:
    from codeforge.platform.app import create_app

    configure_logging(settings.log_level)
    app = create_app(settings, on_started=on_started)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=_CONNECTIONS_GRACE,
    )
    DrainingServer(config, app).run()


def run_platform(*, host: str | None, port: int | None, data_dir: Path | None) -> None:
    _run(_settings(host=host, port=port, data_dir=data_dir))


def run_up(*, port: int | None, data_dir: Path | None, folder: Path, project: str | None = None) -> None:
    try:
        project = project or current_project(folder)
    except CodeForgeError as err:
        show_error(err)
        raise typer.Exit(2) from None
    # Operations that take a path (migration folders) may read the folder `up` runs for.
    root = None if "CODEFORGE_PROJECTS_ROOT" in os.environ else folder.resolve()
    settings = _settings(port=port, data_dir=data_dir, projects_root=root)
    if "CODEFORGE_LOG_LEVEL" not in os.environ:  # a person is watching: the panel, then only problems
        settings.log_level = "WARNING"

    def started(platform: Any) -> None:
        # The CLI's part of `up`: the platform itself never writes client credentials.
        from codeforge.cli.bootstrap import bootstrap

        saved = bootstrap(platform, project)
        url = settings.resolved_public_url
        editors = "\n".join(f"  {line}" for line in editor_setup_lines())
        notices = "".join(  # each capability's advice (e.g. databases: how to get copy-on-write branches)
            f"[yellow]{cap.title}:[/] {text}\n"
            for cap in platform.capabilities
            for notice in cap.notices
            if (text := notice(settings))
        )
        err_console.print(
            Panel.fit(
                f"[bold green]CodeForge is running[/] at {url} for project [bold]{project}[/]\n"
                f"Data: {settings.data_dir}\n"
                f"Login: {saved}\n{notices}\n"
                "[bold]Connect an editor[/] (they find the login above):\n"
                f"{editors}\n\n"
                "[bold]From the shell:[/] codeforge env list · codeforge catalog\n"
                f"Ctrl-C stops: running jobs get {settings.shutdown_grace_seconds:g} s to finish (twice: at once)",
                title="codeforge up",
            ),
            highlight=False,
        )

    _run(settings, on_started=started)
