"""How the CLI draws results: trees as text, tables within the terminal's width."""

from __future__ import annotations

from codeforge.cli import render


def test_a_result_drawn_as_text_is_printed_as_that_text() -> None:
    tree = {"roots": [{"name": "main", "children": [{"name": "feature-x", "children": []}]}],
            "text": "main (7.3 MB)\n└─ feature-x (7.3 MB, template-copy)"}
    with render.console.capture() as out:
        render.show_result(tree, as_json=False)
    assert out.get() == tree["text"] + "\n"


def test_columns_that_do_not_fit_are_named_and_empty_ones_dropped() -> None:
    rows = [{"name": "main", "empty": "—", "url": "u" * 70, "state": "ready"}]
    shown, left_out = render._fitting_columns(rows, width=40)
    assert shown == ["name", "state"] and left_out == ["url"]
    # The first column stays even when it alone is wider than the terminal.
    assert render._fitting_columns([{"name": "n" * 90}], width=40) == (["name"], [])
