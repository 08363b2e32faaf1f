"""codeforge.yaml diagnostics: YAML syntax and schema errors at their line and column on
every change, and the capabilities' checks (`ProjectFileCheck`) against what the platform
has, which ask it again on open and save.

This feature subscribes to document events (`features/documents.py`) for codeforge.yaml
and knows no capability: what is checked comes from the contributions. It publishes its
diagnostics as the layer `OWNER` (`features/layers.py`), so diagnostics others publish on
codeforge.yaml are kept beside them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from codeforge.lsp.contributions import (
    DIAGNOSTIC_SOURCE,
    Contributions,
    DocumentEvent,
    DocumentSubscriber,
    ProjectFileCheck,
    ProjectFileView,
)
from codeforge.lsp.features.layers import publish_layer
from codeforge.lsp.positions import to_range
from codeforge.lsp.project_yaml import analyse, is_project_file
from codeforge.lsp.session import CodeForgeSession

__all__ = ["OWNER", "SOURCE", "is_open", "publish", "refresh", "register", "to_range"]

log = logging.getLogger(__name__)
SOURCE = DIAGNOSTIC_SOURCE
OWNER = "codeforge.yaml"  # this feature's diagnostics layer


def is_open(ls: CodeForgeSession, uri: str) -> bool:
    return uri in ls.workspace.text_documents


def _checks(ls: CodeForgeSession) -> list[ProjectFileCheck]:
    return ls.state(Contributions).project_checks


def publish(ls: CodeForgeSession, uri: str) -> ProjectFileView:
    """Analyse the document's current text and publish its diagnostics: the file's own
    problems, then each check's."""
    doc = ls.workspace.get_text_document(uri)
    view = ProjectFileView(uri, doc, analyse(doc.source))
    diagnostics = [
        types.Diagnostic(
            range=to_range(doc, p.span),
            message=p.message,
            severity=types.DiagnosticSeverity.Warning if p.warning else types.DiagnosticSeverity.Error,
            source=SOURCE,
        )
        for p in view.analysis.problems
    ]
    for check in _checks(ls):
        try:
            diagnostics += check.diagnose(ls, view)
        except Exception:
            log.exception("check %s failed on %s", check.name, uri)
    # The same diagnostics for the same version are not sent again (layers.py), so a check
    # that finds nothing new does not repeat the file's diagnostics.
    publish_layer(ls, uri, OWNER, diagnostics, version=doc.version)
    return view


async def refresh(ls: CodeForgeSession, uri: str) -> None:
    """Publish now, let every check ask the platform, then publish what they found. Does
    nothing for a file the editor does not have open."""
    if not is_open(ls, uri):
        return
    view = publish(ls, uri)

    async def one(check: ProjectFileCheck) -> None:
        if check.refresh is None:
            return
        try:
            await check.refresh(ls, view)
        except Exception:
            log.exception("check %s failed to refresh %s", check.name, uri)

    await asyncio.gather(*(one(check) for check in _checks(ls)))
    if is_open(ls, uri):
        publish(ls, uri)


def _forget(ls: CodeForgeSession, uri: str) -> None:
    for check in _checks(ls):
        if check.forget is not None:
            check.forget(ls, uri)
    publish_layer(ls, uri, OWNER, [])


def _on_event(ls: CodeForgeSession, event: DocumentEvent) -> Any:
    if event.kind == "change":
        publish(ls, event.uri)
        return None
    if event.kind == "close":
        _forget(ls, event.uri)
        return None
    if event.kind == "save":
        ls.projects.forget()  # the project it names may have changed
    return refresh(ls, event.uri)


def register(ls: CodeForgeSession, contributions: Contributions) -> None:
    contributions.add(
        DocumentSubscriber(
            name="codeforge.yaml diagnostics", handle=_on_event, wants=lambda ls, uri: is_project_file(uri)
        )
    )
