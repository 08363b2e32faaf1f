"""Faults: a config the node refuses (the previous one stays live, the error says why), a
node down during a push (reported behind, caught up when it answers), a node's Caddy killed
(restarted and caught up), and bad input."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from codeforge.catalog.errors import BadInput, Conflict, ExternalFailure, NotFound
from codeforge.platform.edge.routes import Backend, Route, get_route, live_version, nodes, publish, withdraw
from tests.servers.caddy import EdgeWorld, start_backends


def served_by(address: str, host: str) -> str:
    return httpx.get(f"http://{address}/", headers={"Host": host}, timeout=10).headers.get("X-Backend", "")


def test_a_refused_config_leaves_the_previous_one_live(edge: EdgeWorld) -> None:
    with start_backends("old") as (old,):
        first = Route(edge.project_id, "web", ("web.example.test",), (Backend(old.address),))
        version = publish(edge.db, edge.settings, None, first).version
        folder = Path(edge.settings.data_dir) / "edge" / "certificates"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "broken.example.test.crt").write_text(
            "-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n"
        )
        (folder / "broken.example.test.key").write_text("not a key\n")
        broken = Route(edge.project_id, "broken", ("broken.example.test",), (Backend(old.address),))
        with pytest.raises(ExternalFailure) as caught:
            publish(edge.db, edge.settings, None, broken)
        message = caught.value.message
        assert "refused" in message and "previous config stays live" in message
        assert "certificate" in message.lower() or "pem" in message.lower()
        assert get_route(edge.db, edge.project_id, "broken") is None
        node = nodes(edge.db, edge.settings)[0]
        assert served_by(node.http_address, "web.example.test") == "old"
        assert node.version > version and not node.behind  # the put-back config is live and current


def test_a_node_down_during_a_push_is_behind_and_caught_up(edge2: EdgeWorld) -> None:
    world = edge2
    eu, us = nodes(world.db, world.settings)
    assert (eu.region, us.region) == ("eu-west", "us-east")
    assert eu.http_address.split(":")[0] != us.http_address.split(":")[0]  # a loopback address per node
    with start_backends("v1", "v2") as (v1, v2):
        spec = Route(world.project_id, "web", ("multi.example.test",), (Backend(v1.address),))
        assert publish(world.db, world.settings, None, spec).failed == {}
        assert (
            served_by(eu.http_address, "multi.example.test") == served_by(us.http_address, "multi.example.test") == "v1"
        )
        world.supervisor.hold("us")
        result = publish(
            world.db,
            world.settings,
            None,
            Route(world.project_id, "web", ("multi.example.test",), (Backend(v2.address),)),
        )
        assert list(result.failed) == ["us"] and "unreachable" in result.failed["us"]
        eu, us = nodes(world.db, world.settings)
        assert (eu.behind, us.behind, us.state) == (False, True, "down")
        assert served_by(eu.http_address, "multi.example.test") == "v2"
        world.supervisor.release("us")  # it comes back with an empty config …
        world.supervisor.check()  # … and the periodic check gives it the current one
        eu, us = nodes(world.db, world.settings)
        assert (us.behind, us.state, us.version) == (False, "up", result.version)
        assert served_by(us.http_address, "multi.example.test") == "v2"


def test_a_killed_caddy_is_restarted_and_caught_up(edge: EdgeWorld) -> None:
    with start_backends("app") as (app,):
        publish(
            edge.db, edge.settings, None, Route(edge.project_id, "web", ("k.example.test",), (Backend(app.address),))
        )
        process = edge.supervisor.nodes["local"].process
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        edge.supervisor.check()
        node = nodes(edge.db, edge.settings)[0]
        assert not node.behind and node.state == "up"
        assert served_by(node.http_address, "k.example.test") == "app"


def test_bad_input_names_the_fields(edge: EdgeWorld) -> None:
    bad = Route(
        edge.project_id,
        "Bad Name",
        ("not a host", "ok.example.test", "ok.example.test"),
        (Backend("nowhere", 1), Backend("127.0.0.1:70000", -1), Backend("10.0.0.1:80", 1, "bad group!")),
        lb_policy="fastest",
        health_path="health",
        health_interval_s=0,
    )
    with pytest.raises(BadInput) as caught:
        publish(edge.db, edge.settings, None, bad)
    fields = {p.field for p in caught.value.errors}
    assert {
        "name",
        "hosts",
        "backends[0].address",
        "backends[1].address",
        "backends[1].weight",
        "backends[2].group",
        "lb_policy",
        "health_path",
        "health_interval_s",
    } <= fields
    with pytest.raises(BadInput, match="weight 0"):
        publish(
            edge.db, edge.settings, None, Route(edge.project_id, "z", ("z.example.test",), (Backend("127.0.0.1:9", 0),))
        )
    with pytest.raises(BadInput, match="no backend"):
        publish(edge.db, edge.settings, None, Route(edge.project_id, "z", ("z.example.test",), ()))
    with pytest.raises(NotFound):
        withdraw(edge.db, edge.settings, edge.project_id, "missing")
    publish(
        edge.db, edge.settings, None, Route(edge.project_id, "one", ("taken.example.test",), (Backend("127.0.0.1:9"),))
    )
    with pytest.raises(Conflict, match=r"taken\.example\.test"):
        publish(
            edge.db,
            edge.settings,
            None,
            Route(edge.project_id, "two", ("taken.example.test",), (Backend("127.0.0.1:9"),)),
        )
    assert withdraw(edge.db, edge.settings, edge.project_id, "one").failed == {}
    assert get_route(edge.db, edge.project_id, "one") is None


def test_a_node_holding_an_older_config_is_found_and_caught_up(edge: EdgeWorld) -> None:
    """Another replica's slower push (or anyone's POST /load) leaves an older config on a node:
    the check reads the version the node holds, not the one recorded, and puts it right."""
    with start_backends("old", "new") as (old, new):
        first = publish(
            edge.db, edge.settings, None, Route(edge.project_id, "web", ("s.example.test",), (Backend(old.address),))
        )
        node = nodes(edge.db, edge.settings)[0]
        stale = httpx.get(f"{node.admin_url}/config/", timeout=10).json()
        publish(
            edge.db, edge.settings, None, Route(edge.project_id, "web", ("s.example.test",), (Backend(new.address),))
        )
        assert served_by(node.http_address, "s.example.test") == "new"
        assert httpx.post(f"{node.admin_url}/load", json=stale, timeout=10).status_code == 200
        assert live_version(node.admin_url) == first.version
        assert served_by(node.http_address, "s.example.test") == "old"
        edge.supervisor.check()
        node = nodes(edge.db, edge.settings)[0]
        assert not node.behind and live_version(node.admin_url) == node.version > first.version
        assert served_by(node.http_address, "s.example.test") == "new"


def test_a_node_started_from_a_thread_that_ends_keeps_running(edge: EdgeWorld) -> None:
    """PR_SET_PDEATHSIG follows the thread that forked the child: a node (re)started from a
    worker thread that then retires must not get SIGTERM with it."""
    edge.supervisor.hold("local")
    worker = threading.Thread(target=edge.supervisor.release, args=("local",))
    worker.start()
    worker.join()
    process = edge.supervisor.nodes["local"].process
    assert process is not None
    time.sleep(1.0)  # the signal would come as the thread ends; give Caddy time to act on it
    assert process.poll() is None, (Path(edge.settings.data_dir) / "edge" / "local" / "caddy.log").read_text()[-2000:]
    edge.supervisor.check()
    assert nodes(edge.db, edge.settings)[0].state == "up"
