"""Environment variables that override settings: PREFIX_SECTION__KEY=value."""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Z0-9_]+$")


def variable_name(prefix: str, section: str, key: str) -> str:
    """The variable overriding `section.key` ('app', 'db', 'pool-size' -> 'APP_DB__POOL_SIZE')."""

    def part(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9]", "_", text).upper()

    return f"{part(prefix)}_{part(section)}__{part(key)}"


def is_valid_prefix(prefix: str) -> bool:
    return bool(prefix) and bool(_NAME.match(prefix.upper())) and not prefix.endswith("_")
