"""The Kubernetes runtime (docs/workspaces.md, "Runtimes"): its manifests, checked against the
official client's own models (serialized as the client sends them, read back with the client's
deserializer, which enforces the API's required fields), quantities, names and labels; bad input
refused with every problem named; the cluster's absence reported; and a real apply where a
cluster answers (none here: that test skips, and CI does not require it)."""

from __future__ import annotations

import inspect
import json
import math
import re
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.utils import parse_quantity

from codeforge.catalog.errors import BadInput
from codeforge.platform.workspaces.records import Limits, PortMap, RuntimeHandle, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import LABEL_INSTANCE, LABEL_WORKSPACE, Unavailable
from codeforge.platform.workspaces.runtimes.kubernetes import KubernetesRuntime
from codeforge.platform.workspaces.runtimes.kubernetes_manifests import (
    BRIDGE_PORT,
    MAX_ID,
    MOUNT,
    Manifests,
    build_manifests,
    object_names,
)
from codeforge.platform.workspaces.runtimes.proc_net import listening_ports

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")  # Service names: a letter first
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_KEY_PREFIX = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")  # IANA_SVC_NAME, at most 15 and a letter
QUANTITY = {"cpu": re.compile(r"^[1-9][0-9]*m$"), "memory": re.compile(r"^[1-9][0-9]*Mi$")}
QUANTITY["ephemeral-storage"] = QUANTITY["memory"]
QUANTITY["storage"] = QUANTITY["memory"]

WEB = ServiceSpec("web", ("python", "-m", "http.server", "8000"), 8000, {"PYTHONUNBUFFERED": "1"}, "site")
WORKER = ServiceSpec("worker", ("python", "worker.py"))
DB = ServiceSpec("db-proxy", ("socat", "TCP-LISTEN:5433,fork", "TCP:db:5432"), 5433)

SPECS: dict[str, WorkspaceSpec] = {
    "bare": WorkspaceSpec(),
    "one service, limits": WorkspaceSpec(
        image="python:3.12-slim", forward_ports=(3000,), services=(WEB,), limits=Limits(1.0, 512, 2048)
    ),
    "three services, odd limits": WorkspaceSpec(
        image="registry.local/app:1",
        forward_ports=(8000, 9229, 65535),
        env={"DATABASE_URL": "postgresql://u:p@db/x", "LOG.LEVEL": "debug"},
        services=(WEB, WORKER, DB),
        limits=Limits(cpus=0.25, memory_mb=1000, disk_mb=333),
    ),
    "cpu only": WorkspaceSpec(services=(WORKER,), limits=Limits(cpus=3)),
}


def build(ws_id: str = "demo-1", spec: WorkspaceSpec | None = None, **kw: Any) -> Manifests:
    kw.setdefault("instance", "inst-1")
    kw.setdefault("image", "codeforge/workspace:dev")
    return build_manifests(
        ws_id, spec if spec is not None else SPECS["bare"], kw.pop("env", {"CODEFORGE_TOKEN": "t0k"}), **kw
    )


class _Response:
    """What ApiClient.deserialize reads: the body the API server would send back."""

    def __init__(self, body: Any) -> None:
        self.data = json.dumps(body)


def deserialize(body: Any, model: str) -> Any:
    """The client's own deserializer (the one reading the API server's answers); from 37.0 it
    takes the answer's text and content type rather than the response."""
    api = k8s.ApiClient()
    if "content_type" in inspect.signature(api.deserialize).parameters:
        return api.deserialize(json.dumps(body), model, "application/json")
    return api.deserialize(_Response(body), model)


def round_trip(model: Any) -> tuple[dict[str, Any], Any]:
    wire = k8s.ApiClient().sanitize_for_serialization(model)
    return wire, deserialize(wire, type(model).__name__)


def all_manifests(m: Manifests) -> list[Any]:
    return [m.pod, m.claim, m.service, m.secret]


