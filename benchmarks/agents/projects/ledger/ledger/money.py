"""Money as an integer number of cents with a currency; arithmetic rounds half to even."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

CURRENCIES = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF "}


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies were combined."""


@dataclass(frozen=True, order=True)
class Money:
    cents: int
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if self.currency not in CURRENCIES:
            raise ValueError(f"unknown currency {self.currency!r}")

    @classmethod
    def zero(cls, currency: str = "EUR") -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str) -> Money:
        """'12.34 EUR' or '12 EUR' (the currency defaults to EUR)."""
        parts = text.split()
        if not parts or len(parts) > 2:
            raise ValueError(f"cannot parse money from {text!r}")
        currency = parts[1] if len(parts) == 2 else "EUR"
        try:
            amount = Decimal(parts[0])
        except InvalidOperation as exc:
            raise ValueError(f"cannot parse money from {text!r}") from exc
        return cls(to_cents(amount), currency)

    def _check(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.cents + other.cents, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._check(other)
        return Money(self.cents - other.cents, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.cents, self.currency)

    def times(self, factor: Decimal | int | str) -> Money:
        """This amount multiplied by `factor`, rounded half to even to the cent."""
        return Money(to_cents(Decimal(self.cents) * Decimal(factor) / 100), self.currency)

    def is_zero(self) -> bool:
        return self.cents == 0

    def format(self) -> str:
        sign = "-" if self.cents < 0 else ""
        whole, frac = divmod(abs(self.cents), 100)
        return f"{sign}{CURRENCIES[self.currency]}{whole:,}.{frac:02d}"

    def __str__(self) -> str:
        return self.format()


def to_cents(amount: Decimal) -> int:
    """A decimal amount of currency units as whole cents, half to even."""
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def total(amounts: list[Money], currency: str = "EUR") -> Money:
    result = Money.zero(currency)
    for amount in amounts:
        result = result + amount
    return result
