"""devcontainer.json → WorkspaceSpec: the shapes VS Code's documentation shows, comments and
trailing commas, unicode, and every mistake reported at its line and column, all at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeforge.catalog.errors import BadInput
from codeforge.platform.workspaces.devcontainer import (
    find_devcontainer,
    load_devcontainer,
    parse_devcontainer,
    parse_jsonc,
)
from codeforge.platform.workspaces.records import Limits, ServiceSpec

GHCR = "needs the internet: ghcr.io is not reachable"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".devcontainer").mkdir()
    return tmp_path


def problems(exc: pytest.ExceptionInfo[BadInput]) -> dict[str, str]:
    """field -> message (several on one field joined by ' | ')."""
    out: dict[str, str] = {}
    for p in exc.value.errors:
        out[p.field] = f"{out[p.field]} | {p.message}" if p.field in out else p.message
    return out


def fails(text: str, folder: Path, **kwargs: object) -> dict[str, str]:
    with pytest.raises(BadInput) as exc:
        parse_devcontainer(text, folder, **kwargs)  # type: ignore[arg-type]
    first = exc.value.errors[0].message
    # The whole error starts with the first fault's position, as each problem does.
    assert exc.value.detail.startswith(first[: first.index(": ") + 2]), (exc.value.detail, first)
    return problems(exc)


# --------------------------------------------------------------------------- good files


def test_image_based_file_as_vs_code_documents_it(project: Path) -> None:
    text = """{
  "name": "Node.js & TypeScript",
  "image": "mcr.microsoft.com/devcontainers/typescript-node:1-20-bullseye",
  "customizations": {
    "vscode": {
      "extensions": ["streetsidesoftware.code-spell-checker"]
    }
  },
  "forwardPorts": [3000],
  "postCreateCommand": "yarn install",
  "remoteUser": "node"
}"""
    spec = parse_devcontainer(text, project)
    assert spec.image == "mcr.microsoft.com/devcontainers/typescript-node:1-20-bullseye"
    assert spec.dockerfile is None
    assert spec.forward_ports == (3000,)
    assert spec.post_create == (("/bin/sh", "-c", "yarn install"),)
    assert spec.unresolved == ()


def test_dockerfile_based_with_context_one_up(project: Path) -> None:
    (project / ".devcontainer" / "Dockerfile").write_text("FROM debian:bookworm\n")
    text = """{
  "name": "My Project",
  "build": {
    // Sets the run context to one level up instead of the .devcontainer folder.
    "context": "..",
    // Update the 'dockerFile' property if you aren't using the standard 'Dockerfile' filename.
    "dockerfile": "Dockerfile",
    "args": { "VARIANT": "bookworm" },
  },
  "postCreateCommand": ["pip3", "install", "--user", "-r", "requirements.txt"],
}"""
    spec = parse_devcontainer(text, project)
    assert spec.image is None
    assert spec.dockerfile == ".devcontainer/Dockerfile"
    assert spec.build_context == "." and spec.build_args == {"VARIANT": "bookworm"}
    assert spec.post_create == (("pip3", "install", "--user", "-r", "requirements.txt"),)


def test_legacy_dockerfile_key_and_default_context(project: Path) -> None:
    (project / ".devcontainer" / "app.Dockerfile").write_text("FROM scratch\n")
    spec = parse_devcontainer('{"dockerFile": "app.Dockerfile"}', project)
    assert spec.dockerfile == ".devcontainer/app.Dockerfile"
    assert spec.build_context == ".devcontainer"  # VS Code's default: the file's own folder


def test_features_local_resolved_the_rest_unresolved_with_reason(project: Path) -> None:
    local = project / ".devcontainer" / "hello"
    local.mkdir()
    (local / "devcontainer-feature.json").write_text('{ "id": "hello", /* local */ "version": "1.0.0", }')
    (local / "install.sh").write_text("#!/bin/sh\necho hello\n")
    text = """{
  "image": "mcr.microsoft.com/devcontainers/base:bookworm",
  "features": {
    "ghcr.io/devcontainers/features/node:1": { "version": "lts" },
    "ghcr.io/devcontainers/features/github-cli:1": {},
    "./hello": {},
    "docker-in-docker": "latest",
    "https://example.com/features/thing.tgz": true
  }
}"""
    spec = parse_devcontainer(text, project)
    assert spec.features == (".devcontainer/hello",)
    assert spec.unresolved == (
        f"feature ghcr.io/devcontainers/features/node:1: {GHCR}",
        f"feature ghcr.io/devcontainers/features/github-cli:1: {GHCR}",
        f"feature docker-in-docker: {GHCR}",
        "feature https://example.com/features/thing.tgz: needs the internet: example.com is not reachable",
    )


def test_comments_trailing_commas_unicode_env_substitution_limits_services(project: Path) -> None:
    (project / "api").mkdir()
    text = """// A devcontainer with everything CodeForge reads.
{
  /* the image */ "image": "python:3.12", // trailing comment
  "forwardPorts": [8000, "localhost:5173", "db:5432", 8000,],
  "containerEnv": {
    "GREETING": "héllo wörld ✓ 日本",
    "HOME_ON_HOST": "${localEnv:HOME}",
    "LEVEL": "${localEnv:CF_LEVEL:info}",
    "UNSET": null,
  },
  "remoteEnv": {
    "PATH": "${containerEnv:PATH}:/opt/bin",
    "SHOUT": "${containerEnv:GREETING}!",
    "TREE": "${containerWorkspaceFolder}/src",
    "ESCAPED": "tab\\there \\u00e9 \\ud83d\\ude00",
  },
  "hostRequirements": { "cpus": 4, "memory": "8gb", "storage": "512mb", "gpu": "optional" },
  "onCreateCommand": "echo created",
  "postCreateCommand": {
    "server": "npm install",
    "client": ["pip", "install", "-e", "."],
  },
  "postStartCommand": "echo started",
  "customizations": {
    "vscode": { "settings": {} },
    "codeforge": {
      "services": [
        { "name": "web", "command": ["python3", "-m", "http.server", "8000"], "port": 8000 },
        { "name": "worker", "command": "python3 worker.py --ünïcode", "env": { "QUEUE": "${localEnv:CF_QUEUE:jobs}" }, "cwd": "api" },
      ],
    },
  },
  "someFutureKey": { "anything": [1, 2, 3] },
}"""
    spec = parse_devcontainer(text, project, local_env={"HOME": "/home/ada"})
    assert spec.image == "python:3.12"
    assert spec.forward_ports == (8000, 5173)
    assert spec.env == {
        "GREETING": "héllo wörld ✓ 日本",
        "HOME_ON_HOST": "/home/ada",
        "LEVEL": "info",
        "SHOUT": "héllo wörld ✓ 日本!",
        "TREE": "/workspace/src",
        "ESCAPED": "tab\there é 😀",
    }
    assert spec.limits == Limits(cpus=4.0, memory_mb=8192, disk_mb=512)
    assert spec.post_create == (
        ("/bin/sh", "-c", "echo created"),
        ("/bin/sh", "-c", "npm install"),
        ("pip", "install", "-e", "."),
    )
    assert spec.post_start == (("/bin/sh", "-c", "echo started"),)
    assert spec.services == (
        ServiceSpec("web", ("python3", "-m", "http.server", "8000"), port=8000),
        ServiceSpec("worker", ("/bin/sh", "-c", "python3 worker.py --ünïcode"), env={"QUEUE": "jobs"}, cwd="api"),
    )
    assert spec.unresolved == (
        "forwardPorts[2] 'db:5432': forwarding another host's port is not supported here; not forwarded",
        "remoteEnv.PATH: ${containerEnv:PATH} is the image's value, known only once the container runs; left unset",
    )


def test_local_env_missing_is_empty_as_in_vs_code_and_said(project: Path) -> None:
    spec = parse_devcontainer(
        '{"image": "x", "containerEnv": {"T": "<${localEnv:CF_SURELY_UNSET}>"}}', project, local_env={}
    )
    assert spec.env == {"T": "<>"}
    assert spec.unresolved == ("containerEnv.T: ${localEnv:CF_SURELY_UNSET} is not set here; empty",)


def test_the_parser_agrees_with_json_on_plain_json() -> None:
    doc = {"a": [1, -2.5e3, True, False, None, {"b": 'ü\n"\\/'}], "c": {}, "d": [], "e": "😀"}

    def plain(node):  # type: ignore[no-untyped-def]
        if node.kind == "object":
            return {k: plain(v) for k, _, v in node.members}
        if node.kind == "array":
            return [plain(v) for v in node.value]
        return node.value

    for text in (json.dumps(doc), json.dumps(doc, indent=2), json.dumps(doc, ensure_ascii=False)):
        root, faults = parse_jsonc(text)
        assert faults == [] and root is not None
        assert plain(root) == doc


# --------------------------------------------------------------------------- mistakes


def test_many_mistakes_each_at_its_line_and_column_all_at_once(project: Path) -> None:
    text = """{
  "image": 42,
  "forwardPorts": [3000, 70000, "db", true],
  "containerEnv": { "A": 1, "B=C": "x" },
  "postCreateCommand": 5,
  "hostRequirements": { "cpus": 0.5, "memory": "lots" },
  "features": { "ghcr.io/x/y:1": 3 },
  "customizations": { "codeforge": { "services": [
    { "name": "Web!", "command": [] , "port": "80", "colour": "red" },
    "oops"
  ] } }
}"""
    found = fails(text, project)
    assert found == {
        "image": 'devcontainer.json:2:12: "image" must be a string, not a number',
        "forwardPorts[1]": 'devcontainer.json:3:26: "forwardPorts[1]" is 70000: a port is 1 to 65535',
        "forwardPorts[2]": 'devcontainer.json:3:33: "forwardPorts[2]" must be a port or "host:port", not \'db\'',
        "forwardPorts[3]": 'devcontainer.json:3:39: "forwardPorts[3]" must be a port (1 to 65535) or "host:port", not a boolean',
        "containerEnv.A": 'devcontainer.json:4:26: "containerEnv.A" must be a string, not a number',
        'containerEnv["B=C"]': "devcontainer.json:4:29: 'B=C' is not a variable name",
        "postCreateCommand": 'devcontainer.json:5:24: "postCreateCommand" must be a command: a string, a list of arguments or an object of named commands, not a number',
        "hostRequirements.cpus": 'devcontainer.json:6:33: "hostRequirements.cpus" must be a whole number of CPUs, at least 1',
        "hostRequirements.memory": 'devcontainer.json:6:48: "hostRequirements.memory" must be a size such as "4gb" or "512mb"',
        'features["ghcr.io/x/y:1"]': 'devcontainer.json:7:34: "features["ghcr.io/x/y:1"]" options must be an object, a string or true',
        "customizations.codeforge.services[0].name": "devcontainer.json:9:15: 'Web!' is not a service name",
        "customizations.codeforge.services[0].command": 'devcontainer.json:9:34: "customizations.codeforge.services[0].command" is an empty command',
        "customizations.codeforge.services[0].port": "devcontainer.json:9:47: \"customizations.codeforge.services[0].port\" must be a port (1 to 65535), not a string '80'",
        "customizations.codeforge.services[0].colour": "devcontainer.json:9:53: a service takes no 'colour'",
        "customizations.codeforge.services[1]": 'devcontainer.json:10:5: "customizations.codeforge.services[1]" must be a service: {name, command, port?, env?, cwd?}, not a string',
    }


def test_every_problem_names_a_fix_and_the_first_position_leads(project: Path) -> None:
    with pytest.raises(BadInput) as exc:
        parse_devcontainer('{\n  "forwardPorts": 8080,\n  "image": ""\n}', project)
    assert exc.value.detail == "devcontainer.json:2:19: 2 problem(s) in devcontainer.json"
    assert [p.field for p in exc.value.errors] == ["forwardPorts", "image"]
    assert exc.value.errors[0].message == 'devcontainer.json:2:19: "forwardPorts" must be a list of ports, not a number'
    assert all(p.fix for p in exc.value.errors)
    assert exc.value.status == 422


@pytest.mark.parametrize(
    ("text", "field", "where", "says"),
    [
        # An unclosed brace: the brace that is never closed.
        ('{\n  "image": "x",\n  "build": {\n    "dockerfile": "D"\n', "build", "3:12", "this `{` is never closed"),
        ('{"image": "x", "forwardPorts": [1, 2\n}', "forwardPorts[2]", "2:1", "expected `,` or `]`, found `}`"),
        ('{\n  "image": "x",\n  "forwardPorts": [1, 2\n', "forwardPorts", "3:19", "this `[` is never closed"),
        ('{\n  "image": "x"\n  "forwardPorts": [1]\n}', "image", "3:3", "a comma is missing after 'image''s value"),
        ('{"image": "x", "forwardPorts": [1 2]}', "forwardPorts[1]", "1:35", "a comma is missing before this item"),
        ('{\n  "image": "x",\n  "name": "never closed\n}', "name", "3:11", "a string is never closed"),
        ("{\n  'image': 'x'\n}", "(file)", "2:3", "expected a key in double quotes"),
        ('{\n  "image" "x"\n}', "image", "2:11", "expected `:` after the key"),
        ('{\n  "image": x\n}', "image", "2:12", "expected a value, found `x`"),
        ('{ "image": "x" }\n/* unclosed', "(file)", "2:1", "a /* comment is never closed"),
        ('{ "image": "x" }\n{}', "(file)", "2:1", "unexpected `{` after the end"),
        ("  \n // only a comment\n", "(file)", "3:1", "the file is empty"),
        ('["image"]', "(file)", "1:1", "the file must hold an object, not a list"),
        ('{"image": "a\\qb"}', "image", "1:13", "an unknown escape"),
        ('{"image": "a\\ud800b"}', "image", "1:13", "a lone UTF-16 surrogate escape"),
        ('{"name": "x"}', "image", "1:1", 'neither "image" nor "build" is given'),
        (
            '{"dockerComposeFile": "c.yml"}',
            "dockerComposeFile",
            "1:23",
            "Docker Compose devcontainers are not supported",
        ),
    ],
)
def test_syntax_and_shape_faults_at_the_fault(project: Path, text: str, field: str, where: str, says: str) -> None:
    found = fails(text, project)
    assert field in found, found
    assert found[field].startswith(f"devcontainer.json:{where}: {says}"), found[field]


def test_deep_nesting_is_refused_not_a_crash(project: Path) -> None:
    found = fails('{"a":' + "[" * 100_000, project)
    assert found == {"a" + "[0]" * 199: "devcontainer.json:1:205: nested deeper than 200 levels"}


def test_two_missing_commas_and_a_type_error_reported_together(project: Path) -> None:
    text = '{\n  "image": "x"\n  "forwardPorts": [1 2, "x"],\n  "remoteEnv": []\n}'
    found = fails(text, project)
    assert found == {
        "image": "devcontainer.json:3:3: a comma is missing after 'image''s value",
        "forwardPorts[1]": "devcontainer.json:3:22: a comma is missing before this item",
        "forwardPorts[2]": 'devcontainer.json:3:25: "forwardPorts[2]" must be a port or "host:port", not \'x\'',
        "remoteEnv": 'devcontainer.json:4:16: "remoteEnv" must be an object of NAME: value, not a list',
    }


def test_container_env_cannot_read_container_variables(project: Path) -> None:
    found = fails('{"image": "x", "containerEnv": {"P": "${containerEnv:PATH}", "Q": "${localEnv}"}}', project)
    assert found["containerEnv.P"].startswith("devcontainer.json:1:38: ${containerEnv:PATH}: the container's variables")
    assert found["containerEnv.Q"].startswith("devcontainer.json:1:67: ${localEnv} names no variable")


def test_image_and_build_together_refused(project: Path) -> None:
    (project / ".devcontainer" / "Dockerfile").write_text("FROM scratch\n")
    found = fails('{"image": "x", "build": {"dockerfile": "Dockerfile"}}', project)
    assert found == {"image": 'devcontainer.json:1:11: give "image" or "build", not both'}


def test_build_without_dockerfile_and_missing_files(project: Path) -> None:
    found = fails('{"build": {"context": "."}}', project)
    assert found == {"build.dockerfile": 'devcontainer.json:1:11: "build" needs "dockerfile"'}
    found = fails('{"build": {"dockerfile": "Nope", "context": "missing"}}', project)
    assert found == {
        "build.dockerfile": 'devcontainer.json:1:26: "build.dockerfile" names a file that does not exist (.devcontainer/Nope)',
        "build.context": 'devcontainer.json:1:45: "build.context" names a folder that does not exist (.devcontainer/missing)',
    }


# --------------------------------------------------------------------------- leaving the tree


@pytest.mark.parametrize(
    ("text", "field", "col"),
    [
        ('{"build": {"dockerfile": "../../outside/Dockerfile"}}', "build.dockerfile", 26),
        ('{"build": {"dockerfile": "/etc/hostname"}}', "build.dockerfile", 26),
        ('{"build": {"dockerfile": "Dockerfile", "context": "../.."}}', "build.context", 51),
        ('{"dockerFile": "Dockerfile", "context": "../../.."}', "context", 41),
        ('{"build": {"dockerfile": "link/Dockerfile"}}', "build.dockerfile", 26),
        ('{"image": "x", "features": {"../../outside": {}}}', '"features["../../outside"]"', 29),
        (
            '{"image": "x", "customizations": {"codeforge": {"services": [{"name": "w", "command": "x", "cwd": "../.."}]}}}',
            "customizations.codeforge.services[0].cwd",
            99,
        ),
    ],
)
def test_paths_leaving_the_tree_are_refused(tmp_path: Path, text: str, field: str, col: int) -> None:
    project = tmp_path / "project"
    (project / ".devcontainer").mkdir(parents=True)
    (project / ".devcontainer" / "Dockerfile").write_text("FROM scratch\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Dockerfile").write_text("FROM scratch\n")
    # A symlink inside the tree that points out of it is refused the same way.
    (project / ".devcontainer" / "link").symlink_to(outside)
    found = fails(text, project)
    key = field.strip('"')
    assert found[key].startswith(f"devcontainer.json:1:{col}: "), found
    assert "leads outside the workspace's folder" in found[key]


def test_local_feature_without_manifest_or_id(project: Path) -> None:
    (project / ".devcontainer" / "bare").mkdir()
    (project / ".devcontainer" / "noid").mkdir()
    (project / ".devcontainer" / "noid" / "devcontainer-feature.json").write_text('{"version": "1"}')
    (project / ".devcontainer" / "broken").mkdir()
    (project / ".devcontainer" / "broken" / "devcontainer-feature.json").write_text('{"id": "b",,}')
    found = fails('{"image": "x",\n "features": {"./bare": {}, "./noid": {}, "./broken": {}, "./gone": {}}}', project)
    assert found == {
        'features["./bare"]': "devcontainer.json:2:15: the local feature './bare' has no devcontainer-feature.json",
        'features["./noid"]': 'devcontainer.json:2:29: its devcontainer-feature.json has no "id"',
        'features["./broken"]': "devcontainer.json:2:43: its devcontainer-feature.json is not valid JSON (1:12: expected a key in double quotes or `}`, found `,`)",
        'features["./gone"]': 'devcontainer.json:2:59: "features["./gone"]" names a folder that does not exist (.devcontainer/gone)',
    }


def test_service_names_must_differ_and_need_a_command(project: Path) -> None:
    text = '{"image": "x", "customizations": {"codeforge": {"services": [{"name": "web", "command": "a"}, {"name": "web"}]}}}'
    found = fails(text, project)
    assert found == {
        "customizations.codeforge.services[1].name": "devcontainer.json:1:104: a second service named 'web'",
        "customizations.codeforge.services[1].command": "devcontainer.json:1:95: a service needs a command",
    }


# --------------------------------------------------------------------------- finding the file


def test_find_devcontainer_each_place_and_several(tmp_path: Path) -> None:
    assert find_devcontainer(tmp_path) is None
    assert load_devcontainer(tmp_path) is None
    (tmp_path / ".devcontainer.json").write_text('{"image": "root"}')
    assert find_devcontainer(tmp_path) == tmp_path / ".devcontainer.json"
    assert load_devcontainer(tmp_path).image == "root"  # type: ignore[union-attr]

    (tmp_path / ".devcontainer.json").unlink()
    for name in ("python", "node"):
        (tmp_path / ".devcontainer" / name).mkdir(parents=True)
        (tmp_path / ".devcontainer" / name / "Dockerfile").write_text("FROM scratch\n")
        (tmp_path / ".devcontainer" / name / "devcontainer.json").write_text('{"build": {"dockerfile": "Dockerfile"}}')
    with pytest.raises(BadInput) as exc:
        find_devcontainer(tmp_path)
    assert (
        "2 devcontainer.json files: .devcontainer/node/devcontainer.json, .devcontainer/python/devcontainer.json"
        in (exc.value.message)
    )
    assert exc.value.errors[0].field == "devcontainer"
    # Paths in a nested file are relative to its own folder.
    spec = load_devcontainer(tmp_path, ".devcontainer/python")
    assert spec is not None and spec.dockerfile == ".devcontainer/python/Dockerfile"
    assert find_devcontainer(tmp_path, ".devcontainer/node/devcontainer.json") == (
        tmp_path / ".devcontainer" / "node" / "devcontainer.json"
    )
    with pytest.raises(BadInput, match="'elsewhere' is not one of"):
        find_devcontainer(tmp_path, "elsewhere")

    (tmp_path / ".devcontainer" / "devcontainer.json").write_bytes(b'{"image": "\xff"}')
    with pytest.raises(BadInput, match=r"3 devcontainer\.json files"):
        find_devcontainer(tmp_path)
    with pytest.raises(BadInput, match="not UTF-8"):
        load_devcontainer(tmp_path, ".devcontainer/devcontainer.json")
