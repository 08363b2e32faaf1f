from mdlite import to_html
from mdlite.__main__ import main


def test_document():
    html = to_html("# Hi\n\nSome *text* & more.\n\n- a\n- b\n\n```\n<x>\n```")
    assert html.splitlines() == [
        '<h1 id="hi">Hi</h1>',
        "<p>Some <em>text</em> &amp; more.</p>",
        "<ul><li>a</li><li>b</li></ul>",
        "<pre><code>&lt;x&gt;",
        "</code></pre>",
    ]


def test_ordered_list_start():
    assert to_html("3. x\n4. y") == '<ol start="3"><li>x</li><li>y</li></ol>\n'


def test_toc_anchors_match_headings():
    html = to_html("# Intro\n## Intro", toc=True)
    assert '<a href="#intro-1">' in html and '<h2 id="intro-1">' in html


def test_cli(tmp_path, capsys):
    source = tmp_path / "doc.md"
    source.write_text("# T", encoding="utf-8")
    assert main([str(source)]) == 0
    assert capsys.readouterr().out == '<h1 id="t">T</h1>\n'
    assert main([str(tmp_path / "missing.md")]) == 1
