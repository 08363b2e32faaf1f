"""Diagnostics on one document from several owners, published as their union.

`textDocument/publishDiagnostics` replaces everything the server published for a URI, so two
capabilities publishing on the same file (production errors, pipeline test failures, an
agent's findings, codeforge.yaml's own checks) would erase each other. Each owner publishes
its *layer* instead: `publish_layer(ls, uri, owner, diagnostics)` replaces that owner's
diagnostics on that URI and sends the union of every owner's layer there (owners in name
order, each layer in the order given); `clear_layer(ls, owner)` takes an owner's layer off
every URI (or one) and leaves the others' in place.

Per session (`ls.state`), like everything a session publishes. The union last sent is
remembered with its document version: the same union for the same version is not sent again,
while a URI's first publication is always sent, even empty (the editor learns the file is
clean). `version` is the document version the owner's diagnostics are about, or None for
diagnostics not tied to an edit of an open buffer (a production error, a test run).

An owner is a plain name (`"codeforge.yaml"`, `"monitoring.errors"`): the core knows none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from lsprotocol import types

from codeforge.lsp.session import CodeForgeSession

__all__ = ["Layers", "clear_layer", "layer", "publish_layer", "union"]


@dataclass
class Layers:
    """Per session: uri -> owner -> its diagnostics (non-empty lists only), and uri ->
    (version, union) last published."""

    owners: dict[str, dict[str, list[types.Diagnostic]]] = field(default_factory=dict)
    sent: dict[str, tuple[int | None, list[types.Diagnostic]]] = field(default_factory=dict)


def union(ls: CodeForgeSession, uri: str) -> list[types.Diagnostic]:
    """Every owner's diagnostics on `uri`, as published."""
    layers = ls.state(Layers).owners.get(uri, {})
    return [d for owner in sorted(layers) for d in layers[owner]]


def layer(ls: CodeForgeSession, owner: str) -> dict[str, list[types.Diagnostic]]:
    """The URIs where `owner` has diagnostics now, with them."""
    return {uri: list(by[owner]) for uri, by in ls.state(Layers).owners.items() if owner in by}


def publish_layer(
    ls: CodeForgeSession,
    uri: str,
    owner: str,
    diagnostics: Iterable[types.Diagnostic],
    *,
    version: int | None = None,
) -> bool:
    """Make `diagnostics` the owner's layer on `uri` (an empty one removes it) and publish the
    union when it changed; True when something was sent."""
    if not owner:
        raise ValueError("a diagnostics layer needs an owner's name")
    state = ls.state(Layers)
    layers = state.owners.setdefault(uri, {})
    mine = list(diagnostics)
    if mine:
        layers[owner] = mine
    else:
        layers.pop(owner, None)
    if not layers:
        del state.owners[uri]
    together = union(ls, uri)
    if state.sent.get(uri) == (version, together):
        return False
    state.sent[uri] = (version, together)
    ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=together, version=version))
    return True


def clear_layer(ls: CodeForgeSession, owner: str, uri: str | None = None) -> list[str]:
    """Take the owner's diagnostics off `uri`, or off every URI when None; the other owners'
    stay. Returns the URIs published again."""
    uris = [uri] if uri is not None else list(layer(ls, owner))
    return [u for u in uris if owner in ls.state(Layers).owners.get(u, {}) and publish_layer(ls, u, owner, [])]
