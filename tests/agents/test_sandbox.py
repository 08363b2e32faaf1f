"""The agents' sandbox under real bubblewrap: a private copy at the workspace's own path,
nothing else of the host visible, no network unless allowed, a cleared environment, killed
process trees, capped output, the change set, and paths that cannot leave the workspace."""

from __future__ import annotations

import os
import socket
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from codeforge.catalog.errors import BadInput, ExternalFailure
from codeforge.platform.agents import sandbox as sandbox_module
from codeforge.platform.agents.sandbox import (
    CommandCancelled,
    OutsideWorkspace,
    Sandbox,
    SandboxUnavailable,
    bwrap_problem,
)
from tests.conftest import require

pytestmark = pytest.mark.skipif(bool(bwrap_problem()), reason=f"no bubblewrap sandbox here: {bwrap_problem()}")


def _workspace(root: Path) -> Path:
    ws = root / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    (ws / "README.md").write_text("# demo\n")
    (ws / "old.txt").write_text("to be deleted\n")
    (ws / ".gitignore").write_text("*.log\nbuild/\n")
    (ws / "debug.log").write_text("ignored\n")
    (ws / "build").mkdir()
    (ws / "build" / "out.txt").write_text("ignored too\n")
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_text("[core]\n")
    return ws


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = Sandbox.create(_workspace(tmp_path), tmp_path / "scratch")
    yield sandbox
    sandbox.close()


