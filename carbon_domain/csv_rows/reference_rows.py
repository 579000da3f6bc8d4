"""Units, stations, building rooms and exchange rates: pydantic row models.

Blank cells become None before validation so "required" means "non-blank"; the first
validation problem becomes the row's one ``RowError`` reason. A valid row's numbers are then
held to the limits of their kind (``LIMITS``: carbon_domain/numbers.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from carbon_domain import names
from carbon_domain.catalog import YEAR_MAX, YEAR_MIN
from carbon_domain.csv_rows.fields import (
    RowError,
    header_set,
    lower_keys,
    missing_with_hints,
    parse_number,
    shown,
)
from carbon_domain.numbers import EXCHANGE_RATE, SURFACE, Limit
from carbon_domain.upload_kinds import UploadKind

# Bounded by their database columns: a longer value is a row error, not a failed upload.
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
RoomText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
ROOM_TYPE_MAX = 64


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# The levels of the unit hierarchy: 1 the university, 2 a school or vice-presidency, 3 an
# institute or platform, 4 a lab or facility (the seed generator's, and the source system's).
UNIT_LEVEL_MIN, UNIT_LEVEL_MAX = 1, 4


class UnitRow(_Row):
    institutional_code: Code
    institutional_id: Code | None = None
    name: Name
    level: int
    parent_institutional_code: Code | None = None

    @field_validator("level")
    @classmethod
    def _level(cls, v: int) -> int:
        if not UNIT_LEVEL_MIN <= v <= UNIT_LEVEL_MAX:
            raise ValueError(f"{v} is not a unit level ({UNIT_LEVEL_MIN} = the university …"
                             f" {UNIT_LEVEL_MAX} = a lab)")
        return v


class StationRow(_Row):
    name: Name
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    country_code: str

    @field_validator("country_code")
    @classmethod
    def _iso2(cls, v: str) -> str:
        code = names.country_code(v)
        if code is None or code == "RoW":
            raise ValueError(f"{v!r} is not an ISO-2 country code")
        return code

    def as_tuple(self) -> tuple[str, float, float, str]:
        return (self.name, self.latitude, self.longitude, self.country_code)


class RoomRow(_Row):
    building_name: RoomText
    room_name: RoomText
    room_type: str | None = None
    room_surface_square_meter: float = Field(ge=0)

    @field_validator("room_type")
    @classmethod
    def _room_type(cls, v: str | None) -> str | None:
        # An unknown type is kept: rooms of that type fall back to the energy nodes.
        out = (names.room_type(v) or v.strip()) if v else None
        if out is not None and len(out) > ROOM_TYPE_MAX:
            raise ValueError(f"should have at most {ROOM_TYPE_MAX} characters")
        return out

    def as_tuple(self) -> tuple[str, str, str | None, float]:
        return (self.building_name, self.room_name, self.room_type,
                self.room_surface_square_meter)


class RateRow(_Row):
    """A rate is read only for a reporting year and for a currency an entry or a factor
    can be priced in (``names.CURRENCIES``, the ``currency`` column of their files): a
    row for year 1999 or for ``xyz`` would be stored, counted as a change and never read."""

    year: int
    currency: str
    rate_to_eur: float = Field(gt=0)

    @field_validator("year")
    @classmethod
    def _year(cls, v: int) -> int:
        if not YEAR_MIN <= v <= YEAR_MAX:
            raise ValueError(f"{v} is not a reporting year ({YEAR_MIN}-{YEAR_MAX})")
        return v

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        code = names.currency(v)
        if code is None:
            raise ValueError(f"{v.strip()[:40]!r} is not one of {', '.join(names.CURRENCIES)}")
        return code

    def as_tuple(self) -> tuple[int, str, float]:
        return (self.year, self.currency, self.rate_to_eur)


REFERENCE_MODELS: dict[str, type[_Row]] = {
    UploadKind.units: UnitRow, UploadKind.stations: StationRow,
    UploadKind.building_rooms: RoomRow, UploadKind.exchange_rates: RateRow,
}
_NUMERIC = {"latitude", "longitude", "room_surface_square_meter", "rate_to_eur", "year", "level"}
#: The magnitude limit of each reference number that has none of its own (a latitude, a year
#: and a level have their range in the model).
LIMITS: dict[str, Limit] = {"room_surface_square_meter": SURFACE, "rate_to_eur": EXCHANGE_RATE}
M = TypeVar("M", bound=_Row)


def _required(model: type[_Row]) -> list[str]:
    return [n for n, f in model.model_fields.items() if f.is_required()]


def reference_header_problem(kind: str | None, header: list[str]) -> str | None:
    model = REFERENCE_MODELS.get(kind) if kind is not None else None
    if model is None:
        return f"unknown reference kind {kind!r}; expected one of {', '.join(REFERENCE_MODELS)}"
    cols = header_set(header)
    if not cols:
        return "the file has no header row"
    missing = [c for c in _required(model) if c not in cols]
    if not missing:
        return None
    strangers = sorted(c for c in cols if c and c not in model.model_fields)
    return f"missing required column(s): {missing_with_hints(missing, strangers)}"


def _parse(model: type[M], row: Mapping[str, Any]) -> M:
    r = lower_keys(row)
    clean: dict[str, Any] = {}
    for name in model.model_fields:
        v = r.get(name)
        v = str(v).strip() if v is not None else ""
        if not v:
            continue
        # Our number rules (no NaN / inf / "1_000"), then pydantic's ranges.
        clean[name] = parse_number(name, v, lo=None) if name in _NUMERIC else v
    try:
        out = model.model_validate(clean)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "row"
        if err["type"] == "missing":
            raise RowError(f"{field} is required") from None
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise RowError(f"{field}: {msg}") from None
    # After the model's own rules, so a rate of 0 still says "greater than 0".
    for name, limit in LIMITS.items():
        if name in clean:
            problem = limit.problem(name, clean[name], shown(str(r[name]).strip()))
            if problem:
                raise RowError(problem)
    return out


def parse_unit_row(row: Mapping[str, Any]) -> UnitRow:
    return _parse(UnitRow, row)


def parse_station_row(row: Mapping[str, Any]) -> StationRow:
    return _parse(StationRow, row)


def parse_room_row(row: Mapping[str, Any]) -> RoomRow:
    return _parse(RoomRow, row)


def parse_rate_row(row: Mapping[str, Any]) -> RateRow:
    return _parse(RateRow, row)
