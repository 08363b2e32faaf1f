"""codeforge.changes: diffs that apply back exactly (CRLF, no final newline, moved text), undo,
conflicts, and git-style text that git itself applies."""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from codeforge.changes import (
    NO_NEWLINE,
    FileChange,
    Hunk,
    HunkConflict,
    PatchError,
    apply_change,
    apply_hunks,
    diff_texts,
    parse_unified,
    sha256_text,
    unified,
)
from tests.conftest import require

WORDS = ["alpha", "beta", "gamma", "", "    indented", "x = 1", "tail  ", "ünïcode", "\tTab", "def f():"]


def _random_text(rng: random.Random) -> str:
    lines = [
        rng.choice(WORDS) + (str(rng.randrange(5)) if rng.random() < 0.5 else "") for _ in range(rng.randrange(0, 40))
    ]
    eol = "\r\n" if rng.random() < 0.2 else "\n"
    text = eol.join(lines)
    if lines and rng.random() < 0.7:
        text += eol
    return text


def _edit(rng: random.Random, text: str) -> str:
    lines = text.split("\n")
    for _ in range(rng.randrange(1, 6)):
        kind = rng.randrange(4)
        at = rng.randrange(len(lines) + 1)
        if kind == 0:
            lines.insert(at, rng.choice(WORDS) + "!")
        elif kind == 1 and lines:
            del lines[min(at, len(lines) - 1)]
        elif kind == 2 and lines:
            lines[min(at, len(lines) - 1)] += " changed"
        else:
            lines[at:at] = [rng.choice(WORDS) for _ in range(rng.randrange(1, 8))]
    new = "\n".join(lines)
    if rng.random() < 0.15:  # the final newline comes or goes
        new = new[:-1] if new.endswith("\n") else new + "\n"
    return new


def test_round_trip_of_many_random_edits() -> None:
    rng = random.Random(1307)
    checked = 0
    for _ in range(1500):
        old = _random_text(rng)
        new = _edit(rng, old)
        change = diff_texts("f.txt", old, new, context=rng.choice([0, 1, 3]))
        if old == new:
            assert change is None
            continue
        assert change is not None and change.status == "modified"
        assert apply_hunks(old, change.hunks) == new
        assert apply_hunks(new, change.hunks, reverse=True) == old
        # The text round-trips through its unified form too.
        [parsed] = parse_unified(unified([change]))
        assert parsed.hunks == change.hunks
        checked += 1
    assert checked > 1000


def test_hunks_apply_one_by_one_in_any_subset() -> None:
    rng = random.Random(7)
    for _ in range(300):
        old = "\n".join(f"line {i}" for i in range(60)) + "\n"
        new = _edit(rng, _edit(rng, old))
        change = diff_texts("f", old, new, context=1)
        if change is None:
            continue
        subset = [h for h in change.hunks if rng.random() < 0.5]
        partial = apply_hunks(old, subset)
        rest = [h for h in change.hunks if h not in subset]
        # The hunks not taken still apply afterwards, by their lines, and give the whole change.
        assert apply_hunks(apply_hunks(partial, subset, reverse=True), change.hunks) == new
        if not rest:
            assert partial == new


def test_no_newline_at_end_of_file_is_a_change_of_its_own() -> None:
    change = diff_texts("a.py", "x = 1", "x = 1\n")
    assert change is not None
    assert change.hunks[0].lines == ["-x = 1", NO_NEWLINE, "+x = 1"]
    text = unified([change])
    assert "\\ No newline at end of file" in text
    assert apply_hunks("x = 1", change.hunks) == "x = 1\n"
    assert apply_hunks("x = 1\n", change.hunks, reverse=True) == "x = 1"


def test_crlf_text_keeps_its_line_ends() -> None:
    old = "a\r\nb\r\nc\r\n"
    new = "a\r\nB\r\nc\r\n"
    change = diff_texts("w.txt", old, new)
    assert change is not None
    assert change.hunks[0].lines == [" a\r", "-b\r", "+B\r", " c\r"]
    assert apply_hunks(old, change.hunks) == new


def test_an_lf_patch_applies_to_a_crlf_file_in_its_line_ends() -> None:
    [change] = parse_unified("--- a/w.txt\n+++ b/w.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n")
    assert apply_hunks("a\r\nb\r\nc\r\n", change.hunks) == "a\r\nB\r\nc\r\n"


def test_a_moved_hunk_is_found_nearest_its_line() -> None:
    old = "".join(f"{i}\n" for i in range(1, 21))
    new = old.replace("10\n", "ten\n")
    change = diff_texts("n", old, new)
    assert change is not None and change.hunks[0].old_start == 7
    # Ten lines arrived at the top since the diff was made.
    moved = "".join(f"new {i}\n" for i in range(10)) + old
    assert apply_hunks(moved, change.hunks) == "".join(f"new {i}\n" for i in range(10)) + new


def test_the_nearest_of_repeated_places_is_taken() -> None:
    block = "if x:\n    return 1\n"
    old = block + "pad\n" * 20 + block
    # Said to be at line 15: the copy at 23 is nearer than the one at 1.
    hunk = Hunk(15, 2, 15, 2, [" if x:", "-    return 1", "+    return 2"])
    out = apply_hunks(old, [hunk])
    assert out == block + "pad\n" * 20 + "if x:\n    return 2\n"


