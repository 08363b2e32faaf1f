"""`UriMap`: file URIs between the editor's local folder and the workspace, in every message.

An editor connected through `codeforge connect` names files by its own paths
(`file:///home/ana/shop/app.py`); the language servers on the bridge see the workspace
(`file:///srv/ws/app.py`). Every JSON-RPC message crossing the bridge goes through one
`UriMap`: `to_workspace` on the way in, `to_editor` on the way out.

The rewrite is a generic walk rather than a list of LSP shapes: any string that *is* a file
URI (and any mapping key that is one, as in `WorkspaceEdit.changes`) is rewritten when it lies
under the root of its side. New LSP methods and server-specific extensions (basedpyright's,
pylsp's) therefore need no code here. `rootPath`, the one plain path in LSP, is mapped by key.

Safety: URIs are compared as decoded, normalised paths, never as string prefixes, so
`file:///home/ana/shop/../../etc/passwd` or `file:///home/ana/shopping/x` is never mapped into
the workspace. An editor URI outside the editor's folder that happens to name a path inside
the workspace (a different file on the editor's machine) is put out of the language server's
reach under the `codeforge-editor-file:` scheme and restored on the way back, so the server
never mistakes it for a workspace file. Workspace URIs outside the workspace (the standard
library, typeshed stubs bundled with basedpyright) go to the editor unchanged.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["SHADOW_SCHEME", "UriMap"]

# Editor URIs outside the editor's root that name a workspace path travel under this scheme.
SHADOW_SCHEME = "codeforge-editor-file"
_SHADOW_PREFIX = SHADOW_SCHEME + ":"
# How many editor spellings of workspace paths are remembered (see `_spelling`).
_MAX_SPELLINGS = 20_000


def _uri_path(uri: str) -> tuple[str, str, str] | None:
    """(normalised absolute path, query, fragment) of a local `file:` URI; None otherwise.

    A file URI with a host other than localhost names another machine: not ours to map."""
    if uri[:5].lower() != "file:":
        return None
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        return None
    path = unquote(parts.path, errors="strict") if "%" in parts.path else parts.path
    if not path.startswith("/"):
        return None
    # normpath folds `a/../b` lexically, which is what a URI means (no symlinks are read).
    # It keeps a leading `//`; a file path never needs it.
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = "/" + norm.lstrip("/")
    return norm, parts.query, parts.fragment


def _relative(path: str, root: str) -> str | None:
    """`path` relative to `root` ("" for the root itself), None when it is not under it."""
    if path == root:
        return ""
    prefix = root if root.endswith("/") else root + "/"
    if path.startswith(prefix):
        return path[len(prefix) :]
    return None


def _file_uri(root_uri: str, rel: str, query: str, fragment: str) -> str:
    # The same quoting as pathlib's as_uri(): everything but unreserved characters and `/`.
    uri = root_uri if not rel else f"{root_uri}/{quote(rel, safe='/')}"
    if query or fragment:
        parts = urlsplit(uri)
        uri = urlunsplit((parts.scheme, parts.netloc, parts.path, query, fragment))
    return uri


def _root_from_initialize(params: dict[str, Any]) -> str | None:
    """The editor root's URI, if the params name a local one."""
    candidates: list[str] = []
    root_uri = params.get("rootUri")
    if isinstance(root_uri, str):
        candidates.append(root_uri)
    root_path = params.get("rootPath")
    if isinstance(root_path, str) and root_path.startswith("/"):
        candidates.append(Path(root_path).as_uri())
    folders = params.get("workspaceFolders")
    if isinstance(folders, list) and folders and isinstance(folders[0], dict):
        folder_uri = folders[0].get("uri")
        if isinstance(folder_uri, str):
            candidates.append(folder_uri)
    for uri in candidates:
        if _safe_uri_path(uri) is not None:
            return uri
    return None


