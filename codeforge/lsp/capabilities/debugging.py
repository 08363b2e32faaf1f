"""Debugging in the editor: code lenses "Debug this file" on every Python file and "Debug
this test" on each pytest test function (`test_*` at module level or in a `Test*` class of a
`test_*.py`/`*_test.py` file).

A lens runs the client-side command `codeforge.debug.start` (`DEBUG_COMMAND`) with one
argument, a launch configuration of the `codeforge` debug type: the editor starts a debug
session through `codeforge connect --dap` with it (the proxy maps the editor's paths to the
workspace). The server does not register the command: were it in `executeCommandProvider`,
VS Code would send it here instead of running its own.
"""

from __future__ import annotations

import ast
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from lsprotocol import types

from codeforge.lsp.contributions import CodeLensProvider, Contributions
from codeforge.lsp.session import CodeForgeSession

__all__ = ["DEBUG_COMMAND", "contribute", "lenses"]

DEBUG_COMMAND = "codeforge.debug.start"


def _path(uri: str) -> str | None:
    parts = urlsplit(uri)
    return unquote(parts.path) if parts.scheme == "file" else None


def _is_test_file(name: str) -> bool:
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))


def _tests(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(pytest node id suffix, function) of every test pytest would collect by name."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            found.append((node.name, node))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    found.append((f"{node.name}::{item.name}", item))
    return found


def _line_range(line: int) -> types.Range:
    return types.Range(types.Position(line, 0), types.Position(line, 0))


def lenses(uri: str, text: str, root: str | None) -> list[types.CodeLens]:
    """The debug lenses of one document (none for a file that is not Python or does not parse)."""
    path = _path(uri)
    if path is None or not path.endswith(".py"):
        return []
    name = PurePosixPath(path).name
    cwd = root or str(PurePosixPath(path).parent)
    out = [
        types.CodeLens(
            range=_line_range(0),
            command=types.Command(
                title="Debug this file",
                command=DEBUG_COMMAND,
                arguments=[
                    {"type": "codeforge", "request": "launch", "name": f"Debug {name}", "program": path, "cwd": cwd}
                ],
            ),
        )
    ]
    if not _is_test_file(name):
        return out
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return out
    try:
        target = str(PurePosixPath(path).relative_to(cwd))
    except ValueError:
        target = path
    for node_id, function in _tests(tree):
        line = min((d.lineno - 1 for d in function.decorator_list), default=function.lineno - 1)
        config = {
            "type": "codeforge",
            "request": "launch",
            "name": f"Debug {node_id}",
            "module": "pytest",
            "args": [f"{target}::{node_id}", "-q", "-p", "no:cacheprovider"],
            "cwd": cwd,
            "justMyCode": False,
        }
        out.append(
            types.CodeLens(
                range=_line_range(line),
                command=types.Command(title="Debug this test", command=DEBUG_COMMAND, arguments=[config]),
            )
        )
    return out


def _provide(ls: CodeForgeSession, uri: str, text: str) -> list[types.CodeLens]:
    return lenses(uri, text, ls.workspace.root_path)


def contribute(c: Contributions) -> None:
    c.add(CodeLensProvider("codeforge.debug.lenses", _provide))
