"""`PathMap`: DAP paths between the editor's folder and the workspace, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeforge.bridge.dap_paths import LAUNCH_PATH_KEYS, PATH_KEYS, PathMap, PathRefused

WS = Path("/srv/work/shop")
EDITOR = "/home/ana/shop"


def test_both_ways_at_any_depth_and_normalised() -> None:
    paths = PathMap(WS, EDITOR)
    message = {"source": {"path": f"{EDITOR}/./pkg//mod.py"}, "breakpoints": [{"line": 3}], "other": {"path": 1}}
    assert paths.walk_to_workspace(message) == {
        "source": {"path": "/srv/work/shop/pkg/mod.py"},
        "breakpoints": [{"line": 3}],
        "other": {"path": 1},
    }
    frames = {"stackFrames": [{"source": {"path": "/srv/work/shop/a.py"}}, {"source": {"path": "/usr/lib/os.py"}}]}
    back = paths.walk_to_editor(frames)
    assert [f["source"]["path"] for f in back["stackFrames"]] == [f"{EDITOR}/a.py", "/usr/lib/os.py"]
    # A workspace path stays (a lens of the language server beside the workspace names those).
    assert paths.to_workspace("/srv/work/shop/b.py") == "/srv/work/shop/b.py"
    # A path the proxy sent out unmapped (the standard library) may come back as it is.
    assert paths.to_workspace("/usr/lib/os.py") == "/usr/lib/os.py"
    launch = {"program": "tools/run.py", "cwd": EDITOR, "args": ["--path", "/etc"]}
    assert paths.walk_to_workspace(launch, PATH_KEYS | LAUNCH_PATH_KEYS) == {
        "program": "/srv/work/shop/tools/run.py",
        "cwd": "/srv/work/shop",
        "args": ["--path", "/etc"],
    }


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        f"{EDITOR}/../secrets.txt",
        "../outside.py",
        "pkg/../../x.py",
        f"{EDITOR}-other/a.py",
        "/srv/work/shop-2/a.py",
        "a\x00b",
    ],
)
def test_paths_that_leave_the_workspace_are_refused(path: str) -> None:
    with pytest.raises(PathRefused) as refused:
        PathMap(WS, EDITOR).to_workspace(path)
    assert "workspace" in str(refused.value) or "NUL" in str(refused.value)


def test_without_a_local_root_the_workspace_paths_are_the_editors_and_bad_roots_are_refused() -> None:
    paths = PathMap(WS)
    assert paths.to_workspace("/srv/work/shop/a.py") == "/srv/work/shop/a.py"
    assert paths.to_editor("/srv/work/shop/a.py") == "/srv/work/shop/a.py"
    with pytest.raises(PathRefused, match="not an absolute path"):
        paths.set_local_root("relative/dir")
    paths.set_local_root("/Users/ben/shop/")
    assert paths.to_editor("/srv/work/shop") == "/Users/ben/shop"
    assert paths.to_workspace("/Users/ben/shop") == "/srv/work/shop"
