"""A platform killed in the middle of a canary rollout: when it starts again, its crash
cleanup ends the rollout as a halt would (the canary's instances stopped, its release rolled
back, the edge route back on the previous release alone) and the previous release, whose
instances outlived the platform, keeps serving."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from codeforge.catalog import JobRef
from tests.conftest import RunningPlatform
from tests.deployments.conftest import (
    EdgeRig,
    answers,
    deploy_app,
    edge_address,
    run,
    set_app,
    through_edge,
    wait_serving,
    workspace_with_app,
)
from tests.servers.caddy import need_caddy


def test_a_rollout_killed_with_the_platform_is_rolled_back_at_restart(
    platform_factory: Callable[..., RunningPlatform],
) -> None:
    need_caddy()
    platform = platform_factory(CODEFORGE_EDGE_NODES="local", CODEFORGE_WORKSPACES_PORT_RANGE="24800-24899")
    client = platform.client()
    edge = EdgeRig(platform, edge_address(platform))
    host = "crash.demo.localhost"
    tree = workspace_with_app(client, "demo", "crash", "before")
    deploy_app(client, "demo", "crash", "crash")
    wait_serving(edge, host, "before")
    set_app(tree, "during")
    out = client.call("deployments.deploy", {
        "project": "demo", "name": "crash", "workspace": "crash", "command": ["python3", "app.py"],
        "health_path": "/health", "strategy": "canary", "canary_steps": [50, 100], "step_s": 600,
        "min_requests": 1_000_000,
    })  # fmt: skip
    assert isinstance(out, JobRef)

    def canary() -> dict[str, Any] | None:
        info = run(client, "deployments.show", {"project": "demo", "name": "crash"})
        return next((r for r in info["releases"] if r["number"] == 2 and r["traffic"] == 50), None)

    for _ in range(600):
        if (found := canary()) is not None:
            break
        time.sleep(0.1)
    assert found is not None, "the canary never reached 50 %"
    canary_ports = [int(i["address"].rsplit(":", 1)[1]) for i in found["instances"]]
    assert canary_ports and all(answers(p) for p in canary_ports)
    client.close()

    platform.kill()
    platform.start()
    client = platform.client()
    edge = EdgeRig(platform, edge_address(platform))
    info = run(client, "deployments.show", {"project": "demo", "name": "crash"})
    assert info["state"] == "rolled-back" and info["current"] == 1
    [v2] = [r for r in info["releases"] if r["number"] == 2]
    assert v2["state"] == "rolled-back" and v2["instances"] == [] and "stopped during" in v2["error"]
    assert not any(answers(p) for p in canary_ports)
    assert "cleaned up" in platform.logs() and "interrupted rollout" in platform.logs()
    wait_serving(edge, host, "before")
    with httpx.Client(timeout=10) as c:
        assert {through_edge(edge, host, client=c).text for _ in range(40)} == {"before"}
    # And it deploys again.
    set_app(tree, "after")
    assert deploy_app(client, "demo", "crash", "crash")["current"] == 3
    wait_serving(edge, host, "after")
    run(client, "deployments.delete", {"project": "demo", "name": "crash"})
    run(client, "workspaces.delete", {"project": "demo", "name": "crash"})
    assert not list((Path(platform.data_dir) / "deployments" / "runtime").glob("dep-*"))
    client.close()
