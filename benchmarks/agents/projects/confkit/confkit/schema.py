"""A schema: the known keys, their types, defaults and whether they are required."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confkit.errors import SchemaError
from confkit.parser import Config

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def to_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true/false, yes/no, on/off, 1/0)")


def to_list(text: str) -> list[str]:
    return [item.strip() for item in text.replace("\n", ",").split(",") if item.strip()]


CONVERTERS: dict[str, Callable[[str], Any]] = {"str": str, "int": int, "float": float, "bool": to_bool, "list": to_list}


@dataclass(frozen=True)
class Field:
    type: str = "str"
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in CONVERTERS:
            raise ValueError(f"unknown field type {self.type!r}")


@dataclass
class Schema:
    fields: dict[str, Field] = field(default_factory=dict)  # "section.key" -> Field
    allow_unknown: bool = False

    def apply(self, config: Config) -> dict[str, Any]:
        """The typed values by 'section.key'; raises SchemaError on the first problem."""
        flat = {f"{section}.{key}": value for section, values in config.items() for key, value in values.items()}
        if not self.allow_unknown:
            for name in sorted(flat):
                if name not in self.fields:
                    raise SchemaError(name, "unknown setting")
        result: dict[str, Any] = {}
        for name, spec in sorted(self.fields.items()):
            if name not in flat:
                if spec.required:
                    raise SchemaError(name, "is required")
                result[name] = spec.default
                continue
            raw = flat[name]
            if spec.choices and raw not in spec.choices:
                raise SchemaError(name, f"{raw!r} is not one of {', '.join(spec.choices)}")
            try:
                result[name] = CONVERTERS[spec.type](raw)
            except ValueError as exc:
                raise SchemaError(name, str(exc)) from None
        return result
