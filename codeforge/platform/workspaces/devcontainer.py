"""devcontainer.json → WorkspaceSpec (docs/workspaces.md, "devcontainer.json").

The file is JSON with comments and trailing commas, as VS Code reads it. No library here
keeps line and column for values (json, orjson and ujson give them for syntax errors only,
and none takes comments), so a small parser below keeps the position of every value: each
problem, syntax or meaning, names `devcontainer.json:LINE:COLUMN:` and its JSON path, and all
of them are raised together in one BadInput.

Offline only: a feature is resolved when it is a local folder holding
devcontainer-feature.json; every other one goes into `unresolved` with its reason.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.platform.workspaces.jsonc import Node, Problem, join_path, parse_jsonc
from codeforge.platform.workspaces.records import Limits, ServiceSpec, WorkspaceSpec

__all__ = ["SOURCE", "find_devcontainer", "load_devcontainer", "parse_devcontainer", "parse_jsonc"]

SOURCE = "devcontainer.json"
# Where the Docker runtime mounts the tree (docs/workspaces.md, runtimes: docker).
CONTAINER_WORKSPACE = "/workspace"


# --------------------------------------------------------------------------- meaning


_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(tb|gb|mb|kb)\s*", re.IGNORECASE)
_SIZE_MB = {"tb": 1024 * 1024, "gb": 1024, "mb": 1, "kb": 1 / 1024}
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "0.0.0.0", "::1", "[::1]"}
_ENV_NAME = re.compile(r"[^=\x00]+")
_SERVICE_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SERVICE_KEYS = {"name", "command", "port", "env", "cwd"}
_TYPE_NAMES = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "number": "a number",
    "bool": "true or false",
    "null": "null",
}
_GIVEN = {**_TYPE_NAMES, "bool": "a boolean"}


class _Reader:
    def __init__(self, folder: Path, config_dir: Path, local_env: Mapping[str, str]) -> None:
        self.folder = folder.resolve()
        self.config_dir = config_dir
        self.local_env = local_env
        self.problems: list[Problem] = []
        self.unresolved: list[str] = []

    def fault(self, node: Node, path: str, message: str, fix: str) -> None:
        self.problems.append(Problem(node.line, node.col, path, message, fix))

    def expect(self, node: Node, path: str, kind: str, what: str = "") -> bool:
        if node.kind == kind:
            return True
        self.fault(
            node,
            path,
            f'"{path}" must be {what or _TYPE_NAMES[kind]}, not {_GIVEN[node.kind]}',
            f"give {what or _TYPE_NAMES[kind]}",
        )
        return False

    # -- paths inside the tree

    def inside(self, node: Node, path: str, relative: str, base: Path, *, want: str) -> str | None:
        """`relative` (from `base`) as a path relative to the tree, or None (reported) when it
        leaves the tree or is missing."""
        if not relative.strip():
            self.fault(node, path, f'"{path}" is empty', "name a path relative to the devcontainer.json's folder")
            return None
        target = (base / relative).resolve()
        if not target.is_relative_to(self.folder):
            self.fault(
                node,
                path,
                f'"{path}" leads outside the workspace\'s folder ({relative!r})',
                "use a path inside the project: the workspace sees nothing else",
            )
            return None
        exists = target.is_dir() if want == "folder" else target.is_file()
        if not exists:
            shown = target.relative_to(self.folder).as_posix()
            self.fault(
                node, path, f'"{path}" names a {want} that does not exist ({shown})', f"create {shown} or fix the path"
            )
            return None
        return target.relative_to(self.folder).as_posix() or "."

    # -- commands

    def command(self, node: Node, path: str) -> tuple[str, ...] | None:
        if node.kind == "string":
            if not node.value.strip():
                self.fault(node, path, f'"{path}" is an empty command', "write the command to run, or remove the key")
                return None
            return ("/bin/sh", "-c", node.value)
        if node.kind == "array":
            argv = []
            for index, item in enumerate(node.value):
                if self.expect(item, f"{path}[{index}]", "string"):
                    argv.append(item.value)
            if not node.value:
                self.fault(node, path, f'"{path}" is an empty command', "list the program and its arguments")
                return None
            return tuple(argv) if len(argv) == len(node.value) else None
        self.fault(
            node,
            path,
            f'"{path}" must be a command: a string, a list of arguments or an object of named commands, not {_GIVEN[node.kind]}',
            'write "npm install" or ["npm", "install"]',
        )
        return None

    def lifecycle(self, node: Node, path: str) -> list[tuple[str, ...]]:
        if node.kind != "object":
            one = self.command(node, path)
            return [one] if one else []
        commands = []
        for name, _, value in node.last_members():
            if value.kind == "object":
                self.fault(
                    value, join_path(path, name), "a named command must be a string or a list", 'write "npm install"'
                )
                continue
            one = self.command(value, join_path(path, name))
            if one:
                commands.append(one)
        return commands

    # -- ports

    def ports(self, node: Node, path: str) -> list[int]:
        if not self.expect(node, path, "array", "a list of ports"):
            return []
        out: list[int] = []
        for index, item in enumerate(node.value):
            where = f"{path}[{index}]"
            port = self.port(item, where, allow_host=True)
            if port is not None and port not in out:
                out.append(port)
        return out

    def port(self, node: Node, path: str, *, allow_host: bool) -> int | None:
        if node.kind == "number" and isinstance(node.value, int):
            if 1 <= node.value <= 65535:
                return int(node.value)
            self.fault(node, path, f'"{path}" is {node.value}: a port is 1 to 65535', "use a port from 1 to 65535")
            return None
        if allow_host and node.kind == "string":
            host, sep, number = node.value.rpartition(":")
            if not sep or not host or not number.isdigit() or not 1 <= int(number) <= 65535:
                self.fault(
                    node, path, f'"{path}" must be a port or "host:port", not {node.value!r}', 'write 3000 or "db:5432"'
                )
                return None
            if host.lower() not in _LOCAL_HOSTS:
                self.unresolved.append(
                    f"{path} {node.value!r}: forwarding another host's port is not supported here; not forwarded"
                )
                return None
            return int(number)
        what = 'a port (1 to 65535) or "host:port"' if allow_host else "a port (1 to 65535)"
        self.fault(node, path, f'"{path}" must be {what}, not {_GIVEN[node.kind]}{_shown(node)}', f"give {what}")
        return None

    # -- environment

    def env(self, node: Node, path: str, known: Mapping[str, str] | None) -> dict[str, str]:
        """`known` is the container's environment for ${containerEnv:…}; None where the
        container's environment is not known yet (containerEnv itself)."""
        if not self.expect(node, path, "object", "an object of NAME: value"):
            return {}
        out: dict[str, str] = {}
        for name, key, value in node.last_members():
            where = join_path(path, name)
            if not _ENV_NAME.fullmatch(name):
                self.fault(key, where, f"{name!r} is not a variable name", "use a name without = (e.g. APP_PORT)")
                continue
            if value.kind == "null":
                continue  # VS Code: null unsets the variable
            if not self.expect(value, where, "string"):
                continue
            resolved = self.substitute(value, where, value.value, known)
            if resolved is not None:
                out[name] = resolved
        return out

    def substitute(self, node: Node, path: str, text: str, known: Mapping[str, str] | None) -> str | None:
        """${localEnv:VAR[:default]}, ${containerEnv:VAR[:default]} and the folder variables;
        None (and listed in unresolved) where a container variable cannot be known here."""
        missing: list[str] = []

        def one(match: re.Match[str]) -> str:
            inner = match[1]
            kind, _, rest = inner.partition(":")
            if kind in ("localEnv", "env", "containerEnv"):
                name, has_default, default = rest.partition(":")
                if not name:
                    self.fault(node, path, f"${{{inner}}} names no variable", f"write ${{{kind}:NAME}}")
                    return match[0]
                source = self.local_env if kind != "containerEnv" else known
                if source is None:
                    self.fault(
                        node,
                        path,
                        f"${{{inner}}}: the container's variables are not known in containerEnv",
                        "use ${containerEnv:…} in remoteEnv, or ${localEnv:…} here",
                    )
                    return match[0]
                if name in source:
                    return source[name]
                if has_default:
                    return default
                if kind == "containerEnv":
                    missing.append(name)
                    return match[0]
                # VS Code puts an empty string for a variable the host does not have.
                self.unresolved.append(f"{path}: ${{{inner}}} is not set here; empty")
                return ""
            if kind == "localWorkspaceFolder":
                return str(self.folder)
            if kind == "localWorkspaceFolderBasename":
                return self.folder.name
            if kind == "containerWorkspaceFolder":
                return CONTAINER_WORKSPACE
            if kind == "containerWorkspaceFolderBasename":
                return CONTAINER_WORKSPACE.rsplit("/", 1)[-1]
            return match[0]  # VS Code leaves other variables as written

        result = _VARIABLE.sub(one, text)
        if missing:
            names = ", ".join(missing)
            self.unresolved.append(
                f"{path}: ${{containerEnv:{names}}} is the image's value, known only once the container runs; left unset"
            )
            return None
        return result

    # -- features

    def features(self, node: Node, path: str) -> list[str]:
        if not self.expect(node, path, "object", "an object of feature: options"):
            return []
        out: list[str] = []
        for name, key, value in node.last_members():
            where = join_path(path, name)
            if value.kind not in ("object", "string", "bool"):
                self.fault(
                    value, where, f'"{where}" options must be an object, a string or true', "give {} for the defaults"
                )
                continue
            if name.startswith(("./", "../")):
                local = self.inside(key, where, name, self.config_dir, want="folder")
                if local is None:
                    continue
                manifest = self.folder / local / "devcontainer-feature.json"
                if not manifest.is_file():
                    self.fault(
                        key,
                        where,
                        f"the local feature {name!r} has no devcontainer-feature.json",
                        f"add {local}/devcontainer-feature.json with its id, or remove the feature",
                    )
                    continue
                if self._feature_manifest(key, where, manifest):
                    out.append(local)
                continue
            host = _feature_host(name)
            self.unresolved.append(f"feature {name}: needs the internet: {host} is not reachable")
        return out

    def _feature_manifest(self, node: Node, path: str, manifest: Path) -> bool:
        try:
            text = manifest.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.fault(node, path, f"cannot read {manifest.name}: {exc}", "make it a readable UTF-8 file")
            return False
        root, problems = parse_jsonc(text)
        if problems or root is None:
            first = problems[0] if problems else None
            where = f"{first.line}:{first.col}: {first.message}" if first else "unreadable"
            self.fault(node, path, f"its devcontainer-feature.json is not valid JSON ({where})", "fix that file")
            return False
        ident = root.get("id") if root.kind == "object" else None
        if ident is None or ident.kind != "string" or not ident.value:
            self.fault(node, path, 'its devcontainer-feature.json has no "id"', 'add "id": "<name>" to it')
            return False
        return True

    # -- limits

    def limits(self, node: Node, path: str) -> Limits:
        if not self.expect(node, path, "object"):
            return Limits()
        cpus: float | None = None
        memory = disk = None
        value = node.get("cpus")
        if value is not None:
            where = f"{path}.cpus"
            if value.kind == "number" and isinstance(value.value, int) and value.value >= 1:
                cpus = float(value.value)
            else:
                self.fault(value, where, f'"{where}" must be a whole number of CPUs, at least 1', "write 2")
        value = node.get("memory")
        if value is not None:
            memory = self.size(value, f"{path}.memory")
        value = node.get("storage")
        if value is not None:
            disk = self.size(value, f"{path}.storage")
        return Limits(cpus=cpus, memory_mb=memory, disk_mb=disk)

    def size(self, node: Node, path: str) -> int | None:
        match = _SIZE.fullmatch(node.value) if node.kind == "string" else None
        if match is None or float(match[1]) <= 0:
            self.fault(node, path, f'"{path}" must be a size such as "4gb" or "512mb"', 'write "4gb"')
            return None
        return max(1, math.ceil(float(match[1]) * _SIZE_MB[match[2].lower()]))

    # -- CodeForge services

    def services(self, node: Node, path: str) -> list[ServiceSpec]:
        if not self.expect(node, path, "array", "a list of services"):
            return []
        out: list[ServiceSpec] = []
        names: set[str] = set()
        for index, item in enumerate(node.value):
            where = f"{path}[{index}]"
            if not self.expect(item, where, "object", "a service: {name, command, port?, env?, cwd?}"):
                continue
            ok = True
            for key, key_node, _ in item.members:
                if key not in _SERVICE_KEYS:
                    self.fault(
                        key_node,
                        join_path(where, key),
                        f"a service takes no {key!r}",
                        f"use only {', '.join(sorted(_SERVICE_KEYS))}",
                    )
                    ok = False
            name_node = item.get("name")
            name = ""
            if name_node is None:
                self.fault(item, f"{where}.name", "a service needs a name", 'add "name": "web"')
                ok = False
            elif self.expect(name_node, f"{where}.name", "string"):
                name = name_node.value
                if not _SERVICE_NAME.fullmatch(name):
                    self.fault(
                        name_node,
                        f"{where}.name",
                        f"{name!r} is not a service name",
                        "use lowercase letters, digits and -",
                    )
                    ok = False
                elif name in names:
                    self.fault(
                        name_node, f"{where}.name", f"a second service named {name!r}", "give each service its own name"
                    )
                    ok = False
                names.add(name)
            else:
                ok = False
            command_node = item.get("command")
            command = None
            if command_node is None:
                self.fault(
                    item, f"{where}.command", "a service needs a command", 'add "command": ["python3", "app.py"]'
                )
            else:
                command = self.command(command_node, f"{where}.command")
            port_node = item.get("port")
            port = None
            if port_node is not None and port_node.kind != "null":
                port = self.port(port_node, f"{where}.port", allow_host=False)
                ok = ok and port is not None
            env_node = item.get("env")
            env = self.env(env_node, f"{where}.env", None) if env_node is not None else {}
            cwd_node = item.get("cwd")
            cwd = "."
            if cwd_node is not None and self.expect(cwd_node, f"{where}.cwd", "string"):
                cwd = self.inside(cwd_node, f"{where}.cwd", cwd_node.value, self.folder, want="folder") or ""
                ok = ok and bool(cwd)
            elif cwd_node is not None:
                ok = False
            if ok and command:
                out.append(ServiceSpec(name=name, command=command, port=port, env=env, cwd=cwd))
        return out


