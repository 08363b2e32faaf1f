"""How the CLI draws results: trees as text, tables within the terminal's width, secrets masked
outside an explicit reveal."""

from __future__ import annotations

from codeforge import catalog
from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.cli import render


def test_a_result_drawn_as_text_is_printed_as_that_text() -> None:
    tree = {
        "roots": [{"name": "main", "children": [{"name": "feature-x", "children": []}]}],
        "text": "main (7.3 MB)\n└─ feature-x (7.3 MB, template-copy)",
    }
    with render.console.capture() as out:
        render.show_result(tree, as_json=False)
    assert out.get() == tree["text"] + "\n"


def test_columns_that_do_not_fit_are_named_and_empty_ones_dropped() -> None:
    rows = [{"name": "main", "empty": "—", "url": "u" * 70, "state": "ready"}]
    shown, left_out = render._fitting_columns(rows, width=40)
    assert shown == ["name", "state"] and left_out == ["url"]
    # The first column stays even when it alone is wider than the terminal.
    assert render._fitting_columns([{"name": "n" * 90}], width=40) == (["name"], [])


DB_URL = "postgresql://app:s3cr3t-pw@127.0.0.1:5432/app"


def _shown(result: dict[str, object], op: object, *, as_json: bool = False) -> str:
    with render.console.capture() as out:
        render.show_result(result, as_json=as_json, op=op)  # type: ignore[arg-type]
    return out.get()


def test_url_passwords_are_masked_outside_a_reveal_and_plain_values_shown() -> None:
    variable = {"name": "DB", "secret": False, "value": DB_URL, "updated_at": "t", "updated_by": "a"}
    for as_json in (False, True):
        text = _shown(variable, catalog.env.SET, as_json=as_json)
        assert "s3cr3t-pw" not in text and "postgresql://app:••••@127.0.0.1:5432/app" in text
    listed = {"items": [{"name": "LOG_LEVEL", "secret": False, "value": "debug"}, {"name": "DB", "value": DB_URL}]}
    text = _shown(listed, catalog.env.LIST)
    assert "debug" in text and "s3cr3t-pw" not in text
    # Without its operation only URLs can be recognized: they are masked all the same.
    assert "s3cr3t-pw" not in _shown({"url": DB_URL}, None)


def test_an_explicit_reveal_shows_the_secret() -> None:
    assert DB_URL in _shown(
        {"name": "main", "url": DB_URL, "pooled_url": None, "pooling": "-"}, catalog.databases.REVEAL
    )
    assert "pk_live_1" in _shown({"name": "API_KEY", "value": "pk_live_1"}, catalog.env.REVEAL)
    created = {"id": "t1", "name": "ci", "token": "cf_secret_token", "expires_at": None}
    assert "cf_secret_token" in _shown(created, catalog.tokens.CREATE, as_json=True)


def test_an_error_quoting_a_url_does_not_print_its_password() -> None:
    err = BadInput(f"cannot connect to {DB_URL}", errors=[FieldProblem("admin_url", f"bad: {DB_URL}", "fix it")])
    with render.err_console.capture() as out:
        render.show_error(err)
    assert "s3cr3t-pw" not in out.get() and "app:••••@127.0.0.1" in out.get()


def test_a_change_is_printed_as_its_fields_its_transcript_and_a_diff() -> None:
    run = {
        "id": "r1",
        "state": "succeeded",
        "changes": [{"path": "x.py", "hunks": [{"id": "x.py#1"}]}],
        "transcript": [{"kind": "tool", "agent": "bug_fixer", "message": "edit x.py [1 hunk]"}],
        "diff": "--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n",
    }
    with render.console.capture() as out:
        render.show_result(run, as_json=False)
    text = out.get()
    assert "succeeded" in text and "bug_fixer edit x.py [1 hunk]" in text  # markup in a message stays text
    assert "-a = 1\n+a = 2" in text and "x.py#1" not in text  # the diff, not the hunks' JSON
    with render.console.capture() as out:
        render.show_result({**run, "diff": ""}, as_json=False)
    assert "(no change)" in out.get()
