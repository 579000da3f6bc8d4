"""Migration 0018: a discarded preview's id is never given to the next preview, on a
populated database, on both engines (SQLite reused it: two jobs read "Preview 6" with
different files). Downgrade keeps the rows."""

from __future__ import annotations

import pytest

from carbon_domain.db import migrate
from tests.integration.migration_support import run_sql as _run

pytestmark = pytest.mark.integration

_NEXT = ("INSERT INTO upload_previews (job_id, upload_id, module_type_id, year, mode,"
         " created_at, expires_at) VALUES (9, 9, 4, 2025, 'replace',"
         " '2026-12-07 12:00:00', '2026-12-08 12:00:00')")


def _ids(url: str) -> list[int]:
    return [int(i) for (i,) in _run(url, "SELECT id FROM upload_previews ORDER BY id")]


def test_0018_never_gives_a_discarded_preview_id_again(url: str) -> None:
    migrate.upgrade(url, "0017")
    for _ in (1, 2):
        _run(url, _NEXT)
    migrate.upgrade(url, "0018")
    assert _ids(url) == [1, 2]
    _run(url, "DELETE FROM upload_previews WHERE id = 2")  # discarded
    _run(url, _NEXT)
    assert _ids(url) == [1, 3]

    migrate.downgrade(url, "0017")
    assert _ids(url) == [1, 3]
    migrate.upgrade(url, "0018")
    _run(url, "DELETE FROM upload_previews WHERE id = 3")
    _run(url, _NEXT)
    assert _ids(url) == [1, 4]
