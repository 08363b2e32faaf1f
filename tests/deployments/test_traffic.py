"""Deployments with traffic through a real Caddy edge node: a blue-green switch and back under
a steady client with no failed request, a canary at 10 % taking about 10 % of 1,000 requests
and then cancelled (the previous release keeps serving, nothing of the canary left), a
rolling update and a manual rollback to an earlier release (its time to 100 % printed), and
a release answering 500s rolled back automatically from the edge's metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from codeforge.catalog import JobRef
from codeforge.catalog.errors import CodeForgeError
from codeforge.catalog.jobs import JobState
from codeforge.client import PlatformClient
from tests.conftest import RunningPlatform
from tests.deployments.conftest import (
    EdgeRig,
    Load,
    answers,
    deploy_app,
    instance_ports,
    need_edge_metrics,
    open_pane,
    run,
    set_app,
    through_edge,
    wait_serving,
    workspace_with_app,
)


def host(name: str) -> str:
    return f"{name}.demo.localhost"


def show(client: PlatformClient, name: str) -> dict[str, Any]:
    return run(client, "deployments.show", {"project": "demo", "name": name})


def release(info: dict[str, Any], number: int) -> dict[str, Any]:
    return next(r for r in info["releases"] if r["number"] == number)


def start_job(client: PlatformClient, body: dict[str, Any]) -> str:
    out = client.call("deployments.deploy", body)
    assert isinstance(out, JobRef)
    return out.job_id


def wait_for(predicate: Any, what: str, tries: int = 600) -> None:
    for _ in range(tries):
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"never: {what}")


def test_blue_green_switch_and_back_under_load(client: PlatformClient, edge: EdgeRig) -> None:
    tree = workspace_with_app(client, "demo", "bg", "blue")
    first = deploy_app(client, "demo", "bg", "bg", strategy="blue-green", instances=2)
    assert first["state"] == "live" and first["current"] == 1 and first["standby"] is None
    wait_serving(edge, host("bg"), "blue")
    set_app(tree, "green")
    with Load(edge, host("bg")) as load:
        second = deploy_app(client, "demo", "bg", "bg", strategy="blue-green", instances=2)
        assert second["current"] == 2 and second["standby"] == 1
        wait_serving(edge, host("bg"), "green")
        back = run(client, "deployments.switch", {"project": "demo", "name": "bg"})
        assert back["current"] == 1 and back["standby"] == 2
        wait_serving(edge, host("bg"), "blue")
        again = run(client, "deployments.switch", {"project": "demo", "name": "bg"})
        assert again["current"] == 2 and again["standby"] == 1
        wait_serving(edge, host("bg"), "green")
    assert load.failures == [] and set(load.codes) == {200}, (load.codes, load.failures[:3])
    print(f"blue-green under load: {load.total} requests, none failed, {load.retried} sent again on a new connection")
    assert load.bodies.get("blue", 0) > 0 and load.bodies.get("green", 0) > 0 and load.total > 20
    # Both sets run (the standby is what makes the switch instant); v1 is standby.
    assert all(answers(p) for p in instance_ports(again))
    assert release(again, 1)["state"] == "standby" and release(again, 2)["state"] == "live"
    # A third release retires the older standby: its instances stop.
    set_app(tree, "teal")
    old_ports = [int(i["address"].rsplit(":", 1)[1]) for i in release(again, 1)["instances"]]
    third = deploy_app(client, "demo", "bg", "bg", strategy="blue-green", instances=2)
    assert third["current"] == 3 and third["standby"] == 2 and release(third, 1)["state"] == "retired"
    assert not any(answers(p) for p in old_ports)
    run(client, "deployments.delete", {"project": "demo", "name": "bg"})
    assert through_edge(edge, host("bg")).text not in ("blue", "green", "teal")  # the route is gone


def test_canary_at_10_percent_then_cancel(client: PlatformClient, edge: EdgeRig) -> None:
    tree = workspace_with_app(client, "demo", "cn", "stable")
    deploy_app(client, "demo", "cn", "cn", instances=1)
    wait_serving(edge, host("cn"), "stable")
    set_app(tree, "canary")
    job = start_job(client, {
        "project": "demo", "name": "cn", "workspace": "cn", "command": ["python3", "app.py"],
        "health_path": "/health", "strategy": "canary", "canary_steps": [10, 100], "step_s": 600,
        "min_requests": 1_000_000, "instances": 1,
    })  # fmt: skip
    wait_for(lambda: any(r["number"] == 2 and r["traffic"] == 10 for r in show(client, "cn")["releases"]), "10 %")
    seen: dict[str, int] = {}
    with httpx.Client(timeout=10) as c:
        for _ in range(1000):
            r = through_edge(edge, host("cn"), client=c)
            assert r.status_code == 200
            seen[r.text] = seen.get(r.text, 0) + 1
    print(f"canary at 10 %: {seen.get('canary', 0)} of 1000 requests")
    assert 50 <= seen.get("canary", 0) <= 160 and seen.get("stable", 0) + seen.get("canary", 0) == 1000
    # Cancel: the job ends cancelled, the previous release serves everything, no canary left.
    canary_ports = [int(i["address"].rsplit(":", 1)[1]) for i in release(show(client, "cn"), 2)["instances"]]
    with pytest.raises(CodeForgeError, match="being rolled out"):
        run(client, "deployments.deploy", {"project": "demo", "name": "cn", "workspace": "cn", "command": ["x"]})
    run(client, "deployments.cancel", {"project": "demo", "name": "cn"})
    events = list(client.events(job))
    assert events[-1].state is JobState.CANCELLED
    info = show(client, "cn")
    assert info["state"] == "cancelled" and info["current"] == 1
    assert release(info, 2)["state"] == "cancelled" and release(info, 2)["instances"] == []
    assert release(info, 1)["traffic"] == 100
    assert not any(answers(p) for p in canary_ports)
    with httpx.Client(timeout=10) as c:
        assert {through_edge(edge, host("cn"), client=c).text for _ in range(50)} == {"stable"}
    run(client, "deployments.delete", {"project": "demo", "name": "cn"})


def test_rolling_update_and_manual_rollback(client: PlatformClient, edge: EdgeRig, platform: RunningPlatform) -> None:
    tree = workspace_with_app(client, "demo", "roll", "r1")
    deploy_app(client, "demo", "roll", "roll", instances=2, batch=1)
    wait_serving(edge, host("roll"), "r1")
    for version in ("r2", "r3"):
        set_app(tree, version)
        with Load(edge, host("roll")) as load:
            info = deploy_app(client, "demo", "roll", "roll", instances=2, batch=1)
            wait_serving(edge, host("roll"), version)
        assert load.failures == [] and set(load.codes) == {200}, (load.codes, load.failures[:3])
        print(f"rolling to {version}: {load.total} requests, none failed, {load.retried} sent again")
    assert info["current"] == 3 and len(release(info, 3)["instances"]) == 2
    assert release(info, 2)["state"] == "retired" and release(info, 2)["instances"] == []
    # Back to v1 (its instances are started again from its snapshot, then all traffic moves).
    began = time.monotonic()
    back = run(client, "deployments.rollback", {"project": "demo", "name": "roll", "release": 1})
    wait_serving(edge, host("roll"), "r1")
    print(f"rollback to a retired release: {time.monotonic() - began:.2f} s to 100 % ({back['message']})")
    assert back["current"] == 1 and release(back, 3)["state"] == "rolled-back"
    with httpx.Client(timeout=10) as c:
        assert {through_edge(edge, host("roll"), client=c).text for _ in range(40)} == {"r1"}
    # The release list is the history, newest first; v1's tree is still what it was.
    numbers = [r["number"] for r in run(client, "deployments.releases", {"project": "demo", "name": "roll"})["items"]]
    assert numbers == [3, 2, 1]
    # Rollback without a release: the one before the current, which here is none (v1 is the first).
    with pytest.raises(CodeForgeError, match="no earlier release"):
        run(client, "deployments.rollback", {"project": "demo", "name": "roll"})
    run(client, "deployments.delete", {"project": "demo", "name": "roll"})
    assert not list((Path(platform.data_dir) / "deployments" / "runtime").glob("dep-*"))


def test_a_release_answering_500s_is_rolled_back_automatically(client: PlatformClient, edge: EdgeRig) -> None:
    need_edge_metrics()
    tree = workspace_with_app(client, "demo", "errs", "good")
    deploy_app(client, "demo", "errs", "errs")
    wait_serving(edge, host("errs"), "good")
    set_app(tree, "bad", mode="fail")
    with Load(edge, host("errs")), pytest.raises(CodeForgeError, match=r"rolled back: .*error rate"):
        deploy_app(
            client, "demo", "errs", "errs", strategy="canary", canary_steps=[50, 100], step_s=120,
            min_requests=10, max_error_rate=5,
        )  # fmt: skip
    info = show(client, "errs")
    assert info["state"] == "rolled-back" and info["current"] == 1
    assert release(info, 2)["state"] == "rolled-back" and "error rate" in release(info, 2)["error"]
    with httpx.Client(timeout=10) as c:
        assert {through_edge(edge, host("errs"), client=c).text for _ in range(40)} == {"good"}
    stats = run(client, "deployments.analytics", {"project": "demo", "name": "errs"})["items"]
    bad = [a for a in stats if a["release"] == 2]
    assert bad and bad[0]["errors"] > 0 and bad[0]["error_rate"] > 5
    pane = open_pane(client, edge.platform)
    for text in ("Deployments of demo", "errs", "rolled-back", "error rate", "Analytics", "v2", "100.00%"):
        assert text in pane, text
    run(client, "deployments.delete", {"project": "demo", "name": "errs"})
