"""Console sign-in sessions, kept server-side (table ``console_sessions``).

The browser holds a random 256-bit session id in an HttpOnly, SameSite=Strict cookie; the
database keeps only its SHA-256 with the token it was opened with, a CSRF token and an expiry.
Every request re-reads the row joined with its token, so logout (row deleted), expiry and token
revocation all end the session on the very next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import Role
from carbon_domain.db.models import ApiToken, ConsoleSession
from carbon_domain.services.access.tokens import hash_token, verify_token

COOKIE = "carbon_console"
# A working day plus margin: operators sign in in the morning and keep the tab open.
LIFETIME = timedelta(hours=12)
_SID_LENGTH = (40, 64)


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: Role
    csrf: str
    session_hash: str

    @property
    def can_act(self) -> bool:
        return self.role == Role.operator


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def sign_in(session: Session, token: str) -> tuple[str, ConsoleUser] | None:
    """Open a session for a valid token: (cookie value, user); None for a bad token."""
    who = verify_token(session, token.strip() if isinstance(token, str) else None)
    if who is None:
        return None
    token_id = session.scalar(select(ApiToken.id).where(ApiToken.token_hash == hash_token(
        token.strip())))
    if token_id is None:
        return None
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    # Expired rows of any token are swept here, so the table never grows without bound.
    session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
    session.add(ConsoleSession(session_hash=_digest(sid), token_id=token_id, csrf_token=csrf,
                               created_at=now, expires_at=now + LIFETIME))
    session.flush()
    return sid, ConsoleUser(who.name, who.role, csrf, _digest(sid))


def current_user(session: Session, session_id: str | None) -> ConsoleUser | None:
    """The user behind a session cookie, or None (unknown, expired, signed out, revoked)."""
    if not session_id or not isinstance(session_id, str) or not (
            _SID_LENGTH[0] <= len(session_id) <= _SID_LENGTH[1]):
        return None
    digest = _digest(session_id)
    row = session.execute(
        select(ConsoleSession.session_hash, ConsoleSession.csrf_token, ConsoleSession.expires_at,
               ApiToken.name, ApiToken.role, ApiToken.revoked)
        .join(ApiToken, ApiToken.id == ConsoleSession.token_id)
        .where(ConsoleSession.session_hash == digest)
    ).first()
    if row is None or row.revoked or row.expires_at <= utcnow():
        return None
    if not hmac.compare_digest(row.session_hash, digest):
        return None
    try:
        role = Role(row.role)
    except ValueError:
        return None
    return ConsoleUser(row.name, role, row.csrf_token, digest)


def sign_out(session: Session, session_id: str | None) -> None:
    if session_id and isinstance(session_id, str):
        session.execute(delete(ConsoleSession).where(
            ConsoleSession.session_hash == _digest(session_id)))


def csrf_ok(user: ConsoleUser, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(user.csrf.encode(), str(submitted).encode())
