"""INI-style text: [sections], key = value, ';' or '#' comments, indented continuation lines."""

from __future__ import annotations

import re

from confkit.errors import ParseError

Config = dict[str, dict[str, str]]

_SECTION = re.compile(r"^\[([A-Za-z0-9_.-]+)\]\s*$")
_ENTRY = re.compile(r"^([A-Za-z0-9_.-]+)\s*[=:]\s*(.*)$")


def _strip_comment(value: str) -> str:
    """A ' ;' or ' #' starts a comment inside a value; a quoted value keeps everything."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return re.split(r"\s[;#]", value, maxsplit=1)[0].rstrip()


def parse(text: str, source: str = "<string>") -> Config:
    config: Config = {}
    section: str | None = None
    last_key: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith(("#", ";")):
            continue
        if raw[0] in " \t":
            if section is None or last_key is None:
                raise ParseError(source, number, "continuation line without a key")
            config[section][last_key] += "\n" + raw.strip()
            continue
        if m := _SECTION.match(raw):
            section = m.group(1).lower()
            config.setdefault(section, {})
            last_key = None
            continue
        if m := _ENTRY.match(raw):
            if section is None:
                raise ParseError(source, number, "key outside a section")
            last_key = m.group(1).lower()
            config[section][last_key] = _strip_comment(m.group(2))
            continue
        raise ParseError(source, number, f"cannot read {raw.strip()!r}")
    return config


def dumps(config: Config) -> str:
    out = []
    for section in sorted(config):
        out.append(f"[{section}]")
        for key, value in sorted(config[section].items()):
            first, *rest = value.split("\n")
            out.append(f"{key} = {first}")
            out += [f"    {line}" for line in rest]
        out.append("")
    return "\n".join(out)