@pytest.mark.parametrize("name", list(SPECS))
def test_manifests_round_trip_through_the_clients_models(name: str) -> None:
    made = build(f"ws-{name.split(',')[0].replace(' ', '-')}", SPECS[name])
    for model in all_manifests(made):
        wire, back = round_trip(model)
        assert type(back) is type(model)
        assert back == model, f"{type(model).__name__} changed on the way through the client"
        # JSON-safe all the way down, with the API's own field names (camelCase).
        assert json.loads(json.dumps(wire)) == wire
        assert wire["apiVersion"] == "v1" and wire["kind"] == type(model).__name__.removeprefix("V1")
        assert wire["metadata"]["name"]


def test_the_deserializer_refuses_a_manifest_missing_a_required_field() -> None:
    """The check above is a real one: the client's models refuse what the API requires and lacks."""
    wire, _ = round_trip(build(spec=SPECS["one service, limits"]).pod)
    for container in wire["spec"]["containers"]:
        del container["name"]
    with pytest.raises(ValueError, match="name"):
        deserialize(wire, "V1Pod")
    wire, _ = round_trip(build().service)
    del wire["spec"]["ports"][0]["port"]
    with pytest.raises(ValueError, match="port"):
        deserialize(wire, "V1Service")


@pytest.mark.parametrize("name", list(SPECS))
def test_required_fields_are_there(name: str) -> None:
    spec = SPECS[name]
    wire = {type(m).__name__: round_trip(m)[0] for m in all_manifests(build("req", spec))}
    pod = wire["V1Pod"]["spec"]
    assert [c["name"] for c in pod["containers"]] == ["bridge", *(s.name for s in spec.services)]
    for c in pod["containers"]:
        assert c["image"] and c["command"], c
        assert {"name": "tree", "mountPath": MOUNT} in c["volumeMounts"]
        assert c["envFrom"] == [{"secretRef": {"name": "cf-ws-req-env"}}]
    assert pod["volumes"] == [{"name": "tree", "persistentVolumeClaim": {"claimName": "cf-ws-req-tree"}}]
    assert pod["automountServiceAccountToken"] is False
    claim = wire["V1PersistentVolumeClaim"]["spec"]
    assert claim["accessModes"] == ["ReadWriteOnce"] and claim["resources"]["requests"]["storage"]
    svc = wire["V1Service"]["spec"]
    assert svc["type"] == "ClusterIP" and svc["ports"] and svc["selector"]


def test_the_bridge_runs_codeforge_bridge_on_the_tree() -> None:
    made = build("br", SPECS["bare"], bridge_image="codeforge/bridge:1", bridge_args=("--url", "http://cf:8400"))
    bridge = made.pod.spec.containers[0]
    assert bridge.image == "codeforge/bridge:1"
    assert bridge.command[:3] == ["codeforge", "bridge", MOUNT]
    args = bridge.command[3:]
    assert args[args.index("--host") + 1] == "0.0.0.0"  # reachable through the Service, not only in the Pod
    assert args[args.index("--port") + 1] == str(BRIDGE_PORT)
    assert args[args.index("--id") + 1] == "br"
    assert args[-2:] == ["--url", "http://cf:8400"]
    assert [(p.name, p.container_port) for p in bridge.ports] == [("bridge", BRIDGE_PORT)]


def test_services_run_their_command_in_their_folder_with_their_env() -> None:
    made = build("svc", SPECS["one service, limits"])
    web = made.pod.spec.containers[1]
    assert web.image == "python:3.12-slim"  # the spec's image wins over the runtime's default
    assert web.command == list(WEB.command)
    assert web.working_dir == f"{MOUNT}/site"
    assert [(e.name, e.value) for e in web.env] == [("PYTHONUNBUFFERED", "1")]
    assert [(p.name, p.container_port, p.protocol) for p in web.ports] == [("p8000", 8000, "TCP")]
    # The workspace's environment goes in the Secret, not the Pod's manifest.
    assert made.secret.string_data == {"CODEFORGE_TOKEN": "t0k"}
    assert "t0k" not in json.dumps(k8s.ApiClient().sanitize_for_serialization(made.pod))
    spec_env = build("svc", SPECS["three services, odd limits"], env={"EXTRA": "x"}).secret.string_data
    assert spec_env == {"DATABASE_URL": "postgresql://u:p@db/x", "LOG.LEVEL": "debug", "EXTRA": "x"}


