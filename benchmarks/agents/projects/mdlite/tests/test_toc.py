from mdlite.blocks import parse_blocks
from mdlite.toc import entries, render_toc


def test_entries_levels_and_anchors():
    toc = entries(parse_blocks("# A *b*\n## C `d`\n#### too deep\n## C `d`"))
    assert [(e.level, e.title, e.anchor) for e in toc] == [(1, "A b", "a-b"), (2, "C d", "c-d"), (2, "C d", "c-d-1")]


def test_render_toc_indents():
    toc = entries(parse_blocks("## One\n### Two"))
    html = render_toc(toc)
    assert '<li><a href="#one">One</a></li>' in html
    assert '  <li><a href="#two">Two</a></li>' in html


def test_empty_toc():
    assert render_toc([]) == ""


def test_anchor_unique_when_a_heading_looks_like_a_numbered_one():
    toc = entries(parse_blocks("# Intro\n# Intro\n# Intro 1"))
    assert [e.anchor for e in toc] == ["intro", "intro-1", "intro-1-1"]
