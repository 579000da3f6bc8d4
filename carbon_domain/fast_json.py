"""JSON text from PostgreSQL parsed with orjson, giving exactly what ``json.loads`` gives.

A recalculation chunk parses every entry's ``data`` (jsonb sent as text): 10,000 `it`
entries took 25 ms with ``json.loads``, 9 ms here (orjson 5 ms plus the check below; min
of 5 on the 1M bench seed, same values entry by entry). orjson differs from the standard
library in three corners, each sent back to ``json.loads`` so the result is the same
object: integers beyond 64 bits (orjson returns a float, so a 30-digit quantity would lose
digits — any float of that magnitude is re-parsed, since the text may have been an
integer), numbers beyond the float range (orjson raises, json gives inf) and lone
surrogates in strings (orjson raises). A regular expression looking for long digit runs in
the text instead cost 17-54 ms per 10,000 entries, more than the parse it guarded."""

from __future__ import annotations

import json
from itertools import chain
from typing import Any

import orjson

# orjson keeps integers in [-2**63, 2**64) exact and returns larger ones as floats.
_LOW, _HIGH = -9.2e18, 1.8e19


def loads(text: str) -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    return json.loads(text) if _may_be_a_huge_int(value) else value


def loads_many(texts: list[str]) -> list[Any]:
    """``[loads(t) for t in texts]``, in one pass of orjson over the chunk and one check of
    the whole list: 10,000 `it` texts 11.2 → 9.7 ms (min of 9, load ~7; docs/performance.md).
    Each text is still parsed on its own (``map``), so texts can never run into each other as
    in one joined array ("1,2", "[3", "4]" would parse as three values); a text orjson
    refuses, or a value that may be a huge integer, gets exactly what ``loads`` gives it."""
    try:
        values = list(map(orjson.loads, texts))
    except orjson.JSONDecodeError:
        return [loads(t) for t in texts]  # the text at fault raises as json.loads does
    if not _no_long_digit_run(texts) and _any_huge_int(values):
        return [json.loads(t) if _may_be_a_huge_int(v) else v
                for t, v in zip(texts, values, strict=True)]
    return values


# Every byte to "0" if it is an ASCII digit, to "." otherwise (UTF-8 continuation bytes are
# never ASCII), so a run of digits in the text is a run of "0" in the translation.
_DIGIT_MAP = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))
_LONG_RUN = b"0" * 19


def _no_long_digit_run(texts: list[Any]) -> bool:
    """True when no text has 19 digits in a row. Then no integer token lies outside
    orjson's exact range [-2**63, 2**64) (the nearest beyond, -9223372036854775809 and
    18446744073709551616, have 19 and 20 digits), and orjson's values are json.loads's:
    the walk of the values is skipped. One pass in C over the chunk's bytes: 25,000 entries
    of the 1M bench, the check 19-32 ms → 7-23 ms, a chunk's read 14-30 % less CPU
    (interleaved medians, 2026-12-07). False (walk the values) for texts that are not all
    str, and for any long digit run, as in a long decimal fraction."""
    try:
        joined = "".join(texts)
    except TypeError:  # bytes or other inputs orjson also parses: the walk decides
        return False
    return _LONG_RUN not in joined.encode("utf-8", "surrogatepass").translate(_DIGIT_MAP)


_FLAT = frozenset((str, int, float, bool, type(None)))
_is_float = float.__instancecheck__


def _any_huge_int(values: list[Any]) -> bool:
    """``_may_be_a_huge_int(values)``, with the common case in C: a chunk's entries are
    flat objects (no nested object or array), so their values are chained, the floats
    filtered and their extremes compared, without a Python loop per value (25,000 `it`
    entries, pyinstrument of bench.profile_chunk, 2026-12-07: the check 32 → 11 ms,
    ``loads_many`` 50 → 29 ms). Anything else takes the recursive walk."""
    if set(map(type, values)) != {dict}:
        return _may_be_a_huge_int(values)
    flat = list(chain.from_iterable(map(dict.values, values)))
    if not set(map(type, flat)) <= _FLAT:
        return _may_be_a_huge_int(values)
    floats = list(filter(_is_float, flat))
    return bool(floats) and not (_LOW <= min(floats) and max(floats) <= _HIGH)


def _may_be_a_huge_int(v: Any) -> bool:
    t = type(v)
    if t is float:
        return not _LOW <= v <= _HIGH
    if t is dict:
        v = v.values()
    elif t is not list:
        return False
    for x in v:
        tx = type(x)
        if tx is float:
            if not _LOW <= x <= _HIGH:
                return True
        elif (tx is dict or tx is list) and _may_be_a_huge_int(x):
            return True
    return False
