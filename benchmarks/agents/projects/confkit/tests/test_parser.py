import pytest

from confkit import ParseError
from confkit.parser import dumps, parse


def test_sections_keys_comments():
    config = parse("# top\n[Server]\nHost = example.org ; the name\nport: 80\n\n[db]\nurl = 'a;b'\n")
    assert config == {"server": {"host": "example.org", "port": "80"}, "db": {"url": "a;b"}}


def test_continuation_lines():
    config = parse("[log]\ntargets = stderr\n    file\n\tsyslog\n")
    assert config["log"]["targets"] == "stderr\nfile\nsyslog"


@pytest.mark.parametrize(
    ("text", "line"),
    [("key = 1", 1), ("[a]\n  cont", 2), ("[a]\nnot an entry", 2), ("[a b]", 1)],
)
def test_errors_name_the_line(text, line):
    with pytest.raises(ParseError) as info:
        parse(text, "site.ini")
    assert info.value.line == line and str(info.value).startswith(f"site.ini:{line}:")


def test_dumps_round_trip():
    config = {"b": {"x": "1"}, "a": {"list": "one\ntwo"}}
    assert parse(dumps(config)) == config
