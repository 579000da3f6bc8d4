"""Column types: enum-valued columns stored as the plain strings they always were."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import Dialect, String
from sqlalchemy.types import TypeDecorator

E = TypeVar("E", bound=StrEnum)


class EnumString(TypeDecorator[E], Generic[E]):
    """A ``StrEnum`` column kept as ``VARCHAR(length)`` holding the member's value (the
    schema, the stored strings and raw SQL stay as they were: no migration), read back as the
    enum member. An unknown value fails at bind time instead of being written."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)