@pytest.mark.parametrize("name", list(SPECS))
def test_resource_quantities_are_valid_and_keep_to_the_workspace_limits(name: str) -> None:
    spec = SPECS[name]
    made = build("q", spec)
    totals: dict[str, float] = {}
    for c in made.pod.spec.containers:
        if c.resources is None:
            assert spec.limits == Limits()
            continue
        assert c.resources.requests == c.resources.limits  # Guaranteed: the Pod is never evicted first
        for resource, quantity in c.resources.limits.items():
            assert QUANTITY[resource].match(quantity), (resource, quantity)
            totals[resource] = totals.get(resource, 0) + float(parse_quantity(quantity))
    limits = spec.limits
    mib = 1024 * 1024
    if limits.cpus is not None:
        assert 0 < totals["cpu"] <= limits.cpus
    if limits.memory_mb is not None:
        assert 0 < totals["memory"] <= limits.memory_mb * mib
    else:
        assert "memory" not in totals
    if limits.disk_mb is not None:
        assert 0 < totals["ephemeral-storage"] <= limits.disk_mb * mib
    storage = made.claim.spec.resources.requests["storage"]
    assert QUANTITY["storage"].match(storage)
    assert parse_quantity(storage) == (limits.disk_mb or 10240) * mib


def test_the_figures_are_the_expected_ones() -> None:
    pod = build("fig", SPECS["one service, limits"]).pod
    for c in pod.spec.containers:  # 1 CPU, 512 MB, 2 GB shared by the bridge and one service
        assert c.resources.limits == {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "1024Mi"}
    assert build("fig", SPECS["one service, limits"]).claim.spec.resources.requests == {"storage": "2048Mi"}


@pytest.mark.parametrize("name", list(SPECS))
def test_names_and_labels_are_valid(name: str) -> None:
    made = build("a1-b2", SPECS[name])
    for model in all_manifests(made):
        meta = model.metadata
        assert DNS_LABEL.match(meta.name) and len(meta.name) <= 63, meta.name
        assert meta.labels == {LABEL_WORKSPACE: "a1-b2", LABEL_INSTANCE: "inst-1"}
        for key, value in meta.labels.items():
            prefix, _, label = key.rpartition("/")
            assert (not prefix or LABEL_KEY_PREFIX.match(prefix)) and LABEL_VALUE.match(label) and len(label) <= 63
            assert LABEL_VALUE.match(value) and len(value) <= 63
    assert DNS_1035.match(made.service.metadata.name)
    for c in made.pod.spec.containers:
        assert DNS_LABEL.match(c.name)
        for p in c.ports or []:
            assert PORT_NAME.match(p.name) and len(p.name) <= 15 and re.search("[a-z]", p.name)
    assert made.service.spec.selector == made.pod.metadata.labels


def test_the_longest_id_still_names_valid_objects() -> None:
    ws_id = "w" * MAX_ID
    for model in all_manifests(build(ws_id)):
        assert len(model.metadata.name) <= 63 and DNS_LABEL.match(model.metadata.name)
    with pytest.raises(BadInput, match="ws_id"):
        build(ws_id + "w")


