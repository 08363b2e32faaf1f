"""`codeforge bridge FOLDER` and `codeforge connect URL` (docs/bridge.md).

Both import their implementation only when run: the CLI's other commands do not pay for
websockets and the language server at start."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["add_bridge_commands"]


def bridge(
    folder: Annotated[Path, typer.Argument(help="The workspace folder to serve.")],
    project: Annotated[
        str | None, typer.Option(help="Project the workspace belongs to (default: codeforge.yaml's, else the login's).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free one).")] = 8471,
    cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM); with --key, serves wss://.")] = None,
    key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    grace: Annotated[
        float, typer.Option(min=0, help="Seconds a disconnected session waits for its editor to come back.")
    ] = 120.0,
    url: Annotated[str | None, typer.Option(help="Platform URL (default: the stored login's).")] = None,
    token: Annotated[
        str | None, typer.Option(help="The bridge's own platform token (default: CODEFORGE_TOKEN or the login's).")
    ] = None,
    bridge_id: Annotated[
        str | None,
        typer.Option(
            "--id", help="Bridge id the platform lists (default: from the host name and folder, so a restart keeps it)."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level of stderr.")] = "INFO",
) -> None:
    """Serve a workspace folder to editors: language servers, sync, terminals, ports, SSH."""
    from codeforge.bridge.server import BridgeOptions, run_bridge

    code = run_bridge(
        BridgeOptions(
            folder=folder,
            project=project,
            host=host,
            port=port,
            cert=cert,
            key=key,
            grace=grace,
            url=url,
            token=token,
            bridge_id=bridge_id,
            log_level=log_level,
        )
    )
    raise typer.Exit(code)


def connect(
    url: Annotated[str, typer.Argument(help="The bridge's URL, ws://HOST:PORT or wss://HOST:PORT.")],
    command: Annotated[
        list[str] | None, typer.Argument(help="With --terminal: the command to run (default: the login shell).")
    ] = None,
    token: Annotated[str | None, typer.Option(help="Platform token (default: CODEFORGE_TOKEN or the login's).")] = None,
    lsp: Annotated[
        str | None, typer.Option("--lsp", help="Relay a proxied language server (codeforge.yaml's name).")
    ] = None,
    terminal: Annotated[bool, typer.Option("--terminal", help="Open a terminal in the workspace.")] = False,
    attach: Annotated[str | None, typer.Option(help="With --terminal: attach to this terminal id.")] = None,
    ports: Annotated[bool, typer.Option("--ports", help="List the workspace's listening ports.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --ports: print JSON.")] = False,
    forward: Annotated[list[str] | None, typer.Option("--forward", help="Forward REMOTE[:LOCAL] (repeatable).")] = None,
    sync: Annotated[
        Path | None, typer.Option("--sync", help="Sync this local folder with the workspace (with LSP modes too).")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="With --sync alone: sync once and exit.")] = False,
    ssh: Annotated[bool, typer.Option("--ssh", help="Be an OpenSSH ProxyCommand into the workspace.")] = False,
    dap: Annotated[
        bool, typer.Option("--dap", help="Relay a DAP client (debugger) to debugpy in the workspace.")
    ] = False,
    join: Annotated[str | None, typer.Option("--join", help="With --dap: join this running debug session.")] = None,
    collab: Annotated[
        str | None,
        typer.Option(
            "--collab",
            help="With --terminal --attach or --dap --join: the host's, as a participant of this collaboration session.",
        ),
    ] = None,
    local_root: Annotated[
        Path | None,
        typer.Option("--local-root", help="With --dap: the local folder that is the workspace (default: .)."),
    ] = None,
    cafile: Annotated[
        Path | None, typer.Option(help="CA certificate to trust for wss:// (a self-signed bridge).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="Log level of stderr.")] = "WARNING",
) -> None:
    """Relay an editor's stdio to a bridge (the CodeForge language server by default)."""
    from codeforge.bridge.connect import ConnectOptions, run_connect

    code = run_connect(
        ConnectOptions(
            url=url,
            token=token,
            lsp=lsp,
            terminal=terminal,
            attach=attach,
            command=list(command or []),
            ports=ports,
            as_json=as_json,
            forward=list(forward or []),
            sync=sync,
            once=once,
            ssh=ssh,
            dap=dap,
            join=join,
            collab=collab,
            local_root=local_root,
            cafile=cafile,
            log_level=log_level,
        )
    )
    raise typer.Exit(code)


def add_bridge_commands(app: typer.Typer) -> None:
    app.command("bridge")(bridge)
    app.command("connect", context_settings={"allow_interspersed_args": True})(connect)
