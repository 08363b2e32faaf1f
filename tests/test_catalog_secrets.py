"""Secrets in operation outputs are declared in the schema (`x-codeforge-secret`), and the
masking rules shared by the language server and the CLI read them from the real catalog."""

from __future__ import annotations

from typing import Any

import pytest

from codeforge import catalog
from codeforge.catalog.secrets import (
    MASK,
    SECRET_KEY,
    is_secret_schema,
    mask_output,
    mask_url_passwords,
    output_schema,
    output_secrets,
    reveals,
    secret_fields,
)

DB_URL = "postgresql://app:s3cr3t-pw@127.0.0.1:5432/app"


def _schema(op: catalog.Operation[Any, Any]) -> dict[str, Any]:
    return output_schema(op)


def test_secret_output_fields_are_marked_in_the_catalog() -> None:
    marked = {op.name: secret_fields(_schema(op)) for op in catalog.CATALOG.values() if secret_fields(_schema(op))}
    assert marked == {
        "env.reveal": ["value"],
        "databases.reveal": ["url", "pooled_url"],
        "databases.pool": ["url", "pooled_url"],  # the same model; the platform masks these
        "tokens.create": ["token"],
        "collab.invite": ["token", "link"],  # the invitation, shown once (the link holds it)
    }
    entry = catalog.databases.REVEAL.describe()["output_schema"]["properties"]["pooled_url"]
    assert entry[SECRET_KEY] is True


def test_every_reveal_operation_declares_what_it_reveals() -> None:
    for op in catalog.CATALOG.values():
        if op.permission is catalog.Permission.REVEAL:
            assert secret_fields(_schema(op)), f"{op.name} reveals a secret but marks no output field"


def test_explicit_reveals_are_the_reveal_permission_and_secret_outputs() -> None:
    assert {op.name for op in catalog.CATALOG.values() if reveals(op)} == {
        "env.reveal",
        "databases.reveal",
        "databases.pool",
        "tokens.create",
        "collab.invite",
    }


def test_secret_inputs_are_still_recognized() -> None:
    env_set = catalog.env.SET.input.model_json_schema()
    assert is_secret_schema(env_set, env_set["properties"]["value"])
    assert not is_secret_schema(env_set, env_set["properties"]["name"])
    register = catalog.engines.REGISTER.input.model_json_schema()
    assert is_secret_schema(register, register["properties"]["admin_url"])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (DB_URL, f"postgresql://app:{MASK}@127.0.0.1:5432/app"),
        ("mysql://root:p@ss@db/x?ssl=1", f"mysql://root:{MASK}@db/x?ssl=1"),
        ("redis://:only-pw@cache:6379/0", f"redis://:{MASK}@cache:6379/0"),
        ("see postgresql://a:b@h/d and mysql://c:d@h/e", f"see postgresql://a:{MASK}@h/d and mysql://c:{MASK}@h/e"),
        ("postgresql://app@host/db", "postgresql://app@host/db"),  # no password
        ("https://example.com/a@b", "https://example.com/a@b"),
        ("user:pw@host", "user:pw@host"),  # not URL-shaped
    ],
)
def test_url_passwords_are_masked(text: str, masked: str) -> None:
    assert mask_url_passwords(text) == masked


def test_a_reveals_secret_fields_are_masked_and_others_stay() -> None:
    urls = {"name": "main", "url": DB_URL, "pooled_url": None, "pooling": "PgBouncer"}
    assert mask_output(urls, _schema(catalog.databases.REVEAL)) == {
        "name": "main",
        "url": MASK,
        "pooled_url": None,
        "pooling": "PgBouncer",
    }
    assert mask_output(urls, _schema(catalog.databases.REVEAL), omit=True) == {
        "name": "main",
        "pooled_url": None,
        "pooling": "PgBouncer",
    }
    token = {"id": "t1", "name": "ci", "token": "cf_abc", "expires_at": None}
    assert mask_output(token, _schema(catalog.tokens.CREATE))["token"] == MASK


def test_plain_values_stay_visible_and_nested_url_passwords_are_masked() -> None:
    listed = {
        "items": [
            {"name": "LOG_LEVEL", "secret": False, "value": "debug", "updated_at": "x", "updated_by": "a"},
            {"name": "DB", "secret": False, "value": DB_URL, "updated_at": "x", "updated_by": "a"},
            {"name": "API_KEY", "secret": True, "value": None, "updated_at": "x", "updated_by": "a"},
        ]
    }
    masked = mask_output(listed, _schema(catalog.env.LIST))
    assert [i["value"] for i in masked["items"]] == ["debug", f"postgresql://app:{MASK}@127.0.0.1:5432/app", None]
    job = {"id": "j", "result": {"url": DB_URL, "nested": [{"dsn": DB_URL}]}, "error": f"could not reach {DB_URL}"}
    text = str(mask_output(job, _schema(catalog.jobs.GET)))
    assert "s3cr3t-pw" not in text and text.count(MASK) == 3


def test_catalog_entries_carry_the_secret_paths_and_the_reveal_rule() -> None:
    entries = {op.name: op.describe() for op in catalog.CATALOG.values()}
    assert {n: e["output_secrets"] for n, e in entries.items() if e["output_secrets"]} == {
        "env.reveal": ["value"],
        "databases.reveal": ["url", "pooled_url"],
        "databases.pool": ["url", "pooled_url"],
        "tokens.create": ["token"],
        "collab.invite": ["token", "link"],
    }
    assert all(e["reveals"] is reveals(catalog.CATALOG[n]) for n, e in entries.items())
    nested = {
        "$defs": {"T": {"properties": {"token": {SECRET_KEY: True}, "id": {"type": "string"}}}},
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/T"}},
            "by_name": {"anyOf": [{"additionalProperties": {"$ref": "#/$defs/T"}}, {"type": "null"}]},
        },
    }
    assert output_secrets(nested) == ["items[].token", "by_name.*.token"]