class UriMap:
    """Rewrites file URIs between one editor's folder and the workspace, both ways."""

    def __init__(self, editor_root: str | None, workspace_root: Path) -> None:
        """`editor_root`: the editor folder's file URI, or None for an identity map."""
        self.workspace_root = workspace_root
        self._ws_path = posixpath.normpath(str(workspace_root))
        self._ws_uri = workspace_root.as_uri().rstrip("/")
        self._ed_uri: str | None = None
        self._ed_path: str | None = None
        if editor_root is not None:
            parsed = _safe_uri_path(editor_root)
            if parsed is None:
                raise ValueError(f"the editor root `{editor_root}` is not a local file URI")
            self._ed_path = parsed[0]
            # Answers use the editor's own spelling of its root, unless that spelling is
            # not plain (a query, `..`, `//`): then the canonical one.
            plain = editor_root.rstrip("/")
            decoded = _safe_uri_path(plain)
            if (
                decoded is not None
                and decoded[0] == unquote(urlsplit(plain).path)
                and not decoded[1]
                and not decoded[2]
            ):
                self._ed_uri = plain
            else:
                self._ed_uri = Path(self._ed_path).as_uri()
        # Editor spelling of each relative path it named (percent-encoding varies between
        # editors, and some compare URIs as strings): answers use the editor's own spelling.
        self._spellings: dict[str, str] = {}

    @classmethod
    def from_initialize(cls, params: dict[str, Any], workspace_root: Path) -> UriMap:
        """The map for an editor, from its `initialize` params: the root is `rootUri`, else
        `rootPath`, else the first workspace folder; with none, URIs pass unchanged."""
        return cls(_root_from_initialize(params), workspace_root)

    @property
    def editor_root(self) -> str | None:
        """The editor folder's URI, or None when this map is the identity."""
        return self._ed_uri

    @property
    def identity(self) -> bool:
        return self._ed_path is None

    # -- single values -------------------------------------------------------------------

    def uri_to_workspace(self, uri: str) -> str:
        """One editor URI as the workspace names it (unchanged when it is not a file URI
        under the editor's folder and does not collide with a workspace path)."""
        if self._ed_path is None or self._ed_uri is None:
            return uri
        parsed = _safe_uri_path(uri)
        if parsed is None:
            return uri
        path, query, fragment = parsed
        rel = _relative(path, self._ed_path)
        if rel is not None:
            spelling = uri.split("?", 1)[0].split("#", 1)[0]
            # Only a plain spelling is worth repeating (not one with `..` or `//` in it).
            if len(self._spellings) < _MAX_SPELLINGS and "/." not in spelling and "//" not in spelling[7:]:
                self._spellings.setdefault(rel, spelling)
            return _file_uri(self._ws_uri, rel, query, fragment)
        if _relative(path, self._ws_path) is not None:
            # Another file of the editor's machine that would alias a workspace file.
            return _SHADOW_PREFIX + uri
        return uri

    def uri_to_editor(self, uri: str) -> str:
        """One workspace URI as the editor names it (unchanged outside the workspace)."""
        if self._ed_path is None or self._ed_uri is None:
            return uri
        if uri.startswith(_SHADOW_PREFIX):
            return uri[len(_SHADOW_PREFIX) :]
        parsed = _safe_uri_path(uri)
        if parsed is None:
            return uri
        path, query, fragment = parsed
        rel = _relative(path, self._ws_path)
        if rel is None:
            return uri
        known = self._spellings.get(rel)
        if known is not None:
            return _file_uri(known, "", query, fragment)
        return _file_uri(self._ed_uri, rel, query, fragment)

    def path_to_workspace(self, path: str) -> str:
        """A plain absolute path (`rootPath`) from the editor's side to the workspace's."""
        if self._ed_path is None or not path.startswith("/"):
            return path
        rel = _relative(posixpath.normpath(path), self._ed_path)
        if rel is None:
            return path
        return self._ws_path if not rel else posixpath.join(self._ws_path, rel)

    def path_to_editor(self, path: str) -> str:
        if self._ed_path is None or not path.startswith("/"):
            return path
        rel = _relative(posixpath.normpath(path), self._ws_path)
        if rel is None:
            return path
        return self._ed_path if not rel else posixpath.join(self._ed_path, rel)

    # -- whole messages ------------------------------------------------------------------

    def to_workspace(self, message: dict[str, Any]) -> dict[str, Any]:
        """A copy of an editor → bridge message with its file URIs in the workspace."""
        if self._ed_path is None:
            return message
        result: dict[str, Any] = _walk(message, self.uri_to_workspace, self.path_to_workspace)
        return result

    def to_editor(self, message: dict[str, Any]) -> dict[str, Any]:
        """A copy of a bridge → editor message with its file URIs in the editor's folder."""
        if self._ed_path is None:
            return message
        result: dict[str, Any] = _walk(message, self.uri_to_editor, self.path_to_editor)
        return result


def _safe_uri_path(uri: str) -> tuple[str, str, str] | None:
    # Malformed percent-encoding (`%ff` that is not UTF-8) is left alone rather than guessed.
    if uri[:5].lower() != "file:":
        return None
    try:
        return _uri_path(uri)
    except (UnicodeDecodeError, ValueError):
        return None


def _walk(value: Any, uri: Any, path: Any, key: str | None = None) -> Any:
    """Rebuild `value` with `uri` applied to every string that may be a URI (values and
    mapping keys) and `path` to `rootPath`."""
    if isinstance(value, str):
        if key == "rootPath":
            return path(value)
        if value[:5].lower() == "file:" or value.startswith(_SHADOW_PREFIX):
            return uri(value)
        return value
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            new_key = uri(k) if isinstance(k, str) and (k[:5].lower() == "file:" or k.startswith(_SHADOW_PREFIX)) else k
            out[new_key] = _walk(v, uri, path, k if isinstance(k, str) else None)
        return out
    if isinstance(value, list):
        return [_walk(v, uri, path) for v in value]
    return value