@pytest.mark.parametrize("name", list(SPECS))
def test_the_service_exposes_the_bridge_forwarded_and_service_ports(name: str) -> None:
    spec = SPECS[name]
    extra = [PortMap("web", 4000, 42001)]
    made = build("ports", spec, ports=extra)
    exposed = {p.port: p for p in made.service.spec.ports}
    wanted = {BRIDGE_PORT, 4000, *spec.forward_ports, *(s.port for s in spec.services if s.port)}
    assert set(exposed) == wanted
    assert len({p.name for p in exposed.values()}) == len(exposed)  # names must be unique in a Service
    container_ports = {p.container_port for c in made.pod.spec.containers for p in c.ports or []}
    for port, sp in exposed.items():
        assert sp.target_port == port and sp.protocol == "TCP"
        assert PORT_NAME.match(sp.name) and len(sp.name) <= 15
    assert container_ports <= set(exposed)


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("Upper", {}, "ws_id"),
    ("under_score", {}, "ws_id"),
    ("-lead", {}, "ws_id"),
    ("trail-", {}, "ws_id"),
    ("", {}, "ws_id"),
    ("x" * (MAX_ID + 1), {}, "ws_id"),
    ("ok", {"instance": "no spaces"}, "instance"),
    ("ok", {"instance": "i" * 64}, "instance"),
    ("ok", {"spec": WorkspaceSpec(limits=Limits(cpus=0))}, "limits.cpus"),
    ("ok", {"spec": WorkspaceSpec(limits=Limits(cpus=-1))}, "limits.cpus"),
    ("ok", {"spec": WorkspaceSpec(limits=Limits(cpus=math.nan))}, "limits.cpus"),
    ("ok", {"spec": WorkspaceSpec(limits=Limits(cpus=math.inf))}, "limits.cpus"),
    ("ok", {"spec": WorkspaceSpec(services=(WEB,), limits=Limits(cpus=0.001))}, "limits.cpus"),
    ("ok", {"spec": WorkspaceSpec(limits=Limits(memory_mb=0))}, "limits.memory_mb"),
    ("ok", {"spec": WorkspaceSpec(services=(WEB, WORKER), limits=Limits(memory_mb=40))}, "limits.memory_mb"),
    ("ok", {"spec": WorkspaceSpec(limits=Limits(disk_mb=-5))}, "limits.disk_mb"),
    ("ok", {"spec": WorkspaceSpec(forward_ports=(0,))}, "forward_ports[0]"),
    ("ok", {"spec": WorkspaceSpec(forward_ports=(80, 65536))}, "forward_ports[1]"),
    ("ok", {"spec": WorkspaceSpec(services=(ServiceSpec("w", ("x",), 70000),))}, "services[0].port"),
    ("ok", {"spec": WorkspaceSpec(services=(WEB, ServiceSpec("web2", ("y",), 8000)))}, "services[1].port"),
    ("ok", {"spec": WorkspaceSpec(services=(ServiceSpec("w", ("x",), BRIDGE_PORT),))}, "services[0].port"),
    ("ok", {"spec": WorkspaceSpec(services=(ServiceSpec("bridge", ("x",)),))}, "services[0].name"),
    ("ok", {"spec": WorkspaceSpec(services=(ServiceSpec("Web", ("x",)),))}, "services[0].name"),
    ("ok", {"spec": WorkspaceSpec(services=(WEB, ServiceSpec("web", ("y",), 8001)))}, "services[1].name"),
    ("ok", {"spec": WorkspaceSpec(services=(ServiceSpec("w", ()),))}, "services[0].command"),
    ("ok", {"spec": WorkspaceSpec(services=(ServiceSpec("w", ("x",), cwd="../up"),))}, "services[0].cwd"),
    ("ok", {"spec": WorkspaceSpec(services=(ServiceSpec("w", ("x",), cwd="/etc"),))}, "services[0].cwd"),
    ("ok", {"spec": WorkspaceSpec(dockerfile="Dockerfile")}, "dockerfile"),
    ("ok", {"image": None}, "image"),
    ("ok", {"env": {"BAD NAME": "x"}}, "env.BAD NAME"),
    ("ok", {"ports": [PortMap("web", 0, 42000)]}, "ports[0].inside"),
]


