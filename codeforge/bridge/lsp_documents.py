"""The documents an editor has open through the language-server proxy, with their current
text, so that a restarted language server can be given them again (`didOpen` replay).

Incremental `didChange` ranges count characters in the position encoding the server chose at
`initialize` (UTF-16 unless it said otherwise), as LSP specifies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["OpenDocument", "OpenDocuments", "apply_change"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class OpenDocument:
    uri: str
    language_id: str
    version: int
    text: str


def _column_to_index(line: str, character: int, encoding: str) -> int:
    """The string index of `character` units into `line` (clamped to the line's end)."""
    if encoding == "utf-32":
        return min(character, len(line))
    units = 0
    for index, ch in enumerate(line):
        if units >= character:
            return index
        code = ord(ch)
        if encoding == "utf-8":
            units += 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
        else:  # utf-16
            units += 2 if code > 0xFFFF else 1
    return len(line)


def _offset(text: str, position: dict[str, Any], encoding: str) -> int:
    line_no = int(position.get("line", 0))
    character = int(position.get("character", 0))
    start = 0
    for _ in range(line_no):
        found = _LINE_BREAK.search(text, start)
        if found is None:
            return len(text)  # past the last line: the end of the document
        start = found.end()
    found = _LINE_BREAK.search(text, start)
    line = text[start : found.start() if found else len(text)]
    return start + _column_to_index(line, character, encoding)


def apply_change(text: str, change: dict[str, Any], encoding: str = "utf-16") -> str:
    """`text` after one `TextDocumentContentChangeEvent` (whole text or a range)."""
    new_text = str(change.get("text", ""))
    rng = change.get("range")
    if not isinstance(rng, dict):
        return new_text
    start = _offset(text, rng.get("start", {}), encoding)
    end = _offset(text, rng.get("end", {}), encoding)
    if end < start:
        start, end = end, start
    return text[:start] + new_text + text[end:]


class OpenDocuments:
    """Follows didOpen/didChange/didClose (messages already in workspace URIs)."""

    def __init__(self) -> None:
        self.by_uri: dict[str, OpenDocument] = {}
        self.encoding = "utf-16"

    def follow(self, method: str, params: Any) -> None:
        if not isinstance(params, dict):
            return
        doc = params.get("textDocument")
        if not isinstance(doc, dict) or not isinstance(doc.get("uri"), str):
            return
        uri = doc["uri"]
        if method == "textDocument/didOpen":
            self.by_uri[uri] = OpenDocument(
                uri, str(doc.get("languageId", "")), int(doc.get("version", 0) or 0), str(doc.get("text", ""))
            )
        elif method == "textDocument/didChange":
            current = self.by_uri.get(uri)
            if current is None:
                return
            for change in params.get("contentChanges") or []:
                if isinstance(change, dict):
                    current.text = apply_change(current.text, change, self.encoding)
            if isinstance(doc.get("version"), int):
                current.version = doc["version"]
        elif method == "textDocument/didClose":
            self.by_uri.pop(uri, None)

    def reopen_messages(self) -> list[dict[str, Any]]:
        """`didOpen` notifications that give a fresh server every open document as it is now."""
        return [
            {
                "jsonrpc": "2.0",
                "method": "textDocument/didOpen",
                "params": {
                    "textDocument": {"uri": d.uri, "languageId": d.language_id, "version": d.version, "text": d.text}
                },
            }
            for d in self.by_uri.values()
        ]
