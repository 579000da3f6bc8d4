"""Reference data the formulas need (train stations, building rooms, exchange rates): uploaded
tables, maintained by reference uploads, read by the slice context (services/inputs/slices.py).

A reference upload is the set of its kind (like a factor upload): rows absent from a
``replace`` upload are retired (``retired_by_job_id`` set; kept for history, never read
again), and ``changed_by_job_id`` is the last upload that inserted, changed, retired or
revived the row, which incremental recalculation reads to find the entries to rewrite.
"""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carbon_domain.db.base import Base


class _Versioned:
    # Plain ids, not foreign keys: a retired row stays retired even if its job is purged.
    changed_by_job_id: Mapped[int | None] = mapped_column(Integer)
    retired_by_job_id: Mapped[int | None] = mapped_column(Integer)


class Station(_Versioned, Base):
    __tablename__ = "stations"
    # Two stations of one name in two countries are two stations.
    __table_args__ = (UniqueConstraint("name", "country_code", name="uq_stations_name_country"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    country_code: Mapped[str] = mapped_column(String(8))


class BuildingRoom(_Versioned, Base):
    __tablename__ = "building_rooms"
    __table_args__ = (UniqueConstraint("building_name", "room_name", name="uq_building_room"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    building_name: Mapped[str] = mapped_column(String(128))
    room_name: Mapped[str] = mapped_column(String(128), index=True)
    room_type: Mapped[str | None] = mapped_column(String(64))
    room_surface_square_meter: Mapped[float] = mapped_column(Float)


class ExchangeRate(_Versioned, Base):
    __tablename__ = "exchange_rates"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(String(8), primary_key=True)
    rate_to_eur: Mapped[float] = mapped_column(Float)
