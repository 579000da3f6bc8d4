"""The type of the JSON documents the database stores and the API passes on (a job's
``meta``, a module's ``stats``, a factor's ``values``): JSON, not ``Any``, so a value that
JSON cannot hold (a datetime, a set) is a type error, and a read of one key must check what
it got."""

from __future__ import annotations

from pydantic import JsonValue

#: A JSON object: the shape of every JSON column (``db/models.py``).
JsonObject = dict[str, JsonValue]

__all__ = ["JsonObject", "JsonValue"]
