"""The Kubernetes runtime (docs/workspaces.md, "Runtimes"): its manifests, checked against the
official client's own models (serialized as the client sends them, read back with the client's
deserializer, which enforces the API's required fields), quantities, names and labels; bad input
refused with every problem named; the cluster's absence reported; the tar of the tree (read
back, and extracted by the real GNU and busybox tar with the runtime's command line), the setup
container's wait (run by the real sh), the NodePort Services, the exec API's arguments and
status; and a real apply, copy and exec where a cluster answers (none here: those tests skip,
and CI does not require them). No stand-in for an API server anywhere."""

from __future__ import annotations

import inspect
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.utils import parse_quantity

from codeforge.catalog.errors import BadInput
from codeforge.platform.workspaces.records import Limits, PortMap, RuntimeHandle, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import LABEL_INSTANCE, LABEL_WORKSPACE, Unavailable
from codeforge.platform.workspaces.runtimes.kubernetes import (
    KubernetesRuntime,
    exec_argv,
    exec_container,
    exec_request,
    exec_status,
    kill_argv,
    setup_state,
    split_pid,
    tree_archive,
)
from codeforge.platform.workspaces.runtimes.kubernetes_manifests import (
    BRIDGE_PORT,
    LABEL_HOST_PORT,
    MAX_ID,
    MOUNT,
    READY_FILE,
    SETUP_CONTAINER,
    SETUP_SCRIPT,
    TAR_COMMAND,
    Manifests,
    build_manifests,
    copy_command,
    node_port_name,
    object_names,
)
from codeforge.platform.workspaces.runtimes.proc_net import listening_ports
from tests.workspaces.runtime_contract import check_exec_timeout_kills_the_command

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
    return [m.pod, m.claim, m.service, m.secret, *m.node_ports]


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
    made = build(ws_id, ports=[PortMap("web", 65535, 42000)], setup=True)
    assert made.node_ports
    for model in all_manifests(made):
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
    ("ok", {"ports": [PortMap("web", 80, 70000)]}, "ports[0].host"),
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


# -- the tree's tar ------------------------------------------------------------------------------


