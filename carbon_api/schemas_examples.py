"""The example helpers every response model uses (OpenAPI ``examples``)."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

EXAMPLE_PID = "0b8a6f2e-3c1d-4e5f-9a7b-2c4d6e8f0a1b"


def with_example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})
