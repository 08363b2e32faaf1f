"""Hover in codeforge.yaml: a key's description from the schema; on a variable's name,
what the file declares about it."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from codeforge.lsp.positions import to_range
from codeforge.lsp.project_yaml import analyse, is_project_file, key_at, schema_at
from codeforge.lsp.session import CodeForgeSession

__all__ = ["hover", "register"]


def _describe_variable(text: str, name: str) -> list[str]:
    model = analyse(text).model
    entry = model.env.get(name) if model is not None else None
    if entry is None:
        return []
    lines = [entry.description] if entry.description else []
    if entry.secret:
        lines.append("Secret: set on the platform with `codeforge env set " + name + " --secret`.")
    elif entry.value is None:
        lines.append("No value here: it is set on the platform.")
    else:
        lines.append("The code action *Set environment variables from codeforge.yaml* sets this value.")
    return lines


def hover(ls: CodeForgeSession, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    if not is_project_file(uri):
        return None
    doc = ls.workspace.get_text_document(uri)
    pos = doc.position_from_client_units(params.position)
    found = key_at(doc.source, pos.line, pos.character)
    if found is None:
        return None
    path, span = found
    schema = schema_at(path)
    if schema is None:
        return None
    parent = schema_at(path[:-1]) or {}
    named = path[-1] in parent.get("properties", {})
    title = f"**{path[-1]}**" + (f" — {schema.get('title')}" if not named and schema.get("title") else "")
    lines = [title]
    if schema.get("description"):
        lines.append(str(schema["description"]))
    if path[:1] == ["env"] and len(path) == 2:
        lines += _describe_variable(doc.source, path[-1])
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n".join(lines)),
        range=to_range(doc, span),
    )


def register(ls: CodeForgeSession) -> None:
    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: Any, params: types.HoverParams) -> types.Hover | None:
        return hover(ls, params)
