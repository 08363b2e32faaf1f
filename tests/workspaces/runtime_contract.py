"""What every workspace runtime must do alike, checked once here and called from each
runtime's tests (tests/workspaces/test_*_runtime.py)."""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path

from codeforge.platform.workspaces.records import RuntimeHandle, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import WorkspaceRuntime

__all__ = ["check_exec_timeout_kills_the_command"]


def check_exec_timeout_kills_the_command(runtime: WorkspaceRuntime, ws_id: str, tree: Path) -> RuntimeHandle:
    """`exec` past its timeout answers 124 with what it printed, and the command is gone (a
    container's processes are the host's too: another pid namespace, the same kernel);
    exit codes and both streams come back. The workspace it made, for more checks."""
    handle = runtime.create(ws_id, WorkspaceSpec(), tree, {})
    marker = f"30.{uuid.uuid4().int % 10**8}"  # a sleep length no other process uses
    started = time.monotonic()
    done = runtime.exec(handle, ["sh", "-c", f"echo before; sleep {marker}"], timeout_s=1)
    assert time.monotonic() - started < 10
    assert done.exit_code == 124 and "before" in done.output and "timed out after 1s" in done.output
    time.sleep(0.2)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                assert marker not in (entry / "cmdline").read_bytes().decode(errors="replace")
    failing = runtime.exec(handle, ["sh", "-c", "echo out; echo err >&2; exit 7"], timeout_s=5)
    assert failing.exit_code == 7 and "out" in failing.output and "err" in failing.output
    return handle
