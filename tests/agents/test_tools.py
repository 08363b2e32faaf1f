"""The agents' tools against a real sandbox (bubblewrap) and the real codebase map: happy
paths, and every mistake answered as "error: …" naming what to fix, never raised."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from codeforge.platform.agents.context import RepoMap
from codeforge.platform.agents.sandbox import CommandCancelled, Sandbox, bwrap_problem
from codeforge.platform.agents.tools import MAX_READ_LINES, TOOLS, ToolEnv, run_tool, schemas
from tests.conftest import require

APP = '''"""Arithmetic."""


def add(a, b):
    return a + b


def sub(a, b):
    return a - b


class Calc:
    def total(self, xs):
        return sum(xs)
'''

TEST = """from app import add


def test_add():
    assert add(2, 3) == 5


def test_fails():
    assert add(1, 1) == 3
"""


@pytest.fixture
def env(tmp_path: Path) -> Iterator[ToolEnv]:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "app.py").write_text(APP)
    (ws / "test_app.py").write_text(TEST)
    (ws / "notes.txt").write_text("one\r\ntwo\r\nthree\r\n")
    (ws / "blob.bin").write_bytes(b"\0\1\2")
    (ws / "long.txt").write_text("".join(f"line {i}\n" for i in range(1, 1001)))
    require("bwrap", not bwrap_problem(), f"no bubblewrap sandbox here: {bwrap_problem()}")
    sandbox = Sandbox.create(ws, tmp_path / "scratch", runtime="bwrap")
    yield ToolEnv(
        sandbox=sandbox,
        repo_map=RepoMap.build(sandbox.root),
        test_command="PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -q -p no:cacheprovider",
        command_timeout=60,
    )
    sandbox.close()


def call(env: ToolEnv, name: str, **args: object) -> str:
    return TOOLS[name].run(args, env)


def test_schemas_are_valid_openai_tools() -> None:
    entries = schemas()
    assert [e["function"]["name"] for e in entries] == [
        "read_file",
        "search",
        "list_symbols",
        "edit",
        "apply_patch",
        "write_file",
        "run",
        "run_tests",
        "finish",
    ]
    for entry in entries:
        assert entry["type"] == "function" and entry["function"]["description"]
        jsonschema.Draft202012Validator.check_schema(entry["function"]["parameters"])
    assert [e["function"]["name"] for e in schemas(["edit", "finish"])] == ["edit", "finish"]
    with pytest.raises(KeyError, match="nope"):
        schemas(["nope"])


def test_read_file_numbers_lines_and_ranges(env: ToolEnv) -> None:
    out = call(env, "read_file", path="app.py")
    assert out.splitlines()[0] == "app.py (14 lines)"
    assert " 4\tdef add(a, b):" in out
    part = call(env, "read_file", path="app.py", start_line=8, end_line=9)
    assert part.splitlines() == ["app.py (lines 8-9 of 14)", "8\tdef sub(a, b):", "9\t    return a - b"]
    crlf = call(env, "read_file", path="notes.txt")
    assert "\r" not in crlf and "2\ttwo" in crlf
    long = call(env, "read_file", path="long.txt")
    assert f"line {MAX_READ_LINES}" in long and f"line {MAX_READ_LINES + 1}\n" not in long
    assert f"start_line={MAX_READ_LINES + 1}" in long
    folder = call(env, "read_file", path=".")
    assert folder.splitlines()[0] == "`.` is a folder; its files:" and "app.py" in folder.splitlines()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, "needs the argument `path`"),
        ({"path": 3}, "`path` must be a string"),
        ({"path": "app.py", "start_line": "x"}, "`start_line` must be a whole number"),
        ({"path": "app.py", "start_line": 0}, "counts from 1"),
        ({"path": "app.py", "start_line": 99}, "has 14 lines"),
        ({"path": "app.py", "start_line": 5, "end_line": 2}, "before `start_line`"),
        ({"path": "app.py", "lines": 3}, "no argument `lines`"),
        ({"path": "ap.py"}, "did you mean app.py"),
        ({"path": "blob.bin"}, "binary"),
        ({"path": "../../etc/passwd"}, "leaves the workspace"),
        ({"path": "/etc/passwd"}, "outside the workspace"),
    ],
)
def test_read_file_mistakes(env: ToolEnv, args: dict[str, object], expected: str) -> None:
    out = TOOLS["read_file"].run(args, env)
    assert out.startswith("error: ") and expected in out, out
    assert "\n" not in out  # one line


def test_search(env: ToolEnv) -> None:
    out = call(env, "search", pattern=r"def (add|sub)")
    assert out.splitlines() == ["app.py:4: def add(a, b):", "app.py:8: def sub(a, b):"]
    assert (
        call(env, "search", pattern="add", path="test_app.py").splitlines()[0] == "test_app.py:1: from app import add"
    )
    many = call(env, "search", pattern="line")
    assert "more matches not shown" in many and many.count("\n") == 100
    assert call(env, "search", pattern="zzz_nothing").startswith("no matches")
    assert call(env, "search", pattern="(").startswith("error: search: `pattern` is not a valid regular expression")
    assert call(env, "search", pattern="x", path="missing").startswith("error: no file `missing`")


def test_list_symbols_from_the_map_follows_edits(env: ToolEnv) -> None:
    out = call(env, "list_symbols", path="app.py")
    assert "app.py:4 function add" in out and "Calc.total" in out
    assert "sub" not in call(env, "list_symbols", query="tot")
    call(env, "write_file", path="extra.py", content="def brand_new():\n    pass\n")
    assert "extra.py:1 function brand_new" in call(env, "list_symbols", query="brand")
    without_map = ToolEnv(sandbox=env.sandbox)
    assert "app.py:8 function sub" in call(without_map, "list_symbols", query="sub")
    assert call(env, "list_symbols", query="nothing_like_it").startswith("no definitions")


def test_edit_replaces_the_one_occurrence(env: ToolEnv) -> None:
    out = call(env, "edit", path="app.py", search="    return a + b", replace="    return b + a")
    assert out.startswith("edited app.py; lines 5-5") and "return b + a" in out
    assert "return b + a" in (env.sandbox.root / "app.py").read_text()
    assert (env.sandbox.workspace / "app.py").read_text() == APP  # the user's file untouched
    # A CRLF file edited with \n text keeps its line ends.
    call(env, "edit", path="notes.txt", search="two\nthree", replace="2\n3")
    assert (env.sandbox.root / "notes.txt").read_bytes() == b"one\r\n2\r\n3\r\n"


def test_edit_mistakes_say_what_to_do(env: ToolEnv) -> None:
    twice = call(env, "edit", path="app.py", search="(a, b):", replace="(x, y):")
    assert twice.startswith("error: ") and "occurs 2 times" in twice and "lines 4, 8" in twice
    missing = call(env, "edit", path="app.py", search="def add(a,b):\n  return a+b", replace="x")
    assert "is not in app.py" in missing and "lines 4-5 are similar" in missing and "4\tdef add(a, b):" in missing
    numbered = call(env, "edit", path="app.py", search="4\tdef add(a, b):", replace="x")
    assert "line numbers" in numbered
    assert "is empty" in call(env, "edit", path="app.py", search="", replace="x")
    assert "the same" in call(env, "edit", path="app.py", search="add", replace="add")
    assert "needs the argument `replace`" in call(env, "edit", path="app.py", search="add")
    assert (env.sandbox.root / "app.py").read_text() == APP


def test_apply_patch_all_or_nothing(env: ToolEnv) -> None:
    patch = """--- a/app.py
