"""The prompt fields the catalog digests from each input schema (`input_fields`), which the
editors render without interpreting JSON Schema: pydantic's shapes over the live catalog."""

from __future__ import annotations

from typing import Any

from codeforge import catalog
from codeforge.catalog.prompts import digest


def _fields(op: catalog.Operation[Any, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in op.describe()["input_fields"]}


def test_context_fields_are_left_out_and_declaration_order_kept() -> None:
    for op in catalog.CATALOG.values():
        entry = op.describe()
        props = entry["input_schema"].get("properties", {})
        declared = [f.alias or n for n, f in op.input.model_fields.items()]
        expected = [n for n in declared if catalog.CONTEXT_KEY not in props[n]]
        assert [f["name"] for f in entry["input_fields"]] == expected, op.name
    assert list(_fields(catalog.env.SET)) == ["name", "value", "secret"]


def test_kinds_limits_and_defaults() -> None:
    env_set = _fields(catalog.env.SET)
    assert {k: f["kind"] for k, f in env_set.items()} == {"name": "string", "value": "password", "secret": "boolean"}
    assert env_set["name"]["pattern"] == catalog.env.ENV_NAME_PATTERN and env_set["name"]["required"] is True
    assert env_set["name"]["values"] == "env.list#name"
    assert env_set["value"]["secret_if"] == "secret" and "default" not in env_set["value"]
    assert env_set["secret"] == {
        "name": "secret",
        "title": "Secret",
        "description": env_set["secret"]["description"],
        "kind": "boolean",
        "required": False,
        "nullable": False,
        "has_default": True,
        "default": False,
    }
    content = _fields(catalog.env.IMPORT)["content"]
    assert (content["kind"], content["file_hint"], content["max_length"]) == ("file", ".env", 16 * 1024 * 1024)


def test_refs_and_optional_unions_are_unwrapped() -> None:
    role = _fields(catalog.members.ADD)["role"]
    assert (role["kind"], role["enum"], role["default"]) == (
        "enum",
        ["viewer", "developer", "admin", "owner"],
        "developer",
    )
    assert role["description"] == "What the member may do."
    state = _fields(catalog.jobs.LIST)["state"]
    assert (state["kind"], state["nullable"], state["has_default"], state["default"]) == ("enum", True, True, None)
    days = _fields(catalog.tokens.CREATE)["expires_in_days"]
    assert (days["kind"], days["nullable"], days["minimum"], days["maximum"], days["default"]) == (
        "integer",
        True,
        1,
        3650,
        90,
    )


def test_unknown_shapes_are_json_and_order_falls_back_to_required_first() -> None:
    schema = {
        "properties": {
            "tags": {"type": "array"},
            "b": {"type": "string"},
            "a": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        },
        "required": ["b"],
    }
    fields = digest(schema)
    assert [f["name"] for f in fields] == ["b", "a", "tags"]
    assert [(f["kind"], f.get("json_type")) for f in fields] == [("string", None), ("json", None), ("json", "array")]
    assert digest({}) == [] and digest({"properties": "nonsense"}) == []
    missing = digest({"properties": {"x": {"$ref": "#/$defs/Missing", "description": "d"}}})
    assert missing[0]["description"] == "d" and missing[0]["kind"] == "json"
