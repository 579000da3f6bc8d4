"""Which years hold data, and whether a year has anything to recalculate.

The console opens on the most recent year with data (an operator who just ran ``carbon
demo`` lands on its year, not on an empty current year), and a year without entries says so
and refuses recalculation instead of running a pipeline over zero entries that ends green.
Index probes only: report years are few, and ``ix_data_entries_slice`` (type, year, id)
answers "any entry of the year" with one probe per type.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from carbon_domain.catalog import DataEntryType
from carbon_domain.db.models import CarbonReport, CarbonReportModule, DataEntry, Factor

_ALL_TYPES = [d.value for d in DataEntryType]


@dataclass(frozen=True, slots=True)
class YearData:
    year: int
    has_entries: bool
    has_factors: bool
    has_stats: bool  # some module of the year still shows numbers (kept until recalculated)
    has_reports: bool = True  # units were uploaded for the year (their carbon reports)

    @property
    def nothing_to_recalculate(self) -> bool:
        return not self.has_entries and not self.has_stats

    @property
    def empty_reason(self) -> str | None:
        """"no factors and no entries for 2026", or None when there is something to
        recalculate."""
        if not self.nothing_to_recalculate:
            return None
        if self.has_factors:
            return f"no entries for {self.year} (only factors)"
        return f"no factors and no entries for {self.year}"

    @property
    def next_step(self) -> str | None:
        """What to upload first for a year without entries, in the order the uploads need
        (a data entry upload is refused before the units make the year's reports); None
        once it has entries. Every surface's empty-year message ends with it."""
        y = self.year
        if self.has_entries:
            return None
        if not self.has_reports:
            return (f"upload the units for {y} first (they make its reports), then factors, "
                    f"then data entries")
        if not self.has_factors:
            return f"upload factors for {y}, then data entries"
        return f"upload data entries for {y}"


def _has_entries(session: Session, year: int) -> bool:
    return session.scalar(select(DataEntry.id).where(
        DataEntry.data_entry_type_id.in_(_ALL_TYPES), DataEntry.year == year).limit(1)
    ) is not None


def _has_factors(session: Session, year: int) -> bool:
    return session.scalar(select(Factor.id).where(
        Factor.data_entry_type_id.in_(_ALL_TYPES), Factor.year == year,
        Factor.retired_at.is_(None)).limit(1)) is not None


def _has_stats(session: Session, year: int) -> bool:
    """Only asked for a year without entries, where stats left non-zero by an earlier run
    still need a recalculation to be cleared."""
    report = CarbonReport.id == CarbonReportModule.carbon_report_id
    rows = session.scalars(select(CarbonReportModule.stats).join(CarbonReport, report)
                           .where(CarbonReport.year == year))
    return any(st and (st.get("entry_count") or st.get("total")) for st in rows)


def _has_reports(session: Session, year: int) -> bool:
    return session.scalar(select(CarbonReport.id).where(CarbonReport.year == year).limit(1)
                          ) is not None


def year_data(session: Session, year: int) -> YearData:
    entries = _has_entries(session, year)
    return YearData(year, entries, _has_factors(session, year),
                    False if entries else _has_stats(session, year),
                    True if entries else _has_reports(session, year))


def latest_year_with_data(session: Session) -> int | None:
    """The most recent year with data entries; else the most recent year with reports or
    factors; None on an empty database."""
    report_years = [int(y) for y in session.scalars(
        select(CarbonReport.year).distinct().order_by(CarbonReport.year.desc()))]
    for y in report_years:
        if _has_entries(session, y):
            return y
    factor_year = session.scalar(select(Factor.year).where(Factor.year.is_not(None))
                                 .order_by(Factor.year.desc()).limit(1))
    candidates = [y for y in (report_years[0] if report_years else None, factor_year)
                  if y is not None]
    return max(candidates) if candidates else None
