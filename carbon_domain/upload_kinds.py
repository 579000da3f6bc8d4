"""What an uploaded CSV is: the one list routes, operations, validation, ingest and seeding
share."""

from __future__ import annotations

from enum import StrEnum


class UploadKind(StrEnum):
    factors = "factors"
    data_entries = "data-entries"
    units = "units"
    stations = "stations"
    building_rooms = "building-rooms"
    exchange_rates = "exchange-rates"


# Reference data: not per module; all but units are not per year either.
REFERENCE_KINDS = (UploadKind.units, UploadKind.stations, UploadKind.building_rooms,
                   UploadKind.exchange_rates)
YEARLESS_KINDS = (UploadKind.stations, UploadKind.building_rooms, UploadKind.exchange_rates)