def _shown(node: Node) -> str:
    if node.kind in ("number", "string"):
        return f" {node.value!r}"
    return ""


def _feature_host(ident: str) -> str:
    if ident.startswith(("https://", "http://")):
        return ident.split("/")[2]
    first = ident.split("/", 1)[0]
    # "node" (the old short form) and "devcontainers/features/node" both live on ghcr.io.
    if "/" not in ident or ("." not in first and ":" not in first):
        return "ghcr.io"
    return first


def _read(root: Node, reader: _Reader) -> WorkspaceSpec:
    if root.kind != "object":
        reader.fault(root, "(file)", f"the file must hold an object, not {_TYPE_NAMES[root.kind]}", "write { … }")
        return WorkspaceSpec()
    image = dockerfile = None
    context = "."
    image_node = root.get("image")
    if image_node is not None and reader.expect(image_node, "image", "string"):
        if image_node.value.strip():
            image = image_node.value
        else:
            reader.fault(image_node, "image", '"image" is empty', 'name an image, e.g. "python:3.12"')
    build = root.get("build")
    dockerfile_node = context_node = None
    build_args: dict[str, str] = {}
    dockerfile_path = context_path = ""
    if build is not None and reader.expect(build, "build", "object"):
        dockerfile_node, dockerfile_path = build.get("dockerfile") or build.get("dockerFile"), "build.dockerfile"
        context_node, context_path = build.get("context"), "build.context"
        args_node = build.get("args")
        if args_node is not None:
            build_args = reader.env(args_node, "build.args", None)
        if dockerfile_node is None:
            reader.fault(build, "build.dockerfile", '"build" needs "dockerfile"', 'add "dockerfile": "Dockerfile"')
    legacy = root.get("dockerFile")
    if legacy is not None and dockerfile_node is None:
        dockerfile_node, dockerfile_path = legacy, "dockerFile"
        context_node, context_path = root.get("context"), "context"
    if dockerfile_node is not None and reader.expect(dockerfile_node, dockerfile_path, "string"):
        dockerfile = reader.inside(
            dockerfile_node, dockerfile_path, dockerfile_node.value, reader.config_dir, want="file"
        )
    if context_node is not None and reader.expect(context_node, context_path, "string"):
        context = reader.inside(context_node, context_path, context_node.value, reader.config_dir, want="folder") or "."
    elif context_node is None and dockerfile_node is not None:
        # The default context is the devcontainer.json's folder (VS Code's default).
        context = reader.inside(dockerfile_node, context_path, ".", reader.config_dir, want="folder") or "."
    if image_node is not None and dockerfile_node is not None:
        reader.fault(image_node, "image", 'give "image" or "build", not both', 'remove one of "image" and "build"')
    if image_node is None and dockerfile_node is None and build is None:
        compose = root.get("dockerComposeFile")
        if compose is not None:
            reader.fault(
                compose,
                "dockerComposeFile",
                "Docker Compose devcontainers are not supported",
                'use "image" or "build.dockerfile"',
            )
        else:
            reader.fault(
                root,
                "image",
                'neither "image" nor "build" is given',
                'add "image": "…" or "build": {"dockerfile": "Dockerfile"}',
            )

    post_create: list[tuple[str, ...]] = []
    # All three run once, in this order, when the container is created (VS Code's lifecycle).
    for key in ("onCreateCommand", "updateContentCommand", "postCreateCommand"):
        node = root.get(key)
        if node is not None:
            post_create += reader.lifecycle(node, key)

    node = root.get("postStartCommand")
    post_start = reader.lifecycle(node, "postStartCommand") if node is not None else []

    forward = reader.ports(root.get("forwardPorts") or Node("array", [], 0, 0), "forwardPorts")

    container_env: dict[str, str] = {}
    node = root.get("containerEnv")
    if node is not None:
        container_env = reader.env(node, "containerEnv", None)
    env = dict(container_env)
    node = root.get("remoteEnv")
    if node is not None:
        env.update(reader.env(node, "remoteEnv", container_env))

    features: list[str] = []
    node = root.get("features")
    if node is not None:
        features = reader.features(node, "features")

    limits = Limits()
    node = root.get("hostRequirements")
    if node is not None:
        limits = reader.limits(node, "hostRequirements")

    services: list[ServiceSpec] = []
    custom = root.get("customizations")
    if custom is not None and reader.expect(custom, "customizations", "object"):
        ours = custom.get("codeforge")
        if ours is not None and reader.expect(ours, "customizations.codeforge", "object"):
            listed = ours.get("services")
            if listed is not None:
                services = reader.services(listed, "customizations.codeforge.services")

    return WorkspaceSpec(
        image=image,
        dockerfile=dockerfile,
        build_context=context,
        build_args=build_args,
        post_create=tuple(post_create),
        post_start=tuple(post_start),
        forward_ports=tuple(forward),
        env=env,
        services=tuple(services),
        limits=limits,
        features=tuple(features),
        unresolved=tuple(reader.unresolved),
    )


