"""The language server's one-line result summaries (window/showMessage, which editors keep in
their history): secret fields are left out per the operation's output schema and URL passwords
masked, even for an explicit reveal; plain values are shown."""

from __future__ import annotations

from codeforge import catalog
from codeforge.lsp.results import summarize

DB_URL = "postgresql://app:s3cr3t-pw@127.0.0.1:5432/app"


def test_a_reveal_summary_leaves_the_revealed_urls_out() -> None:
    urls = {"name": "main", "url": DB_URL, "pooled_url": DB_URL.replace("5432", "6432"), "pooling": "PgBouncer"}
    line = summarize(catalog.databases.REVEAL, urls)
    assert "s3cr3t-pw" not in line and "127.0.0.1" not in line
    assert line == "Show a database's connection URLs: done (name main, pooling PgBouncer)"


def test_secret_values_and_new_tokens_are_left_out() -> None:
    assert "pk_live" not in summarize(catalog.env.REVEAL, {"name": "API_KEY", "value": "pk_live_1"})
    created = {"id": "t1", "name": "ci", "token": "cf_secret_token", "expires_at": None}
    assert "cf_secret_token" not in summarize(catalog.tokens.CREATE, created)


def test_a_plain_value_is_shown_and_a_url_password_in_it_masked() -> None:
    variable = {"name": "LOG_LEVEL", "secret": False, "value": "debug", "updated_at": "t", "updated_by": "a"}
    assert "value debug" in summarize(catalog.env.SET, variable)
    variable = {**variable, "name": "DB", "value": "mysql://root:pw1@db/x"}
    line = summarize(catalog.env.SET, variable)
    assert "value mysql://root:••••@db/x" in line and "pw1" not in line


def test_a_pane_link_is_not_shown() -> None:
    link = {"title": "Overview", "url": "http://127.0.0.1:8000/panes/overview?t=signed", "expires_at": "t"}
    assert summarize(catalog.panes.OPEN, link) == "Open a pane: done (title Overview)"
