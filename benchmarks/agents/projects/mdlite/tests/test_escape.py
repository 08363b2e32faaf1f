from mdlite.escape import escape_attr, escape_text, safe_url


def test_escape_text_and_attr():
    assert escape_text('<a href="x">&</a>') == '&lt;a href="x"&gt;&amp;&lt;/a&gt;'
    assert escape_attr('say "hi"') == "say &quot;hi&quot;"


def test_safe_url():
    assert safe_url("https://example.com/a?b=1") == "https://example.com/a?b=1"
    assert safe_url("JavaScript:alert(1)") == "#"
    assert safe_url(" data:text/html,x") == "#"
    assert safe_url("relative/path") == "relative/path"
