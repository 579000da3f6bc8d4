"""Stored impact previews of factor uploads (migration 0013).

A preview is computed by a ``factor_preview`` job inside a transaction that is rolled back;
only this row (its figures) is kept, with what the figures were computed from (the upload,
and ``inputs_mark``: the newest input job of the module and year then), so an apply can
refuse when anything the figures depend on changed since.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from carbon_domain.db.base import Base, UTCDateTime

_TS = UTCDateTime()


class UploadPreview(Base):
    __tablename__ = "upload_previews"
    # AUTOINCREMENT on SQLite: a discarded preview's id is never given to the next one (a
    # tab still showing the discarded panel would apply another file); migration 0018.
    __table_args__ = (Index("ix_upload_previews_job", "job_id"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign keys: a preview is a read model; its job and file are looked up by id.
    job_id: Mapped[int] = mapped_column(Integer)
    upload_id: Mapped[int] = mapped_column(Integer)
    module_type_id: Mapped[int] = mapped_column(Integer)
    data_entry_type_id: Mapped[int | None] = mapped_column(Integer)
    year: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(_TS)
    expires_at: Mapped[datetime] = mapped_column(_TS)
    # The newest input job of (module, year) when the figures were computed; -1: inputs
    # were being written meanwhile (the figures may not hold: an apply is refused).
    inputs_mark: Mapped[int | None] = mapped_column(Integer)
    figures: Mapped[dict[str, Any] | None]
    applied_job_id: Mapped[int | None] = mapped_column(Integer)