def test_conflict_names_the_file_and_hunk() -> None:
    change = diff_texts("src/m.py", "a\nb\nc\n", "a\nB\nc\n")
    assert change is not None
    with pytest.raises(HunkConflict) as info:
        apply_hunks("totally\ndifferent\n", change.hunks, path="src/m.py")
    assert info.value.path == "src/m.py" and info.value.index == 0
    assert "src/m.py" in str(info.value) and "hunk 1" in str(info.value)


def test_hunks_never_apply_before_the_previous_one() -> None:
    # The second hunk's lines occur only above the first: no silent reordering.
    hunks = [Hunk(3, 1, 3, 1, ["-c", "+C"]), Hunk(4, 1, 4, 1, ["-a", "+A"])]
    with pytest.raises(HunkConflict) as info:
        apply_hunks("a\nb\nc\n", hunks)
    assert info.value.index == 1


def test_added_and_deleted_files() -> None:
    added = diff_texts("new.py", None, "print(1)\n")
    assert added is not None and added.status == "added" and added.old_sha256 == ""
    assert added.hunks[0].header() == "@@ -0,0 +1 @@"
    assert apply_change(None, added) == "print(1)\n"
    assert apply_change("print(1)\n", added, reverse=True) is None
    deleted = diff_texts("old.py", "a\nb\n", None)
    assert deleted is not None and deleted.status == "deleted"
    assert deleted.old_sha256 == sha256_text("a\nb\n")
    assert apply_change("a\nb\n", deleted) is None
    assert apply_change(None, deleted, reverse=True) == "a\nb\n"
    with pytest.raises(HunkConflict):
        apply_change("a\nb\nmore\n", deleted)
    empty = diff_texts("empty", None, "")
    assert empty is not None and empty.status == "added" and empty.hunks == []
    assert diff_texts("same", "x\n", "x\n") is None


def test_unified_text_is_what_git_applies(tmp_path: Path) -> None:
    require("git", shutil.which("git") is not None, "git is not installed")
    files = {
        "mod.py": ("a = 1\nb = 2\nc = 3\n", "a = 1\nb = 20\nc = 3\n"),
        "gone.txt": ("bye\n", None),
        "dir/new.txt": (None, "hello\nworld"),
        "crlf.txt": ("one\r\ntwo\r\n", "one\r\nTWO\r\n"),
        "tail.txt": ("no end", "no end\nnow\n"),
    }
    for path, (old, _) in files.items():
        if old is not None:
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_bytes(old.encode())
    changes = [c for p, (o, n) in files.items() if (c := diff_texts(p, o, n)) is not None]
    text = unified(changes)
    assert "diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null" in text
    assert "--- /dev/null\n+++ b/dir/new.txt" in text
    (tmp_path / "p.diff").write_bytes(text.encode())
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "apply", "p.diff"], check=True, capture_output=True)
    for path, (_, new) in files.items():
        if new is None:
            assert not (tmp_path / path).exists()
        else:
            assert (tmp_path / path).read_bytes() == new.encode()


def test_parse_is_lenient_with_models_patches() -> None:
    patch = """Here is the fix:

```diff
--- a/app.py
+++ b/app.py
@@ -1,2 +1,9 @@
 def f():
-    return 1
+    return 2

@@
 def g():

-    pass
+    return 3
```
"""
    [change] = parse_unified(patch)
    assert change.path == "app.py" and change.status == "modified"
    assert [(h.old_lines, h.new_lines) for h in change.hunks] == [(2, 2), (3, 3)]
    text = "def f():\n    return 1\n\ndef g():\n\n    pass\n"
    assert apply_hunks(text, change.hunks) == "def f():\n    return 2\n\ndef g():\n\n    return 3\n"


def test_parse_new_and_deleted_files_and_several_files() -> None:
    patch = (
        "diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1,2 @@\n+1\n+2\n"
        "diff --git a/y b/y\ndeleted file mode 100644\n--- a/y\n+++ /dev/null\n@@ -1 +0,0 @@\n-gone\n"
        "--- a/z\n+++ b/z\n@@ -1 +1 @@\n--- old dashes\n+++ new pluses\n"
    )
    x, y, z = parse_unified(patch)
    assert (x.path, x.status, apply_change(None, x)) == ("x", "added", "1\n2\n")
    assert (y.path, y.status, apply_change("gone\n", y)) == ("y", "deleted", None)
    # A removed line that looks like a file header stays a line of the hunk.
    assert z.hunks[0].lines == ["--- old dashes", "+++ new pluses"]


def test_parse_errors_name_the_line() -> None:
    with pytest.raises(PatchError, match="line 1"):
        parse_unified("@@ -1 +1 @@\n-a\n+b\n")
    with pytest.raises(PatchError, match="/dev/null"):
        parse_unified("--- /dev/null\n+++ /dev/null\n")
    assert parse_unified("just prose, no diff") == []


def test_file_change_shape() -> None:
    change = FileChange(path="a", status="modified", hunks=[])
    assert change.old_sha256 == ""
