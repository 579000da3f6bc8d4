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


# -- loads_many: a chunk's texts in one call --------------------------------------------------
CORNERS = ['{"quantity": 123456789012345678901234567890}', '{"q": 1e400}',
           '{"name": "\\ud800 lone"}', '[18446744073709551616]', '{"q": -1e400}', '{}', '2.5']


def outcome(fn: Any, texts: list[Any]) -> tuple[str, Any]:
    """What a call gives: its values, or the exception it raises (type and message)."""
    try:
        return "ok", fn(texts)
    except Exception as exc:  # noqa: BLE001 - the exception is what is compared
        return "raised", (type(exc), str(exc))


def one_by_one(texts: list[Any]) -> list[Any]:
    return [fast_json.loads(t) for t in texts]


@settings(max_examples=300, derandomize=True)
@given(st.lists(values.map(json.dumps) | st.sampled_from(CORNERS), max_size=12))
def test_loads_many_gives_what_loads_gives_text_by_text(texts: list[str]) -> None:
    got, expected = fast_json.loads_many(texts), one_by_one(texts)
    assert len(got) == len(expected)
    assert all(same(g, e) for g, e in zip(got, expected, strict=True))


MALFORMED = ["", "{", '{"a": 1,}', "nul", '{"a": 1} x', "1,2", "[3", "4]", '{"a": "\\x"}',
             "NaN", "[1, 2", None, b'{"a": 1}', 12]


@settings(max_examples=300, derandomize=True)
@given(st.lists(values.map(json.dumps) | st.sampled_from(CORNERS + MALFORMED), max_size=8))
def test_loads_many_raises_or_not_as_the_old_path(texts: list[Any]) -> None:
    """A text orjson refuses is handed to ``json.loads`` like before: the same values, or
    the same exception (``json.JSONDecodeError`` at the same position, TypeError for None)."""
    got, expected = outcome(fast_json.loads_many, texts), outcome(one_by_one, texts)
    assert got[0] == expected[0], (got, expected)
    if got[0] == "raised":
        assert got[1] == expected[1]
    else:
        assert all(same(g, e) for g, e in zip(got[1], expected[1], strict=True))


def test_texts_that_would_join_into_valid_json_still_fail() -> None:
    # "[" + ",".join(texts) + "]" would be [1,2,[3,4]]: three values for three bad texts.
    texts = ["1,2", "[3", "4]"]
    assert outcome(fast_json.loads_many, texts) == outcome(one_by_one, texts)
    assert outcome(fast_json.loads_many, texts)[0] == "raised"
    assert fast_json.loads_many([]) == []


# Flat objects, as a chunk's entries are: the path that checks their floats in C.
FLAT_NUMBERS = (st.integers(-2**70, 2**70) | st.floats(allow_nan=False, allow_infinity=False)
                | st.sampled_from([9.2e18, -9.2e18, 1.8e19, 1.9e19, -9.3e18, 18446744073709551615,
                                   18446744073709551616, -9223372036854775809]))
FLAT = st.dictionaries(st.text(max_size=5), FLAT_NUMBERS | st.text(max_size=5) | st.booleans()
                       | st.none(), max_size=6)


@settings(max_examples=400, derandomize=True)
@given(st.lists(FLAT.map(json.dumps), max_size=10))
def test_flat_objects_give_what_loads_gives(texts: list[str]) -> None:
    got, expected = fast_json.loads_many(texts), one_by_one(texts)
    assert all(same(g, e) for g, e in zip(got, expected, strict=True))
    assert fast_json._any_huge_int([fast_json.loads(t) for t in texts]) is (
        fast_json._may_be_a_huge_int([fast_json.loads(t) for t in texts]))


def test_one_huge_integer_among_flat_objects_keeps_its_digits() -> None:
    texts = ['{"q": 1.5, "n": "a"}'] * 3 + ['{"q": 123456789012345678901234567890, "n": "b"}']
    assert fast_json.loads_many(texts)[3]["q"] == 123456789012345678901234567890
    assert fast_json.loads_many(texts)[0] == {"q": 1.5, "n": "a"}


# -- the digit-run check that skips the walk of a chunk's values ----------------------------
edge_ints = st.sampled_from([2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**18, 10**19,
                             -(10**19), 10**30]) | st.integers(min_value=-(10**25),
                                                               max_value=10**25)


@settings(max_examples=400, derandomize=True)
@given(st.lists(st.dictionaries(st.sampled_from(["q", "n", "id", "name"]),
                                edge_ints | scalars, max_size=4), max_size=6))
def test_integers_at_orjsons_edges_come_back_as_json_gives_them(docs: list[Any]) -> None:
    """Entries as the ingest writes them, with integers on both sides of orjson's exact
    range [-2**63, 2**64): skipped or walked, the values are json.loads's, integer for
    integer, and any out-of-range integer means a 19-digit run (the walk is not skipped)."""
    texts = [json.dumps(d) for d in docs]
    got = fast_json.loads_many(texts)
    assert all(same(g, json.loads(t)) for g, t in zip(got, texts, strict=True))
    beyond = any(isinstance(v, int) and not isinstance(v, bool)
                 and not -(2**63) <= v < 2**64 for d in docs for v in d.values())
    if beyond:
        assert not fast_json._no_long_digit_run(texts)


def test_a_digit_run_split_across_texts_or_in_a_string_only_costs_the_walk() -> None:
    texts = ['{"a": "1234567890123456789"}', '{"b": 0.12345678901234567891}', "[1234567890",
             "123456789]"]
    assert not fast_json._no_long_digit_run(texts)
    assert fast_json._no_long_digit_run(['{"q": 922337203685477580}', '{"name": "Fé 12"}'])
    assert fast_json._no_long_digit_run([b'{"a": 1}']) is False  # not str: walk
