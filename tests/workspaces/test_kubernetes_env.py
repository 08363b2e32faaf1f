"""The environment a Kubernetes workspace's Pod sees (docs/workspaces.md, "Runtimes"): the
platform names each service at the host's loopback and its host port
(CODEFORGE_SERVICE_<NAME>_URL, lifecycle.service_env), which inside a Pod is the Pod's own
loopback, where the services listen on their inside ports. The Secret and the containers'
variables, as the runtime builds them at create (no ports yet) and at start (with the ports),
read back through the official client's models as in test_kubernetes.py. No cluster needed."""

from __future__ import annotations

from typing import Any

import pytest

from codeforge.catalog.errors import BadInput
from codeforge.platform.workspaces.lifecycle import service_env, wanted_ports
from codeforge.platform.workspaces.records import PortMap, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.kubernetes import KubernetesRuntime
from codeforge.platform.workspaces.runtimes.kubernetes_manifests import build_manifests, pod_env
from tests.workspaces.test_kubernetes import round_trip

WEB = ServiceSpec("web", ("python", "-m", "http.server", "8000"), 8000, {"BACKEND": "http://127.0.0.1:23102/x"})
API = ServiceSpec("api-v2", ("python", "api.py"), 9000)
WORKER = ServiceSpec("worker", ("python", "worker.py"))  # no port: no URL
SPEC = WorkspaceSpec(image="python:3.12-slim", forward_ports=(3000,), services=(WEB, API, WORKER))
HOST = {"web": 23101, "api-v2": 23102, "port-3000": 23103}
PORTS = [PortMap(name, inside, HOST[name]) for name, inside in wanted_ports(SPEC)]


def platform_env() -> dict[str, str]:
    """What lifecycle hands a runtime: the project's variables, a clone's own ones naming its
    host ports, and the services' URLs at those host ports."""
    return {
        "DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/app",  # the platform's database: not the workspace's
        "API_URL": "http://127.0.0.1:23102/v2",  # a clone's variable, remapped to its host port
        "WEB_PORT": "23101",
        **service_env(PORTS),
    }


def secret_data(made: Any) -> dict[str, str]:
    wire, back = round_trip(made.secret)
    assert back == made.secret
    return dict(wire["stringData"])


def container_env(made: Any, name: str) -> dict[str, str]:
    wire, _ = round_trip(made.pod)
    (container,) = [c for c in wire["spec"]["containers"] if c["name"] == name]
    return {e["name"]: e["value"] for e in container.get("env") or []}


def test_service_urls_name_localhost_and_inside_ports_in_the_pod() -> None:
    env = platform_env()
    assert env["CODEFORGE_SERVICE_WEB_URL"] == "http://127.0.0.1:23101"  # what the host sees
    runtime = KubernetesRuntime(instance="inst-1", image="python:3.12-slim")
    made = runtime.manifests("demo-env", SPEC, env, PORTS)  # as start builds it
    data = secret_data(made)
    assert data["CODEFORGE_SERVICE_WEB_URL"] == "http://localhost:8000"
    assert data["CODEFORGE_SERVICE_API_V2_URL"] == "http://localhost:9000"
    assert data["CODEFORGE_SERVICE_PORT_3000_URL"] == "http://localhost:3000"
    assert not any("WORKER" in k for k in data)
    # Other values naming a workspace's host port name its inside port; the rest is untouched.
    assert data["API_URL"] == "http://127.0.0.1:9000/v2"
    assert data["WEB_PORT"] == "8000"
    assert data["DATABASE_URL"] == env["DATABASE_URL"]
    assert not any(str(host) in value for value in data.values() for host in HOST.values())
    # A service's own variables too (they go into its container, not the Secret).
    assert container_env(made, "web") == {"BACKEND": "http://127.0.0.1:9000/x"}
    # The platform's copy is not changed.
    assert env["CODEFORGE_SERVICE_WEB_URL"] == "http://127.0.0.1:23101"


def test_at_create_the_specs_ports_say_where_services_listen() -> None:
    """create has no PortMaps yet: the spec's ports name the services (a forwarded port by its
    `port-<n>` name), the Pod made with its setup container."""
    made = build_manifests("demo-env", SPEC, platform_env(), instance="inst-1", setup=True)
    data = secret_data(made)
    assert data["CODEFORGE_SERVICE_WEB_URL"] == "http://localhost:8000"
    assert data["CODEFORGE_SERVICE_API_V2_URL"] == "http://localhost:9000"
    assert data["CODEFORGE_SERVICE_PORT_3000_URL"] == "http://localhost:3000"
    assert data["API_URL"] == "http://127.0.0.1:23102/v2"  # no ports given: nothing else to remap


def test_urls_of_unknown_services_and_odd_values_are_left_alone() -> None:
    env = {
        "CODEFORGE_SERVICE_GONE_URL": "http://127.0.0.1:23999",  # no such service: left as it is
        "CODEFORGE_SERVICE_WEB_URL_EXTRA": "x",  # not the pattern
        "CODEFORGE_SERVICE__URL": "y",
        "NOTE": "port 23101 is the web's",  # a number, not after a host
    }
    out = pod_env(env, SPEC, PORTS)
    assert out == {**env}
    assert pod_env({}, SPEC, None) == {}
    # Same port inside and out: nothing to move, the URL still names localhost.
    same = [PortMap("web", 8000, 8000)]
    assert pod_env({"CODEFORGE_SERVICE_WEB_URL": "http://127.0.0.1:8000"}, SPEC, same) == {
        "CODEFORGE_SERVICE_WEB_URL": "http://localhost:8000"
    }


def test_bad_variable_names_are_still_refused() -> None:
    with pytest.raises(BadInput) as refused:
        build_manifests("demo-env", SPEC, {**platform_env(), "BAD NAME": "1"}, instance="inst-1", ports=PORTS)
    assert any(p.field == "env.BAD NAME" for p in refused.value.errors)