def _tree(root: Path) -> Path:
    """A tree with what a workspace holds: files, folders (one empty), an executable, links of
    every kind (relative, absolute and leading out of the tree, dangling, to a folder), a hard link."""
    tree = root / "tree"
    (tree / "src" / "pkg").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "README.md").write_text("hello\n")
    (tree / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (tree / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (tree / "run.sh").chmod(0o755)
    (tree / "data.bin").write_bytes(bytes(range(256)) * 40)
    (tree / "link-to-readme").symlink_to("README.md")
    (tree / "src" / "up").symlink_to("../README.md")
    (tree / "etc-passwd").symlink_to("/etc/passwd")  # kept as a link: never followed out of the tree
    (tree / "dangling").symlink_to("nowhere")
    (tree / "src-link").symlink_to("src")  # a link to a folder: not descended into
    os.link(tree / "README.md", tree / "hard.md")
    return tree


def test_the_tar_holds_the_tree_with_links_kept_as_links(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    archive = tree_archive(tree, limit_bytes=10 * 1024 * 1024)
    try:
        with tarfile.open(fileobj=archive.file) as tar:
            members = {m.name: m for m in tar.getmembers()}
            assert set(members) == {
                "README.md", "data.bin", "dangling", "empty", "etc-passwd", "hard.md", "link-to-readme",
                "run.sh", "src", "src-link", "src/pkg", "src/pkg/mod.py", "src/up",
            }  # fmt: skip
            assert list(members) == archive.members  # in the walk's (sorted) order
            for name in ("link-to-readme", "src/up", "etc-passwd", "dangling", "src-link"):
                assert members[name].issym(), name
            assert members["link-to-readme"].linkname == "README.md"
            assert members["src/up"].linkname == "../README.md"
            assert members["etc-passwd"].linkname == "/etc/passwd" and members["etc-passwd"].size == 0
            assert members["src-link"].linkname == "src"
            assert members["hard.md"].islnk() and members["hard.md"].linkname == "README.md"
            assert members["empty"].isdir() and members["src/pkg"].isdir()
            assert members["run.sh"].mode & 0o777 == 0o755
            for m in members.values():
                assert m.uid == 0 and m.gid == 0 and not m.uname and not m.gname
                assert not m.name.startswith(("/", "./")) and ".." not in m.name.split("/")
            data = tar.extractfile(members["data.bin"])
            assert data is not None and data.read() == (tree / "data.bin").read_bytes()
            mod = tar.extractfile(members["src/pkg/mod.py"])
            assert mod is not None and mod.read() == b"x = 1\n"
        assert archive.size_bytes == archive.file.seek(0, os.SEEK_END) and archive.size_bytes % 512 == 0
        assert archive.skipped == []
    finally:
        archive.close()


def test_what_a_tar_cannot_carry_is_skipped_and_named(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text("a")
    os.mkfifo(tree / "pipe")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tree / "sock"))
        archive = tree_archive(tree, limit_bytes=1 << 20)
    try:
        assert archive.members == ["a.txt"] and archive.skipped == ["pipe", "sock"]
    finally:
        archive.close()


def _feed_open_pipe(command: list[str], data: bytes, timeout_s: float) -> tuple[int | None, bytes]:
    """`command` given `data` on a stdin left open, as the exec API's v4 protocol leaves it:
    (its exit code, or None when it was still running after `timeout_s` and killed; its output)."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(command, stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.close(read_end)
    try:
        os.write(write_end, data)
        try:
            code: int | None = proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            code = None
    finally:
        os.close(write_end)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stdout is not None
    return code, proc.stdout.read()


@pytest.mark.parametrize("tar", ["tar", "busybox tar"], ids=["gnu-tar", "busybox-tar"])
def test_the_copy_command_extracts_the_tree_and_ends_without_eof(tmp_path: Path, tar: str) -> None:
    """The command the tar is streamed to (copy_command), the mount point here a folder, run by
    a real sh with GNU's and busybox's tar, stdin left open as on the exec API's v4 protocol:
    it ends at the archive's size, and the files, modes and links are the tree's."""
    if shutil.which(tar.split()[0]) is None:
        pytest.skip(f"{tar.split()[0]} is not installed here")
    tree = _tree(tmp_path)
    into = tmp_path / "workspace"
    into.mkdir()
    archive = tree_archive(tree, limit_bytes=1 << 24)
    try:
        command = list(copy_command(archive.size_bytes))
        assert command[:2] == ["sh", "-c"] and command[2].endswith(" | tar xf - -C /workspace")
        assert " ".join(TAR_COMMAND) == "tar xf - -C /workspace"
        command[2] = command[2].replace(" ".join(TAR_COMMAND), f"{tar} xf - -C {into}")
        code, output = _feed_open_pipe(command, archive.file.read(), 20)
    finally:
        archive.close()
    assert code == 0, output
    assert (into / "src" / "pkg" / "mod.py").read_text() == "x = 1\n"
    assert (into / "data.bin").read_bytes() == (tree / "data.bin").read_bytes()
    assert os.readlink(into / "etc-passwd") == "/etc/passwd"
    assert os.readlink(into / "src" / "up") == "../README.md"
    assert os.readlink(into / "dangling") == "nowhere" and (into / "src-link").is_symlink()
    assert os.stat(into / "hard.md").st_ino == os.stat(into / "README.md").st_ino
    assert (into / "run.sh").stat().st_mode & 0o777 == 0o755 and (into / "empty").is_dir()
    with pytest.raises(ValueError):
        copy_command(-1)


def test_why_the_copy_command_bounds_the_input(tmp_path: Path) -> None:
    """Bare `tar xf -` on an open stdin: GNU tar stops at the archive's end marker, busybox's
    reads on (the reason for `head -c`: busybox images are common workspace images)."""
    if shutil.which("busybox") is None:
        pytest.skip("busybox is not installed here")
    tree = _tree(tmp_path)
    archive = tree_archive(tree, limit_bytes=1 << 24)
    try:
        data = archive.file.read()
    finally:
        archive.close()
    (tmp_path / "gnu").mkdir()
    (tmp_path / "bb").mkdir()
    assert _feed_open_pipe(["tar", "xf", "-", "-C", str(tmp_path / "gnu")], data, 20)[0] == 0
    assert _feed_open_pipe(["busybox", "tar", "xf", "-", "-C", str(tmp_path / "bb")], data, 2)[0] is None


def test_a_tree_larger_than_the_claim_is_refused(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.bin").write_bytes(b"\0" * (2 * 1024 * 1024))
    with pytest.raises(BadInput) as caught:
        tree_archive(tree, limit_bytes=1024 * 1024)
    assert "2.0 MiB" in caught.value.message and "1 MiB" in caught.value.message
    assert [p.field for p in caught.value.errors] == ["limits.disk_mb"]
    assert "at least 2 MiB" in caught.value.errors[0].fix
    tree_archive(tree, limit_bytes=2 * 1024 * 1024 + 4096).close()  # the file and its folder entry fit
    # Many small files: each takes a block on the claim, not its few bytes.
    small = tmp_path / "small"
    small.mkdir()
    for n in range(300):
        (small / f"f{n}").write_text("x")
    with pytest.raises(BadInput, match=r"1\.2 MiB"):
        tree_archive(small, limit_bytes=1024 * 1024)


def test_create_refuses_a_tree_over_the_claim_before_asking_the_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_cluster_env(monkeypatch)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.bin").write_bytes(b"\0" * (3 * 1024 * 1024))
    runtime = KubernetesRuntime(instance="t", image="x", kubeconfig=tmp_path / "none")
    with pytest.raises(BadInput, match="claim"):  # not Unavailable: nothing was asked of a cluster
        runtime.create("ws", WorkspaceSpec(limits=Limits(disk_mb=2)), tree, {})
    with pytest.raises(Unavailable, match="no kubeconfig"):
        runtime.create("ws", WorkspaceSpec(limits=Limits(disk_mb=4)), tree, {})


# -- the setup container --------------------------------------------------------------------------


def test_the_created_pod_waits_in_its_setup_container(tmp_path: Path) -> None:
    spec = SPECS["one service, limits"]
    made = build("setup", spec, setup=True)
    for model in all_manifests(made):
        _, back = round_trip(model)
        assert back == model
    wire = round_trip(made.pod)[0]["spec"]
    (init,) = wire["initContainers"]
    assert init["name"] == SETUP_CONTAINER and init["image"] == "python:3.12-slim"  # the services' image
    assert init["command"] == ["sh", "-c", SETUP_SCRIPT] and READY_FILE in SETUP_SCRIPT
    assert init["envFrom"] == [{"secretRef": {"name": "cf-ws-setup-env"}}]  # post-create sees the env
    assert {"name": "tree", "mountPath": MOUNT} in init["volumeMounts"]
    setup_dir = READY_FILE.rsplit("/", 1)[0]
    assert {"name": "setup", "mountPath": setup_dir} in init["volumeMounts"]
    assert not READY_FILE.startswith(MOUNT + "/")  # the marker is never in the tree
    assert {"name": "setup", "emptyDir": {}} in wire["volumes"]
    # The whole workspace's limits: an init container runs alone, so the Pod still keeps to them.
    assert init["resources"]["limits"] == {"cpu": "1000m", "memory": "512Mi", "ephemeral-storage": "2048Mi"}
    assert init["resources"]["requests"] == init["resources"]["limits"]
    # A Pod made again at a later start (the claim holds the tree) has none.
    again = round_trip(build("setup", spec).pod)[0]["spec"]
    assert "initContainers" not in again and [v["name"] for v in again["volumes"]] == ["tree"]


def test_the_setup_script_waits_for_the_marker_under_a_real_sh(tmp_path: Path) -> None:
    marker = tmp_path / "ready"
    script = SETUP_SCRIPT.replace(READY_FILE, str(marker))
    assert script != SETUP_SCRIPT
    proc = subprocess.Popen(["sh", "-c", script])
    try:
        time.sleep(0.6)
        assert proc.poll() is None  # still waiting
        marker.touch()
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _pod(status: dict[str, Any], *, setup: bool = True) -> Any:
    """A Pod as the API server returns it (the manifest plus a status), read with the client's
    deserializer."""
    wire = round_trip(build("st", SPECS["one service, limits"], setup=setup).pod)[0]
    return deserialize({**wire, "status": status}, "V1Pod")


def _state(name: str, state: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "image": "x", "imageID": "", "ready": False, "restartCount": 0, "state": state}


def test_setup_state_and_the_exec_container_read_the_pods_status() -> None:
    pending = {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
               "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient memory."}]}  # fmt: skip
    assert setup_state(_pod(pending)) == (
        "waiting",
        "not scheduled: Unschedulable 0/1 nodes are available: 1 Insufficient memory.",
    )
    pulling = {
        "phase": "Pending",
        "initContainerStatuses": [_state("setup", {"waiting": {"reason": "ContainerCreating"}})],
    }
    assert setup_state(_pod(pulling))[0] == "waiting"
    backoff = {"phase": "Pending", "initContainerStatuses": [
        _state("setup", {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "nope"'}})]}  # fmt: skip
    assert setup_state(_pod(backoff)) == ("failed", 'ImagePullBackOff: Back-off pulling image "nope"')
    running = {"phase": "Pending", "initContainerStatuses": [_state("setup", {"running": {"startedAt": None}})]}
    assert setup_state(_pod(running)) == ("running", "")
    assert exec_container(_pod(running)) == ("setup", "")  # the post-create commands run there
    exited = {"phase": "Pending", "initContainerStatuses": [
        _state("setup", {"terminated": {"exitCode": 137, "reason": "OOMKilled"}})]}  # fmt: skip
    assert setup_state(_pod(exited)) == ("failed", "the setup container exited with code 137 (OOMKilled)")
    released = {
        "phase": "Running",
        "initContainerStatuses": [_state("setup", {"terminated": {"exitCode": 0, "reason": "Completed"}})],
        "containerStatuses": [
            _state("bridge", {"running": {}}),
            _state("web", {"waiting": {"reason": "CrashLoopBackOff"}}),
        ],
    }
    assert setup_state(_pod(released))[0] == "absent"
    assert exec_container(_pod(released)) == ("bridge", "")  # the service's is down: the bridge's
    both_up = {**released, "containerStatuses": [_state("bridge", {"running": {}}), _state("web", {"running": {}})]}
    assert exec_container(_pod(both_up)) == ("web", "")  # the first service's: the services' image
    down = {"phase": "Running", "containerStatuses": [_state("bridge", {"waiting": {"reason": "CrashLoopBackOff"}})]}
    assert exec_container(_pod(down, setup=False)) == (None, "web: not running; bridge: CrashLoopBackOff")
    assert setup_state(_pod(down, setup=False)) == ("absent", "")


# -- the exec API ---------------------------------------------------------------------------------


def test_the_exec_calls_arguments_and_command_lines() -> None:
    from kubernetes.stream.ws_client import get_websocket_url

    copy = exec_request(SETUP_CONTAINER, TAR_COMMAND, stdin=True)
    assert copy == {
        "container": "setup",
        "command": ["tar", "xf", "-", "-C", "/workspace"],
        "stdin": True,
        "stdout": True,
        "stderr": True,
        "tty": False,
        "_preload_content": False,
    }
    run = exec_request("web", ["npm", "install", "--no-audit"], stdin=False)
    assert run["command"] == ["npm", "install", "--no-audit"] and run["stdin"] is False and run["tty"] is False
    # Every argument is one the generated API method takes (it refuses others with a TypeError).
    source = inspect.getsource(k8s.CoreV1Api.connect_get_namespaced_pod_exec_with_http_info)
    for key in copy:
        assert f"'{key}'" in source, key
    # The client's own URL building: each argv item its own `command`, in order, nothing joined.
    url = get_websocket_url(
        "https://cluster:6443/api/v1/namespaces/ns/pods/cf-ws-x/exec",
        [("command", copy["command"]), ("container", "setup"), ("stdin", True)],
    )
    assert url == (
        "wss://cluster:6443/api/v1/namespaces/ns/pods/cf-ws-x/exec"
        "?command=tar&command=xf&command=-&command=-C&command=%2Fworkspace&container=setup&stdin=True"
    )


def test_the_exec_status_channel_is_read_as_the_api_server_writes_it() -> None:
    assert exec_status('{"metadata":{},"status":"Success"}') == (0, "")
    failed = (
        '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: '
        'error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode",'
        '"details":{"causes":[{"reason":"ExitCode","message":"3"}]}}'
    )
    assert exec_status(failed)[0] == 3 and "exit code 3" in exec_status(failed)[1]
    missing = (
        '{"metadata":{},"status":"Failure","message":"OCI runtime exec failed: exec failed: unable to start '
        'container process: exec: \\"nope\\": executable file not found in $PATH: unknown","reason":"InternalError",'
        '"details":{"causes":[{"message":"OCI runtime exec failed"}]},"code":500}'
    )
    code, message = exec_status(missing)
    assert code is None and "executable file not found" in message
    assert exec_status("") == (None, "the exec session ended without a status (the connection was lost)")


SHELLS = [["sh"], ["busybox", "sh"]]


def _shell(sh: list[str], argv: list[str]) -> list[str]:
    """A command line the runtime sends (it starts with `sh`) run by `sh` here."""
    assert argv[0] == "sh"
    if shutil.which(sh[0]) is None:
        pytest.skip(f"{sh[0]} is not installed here")
    return [*sh, *argv[1:]]


@pytest.mark.parametrize("sh", SHELLS, ids=["dash", "busybox-sh"])
def test_the_exec_wrapper_passes_argv_untouched_and_says_its_pid(sh: list[str]) -> None:
    """The command line `exec` sends, run by a real sh: the argv reaches the program as given
    (no shell parsing), the exit code is the program's, the pid line is taken out of the output."""
    tricky = ["printf", "%s|", "a b", "$HOME", "'q'", '"d"', "*", ""]
    done = subprocess.run(_shell(sh, exec_argv(tricky)), capture_output=True, text=True, timeout=10)
    assert done.returncode == 0 and done.stdout == "a b|$HOME|'q'|\"d\"|*||"
    pid, rest = split_pid(done.stderr)
    assert pid is not None and pid > 1 and rest == ""
    both = subprocess.run(
        _shell(sh, exec_argv(["sh", "-c", "echo out; echo err >&2; exit 7"])),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=10,
    )
    pid, output = split_pid(both.stdout)
    assert both.returncode == 7 and pid is not None and output == "out\nerr\n"
    assert split_pid("no marker\n") == (None, "no marker\n")


@pytest.mark.parametrize("sh", SHELLS, ids=["dash", "busybox-sh"])
def test_the_kill_command_ends_the_command_and_its_children(sh: list[str]) -> None:
    """What `exec` runs past a timeout, run by a real sh against a real process tree (a shell,
    a background child, a foreground one): nothing of it is left."""
    marker = f"30.{uuid.uuid4().int % 10**8}"
    script = f"echo before; sleep {marker} & sleep {marker}; wait"
    proc = subprocess.Popen(
        _shell(sh, exec_argv(["sh", "-c", script])), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        pid, _ = split_pid(first)
        assert pid == proc.pid  # the wrapper became the command: the pid said is the command's
        deadline = time.monotonic() + 5
        while len(_with(marker)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_with(marker)) == 3  # the shell (its script names the marker) and both sleeps
        killed = subprocess.run(_shell(sh, kill_argv(pid)), capture_output=True, text=True, timeout=10)
        assert proc.wait(timeout=5) == -9
        assert killed.returncode == 0, killed.stderr
        deadline = time.monotonic() + 2
        while _with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _with(marker) == []
        # A pid that is no longer there: nothing to kill, and it is not running.
        assert subprocess.run(_shell(sh, kill_argv(pid)), timeout=10).returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _with(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
            if marker in command and "\nState:\tZ" not in (entry / "status").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


# -- host ports -----------------------------------------------------------------------------------


def test_each_host_port_gets_a_nodeport_service() -> None:
    ports = [PortMap("web", 8000, 31000), PortMap("port-3000", 3000, 42001), PortMap("bridge", BRIDGE_PORT, 30000)]
    made = build("np", SPECS["one service, limits"], ports=ports)
    by_inside = {s.spec.ports[0].port: s for s in made.node_ports}
    assert sorted(by_inside) == [3000, 8000, BRIDGE_PORT]
    for inside, service in by_inside.items():
        wire, back = round_trip(service)
        assert back == service
        spec = wire["spec"]
        assert spec["type"] == "NodePort" and spec["selector"] == made.pod.metadata.labels
        (port,) = spec["ports"]
        assert port["port"] == port["targetPort"] == inside and port["protocol"] == "TCP"
        assert PORT_NAME.match(port["name"]) and len(port["name"]) <= 15
        assert service.metadata.name == node_port_name("np", inside) and DNS_1035.match(service.metadata.name)
        host = {p.inside: p.host for p in ports}[inside]
        assert service.metadata.labels == {LABEL_WORKSPACE: "np", LABEL_INSTANCE: "inst-1", LABEL_HOST_PORT: str(host)}
    # In the cluster's range (default 30000-32767): the host port is the node port.
    assert by_inside[8000].spec.ports[0].node_port == 31000
    assert by_inside[BRIDGE_PORT].spec.ports[0].node_port == 30000
    # Outside it: the cluster picks, and it is said.
    assert by_inside[3000].spec.ports[0].node_port is None
    assert "nodePort" not in round_trip(by_inside[3000])[0]["spec"]["ports"][0]
    (said,) = made.not_host_ports
    assert "42001" in said and "30000-32767" in said and node_port_name("np", 3000) in said
    # A cluster whose --service-node-port-range covers the platform's host ports.
    wide = build("np", SPECS["one service, limits"], ports=ports, node_port_range=(30000, 42999))
    assert {s.spec.ports[0].node_port for s in wide.node_ports} == {30000, 31000, 42001}
    assert wide.not_host_ports == ()
    # The ClusterIP Service is unchanged, and no ports: no NodePort Service.
    assert made.service.spec.type == "ClusterIP" and build("np").node_ports == ()


def test_the_deserializer_refuses_a_nodeport_service_without_its_port() -> None:
    made = build("np", ports=[PortMap("web", 8000, 31000)])
    wire, _ = round_trip(made.node_ports[0])
    del wire["spec"]["ports"][0]["port"]
    with pytest.raises(ValueError, match="port"):
        deserialize(wire, "V1Service")


def test_applies_to_a_real_cluster(tmp_path: Path) -> None:
    """Where a cluster answers (a kubeconfig, or in a Pod): create (the tree copied into the
    claim through the setup container), the post-create command through exec, start (the
    NodePort Services), exec in the running Pod, delete, nothing left. Not through `require`:
    CI requires every component (`all`), and no CI machine has a cluster."""
    instance = f"test-{uuid.uuid4().hex[:8]}"
    runtime = KubernetesRuntime(instance=instance, image="busybox:1.36")
    reason = runtime.available()
    if reason is not None:
        pytest.skip(f"no Kubernetes cluster reachable: {reason}")
    ws_id = f"t-{uuid.uuid4().hex[:8]}"
    spec = WorkspaceSpec(
        services=(ServiceSpec("web", ("httpd", "-f", "-p", "8000"), 8000),),
        post_create=(("sh", "-c", "cat src/pkg/mod.py > made-by-post-create; echo done"),),
        limits=Limits(0.2, 64, 128),
    )
    tree = _tree(tmp_path)
    # The bridge needs CodeForge in its image; busybox has none, so the bridge's container
    # restarts while the service runs: exec goes to the service's container.
    handle = runtime.create(ws_id, spec, tree, {"HELLO": "1"})
    try:
        for argv in spec.post_create:  # as lifecycle.build runs them, between create and start
            done = runtime.exec(handle, list(argv), timeout_s=60)
            assert (done.exit_code, done.output.strip()) == (0, "done")
        assert runtime.exec(handle, ["sh", "-c", "exit 3"], timeout_s=30).exit_code == 3
        runtime.start(handle, spec, {"HELLO": "1"}, [PortMap("web", 8000, 30999)])
        assert [h.data["ws_id"] for h in runtime.owned()] == [ws_id]
        deadline = time.monotonic() + 120
        while True:
            try:
                done = runtime.exec(handle, ["cat", "/workspace/made-by-post-create"], timeout_s=30)
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert done.output == "x = 1\n"
        links = runtime.exec(handle, ["readlink", "/workspace/etc-passwd"], timeout_s=30)
        assert links.output.strip() == "/etc/passwd"
        slow = runtime.exec(handle, ["sleep", "30"], timeout_s=1)
        assert slow.exit_code == 124 and "timed out after 1s: sleep 30 was killed" in slow.output
        assert runtime.node_ports(handle) in ([(8000, 30999, 30999)], [])  # [] where 30999 was taken
    finally:
        runtime.delete(handle)
        runtime.delete(handle)  # gone is fine


def test_exec_past_its_timeout_is_killed_on_a_real_cluster(tmp_path: Path) -> None:
    """The runtimes' shared contract (tests/workspaces/runtime_contract.py), where a cluster
    answers: the command runs in the setup container of a Pod not yet started."""
    runtime = KubernetesRuntime(instance=f"test-{uuid.uuid4().hex[:8]}", image="busybox:1.36")
    reason = runtime.available()
    if reason is not None:
        pytest.skip(f"no Kubernetes cluster reachable: {reason}")
    tree = tmp_path / "tree"
    tree.mkdir()
    handle = check_exec_timeout_kills_the_command(runtime, f"t-{uuid.uuid4().hex[:8]}", tree)
    runtime.delete(handle)
