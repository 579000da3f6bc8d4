"""What an uploaded CSV is, and how it lands: the one list routes, operations, validation,
ingest, seeding, the console and the CLI share (``tests/unit/test_vocabulary.py`` fails when a
kind or a mode is written out by hand elsewhere)."""

from __future__ import annotations

from enum import StrEnum


class UploadKind(StrEnum):
    factors = "factors"
    data_entries = "data-entries"
    units = "units"
    stations = "stations"
    building_rooms = "building-rooms"
    exchange_rates = "exchange-rates"


class ReferenceKind(StrEnum):
    """The yearless reference kinds, one route and one CLI command for the three (units are
    per year and have their own)."""

    stations = UploadKind.stations.value
    building_rooms = UploadKind.building_rooms.value
    exchange_rates = UploadKind.exchange_rates.value


class UploadMode(StrEnum):
    """How a factor or yearless reference upload lands (docs/design.md §2): ``replace`` makes
    the file the set of what it covers (absent rows are retired), ``merge`` only inserts and
    updates (a partial file)."""

    # Upper-case names: a member named `replace` would shadow str.replace on every member.
    REPLACE = "replace"
    MERGE = "merge"

    @classmethod
    def of(cls, merge: bool) -> UploadMode:
        return cls.MERGE if merge else cls.REPLACE


# Reference data: not per module; all but units are not per year either.
YEARLESS_KINDS = tuple(UploadKind(k.value) for k in ReferenceKind)
REFERENCE_KINDS = (UploadKind.units, *YEARLESS_KINDS)
# The kinds uploaded per module (and per year).
MODULE_KINDS = (UploadKind.factors, UploadKind.data_entries)
# How the surfaces name each kind.
KIND_LABELS: dict[UploadKind, str] = {
    UploadKind.factors: "Emission factors",
    UploadKind.data_entries: "Data entries",
    UploadKind.units: "Units (with their reports)",
    UploadKind.stations: "Train stations",
    UploadKind.building_rooms: "Building rooms",
    UploadKind.exchange_rates: "Exchange rates",
}
