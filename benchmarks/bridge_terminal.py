"""Keystroke echo round trip: a key typed into `codeforge connect --terminal` until its echo
is back on the local screen, through the relay, a websocket on loopback, the bridge and the
workspace's pty (target: p50 under 5 ms), against the baseline measured in the same run: the
same key into a local pty running the same program directly.

The program is `cat` in both, so the echo is the pty's line discipline and nothing else: the
figure is what the path adds, not a shell's redraw. This process plays the terminal emulator:
it owns the local pty that `codeforge connect` runs in (raw mode, as on a real terminal).

    .venv/bin/python -m benchmarks.bridge_terminal [--samples 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import string
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

from benchmarks.bridge_lsp import start_bridge
from benchmarks.lsp_roundtrip import ROOT, _stats, own_platform

WARMUP = 50
LINE = 64  # keys per line; Enter then lets cat print the line and the screen starts over
GUARD_S = 30.0


class Screen:
    """The master end of a pty whose slave runs a program: type keys, read what is shown."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.master, slave = os.openpty()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=subprocess.DEVNULL, env=env, cwd=ROOT, start_new_session=True
        )
        os.close(slave)
        self.shown = b""
        self.line = b""  # typed since the last Enter

    def read_until(self, needle: bytes) -> None:
        deadline = time.monotonic() + GUARD_S
        while not self.shown.endswith(needle):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"never shown: {needle!r}; the screen ends with {self.shown[-200:]!r}")
            if select.select([self.master], [], [], 1.0)[0]:
                self.shown += os.read(self.master, 65536)

    def echo_times(self, samples: int) -> list[float]:
        times = []
        for i in range(samples):
            key = string.ascii_letters[i % len(string.ascii_letters)].encode()
            start = time.perf_counter()
            os.write(self.master, key)
            self.read_until(key)
            times.append(time.perf_counter() - start)
            self.line += key
            if len(self.line) == LINE:  # Enter: the echo of the newline, then cat's copy of the line
                os.write(self.master, b"\r")
                self.read_until(self.line + b"\r\n" + self.line + b"\r\n")
                self.line = b""
        return times

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self.master)


def _ready(screen: Screen, relayed: bool) -> None:
    """cat is reading once a typed line comes back (echo, then cat's copy). `codeforge
    connect` is relaying once it put its tty in raw mode: before, the local pty would echo."""
    deadline = time.monotonic() + GUARD_S
    while relayed and termios.tcgetattr(screen.master)[3] & termios.ECHO:
        if time.monotonic() > deadline or screen.process.poll() is not None:
            raise RuntimeError("codeforge connect --terminal never started relaying")
        time.sleep(0.05)
    os.write(screen.master, b"ready\r")
    screen.read_until(b"ready\r\nready\r\n")


async def measure(url: str, token: str, env: dict[str, str], samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cf-terminal-bench-") as tmp:
        workspace = Path(tmp, "workspace")
        workspace.mkdir()
        env = {**env, "CODEFORGE_URL": url, "CODEFORGE_TOKEN": token}
        bridge, bridge_url = await start_bridge(workspace, env, url)
        local = Screen(["cat"])
        remote = Screen([sys.executable, "-m", "codeforge", "connect", bridge_url, "--terminal", "--", "cat"], env)
        try:
            for screen in (local, remote):
                _ready(screen, relayed=screen is remote)
                screen.echo_times(WARMUP)
            baseline = local.echo_times(samples)
            through = remote.echo_times(samples)
        finally:
            local.close()
            remote.close()
            bridge.terminate()
            await bridge.wait()
    base_p50, base_p99 = _stats(baseline)
    p50, p99 = _stats(through)
    return {
        "samples": samples,
        "local_pty_p50_ms": round(base_p50, 3),
        "local_pty_p99_ms": round(base_p99, 3),
        "bridge_p50_ms": round(p50, 3),
        "bridge_p99_ms": round(p99, 3),
        "added_p50_ms": round(p50 - base_p50, 3),
        "ratio_p50": round(p50 / base_p50, 1) if base_p50 else None,
        "target_p50_ms": 5.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with own_platform() as (url, token, env):
        result = asyncio.run(measure(url, token, env, args.samples))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"keystroke echo round trip, {args.samples} keys each (p50 / p99):")
    print(f"  local pty (baseline)         {result['local_pty_p50_ms']:.3f} ms / {result['local_pty_p99_ms']:.3f} ms")
    print(f"  connect -> bridge -> pty     {result['bridge_p50_ms']:.3f} ms / {result['bridge_p99_ms']:.3f} ms")
    verdict = "met" if result["bridge_p50_ms"] < result["target_p50_ms"] else "MISSED"
    print(
        f"  added by relay + bridge      {result['added_p50_ms']:.3f} ms at p50 "
        f"({result['ratio_p50']}x the local pty); target p50 < 5 ms: {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