@pytest.mark.parametrize(("ws_id", "kw", "field"), BAD, ids=[f"{b[2]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_refused_naming_the_field(ws_id: str, kw: dict[str, Any], field: str) -> None:
    kw = dict(kw)  # the parameters are shared by reruns: not changed here
    spec = kw.pop("spec", SPECS["bare"])
    with pytest.raises(BadInput) as caught:
        build(ws_id, spec, **kw)
    fields = [p.field for p in caught.value.errors]
    assert fields == [field], caught.value.message
    assert all(p.message and p.fix for p in caught.value.errors)


def test_every_problem_is_named_at_once() -> None:
    spec = WorkspaceSpec(forward_ports=(0,), services=(ServiceSpec("Bad", ()),), limits=Limits(memory_mb=-1))
    with pytest.raises(BadInput) as caught:
        build("Nope", spec, instance="bad value")
    fields = {p.field for p in caught.value.errors}
    assert fields == {
        "ws_id",
        "instance",
        "forward_ports[0]",
        "services[0].name",
        "services[0].command",
        "limits.memory_mb",
    }
    assert "Nope" in caught.value.message


def test_parse_proc_net_tcp_reads_the_kernels_table() -> None:
    """Against this machine's real table, with a real listener: the format `listening` reads."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):  # an established one is not listening
            text = Path("/proc/net/tcp").read_text() + Path("/proc/net/tcp6").read_text()
            assert port in listening_ports(text)
    assert port not in listening_ports(Path("/proc/net/tcp").read_text())
    assert listening_ports("garbage\n  0: nothing here\n") == []


def _no_cluster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)


def test_available_says_why_without_a_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_cluster_env(monkeypatch)
    missing = tmp_path / "nowhere" / "config"
    runtime = KubernetesRuntime(instance="t", image="x", kubeconfig=missing)
    reason = runtime.available()
    assert reason is not None and reason.startswith("no cluster: no kubeconfig at") and str(missing) in reason
    with pytest.raises(Unavailable, match="no kubeconfig"):
        runtime.create("ws", WorkspaceSpec(), tmp_path, {})
    with pytest.raises(BadInput):  # input is checked before the cluster is asked for
        runtime.create("Bad_Id", WorkspaceSpec(), tmp_path, {})


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "nope"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def test_available_says_why_when_the_cluster_does_not_answer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real kubeconfig pointing at a port nothing listens on: the real client's connection fails."""
    _no_cluster_env(monkeypatch)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    config = _kubeconfig(tmp_path / "config", f"http://127.0.0.1:{port}")
    runtime = KubernetesRuntime(instance="t", image="x", kubeconfig=config, request_timeout_s=2)
    reason = runtime.available()
    assert reason is not None and f"127.0.0.1:{port}" in reason and "did not answer" in reason
    with pytest.raises(Unavailable, match="did not answer"):
        runtime.owned()
    garbled = tmp_path / "garbled"
    garbled.write_text("{not: [yaml")
    broken = KubernetesRuntime(instance="t", image="x", kubeconfig=garbled)
    reason = broken.available()
    assert reason is not None and "could not be read" in reason and str(garbled) in reason
    with pytest.raises(Unavailable, match="could not be read"):
        broken.create("ws", WorkspaceSpec(), tmp_path, {})


def test_checkpoint_says_why_not(tmp_path: Path) -> None:
    runtime = KubernetesRuntime(instance="t", image="x", kubeconfig=tmp_path / "none")
    handle = RuntimeHandle("kubernetes", object_names("ws")["pod"], {"ws_id": "ws", "namespace": "default"})
    said = runtime.checkpoint(handle, tmp_path)  # answered without a cluster
    assert said.startswith("not checkpointed: ") and "kubernetes" in said


def test_applies_to_a_real_cluster(tmp_path: Path) -> None:
    """Where a cluster answers (a kubeconfig, or in a Pod): create, start, see it run, delete,
    nothing left. Not through `require`: CI requires every component (`all`), and no CI
    machine has a cluster."""
    instance = f"test-{uuid.uuid4().hex[:8]}"
    runtime = KubernetesRuntime(instance=instance, image="busybox:1.36")
    reason = runtime.available()
    if reason is not None:
        pytest.skip(f"no Kubernetes cluster reachable: {reason}")
    ws_id = f"t-{uuid.uuid4().hex[:8]}"
    spec = WorkspaceSpec(
        services=(ServiceSpec("web", ("httpd", "-f", "-p", "8000"), 8000),), limits=Limits(0.2, 64, 128)
    )
    # The bridge needs CodeForge in its image; busybox has none, so the bridge's container
    # restarts while the service runs: this checks the manifests a cluster accepts and cleanup.
    handle = runtime.create(ws_id, spec, tmp_path, {"HELLO": "1"})
    try:
        runtime.start(handle, spec, {"HELLO": "1"}, [])
        assert [h.data["ws_id"] for h in runtime.owned()] == [ws_id]
    finally:
        runtime.delete(handle)
        runtime.delete(handle)  # gone is fine
