"""Built-in workspace templates (docs/workspaces.md, "devcontainer.json"): each a
WorkspaceSpec plus the files a new tree starts with. A template says which programs it
needs on PATH; `usable()` says whether this host has them and, if not, what to do."""

from __future__ import annotations

import difflib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from codeforge.catalog.errors import NotFound
from codeforge.platform.workspaces.records import ServiceSpec, WorkspaceSpec

__all__ = ["Template", "template", "templates"]


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    spec: WorkspaceSpec
    files: dict[str, str] = field(default_factory=dict)  # relative path -> text
    needs: tuple[str, ...] = ()  # programs that must be on PATH

    def usable(self, path: str | None = None) -> str | None:
        """None when this host can run the template, else what is missing and the fix.
        `path` is the PATH to look in (default: the process's)."""
        missing = [program for program in self.needs if shutil.which(program, path=path) is None]
        if not missing:
            return None
        return (
            f"template {self.name!r} needs {', '.join(missing)} on PATH, which this host does not have; "
            f"install {', '.join(missing)} or choose another template"
        )

    def lay_down(self, tree: Path) -> list[str]:
        """Write the template's files into `tree`; a file already there is kept as it is (a
        project's own file wins). Returns the paths written."""
        written = []
        for relative, text in sorted(self.files.items()):
            parts = PurePosixPath(relative).parts
            if PurePosixPath(relative).is_absolute() or ".." in parts:
                raise ValueError(f"template {self.name!r} names {relative!r}, outside the tree")  # a bug, not input
            target = tree.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                # "x": created only if absent, so a file made meanwhile is not overwritten either.
                with open(target, "x", encoding="utf-8", newline="\n") as handle:
                    handle.write(text)
            except FileExistsError:
                continue
            if relative.endswith(".sh"):
                os.chmod(target, 0o755)
            written.append(relative)
        return written


_PYTHON_INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>CodeForge workspace</title></head>
<body><h1>CodeForge workspace</h1><p>Served by python3 -m http.server.</p></body></html>
"""

_NODE_SERVER = """// A tiny HTTP service: the workspace's "web" service runs `node server.js`.
const http = require("http");
const port = Number(process.env.PORT || 3000);
http
  .createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.end("CodeForge workspace\\n");
  })
  .listen(port, () => console.log(`listening on ${port}`));
"""

_NODE_PACKAGE = """{
  "name": "workspace",
  "version": "0.1.0",
  "private": true,
  "scripts": { "start": "node server.js" }
}
"""

_BUILT_IN = (
    Template(
        name="empty",
        description="An empty tree: no services, nothing installed.",
        spec=WorkspaceSpec(),
    ),
    Template(
        name="python",
        description="Python 3: a static HTTP service (python3 -m http.server) on port 8000 and a requirements.txt.",
        spec=WorkspaceSpec(
            forward_ports=(8000,),
            services=(ServiceSpec(name="web", command=("python3", "-m", "http.server", "$PORT"), port=8000),),
        ),
        files={
            "requirements.txt": "# One package a line, e.g. requests==2.32.3\n",
            "index.html": _PYTHON_INDEX,
        },
        needs=("python3",),
    ),
    Template(
        name="node",
        description="Node.js: an HTTP service (node server.js) on port 3000 and a package.json.",
        spec=WorkspaceSpec(
            forward_ports=(3000,),
            env={"PORT": "3000"},
            services=(ServiceSpec(name="web", command=("node", "server.js"), port=3000, env={"PORT": "3000"}),),
        ),
        files={"package.json": _NODE_PACKAGE, "server.js": _NODE_SERVER},
        needs=("node",),
    ),
)
_BY_NAME = {t.name: t for t in _BUILT_IN}


def templates() -> list[Template]:
    """The built-in templates, in a stable order."""
    return list(_BUILT_IN)


def template(name: str) -> Template:
    """The template named `name`; NotFound names the known ones (and a near miss)."""
    found = _BY_NAME.get(name.strip().lower())
    if found is not None:
        return found
    known = ", ".join(sorted(_BY_NAME))
    close = difflib.get_close_matches(name.strip().lower(), list(_BY_NAME), n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise NotFound(f"no workspace template {name!r}; {hint}the templates are {known}", fix=f"use one of {known}")
