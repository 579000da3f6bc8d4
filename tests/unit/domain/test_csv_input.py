"""Rows with more cells than the header: extra cells are data, so dropping them is a row
error (an unquoted decimal comma ``1,5`` shifts every later value); blank ones are a
trailing comma and harmless."""

from __future__ import annotations

from carbon_domain.services.inputs.csv_input import read_csv


def test_extra_cells_with_values_are_a_row_error_blank_ones_are_not() -> None:
    body = ("name,quantity,note\n"
            "a,1,ok\n"
            "b,1,5,shifted\n"
            "c,2,fine,,\n"
            "d,3,\n")
    header, rows = read_csv(body.encode())
    assert header == ["name", "quantity", "note"]
    got = list(rows)
    assert got[0] == (2, {"name": "a", "quantity": "1", "note": "ok"})
    line, bad = got[1]
    assert line == 3 and set(bad) == {"__csv_error__"}
    assert "4 cells but the header names 3 columns" in bad["__csv_error__"]
    assert got[2] == (4, {"name": "c", "quantity": "2", "note": "fine"})
    assert got[3] == (5, {"name": "d", "quantity": "3", "note": ""})
