"""Positions in codeforge.yaml's analysis are code points (Python string indexes); the
client counts in its own encoding (UTF-16 for VS Code). `to_range` converts."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace import TextDocument
from pygls.workspace.position_codec import ServerTextPosition, ServerTextRange

from codeforge.lsp.project_yaml import Span

__all__ = ["to_range"]


def to_range(doc: TextDocument, span: Span) -> types.Range:
    """A code-point span as a range in the client's position encoding."""
    lines = doc.lines
    last = max(len(lines) - 1, 0)

    def pos(line: int, col: int) -> ServerTextPosition:
        if line > last:  # past the end (YAML's "stream end"): the end of the last line
            line, col = last, 1 << 30
        width = len(lines[line].rstrip("\r\n")) if lines else 0
        return ServerTextPosition(line, min(col, width))

    start, end = pos(span.line, span.column), pos(span.end_line, span.end_column)
    if end <= start:
        end = ServerTextPosition(start.line, start.character + 1)
    return doc.range_to_client_units(ServerTextRange(start, end))
