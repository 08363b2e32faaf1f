"""Time from `deployments.rollback` to 100 % of traffic on the old release, through a real
platform (`codeforge up`), its Caddy edge node and local-runtime instances.

Two cases, each repeated --runs times:

- blue-green: the old release's instances still run (the standby), so a rollback is one edge
  publish; target under 1 s.
- rolling: the old release was retired (no instances), so its instances are started from its
  snapshot and health-checked first, then one publish.

The clock starts when the rollback request is sent and stops at the first of --confirm
consecutive answers through the edge all from the old release (a client polling as fast as
it can); the operation's own figure (the publish alone, "traffic switched in N ms") is
printed beside it. The baseline measured in the same run is one bare edge publish of the
same route through `edge.publish` (the edge's own config change, both sets running), so the
ratio says what a rollback costs over the publish it ends with.

    .venv/bin/python -m benchmarks.rollback              # 3 runs of each
    .venv/bin/python -m benchmarks.rollback --runs 5 --json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from codeforge.catalog import JobRef
from codeforge.catalog.jobs import JobState
from codeforge.client import PlatformClient

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo"
APP = """
import os, pathlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
version = (pathlib.Path(__file__).resolve().parent / "version.txt").read_text().strip().encode()
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(version)))
        self.end_headers()
        self.wfile.write(version)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Platform:
    def __init__(self, base: Path) -> None:
        self.data, self.config = base / "data", base / "config"
        self.data.mkdir(parents=True)
        self.port = _free_port()
        self.http_port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")}
        env.update(
            CODEFORGE_CONFIG_DIR=str(self.config), CODEFORGE_DATA_DIR=str(self.data), CODEFORGE_PORT=str(self.port),
            CODEFORGE_BOOTSTRAP="1", CODEFORGE_BOOTSTRAP_PROJECT=PROJECT, CODEFORGE_INSTANCE_ID=f"bench-{self.port}",
            CODEFORGE_EDGE_NODES="local", CODEFORGE_EDGE_HTTP_PORT=str(self.http_port), PYTHONUNBUFFERED="1",
        )  # fmt: skip
        self.log = (base / "platform.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "codeforge", "up", "--project", PROJECT], env=env, stdout=self.log,
            stderr=self.log, cwd=ROOT,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the platform did not start; see {base / 'platform.log'}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        token = json.loads((self.config / "credentials.json").read_text())["token"]
        self.client = PlatformClient(f"http://127.0.0.1:{self.port}", token, timeout=180)

    def run(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        out = self.client.call(op, {"project": PROJECT, **body})
        if isinstance(out, JobRef):
            last = list(self.client.events(out.job_id))[-1]
            if last.state is not JobState.SUCCEEDED:
                raise RuntimeError(self.client.job(out.job_id).error or str(last.state))
            assert last.result is not None
            return dict(last.result)
        return dict(out.model_dump(mode="json"))

    def stop(self) -> None:
        self.client.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def _until_all(edge: str, host: str, body: str, confirm: int) -> float:
    """Seconds until `confirm` consecutive answers are `body`."""
    began = time.monotonic()
    streak = 0
    first_ok = began
    with httpx.Client(timeout=5) as c:
        while streak < confirm:
            try:
                ok = c.get(f"http://{edge}/", headers={"Host": host}).text == body
            except httpx.HTTPError:
                ok = False
            if ok and streak == 0:
                first_ok = time.monotonic()
            streak = streak + 1 if ok else 0
            if time.monotonic() - began > 120:
                raise RuntimeError(f"{host} never answered {body!r}")
    return first_ok - began


def _switch_ms(message: str) -> float | None:
    found = re.search(r"switched in (\d+) ms", message)
    return float(found.group(1)) if found else None


def measure(p: Platform, edge: str, strategy: str, runs: int, confirm: int) -> dict[str, Any]:
    name = f"bench-{strategy.replace('-', '')}"
    host = f"{name}.{PROJECT}.localhost"
    ws = p.run("workspaces.create", {"name": name, "template": "empty"})
    tree = Path(ws["folder"])
    (tree / "app.py").write_text(APP)
    body = {"name": name, "workspace": name, "command": ["python3", "app.py"], "strategy": strategy, "step_s": 0}
    wall: list[float] = []
    publish: list[float] = []
    for n in range(runs):
        (tree / "version.txt").write_text(f"old-{n}\n")
        old = p.run("deployments.deploy", body)["current"]
        (tree / "version.txt").write_text(f"new-{n}\n")
        p.run("deployments.deploy", body)
        _until_all(edge, host, f"new-{n}", confirm)
        began = time.monotonic()
        info = p.run("deployments.rollback", {"name": name, "release": old})
        sent_to_done = time.monotonic() - began
        wall.append(sent_to_done + _until_all(edge, host, f"old-{n}", confirm))
        if (ms := _switch_ms(info["message"])) is not None:
            publish.append(ms / 1000)
    baseline: list[float] = []
    if strategy == "blue-green":  # a bare edge.publish of the same route, both sets running
        info = p.run("deployments.show", {"name": name})
        sets = {
            r["number"]: (r["id"], [i["address"] for i in r["instances"]])
            for r in info["releases"]
            if r["number"] in (info["current"], info["standby"])
        }
        bodies = {info["current"]: f"old-{runs - 1}", info["standby"]: f"new-{runs - 1}"}
        order = [info["standby"], info["current"]]
        for k in range(runs):
            number = order[k % 2]
            group, addresses = sets[number]
            route = {
                "name": f"deploy-{name}", "hosts": [host], "health_path": "/",
                "backends": [{"address": a, "group": group} for a in addresses],
            }  # fmt: skip
            began = time.monotonic()
            p.run("edge.publish", route)
            baseline.append(time.monotonic() - began + _until_all(edge, host, bodies[number], confirm))
    p.run("deployments.delete", {"name": name})
    p.run("workspaces.delete", {"name": name})
    out: dict[str, Any] = {
        "strategy": strategy,
        "runs": runs,
        "rollback_to_100pct_s": {"median": statistics.median(wall), "max": max(wall)},
        "publish_s": {"median": statistics.median(publish)} if publish else None,
    }
    if baseline:
        out["publish_baseline_s"] = {"median": statistics.median(baseline)}
        out["ratio_vs_publish"] = statistics.median(wall) / statistics.median(baseline)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--confirm", type=int, default=20, help="consecutive answers that make 100 %%")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="cf-bench-rollback-"))
    p = Platform(base)
    try:
        edge = f"127.0.0.1:{p.http_port}"
        results = [measure(p, edge, s, args.runs, args.confirm) for s in ("blue-green", "rolling")]
    finally:
        p.stop()
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for r in results:
        line = (
            f"{r['strategy']:>10}: rollback → 100 % on the old release in {r['rollback_to_100pct_s']['median']:.3f} s "
            f"median, {r['rollback_to_100pct_s']['max']:.3f} s max over {r['runs']} runs"
        )
        if r.get("publish_s"):
            line += f"; the edge publish inside it {r['publish_s']['median'] * 1000:.0f} ms"
        if "ratio_vs_publish" in r:
            line += (
                f"; a bare edge.publish (baseline) {r['publish_baseline_s']['median']:.3f} s, "
                f"ratio {r['ratio_vs_publish']:.2f}x"
            )
        print(line)
    target = results[0]["rollback_to_100pct_s"]["median"]
    print(f"target: blue-green rollback under 1 s → {'met' if target < 1 else 'NOT met'} ({target:.3f} s)")


if __name__ == "__main__":
    main()
