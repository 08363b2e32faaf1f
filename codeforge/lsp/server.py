"""`codeforge lsp`: the assembly of the CodeForge language server (pygls 2).

`build_server()` makes one session (`session.py`), loads the capabilities' editor
contributions (the modules their manifests name in `editor`), registers the features
(`features/`) that fan out to them and every command; `serve_stdio()` runs it on stdin/stdout (`transport.py`) and is
what the CLI's `codeforge lsp` calls. One server serves one client.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from lsprotocol import types

from codeforge.lsp import capabilities, features, project_yaml
from codeforge.lsp.commands import register_catalog_commands
from codeforge.lsp.contributions import Contributions
from codeforge.lsp.session import CodeForgeSession
from codeforge.lsp.settings import ServerOptions, add_option_flags, options_from_flags
from codeforge.lsp.transport import CodeForgeProtocol, ExpectedErrors, serve_io

__all__ = ["CodeForgeSession", "build_server", "editor_modules", "main", "run_stdio", "serve_stdio"]

log = logging.getLogger(__name__)


def editor_modules() -> list[str]:
    """Every capability's editor modules, as its manifest names them: built in, from
    CODEFORGE_CAPABILITIES, from entry points. Their catalog modules are imported too, so
    their operations are commands, as in the CLI; their codeforge.yaml sections join the
    model. Only manifests are read, never services."""
    from codeforge.platform.registry import discover_capabilities, project_file_model
    from codeforge.platform.registry import editor_modules as named_in
    from codeforge.platform.settings import Settings

    try:
        found = discover_capabilities(Settings().capability_packages)
        for cap in found:
            for module in cap.catalog:
                importlib.import_module(module)
        # Their codeforge.yaml sections are checked, completed and described like the rest.
        project_yaml.use_model(project_file_model(found))  # type: ignore[arg-type]
    except (ImportError, RuntimeError, ValueError) as exc:
        log.warning("capabilities from CODEFORGE_CAPABILITIES not loaded: %s", exc)
        found = discover_capabilities()  # the built-in ones' editor features still work
    return named_in(found)


def build_server(
    options: ServerOptions | None = None, *, extra_capabilities: Sequence[ModuleType | str] = ()
) -> CodeForgeSession:
    """The server with every feature, capability and command registered. `options` are the
    command line's, which the editor's initializationOptions override;
    `extra_capabilities` are modules with a `contribute(c)` beyond those the manifests name."""
    ls = CodeForgeSession(options, protocol_cls=CodeForgeProtocol)
    contributions = Contributions()
    for contribute in capabilities.contributors([*editor_modules(), *extra_capabilities]):
        contribute(contributions)
    ls.provide(contributions)

    @ls.feature(types.INITIALIZE)
    def on_initialize(ls: CodeForgeSession, params: types.InitializeParams) -> None:
        ls.configure(params.initialization_options)

    # shutdown and exit (hooks stopped, the platform client closed): features/lifecycle.py
    features.register_all(ls, contributions)
    # A capability's own command wraps the catalog operation of the same name
    # (`codeforge.collab.start` fills the session's context): it is registered first and wins.
    for command in contributions.commands:
        command.register(ls)
    register_catalog_commands(ls)
    for notification in contributions.notifications:
        notification.register(ls)
    return ls


def serve_stdio(
    options: ServerOptions | None = None,
    *,
    log_level: str = "WARNING",
    extra_capabilities: Sequence[ModuleType | str] = (),
) -> None:
    """Run the language server on stdin/stdout until the client exits it.

    `codeforge lsp` calls this. stdout carries the protocol only: logs go to stderr."""
    logging.basicConfig(stream=sys.stderr, level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pygls.protocol.json_rpc").addFilter(ExpectedErrors())
    serve_io(build_server(options, extra_capabilities=extra_capabilities))


run_stdio = serve_stdio


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m codeforge.lsp [--url URL] [--token TOKEN] [--project SLUG] [--show-results …]`."""
    parser = argparse.ArgumentParser(prog="codeforge lsp", description=__doc__)
    add_option_flags(parser)
    parser.add_argument("--log-level", default="WARNING", help="stderr log level (default WARNING)")
    parser.add_argument("--stdio", action="store_true", help="accepted for editors that pass it; stdio is the default")
    args: Any = parser.parse_args(argv)
    serve_stdio(options_from_flags(args), log_level=args.log_level)
