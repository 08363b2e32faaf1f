"""The one reader of the files a command works on: the editor's buffer when the file is open
there (what the user sees, saved or not), else the file on disk; and codeforge.yaml read
through it, its model the one the diagnostics already have for that text
(`project_yaml.analyse`), its problems named by `codeforge.projectfile`'s parser."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pygls.uris import from_fs_path, to_fs_path

from codeforge.catalog.errors import BadInput
from codeforge.lsp.project_yaml import analyse, current_model, is_project_file
from codeforge.lsp.session import CodeForgeSession
from codeforge.projectfile import ProjectFile, parse_project_file

__all__ = ["ProjectDocument", "project_file_uri", "read_model", "read_project", "read_text", "uri_of"]


def uri_of(path: Path) -> str:
    return str(from_fs_path(str(path)))


def read_text(ls: CodeForgeSession, uri: str) -> str:
    """The editor's buffer when open, else the file on disk."""
    try:
        documents = ls.workspace.text_documents
    except RuntimeError:  # not initialized: nothing is open
        documents = {}
    if uri in documents:
        return documents[uri].source
    path = to_fs_path(uri)
    if path is None:
        raise BadInput(f"cannot read {uri}", fix="open the file in the editor first")
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {path} ({type(exc).__name__})", fix="check that the file exists") from None


def project_file_uri(ls: CodeForgeSession, uri: str | None = None) -> str:
    """The codeforge.yaml a command works with: `uri` when it is one, else the workspace's
    (at its root or above, as the CLI finds it)."""
    if uri and is_project_file(uri):
        return uri
    root = ls.workspace_root()
    found = ls.projects.project_file(root) if root is not None else None
    if found is None:
        raise BadInput("this workspace has no codeforge.yaml", fix="add one at the workspace root")
    return uri_of(found)


@dataclass(frozen=True)
class ProjectDocument:
    """codeforge.yaml as a command reads it: its URI and path, the model, the project it
    works in, and the folder relative paths in it start from."""

    uri: str
    path: Path
    model: ProjectFile
    project: str

    @property
    def folder(self) -> Path:
        return self.path.parent


def read_model(ls: CodeForgeSession, uri: str) -> ProjectFile:
    """The model of the codeforge.yaml at `uri`; ProjectFileError names what to fix."""
    text = read_text(ls, uri)
    # The diagnostics have analysed an open document's text already: parsed once a version.
    model = analyse(text).model
    if model is not None:
        return model
    return parse_project_file(text, path=Path(to_fs_path(uri) or uri).name, model=current_model())


def read_project(ls: CodeForgeSession, uri: str | None = None) -> ProjectDocument:
    """Read and parse codeforge.yaml (`uri`, or the workspace's); ProjectFileError names
    what to fix, BadInput says when there is no project to work in."""
    found = project_file_uri(ls, uri)
    path = Path(to_fs_path(found) or found)
    model = read_model(ls, found)
    project = model.project or ls.context_project()
    if not project:
        raise BadInput("no project to work in", fix="add `project: <slug>` to codeforge.yaml")
    return ProjectDocument(found, path, model, project)
