"""Deployments' operations through a real platform, without traffic: bad input, a release
whose instances never become healthy (rolled back, nothing left running), and each role."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codeforge.catalog.errors import BadInput, CodeForgeError, Conflict, NotFound, PermissionDenied
from codeforge.client import PlatformClient
from tests.conftest import RunningPlatform
from tests.deployments.conftest import answers, deploy_app, open_pane, run, workspace_with_app


def test_bad_input(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    base: dict[str, Any] = {"project": p, "name": "bad", "command": ["python3", "app.py"]}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base}, "exactly one of"),  # neither workspace nor image
        ({**base, "workspace": "w", "image": "nginx"}, "exactly one of"),
        ({**base, "image": "nginx"}, "docker"),  # an image on the local runtime
        ({**base, "workspace": "w", "canary_steps": [50, 10, 100]}, "rise"),
        ({**base, "workspace": "w", "canary_steps": [10, 50]}, "100"),
        ({**base, "workspace": "w", "strategy": "big-bang"}, "strategy"),
        ({**base, "workspace": "w", "instances": 0}, "instances"),
        ({**base, "workspace": "w", "regions": ["eu", "eu"]}, "once"),
        ({**base, "workspace": "w", "hosts": ["not a host"]}, "host"),
        ({**base, "name": "Bad Name", "workspace": "w"}, "name"),
        ({**base, "workspace": "w", "max_error_rate": 101}, "max_error_rate"),
    ]
    for body, words in cases:
        with pytest.raises(BadInput) as err:
            client.call("deployments.deploy", body)
        assert words in err.value.message, (body, err.value.message)
    # Checked in the job, before anything is made.
    with pytest.raises(CodeForgeError, match="no workspace 'missing'"):
        run(client, "deployments.deploy", {**base, "workspace": "missing"})
    with pytest.raises(CodeForgeError, match="batch"):
        run(client, "deployments.deploy", {**base, "workspace": "missing", "batch": 3, "instances": 2})
    with pytest.raises(CodeForgeError, match="region"):
        run(client, "deployments.deploy", {**base, "workspace": "missing", "regions": ["mars"]})
    for op in ("deployments.show", "deployments.releases", "deployments.rollback", "deployments.switch",
               "deployments.cancel", "deployments.promote", "deployments.analytics", "deployments.delete"):  # fmt: skip
        with pytest.raises(NotFound):
            run(client, op, {"project": p, "name": "nothing-here"})
    assert all(d["name"] != "bad" for d in run(client, "deployments.list", {"project": p})["items"])


def test_instances_that_never_become_healthy_are_rolled_back_leaving_nothing(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    p = platform.project
    workspace_with_app(client, p, "sick", "v1", mode="unhealthy")
    with pytest.raises(CodeForgeError, match="never became healthy") as err:
        deploy_app(client, p, "sick", "sick", health_timeout_s=2, instances=2)
    assert "rolled back" in str(err.value)
    info = run(client, "deployments.show", {"project": p, "name": "sick"})
    assert info["state"] == "failed" and info["current"] is None
    [release] = info["releases"]
    assert release["number"] == 1 and release["state"] == "rolled-back" and release["instances"] == []
    assert "never became healthy" in release["error"] and "503" in release["error"]
    # Nothing of it runs or stays on disk: no instance's runtime state, no instance tree.
    root = Path(platform.data_dir) / "workspaces"
    assert not list((Path(platform.data_dir) / "deployments" / "runtime").glob("dep-*"))
    assert not list((root / "files" / "ws").glob("dep-*"))
    # Nothing to cancel, promote or switch; nothing earlier to roll back to.
    with pytest.raises(Conflict):
        run(client, "deployments.cancel", {"project": p, "name": "sick"})
    with pytest.raises(Conflict):
        run(client, "deployments.switch", {"project": p, "name": "sick"})
    with pytest.raises(Conflict, match="no earlier release"):
        run(client, "deployments.rollback", {"project": p, "name": "sick"})
    with pytest.raises(BadInput, match="no release v7"):
        run(client, "deployments.rollback", {"project": p, "name": "sick", "release": 7})
    pane = open_pane(client, platform)
    for text in ("Deployments of demo", "sick", "failed", "never became healthy", "no requests through the edge yet"):
        assert text in pane, text
    # The release stays listed (immutable), and the deployment can be deleted.
    assert [r["number"] for r in run(client, "deployments.releases", {"project": p, "name": "sick"})["items"]] == [1]
    assert run(client, "deployments.delete", {"project": p, "name": "sick"}) == {"name": "sick", "releases": 1}
    assert not list((root / "files" / "snap").glob("rel-*"))


def test_an_instance_that_exits_fails_with_its_log(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    workspace_with_app(client, p, "crashy", "v1")
    with pytest.raises(CodeForgeError, match=r"exited|failed to start"):
        run(client, "deployments.deploy", {
            "project": p, "name": "crashy", "workspace": "crashy", "command": ["python3", "-c", "raise SystemExit(3)"],
            "health_timeout_s": 2,
        })  # fmt: skip
    info = run(client, "deployments.show", {"project": p, "name": "crashy"})
    assert info["state"] == "failed" and all(not answers(0) for _ in [0])
    run(client, "deployments.delete", {"project": p, "name": "crashy"})


def test_each_role(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    run(client, "members.add", {"username": "dep-viewer", "role": "viewer"})
    token = run(client, "tokens.create", {"username": "dep-viewer", "name": "t"})["token"]
    with PlatformClient(platform.url, token) as viewer:
        assert isinstance(run(viewer, "deployments.list", {"project": p})["items"], list)
        denied: list[tuple[str, dict[str, Any]]] = [
            ("deployments.deploy", {"name": "v", "workspace": "w", "command": ["x"]}),
            ("deployments.rollback", {"name": "v"}),
            ("deployments.switch", {"name": "v"}),
            ("deployments.promote", {"name": "v"}),
            ("deployments.cancel", {"name": "v"}),
            ("deployments.delete", {"name": "v"}),
        ]
        for op, body in denied:
            with pytest.raises(PermissionDenied):
                run(viewer, op, {"project": p, **body})
        with pytest.raises(NotFound):  # viewing is allowed: the deployment is just not there
            run(viewer, "deployments.show", {"project": p, "name": "v"})
    run(client, "members.add", {"username": "dep-dev", "role": "developer"})
    token = run(client, "tokens.create", {"username": "dep-dev", "name": "t"})["token"]
    with PlatformClient(platform.url, token) as developer, pytest.raises(NotFound):
        run(developer, "deployments.rollback", {"project": p, "name": "v"})  # allowed, and nothing there
