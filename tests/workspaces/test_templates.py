"""Built-in workspace templates: laid down into real trees, their services started as real
processes and asked over HTTP; unknown names and missing programs say what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from codeforge.catalog.errors import NotFound
from codeforge.platform.workspaces.records import ServiceSpec
from codeforge.platform.workspaces.templates import Template, template, templates
from tests.conftest import free_port, require


def serve(service: ServiceSpec, tree: Path, port: int, *, argv: list[str]) -> str:
    """Run the service in the tree on `port` (the template's own port may be taken here)
    and return the body of GET /."""
    env = {**os.environ, **service.env, "PORT": str(port)}
    process = subprocess.Popen(argv, cwd=tree / service.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).text
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    raise AssertionError(f"{argv} did not answer on {port}: {output}") from None
                time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_built_in_templates_are_listed(tmp_path: Path) -> None:
    assert [t.name for t in templates()] == ["empty", "python", "node"]
    assert all(t.description for t in templates())
    empty = template("empty")
    assert empty.spec.services == () and empty.needs == ()
    assert empty.lay_down(tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_python_template_lays_down_and_its_service_serves(tmp_path: Path) -> None:
    python = template("python")
    assert python.needs == ("python3",)
    assert python.spec.forward_ports == (8000,)
    (web,) = python.spec.services
    assert web == ServiceSpec("web", ("python3", "-m", "http.server", "$PORT"), port=8000)
    require("python3", shutil.which("python3") is not None, "python3 is not on PATH")
    assert python.usable() is None

    written = python.lay_down(tmp_path)
    assert written == ["index.html", "requirements.txt"]
    assert (tmp_path / "requirements.txt").read_text().startswith("#")
    port = free_port()
    argv = [*web.command[:-1], str(port)]  # the same command, on a port free here
    assert "CodeForge workspace" in serve(web, tmp_path, port, argv=argv)


def test_node_template_says_what_it_needs(tmp_path: Path) -> None:
    node = template("node")
    assert node.needs == ("node",)
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    reason = node.usable(path=str(empty_bin))
    assert (
        reason
        == "template 'node' needs node on PATH, which this host does not have; install node or choose another template"
    )
    assert template("empty").usable(path=str(empty_bin)) is None

    require("node", shutil.which("node") is not None, "node is not on PATH")
    assert node.usable() is None
    tree = tmp_path / "tree"
    tree.mkdir()
    assert node.lay_down(tree) == ["package.json", "server.js"]
    (web,) = node.spec.services
    assert web.port == 3000 and web.env == {"PORT": "3000"}
    port = free_port()
    assert serve(web, tree, port, argv=list(web.command)) == "CodeForge workspace\n"


def test_lay_down_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("mine")
    written = template("python").lay_down(tmp_path)
    assert written == ["requirements.txt"]
    assert (tmp_path / "index.html").read_text() == "mine"
    # A second time writes nothing: everything is there.
    assert template("python").lay_down(tmp_path) == []


def test_lay_down_makes_folders_and_refuses_paths_outside(tmp_path: Path) -> None:
    nested = Template("t", "test", template("empty").spec, files={"a/b/c.txt": "x", "run.sh": "#!/bin/sh\n"})
    assert nested.lay_down(tmp_path / "tree") == ["a/b/c.txt", "run.sh"]
    assert (tmp_path / "tree" / "a" / "b" / "c.txt").read_text() == "x"
    assert os.access(tmp_path / "tree" / "run.sh", os.X_OK)
    escaping = Template("bad", "test", template("empty").spec, files={"../escaped.txt": "x"})
    with pytest.raises(ValueError, match="outside the tree"):
        escaping.lay_down(tmp_path / "tree")
    assert not (tmp_path / "escaped.txt").exists()


def test_unknown_template_names_the_known_ones_and_a_near_miss() -> None:
    with pytest.raises(NotFound) as exc:
        template("pyhton")
    assert (
        exc.value.detail
        == "no workspace template 'pyhton'; did you mean 'python'? the templates are empty, node, python"
    )
    assert exc.value.fix == "use one of empty, node, python"
    assert exc.value.status == 404
    with pytest.raises(NotFound) as exc:
        template("rust")
    assert "did you mean" not in exc.value.detail
    assert "the templates are empty, node, python" in exc.value.detail
    assert template(" Python ").name == "python"
