"""Loading: files in layers, then environment overrides, then the schema."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from confkit.env import is_valid_prefix
from confkit.errors import ConfigError
from confkit.merge import merge
from confkit.parser import Config, parse
from confkit.schema import Schema


def read_layers(paths: list[Path]) -> list[Config]:
    """Each existing file parsed; missing files are skipped (a layer is optional)."""
    layers = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            continue
        layers.append(parse(text, str(path)))
    return layers


def load(
    paths: list[Path],
    schema: Schema,
    *,
    prefix: str = "APP",
    environ: Mapping[str, str] | None = None,
    defaults: Config | None = None,
) -> dict[str, Any]:
    if not is_valid_prefix(prefix):
        raise ConfigError(f"bad environment prefix {prefix!r}")
    environ = os.environ if environ is None else environ
    config = merge(defaults or {}, *read_layers(paths))

    # environment overrides: APP_DB__POOL_SIZE=5 sets db.pool_size; only variables naming a
    # section and a key ('__' between them) count, and names are matched case-insensitively
    start = prefix.upper() + "_"
    for name, value in sorted(environ.items()):
        if not name.upper().startswith(start):
            continue
        rest = name[len(start) :]
        if "__" not in rest:
            continue
        section, key = rest.split("__", 1)
        if not section or not key:
            raise ConfigError(f"environment variable {name} needs SECTION__KEY after {start}")
        config.setdefault(section.lower(), {})[key.lower()] = value

    return schema.apply(config)
