"""``fast_json.loads`` (orjson) gives exactly what ``json.loads`` gives, on the texts
PostgreSQL sends for jsonb: every float bit for bit, every integer whatever its size,
and the corners orjson treats differently (huge integers, overflowing numbers, lone
surrogates) through the standard library."""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from carbon_domain import fast_json

scalars = (st.none() | st.booleans() | st.integers() | st.text()
           | st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4)
                      | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)


def same(a: Any, b: Any) -> bool:
    """Equal with the same types, floats compared bit for bit (so -0.0 ≠ 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@settings(max_examples=400, derandomize=True)
@given(values)
def test_same_values_as_the_standard_library(v: Any) -> None:
    text = json.dumps(v)
    assert same(fast_json.loads(text), json.loads(text))


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=400, derandomize=True)
def test_floats_bit_for_bit_as_postgres_prints_them(x: float) -> None:
    # PostgreSQL prints jsonb numbers as stored: the text the ingest wrote (repr) or any
    # decimal spelling, e.g. an exponent with a capital E or a long fraction.
    for text in (repr(x), f"{x:.25e}".upper(), f"{x:.20g}"):
        if math.isfinite(float(text)):
            doc = f'{{"q": {text}, "n": [{text}, -{text}]}}'.replace("--", "")
            assert same(fast_json.loads(doc), json.loads(doc))


def test_the_corners_orjson_treats_differently() -> None:
    for doc in ('{"quantity": 123456789012345678901234567890}',
                '{"q": -98765432109876543210}',
                '[18446744073709551616, 9223372036854775808]',
                '{"q": 1e400}', '{"q": -1e400}',
                '{"name": "\\ud800 lone"}',
                '{"id": "12345678901234567890123", "q": 1.5}'):
        assert same(fast_json.loads(doc), json.loads(doc)), doc
    assert fast_json.loads('{"q": 123456789012345678901234567890}')["q"] == (
        123456789012345678901234567890)