def _raise(problems: list[Problem]) -> None:
    ordered = sorted(problems, key=lambda p: (p.line, p.col))
    listed = [FieldProblem(p.field, f"{SOURCE}:{p.line}:{p.col}: {p.message}", p.fix) for p in ordered[:50]]
    first = ordered[0]
    raise BadInput(
        f"{SOURCE}:{first.line}:{first.col}: {len(ordered)} problem(s) in {SOURCE}",
        errors=listed,
        fix="correct each place named, then create the workspace again",
    )


def parse_devcontainer(
    text: str, folder: Path, *, config_dir: Path | None = None, local_env: Mapping[str, str] | None = None
) -> WorkspaceSpec:
    """The WorkspaceSpec a devcontainer.json says. `folder` is the workspace's tree;
    `config_dir` is the folder holding the file (paths in it are relative to it; default
    `folder/.devcontainer`); `local_env` is the host's environment for ${localEnv:…}
    (default os.environ). Every problem is raised at once as one BadInput."""
    root, problems = parse_jsonc(text)
    if root is None:
        _raise(problems)
    assert root is not None
    reader = _Reader(
        folder, (config_dir or folder / ".devcontainer").resolve(), os.environ if local_env is None else local_env
    )
    spec = _read(root, reader)
    if problems or reader.problems:
        _raise(problems + reader.problems)
    return spec


