import pytest

from mdlite.inline import plain_text, render_inline


@pytest.mark.parametrize(
    ("source", "html"),
    [
        ("plain & simple", "plain &amp; simple"),
        ("*em* and **strong**", "<em>em</em> and <strong>strong</strong>"),
        ("a * b * c", "a * b * c"),
        ("snake_case*stays", "snake_case*stays"),
        ("`<b>` code", "<code>&lt;b&gt;</code> code"),
        ("`` a`b ``", "<code>a`b</code>"),
        ("`*not em*`", "<code>*not em*</code>"),
        (r"\*literal\*", "*literal*"),
        ("[site](https://x.org)", '<a href="https://x.org">site</a>'),
        ('[t](/p "A <q>")', '<a href="/p" title="A &lt;q&gt;">t</a>'),
        ("[*x*](u)", '<a href="u"><em>x</em></a>'),
        ("[bad](javascript:alert(1))", '<a href="#">bad</a>)'),
    ],
    ids=[
        "text-escaped",
        "emphasis-strong",
        "lone-stars",
        "intraword-star",
        "code-escaped",
        "code-backticks",
        "code-literal",
        "backslash-escape",
        "link",
        "link-title",
        "link-label-inline",
        "unsafe-link",
    ],
)
def test_render_inline(source, html):
    assert render_inline(source) == html


def test_plain_text():
    assert plain_text("A **b** `c` [d](e) \\*f") == "A b c d *f"
