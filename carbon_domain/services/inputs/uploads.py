"""Uploaded files live in the database so any worker on any machine can read them."""

from __future__ import annotations

import hashlib

from sqlalchemy.orm import Session

from carbon_domain.db.models import UploadedFile
from carbon_domain.errors import NotFound


def store_upload(session: Session, *, filename: str, content: bytes,
                 content_type: str | None, created_by: str | None) -> int:
    row = UploadedFile(filename=filename[:255] or "upload.csv", content=content,
                       content_type=content_type, size=len(content),
                       sha256=hashlib.sha256(content).hexdigest(), created_by=created_by)
    session.add(row)
    session.flush()
    return row.id


def read_upload(session: Session, upload_id: int) -> bytes:
    row = session.get(UploadedFile, upload_id)
    if row is None:
        raise NotFound(f"upload {upload_id} not found")
    return bytes(row.content)
