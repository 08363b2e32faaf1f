"""Completion in codeforge.yaml: the keys the schema allows where the cursor is, and
values: true/false, enum members, and for keys that name a list operation
(`x-codeforge-values`, e.g. project -> projects.list) the platform's current items.
Free-form keys that name one (`x-codeforge-keys`, env -> env.list) offer the platform's
existing names."""

from __future__ import annotations

import json
from typing import Any

from lsprotocol import types

from codeforge.catalog.errors import CodeForgeError
from codeforge.lsp.project_yaml import cursor_context, is_project_file, resolve_schema, schema_at
from codeforge.lsp.session import CodeForgeSession

__all__ = ["complete", "register"]

VALUES_KEY = "x-codeforge-values"
KEYS_KEY = "x-codeforge-keys"


def _type_of(schema: dict[str, Any]) -> str:
    members = schema.get("x-members")
    if members:
        return " | ".join(str(m.get("type", m.get("title", "object"))) for m in members)
    return str(schema.get("type", "object"))


def _key_items(parent: dict[str, Any], siblings: frozenset[str]) -> list[types.CompletionItem]:
    items = []
    for key, raw in parent.get("properties", {}).items():
        if key in siblings:
            continue
        schema = schema_at_property(parent, key) or raw
        block = schema.get("type") == "object" and not schema.get("x-members")
        items.append(
            types.CompletionItem(
                label=key,
                kind=types.CompletionItemKind.Property,
                detail=_type_of(schema),
                documentation=types.MarkupContent(
                    kind=types.MarkupKind.Markdown, value=str(schema.get("description", ""))
                ),
                # A block key opens its block; a scalar key waits for its value.
                insert_text=f"{key}:\n  " if block else f"{key}: ",
            )
        )
    return items


def schema_at_property(parent: dict[str, Any], key: str) -> dict[str, Any] | None:
    prop = parent.get("properties", {}).get(key)
    return resolve_schema(prop) if isinstance(prop, dict) else None


def _literal_values(schema: dict[str, Any]) -> list[str]:
    members = schema.get("x-members") or [schema]
    values: list[str] = []
    for member in members:
        if member.get("type") == "boolean":
            values += ["true", "false"]
        for option in member.get("enum", []):
            values.append(json.dumps(option) if not isinstance(option, str) else option)
        if "const" in member:
            values.append(str(member["const"]))
    return values


async def _platform_values(ls: CodeForgeSession, spec: str) -> list[str]:
    """`operation#field`: that field of each item the list operation returns, the
    operation's context fields (the project) filled as for a command."""
    operation, _, field = spec.partition("#")
    try:
        data = {name: ls.context_value(kind) for name, kind in ls.context_fields.get(operation, {}).items()}
        listed = await ls.platform.call(operation, {k: v for k, v in data.items() if v})
    except CodeForgeError:
        return []  # offline: no suggestions rather than an error while typing
    return [str(getattr(item, field, "")) for item in getattr(listed, "items", []) if getattr(item, field, "")]


async def complete(ls: CodeForgeSession, params: types.CompletionParams) -> types.CompletionList | None:
    uri = params.text_document.uri
    if not is_project_file(uri):
        return None
    doc = ls.workspace.get_text_document(uri)
    pos = doc.position_from_client_units(params.position)
    ctx = cursor_context(doc.source, pos.line, pos.character)
    schema = schema_at(ctx.path)
    if schema is None:
        return types.CompletionList(is_incomplete=False, items=[])
    if not ctx.in_value:
        items = _key_items(schema, ctx.siblings)
        if isinstance(spec := schema.get(KEYS_KEY), str):
            # Free-form keys (variable names): offer what the platform already has.
            items += [
                types.CompletionItem(
                    label=name,
                    kind=types.CompletionItemKind.Variable,
                    detail="set on the platform",
                    insert_text=f"{name}:\n",
                )
                for name in await _platform_values(ls, spec)
                if name not in ctx.siblings
            ]
        return types.CompletionList(is_incomplete=False, items=items)
    values = _literal_values(schema)
    if isinstance(spec := schema.get(VALUES_KEY), str):
        values += await _platform_values(ls, spec)
    items = [types.CompletionItem(label=v, kind=types.CompletionItemKind.Value) for v in values]
    return types.CompletionList(is_incomplete=False, items=items)


def register(ls: CodeForgeSession) -> None:
    @ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[":", " "]))
    async def on_completion(ls: Any, params: types.CompletionParams) -> types.CompletionList | None:
        return await complete(ls, params)
