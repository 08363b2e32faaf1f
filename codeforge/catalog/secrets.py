"""Which parts of an operation's output are secret, read from its output schema, and how a
result is masked before it reaches a place that keeps it (message history, logs, a terminal).

The language server's summaries and the CLI use these rules; the editors implement the same
ones over the catalog's JSON Schemas (extensions/vscode/src/secrets.ts,
extensions/nvim/lua/codeforge/secrets.lua):

- an output field whose schema carries `"x-codeforge-secret": true` holds a secret (inputs say
  the same with `format: password` or `writeOnly`, which count too);
- a password inside a URL-shaped string (`scheme://user:password@host…`) is masked wherever it
  appears, whatever the field;
- both are shown only by an explicit reveal: an operation whose permission is `reveal`, or one
  whose output declares a secret field (a new token is shown once, to the person who made it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol

from pydantic import BaseModel
from pydantic.json_schema import JsonDict

from codeforge.catalog.prompts import resolve_ref

__all__ = [
    "MASK",
    "SECRET",
    "SECRET_KEY",
    "is_secret_schema",
    "mask_output",
    "mask_url_passwords",
    "output_schema",
    "output_secrets",
    "reveals",
    "secret_fields",
]

SECRET_KEY = "x-codeforge-secret"
# `json_schema_extra` of an output field that holds a secret.
SECRET: JsonDict = {SECRET_KEY: True}
MASK = "••••"

# scheme://user:password@host → the password. The authority ends at / ? # or a space; the last @
# before that ends the password, so a stray @ inside it is masked too. Same rule as the editors.
_URL_PASSWORD = re.compile(r"\b([a-z][a-z0-9+.-]*://[^\s:/?#@]*:)([^\s/?#]+)@", re.IGNORECASE)

Schema = dict[str, Any]


def mask_url_passwords(text: str) -> str:
    """The text with the password of every URL in it masked (`postgresql://app:••••@db/app`)."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", text)


def _variants(root: Schema, schema: Any) -> Iterator[Schema]:
    """The schema with `$ref` followed, then each `anyOf`/`oneOf`/`allOf` variant (pydantic's
    `X | None`): a value is secret when any variant says so."""
    if not isinstance(schema, dict):
        return
    resolved = resolve_ref(root, schema)
    yield resolved
    for key in ("anyOf", "oneOf", "allOf"):
        for item in resolved.get(key) or ():
            yield from _variants(root, item)


def is_secret_schema(root: Schema, schema: Any) -> bool:
    """Whether a (property) schema marks its value as secret."""
    return any(
        s.get(SECRET_KEY) is True or s.get("format") == "password" or s.get("writeOnly") is True
        for s in _variants(root, schema)
    )


def _property(root: Schema, schema: Any, key: str) -> Any:
    variants = list(_variants(root, schema))
    for s in variants:
        props = s.get("properties")
        if isinstance(props, dict) and key in props:
            return props[key]
    for s in variants:
        if isinstance(s.get("additionalProperties"), dict):
            return s["additionalProperties"]
    return None


def _items(root: Schema, schema: Any) -> Any:
    for s in _variants(root, schema):
        if isinstance(s.get("items"), dict):
            return s["items"]
    return None


def secret_fields(schema: Schema) -> list[str]:
    """Top-level properties of an output schema that hold a secret, in declaration order."""
    props = schema.get("properties")
    return [k for k, v in props.items() if is_secret_schema(schema, v)] if isinstance(props, dict) else []


def output_secrets(schema: Schema) -> list[str]:
    """Paths of the secret fields of an output schema, at any depth, in declaration order, for the
    catalog entry (editors mask by these): `url`, list items as `items[].token`, maps as `a.*`."""
    out: list[str] = []

    def walk(node: Any, path: str, depth: int) -> None:
        if depth > 8:
            return
        for s in _variants(schema, node):
            children = list(s["properties"].items()) if isinstance(s.get("properties"), dict) else []
            if isinstance(s.get("additionalProperties"), dict):
                children.append(("*", s["additionalProperties"]))
            for key, child in children:
                here = f"{path}.{key}" if path else key
                if is_secret_schema(schema, child):
                    if here not in out:
                        out.append(here)
                else:
                    walk(child, here, depth + 1)
            if isinstance(s.get("items"), dict):
                walk(s["items"], f"{path}[]", depth + 1)

    walk(schema, "", 0)
    return out


def _has_secret(root: Schema, schema: Any, depth: int = 0) -> bool:
    if depth > 8 or not isinstance(schema, dict):
        return False
    for s in _variants(root, schema):
        if s.get(SECRET_KEY) is True:
            return True
        props = s.get("properties")
        if isinstance(props, dict) and any(_has_secret(root, p, depth + 1) for p in props.values()):
            return True
        if _has_secret(root, s.get("items"), depth + 1):
            return True
    return False


class _Declared(Protocol):
    """What these rules read of an operation (base.Operation, which imports this module)."""

    @property
    def name(self) -> str: ...
    @property
    def permission(self) -> str: ...
    @property
    def output(self) -> type[BaseModel]: ...


# Operation name -> its output schema; pydantic builds a schema on each call.
_SCHEMAS: dict[str, Schema] = {}


def output_schema(op: _Declared) -> Schema:
    known = _SCHEMAS.get(op.name)
    if known is None:
        known = _SCHEMAS[op.name] = op.output.model_json_schema()
    return known


def reveals(op: _Declared) -> bool:
    """Whether the operation exists to show a secret: permission `reveal` (`env.reveal`,
    `databases.reveal`) or an output with a secret field (`tokens.create`'s token, shown once)."""
    return op.permission == "reveal" or _has_secret(output_schema(op), output_schema(op))


def mask_output(result: Any, schema: Schema | type[BaseModel], *, omit: bool = False) -> Any:
    """A copy of a result (JSON data) with every secret field, per the output schema, masked
    (or left out, with `omit`) and every URL password masked, at any depth."""
    root = schema.model_json_schema() if isinstance(schema, type) else schema

    def walk(value: Any, node: Any) -> Any:
        if isinstance(value, str):
            return mask_url_passwords(value)
        if isinstance(value, list):
            item = _items(root, node)
            return [walk(v, item) for v in value]
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, v in value.items():
                child = _property(root, node, key)
                if is_secret_schema(root, child) and v not in (None, ""):
                    if not omit:
                        out[key] = MASK
                    continue
                out[key] = walk(v, child)
            return out
        return value

    return walk(result, root)