def find_devcontainer(folder: Path, choice: str | None = None) -> Path | None:
    """The project's devcontainer.json: .devcontainer/devcontainer.json, .devcontainer.json
    or .devcontainer/<name>/devcontainer.json; None when there is none. Several: `choice`
    (a path relative to `folder`) picks one, else a BadInput lists them."""
    found = []
    for candidate in (folder / ".devcontainer" / "devcontainer.json", folder / ".devcontainer.json"):
        if candidate.is_file():
            found.append(candidate)
    nested = folder / ".devcontainer"
    if nested.is_dir():
        found += sorted(p for p in nested.glob("*/devcontainer.json") if p.is_file())
    names = [p.relative_to(folder).as_posix() for p in found]
    if choice is not None:
        wanted = PurePosixPath(choice.strip()).as_posix()
        for path, name in zip(found, names, strict=True):
            if wanted in (name, f"{name.removesuffix('/devcontainer.json')}"):
                return path
        raise BadInput(
            f"no devcontainer.json at {choice!r}",
            errors=[
                FieldProblem(
                    "devcontainer", f"{choice!r} is not one of {', '.join(names) or 'none'}", "name one of them"
                )
            ],
        )
    if len(found) > 1:
        raise BadInput(
            f"the project has {len(found)} devcontainer.json files: {', '.join(names)}",
            errors=[FieldProblem("devcontainer", "which one?", f"pass devcontainer= one of {', '.join(names)}")],
        )
    return found[0] if found else None


def load_devcontainer(
    folder: Path, choice: str | None = None, *, local_env: Mapping[str, str] | None = None
) -> WorkspaceSpec | None:
    """find_devcontainer, then parse_devcontainer with that file's folder; None without one."""
    path = find_devcontainer(folder, choice)
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{SOURCE} is not UTF-8 text ({exc.reason})", fix="save it as UTF-8") from exc
    return parse_devcontainer(text, folder, config_dir=path.parent, local_env=local_env)