def _alive(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _gone(marker: str) -> bool:
    for _ in range(100):  # the kernel reaps a killed namespace quickly; give it up to 10 s
        if not _alive(marker):
            return True
        time.sleep(0.1)
    return False


def test_the_copy_is_seen_at_the_workspace_path_and_writes_stay_in_it(box: Sandbox) -> None:
    assert box.runtime == "bwrap"
    result = box.run(f"pwd; cat {box.workspace}/src/app.py; id -u; echo changed > README.md")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == str(box.workspace)
    assert "return a + b" in result.output
    assert lines[-1] == "1000"  # an unprivileged user, who may write the copy
    assert (box.root / "README.md").read_text() == "changed\n"
    assert (box.workspace / "README.md").read_text() == "# demo\n"


def test_git_and_ignored_files_are_not_copied(box: Sandbox) -> None:
    copied = sorted(p.relative_to(box.root).as_posix() for p in box.root.rglob("*"))
    assert copied == [".gitignore", "README.md", "old.txt", "src", "src/app.py"]
    result = box.run("ls -a; ls build debug.log 2>&1; true")
    assert ".git" not in result.output.split()
    assert "No such file" in result.output


def test_nested_gitignore_and_negation(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "pkg" / "data").mkdir(parents=True)
    (ws / ".gitignore").write_text("*.csv\n")
    (ws / "pkg" / ".gitignore").write_text("!keep.csv\ndata/\n")
    (ws / "pkg" / "keep.csv").write_text("a,b\n")
    (ws / "pkg" / "drop.csv").write_text("a,b\n")
    (ws / "pkg" / "data" / "big.bin").write_bytes(b"\0" * 10)
    (ws / "top.csv").write_text("x\n")
    with Sandbox.create(ws, tmp_path / "s") as box:
        files = sorted(p.relative_to(box.root).as_posix() for p in box.root.rglob("*") if p.is_file())
        assert files == [".gitignore", "pkg/.gitignore", "pkg/keep.csv"]


def test_nothing_else_of_the_host_is_visible(tmp_path: Path) -> None:
    # A platform data folder in the host's home (outside /tmp, which the sandbox replaces).
    data = Path.home() / f".codeforge-sandbox-test-{uuid.uuid4().hex}"
    data.mkdir()
    try:
        (data / "secret.key").write_text("platform secret\n")
        ws = _workspace(tmp_path)
        (tmp_path / "next-to-workspace.txt").write_text("neighbour\n")
        inside_data = ws / "platform-data"  # a data folder inside the workspace, hidden
        inside_data.mkdir()
        (inside_data / "codeforge.db").write_text("state\n")
        with Sandbox.create(ws, tmp_path / "scratch", hide=[inside_data]) as box:
            result = box.run(
                f"cat {data}/secret.key; cat {tmp_path}/next-to-workspace.txt; ls {inside_data}; "
                "cat /etc/shadow; ls /home /root; echo done"
            )
            assert "platform secret" not in result.output
            assert "neighbour" not in result.output
            assert "codeforge.db" not in result.output
            assert not (box.root / "platform-data").exists()
            assert result.output.count("No such file") >= 4, result.output
            assert result.output.rstrip().endswith("done")
            # The system is there read-only.
            denied = box.run("touch /usr/bin/owned 2>&1; echo rc=$?")
            assert "Read-only file system" in denied.output and not Path("/usr/bin/owned").exists()
    finally:
        for f in data.iterdir():
            f.unlink()
        data.rmdir()


def test_a_hidden_folder_holding_the_workspace_hides_nothing_of_it(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    with Sandbox.create(ws, tmp_path / "scratch", hide=[tmp_path]) as box:
        assert (box.root / "src" / "app.py").is_file()
    with Sandbox.create(ws, ws / "scratch-inside") as box:  # never copies itself
        assert not (box.root / "scratch-inside").exists()
        assert (box.root / "src" / "app.py").is_file()


def test_the_environment_is_cleared(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEFORGE_TEST_SECRET", "hunter2-do-not-leak")
    result = box.run("env")
    assert "hunter2" not in result.output
    names = sorted(line.split("=", 1)[0] for line in result.output.splitlines() if "=" in line)
    assert set(names) <= {"HOME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE", "PWD", "SHLVL", "_"}
    assert "HOME=/tmp" in result.output and "PYTHONDONTWRITEBYTECODE=1" in result.output


def _server() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    return server, server.getsockname()[1]


CONNECT = "python -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')\""


def test_no_network_unless_allowed(tmp_path: Path) -> None:
    server, port = _server()
    try:
        with Sandbox.create(_workspace(tmp_path), tmp_path / "a") as box:
            result = box.run(CONNECT.format(port=port))
            assert result.exit_code != 0 and "connected" not in result.output
            assert "ConnectionRefused" in result.output or "unreachable" in result.output.lower()
        with Sandbox.create(tmp_path / "ws", tmp_path / "b", network=True) as box:
            result = box.run(CONNECT.format(port=port))
            assert result.exit_code == 0 and "connected" in result.output, result.output
    finally:
        server.close()


def test_timeout_kills_the_command_and_its_children(box: Sandbox) -> None:
    marker = str(4000 + os.getpid() % 1000)
    result = box.run(f"sleep 6{marker} & sleep 7{marker}", timeout=1)
    assert result.timed_out and result.exit_code == 124
    assert "timed out" in result.output
    assert _gone(f"sleep 6{marker}") and _gone(f"sleep 7{marker}")


def test_what_a_command_leaves_running_dies_with_it(box: Sandbox) -> None:
    marker = str(6000 + os.getpid() % 1000)
    result = box.run(f"sleep 5{marker} & echo started")
    assert result.exit_code == 0 and result.output == "started\n" and not result.timed_out
    assert _gone(f"sleep 5{marker}")


def test_cancel_kills_and_raises(box: Sandbox) -> None:
    marker = str(5000 + os.getpid() % 1000)
    started = box.root / "started"
    with pytest.raises(CommandCancelled):
        box.run(f"touch started; sleep 8{marker} & sleep 9{marker}", timeout=600, cancelled=started.exists)
    assert _gone(f"sleep 8{marker}") and _gone(f"sleep 9{marker}")


def test_output_is_capped_head_and_tail_kept(box: Sandbox) -> None:
    result = box.run("echo FIRST; yes middle | head -c 200000; echo; echo LAST", max_output=1000)
    assert result.exit_code == 0
    assert result.output.startswith("FIRST")
    assert result.output.rstrip().endswith("LAST")
    assert "bytes of output cut" in result.output
    assert len(result.output) < 1200
    small = box.run("echo short")
    assert small.output == "short\n"


def test_python_and_pytest_run_inside(box: Sandbox) -> None:
    (box.root / "tests").mkdir()
    (box.root / "tests" / "test_app.py").write_text(
        "import sys\nsys.path.insert(0, 'src')\nfrom app import add\n\ndef test_add():\n    assert add(2, 2) == 4\n"
    )
    # Without the platform's own pytest plugins, which take seconds to load.
    result = box.run("PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest -q -p no:cacheprovider tests")
    assert result.exit_code == 0, result.output
    assert "1 passed" in result.output
    failing = box.run("python -c 'raise SystemExit(3)'")
    assert failing.exit_code == 3 and not failing.timed_out


def test_the_projects_own_virtualenv_is_used_read_only(tmp_path: Path) -> None:
    import venv

    ws = _workspace(tmp_path)
    (ws / ".gitignore").write_text(".venv/\n")
    venv.EnvBuilder(with_pip=False).create(ws / ".venv")
    with Sandbox.create(ws, tmp_path / "scratch") as box:
        assert box.project_venv == ws / ".venv"
        assert not (box.root / ".venv" / "pyvenv.cfg").exists()  # ignored: not copied
        result = box.run("command -v python; python -c 'import sys; print(sys.prefix)'; touch .venv/x 2>&1")
        lines = result.output.splitlines()
        assert lines[0] == f"{ws}/.venv/bin/python" and lines[1] == f"{ws}/.venv", result.output
        assert "Read-only file system" in result.output
        assert not (ws / ".venv" / "x").exists()
        assert box.changes() == []


def test_changes_of_edit_add_and_delete_leave_junk_out(box: Sandbox) -> None:
    result = box.run(
        "sed -i 's/a + b/a - b/' src/app.py && echo 'new' > src/new.py && rm old.txt && "
        "mkdir -p src/__pycache__ .pytest_cache && touch src/__pycache__/app.cpython-311.pyc x.pyc "
        ".pytest_cache/README && echo log > run.log && mkdir -p build && echo b > build/o && "
        "printf '\\0\\1' > blob.bin"
    )
    assert result.exit_code == 0, result.output
    changes = box.changes()
    assert [(c.path, c.status) for c in changes] == [
        ("old.txt", "deleted"),
        ("src/app.py", "modified"),
        ("src/new.py", "added"),
    ]
    assert changes[1].hunks[0].lines == [" def add(a, b):", "-    return a + b", "+    return a - b"]
    assert box.base_text("src/app.py") == "def add(a, b):\n    return a + b\n"


def test_no_changes_when_nothing_changed(box: Sandbox) -> None:
    box.run("cat README.md > /dev/null")
    assert box.changes() == []


def test_paths_that_leave_the_workspace_are_refused(box: Sandbox) -> None:
    assert box.resolve("src/app.py") == (box.root / "src" / "app.py").resolve()
    assert box.resolve(f"{box.workspace}/src/app.py") == (box.root / "src" / "app.py").resolve()
    assert box.resolve("src/../README.md") == (box.root / "README.md").resolve()
    assert box.resolve("brand/new.py") == (box.root / "brand" / "new.py").resolve()
    for bad in ("../outside.txt", "src/../../x", "/etc/passwd", "..", "a\0b"):
        with pytest.raises(OutsideWorkspace) as info:
            box.resolve(bad)
        assert isinstance(info.value, BadInput)
        assert repr(bad)[1:-1].split("\\")[0] in info.value.message
    box.run("ln -s /etc escape && ln -s ../.. up && ln -s src inside")
    for bad in ("escape/passwd", "up/secret", "escape"):
        with pytest.raises(OutsideWorkspace, match="symlink"):
            box.resolve(bad)
    assert box.resolve("inside/app.py") == (box.root / "src" / "app.py").resolve()


def test_symlinks_that_leave_the_workspace_are_not_copied(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    (tmp_path / "outside.txt").write_text("outside\n")
    (ws / "out").symlink_to(tmp_path / "outside.txt")
    (ws / "abs_in").symlink_to(ws / "src" / "app.py")  # absolute, but inside
    (ws / "dir_link").symlink_to(ws / "src")
    with Sandbox.create(ws, tmp_path / "scratch") as box:
        assert not (box.root / "out").exists() and not (box.root / "out").is_symlink()
        # Rewritten relative: it reads the copy, never the user's file.
        assert os.readlink(box.root / "abs_in") == "src/app.py"
        assert os.readlink(box.root / "dir_link") == "src"
        (box.root / "src" / "app.py").write_text("copy\n")
        assert (box.root / "abs_in").read_text() == "copy\n"
        assert (ws / "src" / "app.py").read_text() != "copy\n"


def test_close_removes_scratch_even_with_locked_files(tmp_path: Path) -> None:
    box = Sandbox.create(_workspace(tmp_path), tmp_path / "scratch")
    box.run("mkdir -p locked/inner && touch locked/inner/f && chmod 000 locked/inner locked")
    box.close()
    assert not (tmp_path / "scratch").exists()
    assert (tmp_path / "ws" / "README.md").exists()


def test_a_scratch_folder_in_use_is_refused_and_left_alone(tmp_path: Path) -> None:
    with Sandbox.create(_workspace(tmp_path), tmp_path / "scratch") as box:
        with pytest.raises(BadInput, match="already in use"):
            Sandbox.create(tmp_path / "ws", tmp_path / "scratch")
        assert (box.root / "README.md").exists()


def test_bad_runtime_and_missing_workspace(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="runtime"):
        Sandbox.create(_workspace(tmp_path), tmp_path / "s", runtime="chroot")
    with pytest.raises(BadInput, match="not a folder"):
        Sandbox.create(tmp_path / "missing", tmp_path / "s2")


def _docker_answers() -> str:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return ""
    except Exception as exc:
        return f"no Docker engine answers ({type(exc).__name__}): start dockerd"


TEST_IMAGE = "codeforge/sandbox-test:busybox"


@pytest.fixture(scope="module")
def docker_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A local image to run commands in, made here (no registry is reachable): a root
    filesystem of Debian's static busybox, `docker import`ed."""
    reason = _docker_answers()
    require("docker", not reason, reason)
    busybox = Path("/bin/busybox")
    require("docker", busybox.is_file(), "no /bin/busybox for the test image: apt-get install busybox-static")
    import docker

    client = docker.from_env(timeout=30)
    root = tmp_path_factory.mktemp("busybox-root")
    (root / "bin").mkdir()
    (root / "tmp").mkdir()
    (root / "bin" / "busybox").write_bytes(busybox.read_bytes())
    (root / "bin" / "busybox").chmod(0o755)
    applets = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    archive = tmp_path_factory.mktemp("busybox-tar") / "root.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(root, arcname=".")
    client.api.import_image_from_file(str(archive), repository=TEST_IMAGE.split(":")[0], tag=TEST_IMAGE.split(":")[1])
    return TEST_IMAGE


def test_without_bwrap_auto_refuses_to_run_unsandboxed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no bwrap on the PATH
    monkeypatch.setattr(sandbox_module, "_bwrap_checked", {})
    monkeypatch.setattr(sandbox_module, "_docker_client", lambda image: (None, "no Docker engine answers"))
    with pytest.raises(SandboxUnavailable) as info:
        Sandbox.create(_workspace(tmp_path), tmp_path / "s")
    assert isinstance(info.value, ExternalFailure)
    assert "apt-get install bubblewrap" in info.value.fix
    assert "not installed" in info.value.detail
    assert not (tmp_path / "s" / "work").exists()


def test_docker_runtime_refuses_an_image_it_does_not_have(tmp_path: Path, docker_image: str) -> None:
    with pytest.raises(SandboxUnavailable, match="not on this machine"):
        Sandbox.create(_workspace(tmp_path), tmp_path / "s", runtime="docker", image="codeforge/no-such-image:1")


def test_docker_runtime(tmp_path: Path, docker_image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEFORGE_TEST_SECRET", "s3cret-value")
    with Sandbox.create(_workspace(tmp_path), tmp_path / "s", runtime="docker", image=docker_image) as box:
        assert box.runtime == "docker"
        result = box.run("pwd; echo x > made.txt; env; id -u")
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0] == str(box.workspace)  # the copy is seen at the workspace's own path
        assert "s3cret-value" not in result.output  # the platform's environment stays out
        assert lines[-1] != "0"  # not root
        assert [c.path for c in box.changes()] == ["made.txt"]
        assert box.run("sleep 60", timeout=1).timed_out
        # No network unless the project allows it: not even an interface to reach out with.
        routes = box.run("ip route")
        assert routes.exit_code == 0 and "default" not in routes.output, routes.output
