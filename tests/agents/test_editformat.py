"""The plain-text edit format: blocks found among prose, fences, several files, run blocks, the
final DONE line, and malformed replies answered with what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeforge.platform.agents.editformat import (
    INSTRUCTIONS,
    NOTHING_FOUND,
    Done,
    Edit,
    FormatError,
    Run,
    as_tool_call,
    parse,
)
from tests.conftest import require


def test_a_plain_block() -> None:
    reply = "app.py\n<<<<<<< SEARCH\n    return a - b\n=======\n    return a + b\n>>>>>>> REPLACE\n"
    assert parse(reply) == [Edit("app.py", "    return a - b\n", "    return a + b\n")]


def test_prose_fences_several_blocks_run_and_done() -> None:
    reply = """I think the bug is in `add`. Here is the fix:

src/calc.py
```python
<<<<<<< SEARCH
def add(a, b):
    return a - b
=======
def add(a, b):
    return a + b
>>>>>>> REPLACE
```

And a second change in the same file:

```python
<<<<<<< SEARCH
    pass
=======
    raise ValueError("no")
>>>>>>> REPLACE
```

**tests/test_new.py**
<<<<<<< SEARCH
=======
def test_it():
    assert True
>>>>>>> REPLACE

Now let me run the tests:

```run
python -m pytest -q
```

DONE: fixed add() and added a test.
It passes now.
"""
    assert parse(reply) == [
        Edit("src/calc.py", "def add(a, b):\n    return a - b\n", "def add(a, b):\n    return a + b\n"),
        Edit("src/calc.py", "    pass\n", '    raise ValueError("no")\n'),
        Edit("tests/test_new.py", "", "def test_it():\n    assert True\n"),
        Run("python -m pytest -q"),
        Done("fixed add() and added a test.\nIt passes now."),
    ]


@pytest.mark.parametrize(
    ("header", "path"),
    [
        ("`app.py`", "app.py"),
        ("File: pkg/app.py", "pkg/app.py"),
        ("### pkg/app.py", "pkg/app.py"),
        ("app.py:", "app.py"),
        ('"app.py"', "app.py"),
        ("```app.py", "app.py"),  # the path on the fence line itself
    ],
)
def test_path_spellings(header: str, path: str) -> None:
    reply = f"{header}\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n"
    assert parse(reply) == [Edit(path, "x\n", "y\n")]


def test_markers_of_other_lengths_and_crlf_replies() -> None:
    reply = "a.py\r\n<<<<<<<< SEARCH\r\nx = 1\r\n========\r\nx = 2\r\n>>>>>>>> REPLACE\r\n"
    assert parse(reply) == [Edit("a.py", "x = 1\n", "x = 2\n")]


def test_markers_inside_a_run_block_or_after_done_are_text() -> None:
    reply = "```run\necho '======='\n```\nDONE: nothing\n<<<<<<< SEARCH\n"
    assert parse(reply) == [Run("echo '======='"), Done("nothing\n<<<<<<< SEARCH")]


def test_nothing_to_do_is_an_empty_list() -> None:
    assert parse("I am thinking about it.") == []
    assert NOTHING_FOUND.startswith("error: ") and "DONE" in NOTHING_FOUND


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "has no file path"),
        ("Let me fix it now please\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n", "has no file path"),
        ("a.py\n<<<<<<< SEARCH\nx\ny\n>>>>>>> REPLACE\n", "no `=======` line"),
        ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n", "no `>>>>>>> REPLACE` line"),
        ("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n<<<<<<< SEARCH\nz\n", "block 1 (a.py) has no `>>>>>>> REPLACE`"),
        ("text\n=======\nmore\n", "line 2 (=======) is outside a block"),
        ("```run\npytest\n", "not closed"),
        ("```run\n\n```\n", "is empty"),
    ],
)
def test_malformed_replies_say_what_to_fix(reply: str, message: str) -> None:
    with pytest.raises(FormatError) as info:
        parse(reply)
    assert message in str(info.value)


def test_instructions_example_parses() -> None:
    assert "SEARCH" in INSTRUCTIONS and "```run" in INSTRUCTIONS and "DONE:" in INSTRUCTIONS
    example = INSTRUCTIONS[INSTRUCTIONS.index("src/calc.py") :]
    actions = parse(example)
    assert [type(a) for a in actions] == [Edit, Run, Done]


def test_actions_become_tool_calls(tmp_path: Path) -> None:
    assert as_tool_call(Edit("a.py", "x\n", "y\n")) == ("edit", {"path": "a.py", "search": "x\n", "replace": "y\n"})
    assert as_tool_call(Run("ls")) == ("run", {"command": "ls"})
    assert as_tool_call(Done("ok")) == ("finish", {"summary": "ok"})
    name, args = as_tool_call(Edit("new.py", "", "print(1)"))
    assert name == "apply_patch" and "+++ b/new.py" in args["patch"]
    assert as_tool_call(Edit("empty.txt", "", "")) == ("write_file", {"path": "empty.txt", "content": ""})


def test_a_new_file_never_overwrites_one_with_text(tmp_path: Path) -> None:
    from codeforge.platform.agents.sandbox import Sandbox, bwrap_problem
    from codeforge.platform.agents.tools import TOOLS, ToolEnv

    require("bwrap", not bwrap_problem(), bwrap_problem())
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "old.py").write_text("keep = True\n")
    with Sandbox.create(ws, tmp_path / "s") as box:
        env = ToolEnv(sandbox=box)
        reply = "new.py\n<<<<<<< SEARCH\n=======\nx = 1\n>>>>>>> REPLACE\nold.py\n<<<<<<< SEARCH\n=======\ngone\n>>>>>>> REPLACE\n"
        first, second = (TOOLS[n].run(a, env) for n, a in map(as_tool_call, parse(reply)))
        assert first.startswith("patched new.py") and (box.root / "new.py").read_text() == "x = 1\n"
        assert second.startswith("error: ") and "already exists" in second
        assert (box.root / "old.py").read_text() == "keep = True\n"
