"""Each operation's input fields as editors prompt for them, digested once here from the input
JSON Schema: the catalog entry's `input_fields` (`Operation.describe`).

Editors render these and check what a person types against them; they do not interpret JSON
Schema (`$ref`, `anyOf` with null, pydantic's shapes) themselves. A field is a JSON object:

    name, title, description  what to ask
    kind        string | password | integer | number | boolean | enum | file | json
    required, nullable, has_default, default (only with has_default)
    pattern, min_length, max_length, minimum, maximum, exclusive_minimum, exclusive_maximum
    enum        the choices of an enum
    file_hint   file fields (`x-codeforge-file`): the kind of file, e.g. ".env"
    json_type   json fields: the JSON type expected (array, object)
    secret_if   the boolean field that makes this value secret (`x-codeforge-secret-if`)
    values      the list operation whose items this field names (`x-codeforge-values`)

Only keys that apply are present. Fields the client fills from its context (the project) are
left out: they are never asked.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

__all__ = ["FILE_KEY", "SECRET_IF_KEY", "VALUES_KEY", "digest", "input_fields", "resolve_ref"]

FILE_KEY = "x-codeforge-file"
SECRET_IF_KEY = "x-codeforge-secret-if"
VALUES_KEY = "x-codeforge-values"
_CONTEXT_KEY = "x-codeforge-context"  # base.CONTEXT_KEY; base imports this module

Schema = dict[str, Any]

_LIMITS = (
    ("min_length", "minLength"),
    ("max_length", "maxLength"),
    ("minimum", "minimum"),
    ("maximum", "maximum"),
    ("exclusive_minimum", "exclusiveMinimum"),
    ("exclusive_maximum", "exclusiveMaximum"),
)


def resolve_ref(root: Schema, schema: Schema) -> Schema:
    """Follow a local `$ref` (pydantic's `#/$defs/…`); the ref's sibling keys (description,
    default) win. An unresolvable ref is left as it is."""
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = root
    for part in ref[2:].split("/"):
        node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
    return {**node, **{k: v for k, v in schema.items() if k != "$ref"}} if isinstance(node, dict) else schema


def _unwrap(root: Schema, schema: Schema) -> tuple[Schema, bool]:
    """`anyOf: [X, {type: null}]` (pydantic's `X | None`) becomes X, and whether null is allowed."""
    variants = schema.get("anyOf") or schema.get("oneOf")
    nullable = schema.get("type") == "null"
    base = resolve_ref(root, schema)
    if isinstance(variants, list):
        others = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        nullable = nullable or len(others) < len(variants)
        if len(others) == 1 and isinstance(others[0], dict):
            base = {**resolve_ref(root, others[0]), **{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}}
    types = base.get("type")
    if isinstance(types, list):
        kept = [t for t in types if t != "null"]
        nullable = nullable or len(kept) < len(types)
        base = {**base, "type": kept[0] if len(kept) == 1 else kept}
    return base, nullable


def _kind(base: Schema) -> str:
    if FILE_KEY in base:
        return "file"
    if isinstance(base.get("enum"), list) or "const" in base:
        return "enum"
    kind = base.get("type")
    if kind in ("boolean", "integer", "number"):
        return str(kind)
    if kind == "string":
        return "password" if base.get("format") == "password" or base.get("writeOnly") is True else "string"
    return "json"  # arrays, objects and unions a prompt cannot break down are typed as JSON


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def digest(schema: Schema, order: list[str] | None = None) -> list[Schema]:
    """The prompt fields of an input schema, in `order` (declaration order) when given, else
    required fields first, each group by name."""
    props = schema.get("properties")
    if not isinstance(props, dict):
        return []
    required = set(schema.get("required") or ())
    names = (
        [n for n in order if n in props] if order is not None else sorted(props, key=lambda n: (n not in required, n))
    )
    fields: list[Schema] = []
    for name in names:
        raw = props[name]
        if not isinstance(raw, dict):
            continue
        base, nullable = _unwrap(schema, raw)
        if _CONTEXT_KEY in raw or _CONTEXT_KEY in base:
            continue
        kind = _kind(base)
        field: Schema = {
            "name": name,
            "title": base["title"] if isinstance(base.get("title"), str) else name,
            "description": base["description"] if isinstance(base.get("description"), str) else "",
            "kind": kind,
            "required": name in required,
            "nullable": nullable,
            "has_default": "default" in raw or "default" in base,
        }
        if field["has_default"]:
            field["default"] = raw["default"] if "default" in raw else base["default"]
        if isinstance(base.get("pattern"), str):
            field["pattern"] = base["pattern"]
        for key, source in _LIMITS:
            if _number(base.get(source)):
                field[key] = base[source]
        if kind == "enum":
            field["enum"] = list(base["enum"]) if isinstance(base.get("enum"), list) else [base["const"]]
        elif kind == "file":
            field["file_hint"] = str(base[FILE_KEY])
        elif kind == "json" and isinstance(base.get("type"), str):
            field["json_type"] = base["type"]
        for key, source in (("secret_if", SECRET_IF_KEY), ("values", VALUES_KEY)):
            if isinstance(base.get(source), str):
                field[key] = base[source]
        fields.append(field)
    return fields


def input_fields(model: type[BaseModel]) -> list[Schema]:
    """An input model's prompt fields, in declaration order."""
    return digest(model.model_json_schema(), [f.alias or n for n, f in model.model_fields.items()])