+++ b/app.py
@@ -8,2 +8,2 @@
 def sub(a, b):
-    return a - b
+    return b - a
--- /dev/null
+++ b/pkg/new.py
@@ -0,0 +1,2 @@
+def made():
+    return 1
--- a/long.txt
+++ /dev/null
@@ -1,2 +0,0 @@
-line 1
-line 2
"""
    out = call(env, "apply_patch", patch=patch)
    assert out.startswith("error: ")  # long.txt has 1000 lines: the deletion does not remove them all
    assert not (env.sandbox.root / "pkg").exists() and "return a - b" in (env.sandbox.root / "app.py").read_text()
    good = patch.split("--- a/long.txt")[0]
    out = call(env, "apply_patch", patch=good)
    assert out == "patched app.py (modified, 1 hunk), pkg/new.py (added, 1 hunk)"
    assert "return b - a" in (env.sandbox.root / "app.py").read_text()
    assert (env.sandbox.root / "pkg" / "new.py").read_text() == "def made():\n    return 1\n"
    assert "pkg/new.py:1 function made" in call(env, "list_symbols", path="pkg")
    conflict = call(env, "apply_patch", patch="--- a/app.py\n+++ b/app.py\n@@ -1 +1 @@\n-not there\n+x\n")
    assert conflict.startswith("error: apply_patch: nothing was applied") and "hunk 1" in conflict
    assert call(env, "apply_patch", patch="just words").startswith("error: apply_patch: no file changes")
    outside = call(env, "apply_patch", patch="--- /dev/null\n+++ b/../evil.py\n@@ -0,0 +1 @@\n+x\n")
    assert outside.startswith("error: ") and "leaves the workspace" in outside
    assert not (env.sandbox.root.parent / "evil.py").exists()
    exists = call(env, "apply_patch", patch="--- /dev/null\n+++ b/app.py\n@@ -0,0 +1 @@\n+x\n")
    assert "already exists" in exists


def test_write_file(env: ToolEnv) -> None:
    assert call(env, "write_file", path="d/e/f.txt", content="a\nb") == "wrote d/e/f.txt (2 lines, new file)"
    assert call(env, "write_file", path="d/e/f.txt", content="c\n") == "wrote d/e/f.txt (1 lines, replaced)"
    assert (env.sandbox.root / "d/e/f.txt").read_text() == "c\n"
    assert "is a folder" in call(env, "write_file", path="d", content="x")
    assert "outside the workspace" in call(env, "write_file", path="/tmp/x", content="x")
    env.sandbox.run("ln -s /tmp link")
    assert "symlink" in call(env, "write_file", path="link/x", content="x")
    changes = {c.path: c.status for c in env.sandbox.changes()}
    assert changes == {"d/e/f.txt": "added"}


def test_run_and_run_tests(env: ToolEnv) -> None:
    out = call(env, "run", command="echo hi; exit 3")
    assert out == "exit code 3\nhi\n"
    slow = call(env, "run", command="sleep 30", timeout_s=1)
    assert slow.startswith("timed out after 1 s (killed)")
    assert "`timeout_s` must be a number" in call(env, "run", command="true", timeout_s="soon")
    assert "`command` is empty" in call(env, "run", command="  ")
    failing = call(env, "run_tests")
    assert failing.startswith("tests failed") and "1 failed, 1 passed" in failing
    one = call(env, "run_tests", tests=["test_app.py::test_add"])
    assert one.startswith("tests passed (") and one.splitlines()[0].endswith(" test_app.py::test_add)")
    assert "1 passed" in one
    injected = call(env, "run_tests", tests=["test_app.py; touch pwned"])
    assert "tests failed" in injected and not (env.sandbox.root / "pwned").exists()


def test_run_is_cancelled(env: ToolEnv) -> None:
    started = env.sandbox.root / "started"
    cancelling = ToolEnv(sandbox=env.sandbox, cancelled=started.exists, command_timeout=600)
    with pytest.raises(CommandCancelled):
        call(cancelling, "run", command="touch started; sleep 600")


def test_finish_and_unknown_tools(env: ToolEnv) -> None:
    assert call(env, "finish", summary="  Fixed add.  ") == "Fixed add."
    assert call(env, "finish", summary=" ").startswith("error: finish: `summary` is empty")
    assert run_tool("delete_everything", {}, env).startswith("error: there is no tool `delete_everything`")
    assert run_tool("run", {"command": "true"}, env, allowed=["read_file"]).startswith("error: there is no tool")
    assert run_tool("read_file", None, env).startswith("error: read_file needs the argument `path`")
    assert TOOLS["read_file"].run(["app.py"], env).startswith("error: read_file takes a JSON object")  # type: ignore[arg-type]
