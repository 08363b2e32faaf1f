"""Invoices: money in cents, tax tables, discounts, rendering and storage."""

from ledger.discounts import FixedDiscount, PercentDiscount
from ledger.invoice import Invoice, Line
from ledger.money import Money
from ledger.tax import TaxTable

__all__ = ["FixedDiscount", "Invoice", "Line", "Money", "PercentDiscount", "TaxTable"]
