"""The map as text, the most relevant definitions first, fitted to a token budget.

```
src/shop/cart.py:
   12│class Cart:
   30│    def total(self, discount: Discount | None = None) -> Decimal:
tests/test_cart.py:
```

Files come in rank order, each with its chosen definitions in line order (their signature lines
as written, with their line numbers, so a model can read the right range next). The number of
definitions shown is the largest that fits, found by binary search over the ranked list."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from codeforge.platform.agents.tokens import count_tokens

from .symbols import Symbol

__all__ = ["Entry", "count", "fit"]


def count(text: str) -> int:
    """Tokens of the map text: the one place the map counts them."""
    return count_tokens(text)


@dataclass(frozen=True)
class Entry:
    """One ranked item of the map: a definition, or a file shown by its path alone."""

    path: str
    symbol: Symbol | None


def _text(entries: Sequence[Entry], file_order: dict[str, int]) -> str:
    by_file: dict[str, list[Symbol]] = {}
    for entry in entries:
        chosen = by_file.setdefault(entry.path, [])
        if entry.symbol is not None:
            chosen.append(entry.symbol)
    out: list[str] = []
    for path in sorted(by_file, key=lambda p: (file_order.get(p, len(file_order)), p)):
        out.append(f"{path}:")
        for symbol in sorted(set(by_file[path]), key=lambda s: (s.line, s.name)):
            out.append(f"{symbol.line:>5}│{symbol.signature}")
    return "\n".join(out) + ("\n" if out else "")


def fit(
    always: Sequence[Entry],
    ranked: Sequence[Entry],
    file_order: dict[str, int],
    budget_tokens: int,
    counter: Callable[[str], int] = count,
) -> str:
    """The text of `always` and the longest prefix of `ranked` whose text fits the budget."""
    if budget_tokens <= 0:
        return ""
    # Every entry costs at least one token: no prefix longer than the budget can fit.
    lo, hi = 0, min(len(ranked), budget_tokens)
    best = _text(always, file_order)
    if counter(best) > budget_tokens:
        return _trim(best, budget_tokens, counter)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        text = _text([*always, *ranked[:mid]], file_order)
        if counter(text) <= budget_tokens:
            lo, best = mid, text
        else:
            hi = mid - 1
    return best


def _trim(text: str, budget_tokens: int, counter: Callable[[str], int]) -> str:
    """Whole lines of `text` from the top while they fit (the focus alone is over budget)."""
    lines = text.splitlines(keepends=True)
    lo, hi = 0, len(lines)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if counter("".join(lines[:mid])) <= budget_tokens:
            lo = mid
        else:
            hi = mid - 1
    return "".join(lines[:lo])
