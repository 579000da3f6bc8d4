"""The pipelines page reads the API's spellings of its filters too: an operator who pasted
`?has_errors=true&module_type_id=4` from an API call saw every pipeline (the console wanted
`yes` and `module=`), with the filters shown as "any"."""

from __future__ import annotations

from carbon_api.console.ops_pages import filters_from


def test_the_api_spellings_filter_the_same() -> None:
    ours = filters_from({"has_errors": "yes", "has_warnings": "no", "module": "4"})
    theirs = filters_from({"has_errors": "true", "has_warnings": "false",
                           "module_type_id": "4"})
    assert (ours.has_errors, ours.has_warnings, ours.module_type_id) == (True, False, 4)
    assert (theirs.has_errors, theirs.has_warnings, theirs.module_type_id) == (True, False, 4)
    # Anything else is still "any", never an error.
    odd = filters_from({"has_errors": "maybe", "module_type_id": "99"})
    assert (odd.has_errors, odd.module_type_id) == (None, None)
