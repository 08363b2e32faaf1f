"""codeforge.yaml diagnostics: YAML syntax and schema errors at their line and column on
every change, and, on open and save, what the platform lacks: a warning for each variable
the file declares without a value (someone must set it on the platform) that the platform
does not have, and for each database whose `engine:` is not registered.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from codeforge import catalog
from codeforge.catalog.errors import CodeForgeError
from codeforge.lsp.features import databases
from codeforge.lsp.project_yaml import Analysis, Span, analyse, is_project_file, locate

if TYPE_CHECKING:
    from codeforge.lsp.server import CodeForgeLanguageServer

__all__ = ["check_platform", "publish", "register", "to_range"]

log = logging.getLogger(__name__)
SOURCE = "codeforge"


def to_range(doc: TextDocument, span: Span) -> types.Range:
    """A code-point span as a range in the client's position encoding."""
    lines = doc.lines
    last = max(len(lines) - 1, 0)

    def pos(line: int, col: int) -> ServerTextPosition:
        if line > last:  # past the end (YAML's "stream end"): the end of the last line
            line, col = last, 1 << 30
        width = len(lines[line].rstrip("\r\n")) if lines else 0
        return ServerTextPosition(line, min(col, width))

    start, end = pos(span.line, span.column), pos(span.end_line, span.end_column)
    if end <= start:
        end = ServerTextPosition(start.line, start.character + 1)
    return doc.range_to_client_units(ServerTextRange(start, end))


def _platform_warnings(ls: CodeForgeLanguageServer, uri: str, analysis: Analysis) -> list[types.Diagnostic]:
    missing = ls.missing_env.get(uri, set())
    unknown = ls.unknown_engines.get(uri, {})
    if analysis.model is None or not (missing or unknown):
        return []
    doc = ls.workspace.get_text_document(uri)
    out = []
    for name, database in analysis.model.databases.items():
        if database.engine and unknown.get(name) == database.engine:
            out.append(
                types.Diagnostic(
                    range=to_range(doc, locate(analysis.root, ("databases", name, "engine"))),
                    message=f"engine `{database.engine}` is not registered on the platform: register it with "
                    f"`codeforge engines register {database.engine} …`, or pick one from `codeforge engines list`",
                    severity=types.DiagnosticSeverity.Warning,
                    source=SOURCE,
                )
            )
    for name, entry in analysis.model.env.items():
        if entry.value is None and name in missing:
            how = f"codeforge env set {name} --secret" if entry.secret else f"codeforge env set {name} VALUE"
            out.append(
                types.Diagnostic(
                    range=to_range(doc, locate(analysis.root, ("env", name), key=True)),
                    message=f"`{name}` is declared here but not set on the platform: set it with `{how}`",
                    severity=types.DiagnosticSeverity.Warning,
                    source=SOURCE,
                )
            )
    return out


def _folder_warnings(uri: str, doc: TextDocument, analysis: Analysis) -> list[types.Diagnostic]:
    # A `migrations:` folder that is not there gives no migration diagnostics: say why.
    path = to_fs_path(uri)
    if analysis.model is None or not analysis.model.databases or not path:
        return []
    problems = databases.folder_problems(analysis.model, Path(path).parent)
    return [
        types.Diagnostic(
            range=to_range(doc, locate(analysis.root, ("databases", name, "migrations"))),
            message=message,
            severity=types.DiagnosticSeverity.Warning,
            source=SOURCE,
        )
        for name, message in problems.items()
    ]


def publish(ls: CodeForgeLanguageServer, uri: str) -> Analysis:
    """Analyse the document's current text and publish its diagnostics."""
    doc = ls.workspace.get_text_document(uri)
    analysis = analyse(doc.source)
    diagnostics = [
        types.Diagnostic(
            range=to_range(doc, p.span),
            message=p.message,
            severity=types.DiagnosticSeverity.Warning if p.warning else types.DiagnosticSeverity.Error,
            source=SOURCE,
        )
        for p in analysis.problems
    ]
    diagnostics += _platform_warnings(ls, uri, analysis)
    diagnostics += _folder_warnings(uri, doc, analysis)
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=doc.version)
    )
    return analysis


async def check_platform(ls: CodeForgeLanguageServer, uri: str, analysis: Analysis) -> None:
    """Ask the platform what the file names that it lacks (variables declared without a
    value, engines), then publish again. A platform that cannot be reached adds no
    warnings: the file is not wrong."""
    model = analysis.model
    wants_env = model is not None and any(e.value is None for e in model.env.values())
    engines = {name: e.engine for name, e in model.databases.items() if e.engine} if model else {}
    # `|`, not `or`: both are dropped.
    stale = bool(ls.missing_env.pop(uri, None)) | bool(ls.unknown_engines.pop(uri, None))
    if model is None or not (wants_env or engines):
        if stale:
            publish(ls, uri)
        return
    try:
        project = model.project or ls.context_project()
        if wants_env and project:
            listed = await ls.platform.call(catalog.env.LIST, {"project": project})
            have = {item.name for item in getattr(listed, "items", [])}
            ls.missing_env[uri] = {n for n, e in model.env.items() if e.value is None and n not in have}
        if engines:
            registered = {e.name for e in getattr(await ls.platform.call(catalog.engines.LIST, {}), "items", [])}
            ls.unknown_engines[uri] = {n: e for n, e in engines.items() if e not in registered}
    except CodeForgeError as exc:
        log.info("not checking codeforge.yaml against the platform: %s", exc.message)
    publish(ls, uri)


async def _migrations(ls: CodeForgeLanguageServer, uri: str) -> None:
    # Pending migrations are diagnostics on the migration files: refreshed when
    # codeforge.yaml or one of those files is opened or saved.
    if is_project_file(uri) or databases.in_migration_folder(ls, uri):
        await databases.refresh_migrations(ls, uri if is_project_file(uri) else None)


def register(ls: CodeForgeLanguageServer) -> None:
    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: Any, params: types.DidOpenTextDocumentParams) -> None:
        if is_project_file(params.text_document.uri):
            await check_platform(ls, params.text_document.uri, publish(ls, params.text_document.uri))
        await _migrations(ls, params.text_document.uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: Any, params: types.DidChangeTextDocumentParams) -> None:
        if is_project_file(params.text_document.uri):
            publish(ls, params.text_document.uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    async def did_save(ls: Any, params: types.DidSaveTextDocumentParams) -> None:
        if is_project_file(params.text_document.uri):
            ls.projects.forget()
            await check_platform(ls, params.text_document.uri, publish(ls, params.text_document.uri))
        await _migrations(ls, params.text_document.uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: Any, params: types.DidCloseTextDocumentParams) -> None:
        if is_project_file(params.text_document.uri):
            ls.missing_env.pop(params.text_document.uri, None)
            ls.unknown_engines.pop(params.text_document.uri, None)
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[])
            )
