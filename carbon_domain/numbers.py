"""The accepted range of every kind of number an upload carries, and one range rule for
numbers, shared by CSV parsing (row errors) and the engine (entry errors for data stored by
other paths).

Why these limits (docs/uploads.md#number-limits). Emission rows keep kg in ``double
precision`` (``data_entry_emissions.kg_co2eq``), the statistics keep JSON floats, and the
slice sums add the rows' kg in PostgreSQL ``numeric`` (``slice_emission_sums.kg``,
unconstrained: exact at any size, so it bounds nothing). The one magnitude that can fail is a
double's, 1.8e308: an entry whose kg is beyond it is a computation error, and a unit's sum
beyond it fails the module's aggregation ("✗ totals not updated"). Unbounded inputs reached it
(1e308 CHF, a power of 1e300 W). With every number within its limit below, the largest kg
one emission row can get is about 1e44 (a building room: 1e8 m² × 1e12 kWh per m² × 1e12 kg
per kWh × a conversion factor of 1e12); the next are an animal facility (6e42: a use of 1e12
× a share of 1e12 ÷ a total use of 1e-6 × 1e12 kg, six sources), a flight (2e40: 1e12 trips
of 20,100 km × 1e12 kg per km × an RFI of 1e12) and spend (1e36: 1e12 × a rate of 1e6 ÷ a
rate of 1e-6 × 1e12 kg per unit of currency). Even 1e18 such rows (far more than any upload
can hold) sum to 1e62, about 10^246 below a double's limit: every sum the statistics take is
finite, so the ``numeric`` sums are exact and the float totals are their correctly rounded
values, whatever the data. (Dividing numbers are bounded below for the same reason: a rate
or a total use of 1e-300 would multiply the kg by 1e300.)

The limits are far above any real figure, so no real university data is refused: a large
university's yearly amounts are far below 1e12 (it spends about 1e9 CHF a year in all, uses
1e8–1e9 kWh, flies about 1e8 km, and has about 1e6 m² of floors); the largest real factor
values are about 1e4 (kg CO2-eq per kg of a refrigerant), 1e7 W (a computing cluster's power)
and 1e8 kg (a facility's yearly total, a factor of 70 and 71), the plane bands' open end is
999,999 km; the shipped exchange rates lie between 0.006 (JPY) and 1.2 (GBP) EUR per unit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


def range_problem(name: str, value: float, lo: float | None, hi: float | None) -> str | None:
    """Why ``value`` is unusable for ``name``, or None."""
    if not math.isfinite(value):
        return f"{name}: {value!r} is not a finite number"
    if lo is not None and value < lo:
        return f"{name} must be at least {lo:g} (got {value:g})"
    if hi is not None and value > hi:
        return f"{name} must be at most {hi:g} (got {value:g})"
    return None


def short(x: float) -> str:
    """1e12 → "1e12", 1e-06 → "1e-6", 168.0 → "168": a limit as a person writes it."""
    return re.sub(r"e\+?(-?)0*(\d)", r"e\1\2", f"{x:g}")


@dataclass(frozen=True, slots=True)
class Limit:
    """The accepted magnitude of one kind of number: at most ``hi``; with ``lo``, a non-zero
    value is at least ``lo`` (``zero``: 0 itself is accepted). A column's own rule (non-negative,
    at most 168 hours a week, a fraction) applies first; this one bounds what the column
    leaves open."""

    what: str
    hi: float
    lo: float | None = None
    zero: bool = True
    unit: str = ""

    @property
    def rule(self) -> str:
        """"at most 1e12", "between 1e-6 and 1e6 EUR per unit": what a refused row's reason
        says the value must be."""
        unit = f" {self.unit}" if self.unit else ""
        if self.lo is None:
            return f"at most {short(self.hi)}{unit}"
        zero = "0 or " if self.zero else ""
        return f"{zero}between {short(self.lo)} and {short(self.hi)}{unit}"

    def problem(self, name: str, value: float, shown: str) -> str | None:
        """Why ``value`` (``shown`` as the file gives it) is out of this range, or None:
        "total_spent_amount must be at most 1e12 (got '1e308')", in the words of a column's
        own rule, and short: the CLI shows a job's message up to its 160th character."""
        size = abs(value)
        if size <= self.hi and (self.lo is None or size >= self.lo
                                or (size == 0 and self.zero)):
            return None
        return f"{name} must be {self.rule} (got {shown})"


#: Data entry quantities and amounts: spend, kWh, kg, km, uses, trips, FTE, requests, and a
#: kg CO2-eq override (an entry's own figure, kg).
ENTRY_QUANTITY = Limit("a data entry quantity", 1e12)
#: Surfaces (m²): of an entry's room or building and of the building rooms reference set.
SURFACE = Limit("a surface", 1e8, unit="m²")
#: Factor values: kg CO2-eq per unit, powers (W), kWh per m², hours, distances of the plane
#: bands, shares and a facility's yearly totals.
FACTOR_VALUE = Limit("a factor value", 1e12)
#: A research facility factor's total use: the divisor of each entry's share; 0 means "no
#: share" (the entries of that factor get no row), as before.
FACILITY_TOTAL_USE = Limit("a facility's total use", 1e12, lo=1e-6)
#: Exchange rates, EUR per unit of the currency: a factor's currency rate divides the kg.
EXCHANGE_RATE = Limit("an exchange rate", 1e6, lo=1e-6, zero=False, unit="EUR per unit")
