"""Layers of configuration merged in order: later layers win key by key."""

from __future__ import annotations

from confkit.parser import Config


def merge(*layers: Config) -> Config:
    result: Config = {}
    for layer in layers:
        for section, values in layer.items():
            result.setdefault(section, {}).update(values)
    return result


def diff(old: Config, new: Config) -> list[str]:
    """What changed between two configurations, one line per key ('+', '-', '~')."""
    changes = []
    for section in sorted(set(old) | set(new)):
        a, b = old.get(section, {}), new.get(section, {})
        for key in sorted(set(a) | set(b)):
            name = f"{section}.{key}"
            if key not in a:
                changes.append(f"+ {name} = {b[key]}")
            elif key not in b:
                changes.append(f"- {name}")
            elif a[key] != b[key]:
                changes.append(f"~ {name}: {a[key]} -> {b[key]}")
    return changes
