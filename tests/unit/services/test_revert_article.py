"""The revert refusal names the job's type with its article: "job 1 is a unit_sync job", not
"an unit_sync job" (seen by an operator running `carbon revert 1` on a units upload)."""

from __future__ import annotations

import pytest

from carbon_domain.services.ingest.reverts import _a


@pytest.mark.parametrize(("word", "said"), [
    ("unit_sync", "a unit_sync"), ("emission_recalc", "an emission_recalc"),
    ("aggregation", "an aggregation"), ("factor_ingest", "a factor_ingest"),
    ("csv_ingest", "a csv_ingest"), ("module_emission_recalc", "a module_emission_recalc"),
    ("upload", "an upload")])
def test_article(word: str, said: str) -> None:
    assert _a(word) == said
