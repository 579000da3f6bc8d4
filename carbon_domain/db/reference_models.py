"""Reference data the formulas need (train stations, building rooms, exchange rates): uploaded
tables, replaced by reference uploads, read by the slice context (services/slices.py)."""

from __future__ import annotations

from sqlalchemy import Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carbon_domain.db.base import Base


class Station(Base):
    __tablename__ = "stations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    country_code: Mapped[str] = mapped_column(String(8))


class BuildingRoom(Base):
    __tablename__ = "building_rooms"
    __table_args__ = (UniqueConstraint("building_name", "room_name", name="uq_building_room"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    building_name: Mapped[str] = mapped_column(String(128))
    room_name: Mapped[str] = mapped_column(String(128), index=True)
    room_type: Mapped[str | None] = mapped_column(String(64))
    room_surface_square_meter: Mapped[float] = mapped_column(Float)


class ExchangeRate(Base):
    __tablename__ = "exchange_rates"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    currency: Mapped[str] = mapped_column(String(8), primary_key=True)
    rate_to_eur: Mapped[float] = mapped_column(Float)
