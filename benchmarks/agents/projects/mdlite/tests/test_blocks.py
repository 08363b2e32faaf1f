from mdlite.blocks import parse_blocks


def test_headings_and_paragraphs():
    blocks = parse_blocks("# Title #\n\nSome text\ncontinued.\n\n## Next")
    assert [(b.kind, b.text, b.level) for b in blocks] == [
        ("heading", "Title", 1),
        ("paragraph", "Some text continued.", 0),
        ("heading", "Next", 2),
    ]


def test_fenced_code_keeps_lines():
    blocks = parse_blocks("```python\nx = 1\n\n# not a heading\n```\nafter")
    assert blocks[0].kind == "code" and blocks[0].language == "python"
    assert blocks[0].text == "x = 1\n\n# not a heading"
    assert blocks[1].text == "after"


def test_unclosed_fence_runs_to_end():
    blocks = parse_blocks("~~~\nopen")
    assert [(b.kind, b.text) for b in blocks] == [("code", "open")]


def test_lists():
    blocks = parse_blocks("- one\n- two\n  more\n\n3. three\n4. four")
    assert blocks[0].items == ["one", "two more"] and blocks[0].level == 0
    assert blocks[1].items == ["three", "four"] and blocks[1].level == 3


def test_quote():
    blocks = parse_blocks("> quoted\n> # inside\nplain")
    assert blocks[0].kind == "quote" and blocks[0].text == "quoted\n# inside"
    assert blocks[1].kind == "paragraph"
