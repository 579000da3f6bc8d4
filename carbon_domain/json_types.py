"""The types of the JSON documents the database stores and the API passes on (a job's
``meta``, a module's ``stats``): JSON, not ``Any``, so a value that JSON cannot hold (a
datetime, a set, an int key) is a type error, and a read of one key must check what it got.

``JsonObject`` is what a function returns or builds (plain ``dict`` and ``list``);
``JsonLike`` is what a parameter accepts: read-only ``Mapping`` and ``Sequence``, so a
``list[int]`` or a ``dict[str, str]`` is one (``list`` and ``dict`` are invariant:
``list[int]`` is not a ``list[JsonValue]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

from pydantic import JsonValue

#: A JSON object: the shape of every JSON column (``db/models.py``).
JsonObject: TypeAlias = dict[str, JsonValue]
JsonLikeValue: TypeAlias = (
    "None | bool | int | float | str | Sequence[JsonLikeValue] | Mapping[str, JsonLikeValue]")
#: A JSON object as a parameter: any mapping of JSON values.
JsonLike: TypeAlias = Mapping[str, JsonLikeValue]

__all__ = ["JsonLike", "JsonLikeValue", "JsonObject", "JsonValue"]
