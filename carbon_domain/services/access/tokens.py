"""API tokens: random bearer tokens stored only as SHA-256 digests.

A token is ``cbn_`` + 43 URL-safe characters (256 random bits). At that entropy a fast hash is
the right choice: nobody can brute-force 2**256 preimages, and a slow KDF would make every API
request pay for nothing. The plaintext exists only in the return value of :func:`create_token`.

Functions never commit: the caller owns the transaction (``session_scope`` commits).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carbon_domain.db.base import utcnow
from carbon_domain.db.enums import Role
from carbon_domain.db.models import ApiToken
from carbon_domain.errors import InvalidInput, NotFound

TOKEN_PREFIX = "cbn_"
# token_urlsafe(32) yields 43 characters; anything far from that shape is not ours and is
# rejected before it costs a database round trip.
_TOKEN_RE = re.compile(r"^cbn_[A-Za-z0-9_-]{32,64}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$")
# last_used_at is advisory; writing it at most once a minute keeps verification read-only on
# the hot path.
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class TokenInfo:
    """Who a verified token belongs to."""

    name: str
    role: Role


@dataclass(frozen=True)
class TokenRecord:
    """A stored token as listed to operators (never its hash)."""

    name: str
    role: Role
    created_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _role(role: str | Role) -> Role:
    try:
        return Role(str(role).strip().lower())
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"invalid role {str(role)!r}: must be one of {allowed}", field="role",
                           value=role) from None


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME_RE.match(name):
        raise InvalidInput(
            f"invalid token name {name!r}: use 1-128 letters, digits or . _ - @ : "
            "(starting with a letter or digit)", field="name", value=name)
    return name


def create_token(session: Session, name: str, role: str | Role) -> str:
    """Create a token and return its plaintext; only its SHA-256 is stored.

    Raises InvalidInput for an invalid role or name, or when the name is already taken (revoked
    tokens keep their name, so an audit trail never changes meaning).
    """
    name = _check_name(name)
    role_ = _role(role)
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise InvalidInput(f"a token named {name!r} already exists; choose another name",
                           field="name", value=name)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role_.value, token_hash=hash_token(token),
                         created_at=utcnow()))
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create with the same name won the race
        raise InvalidInput(f"a token named {name!r} already exists; choose another name",
                           field="name", value=name) from exc
    return token


def verify_token(session: Session, token: str | None) -> TokenInfo | None:
    """The owner of a valid, unrevoked token, or None. Never raises for bad input."""
    if not token or not isinstance(token, str) or not _TOKEN_RE.match(token):
        return None
    digest = hash_token(token)
    row = session.execute(
        select(ApiToken.id, ApiToken.name, ApiToken.role, ApiToken.token_hash, ApiToken.revoked,
               ApiToken.last_used_at)
        .where(ApiToken.token_hash == digest)
    ).first()
    if row is None or row.revoked or not hmac.compare_digest(row.token_hash, digest):
        return None
    try:
        role = Role(row.role)
    except ValueError:
        return None
    now = utcnow()
    last = row.last_used_at
    if last is not None and last.tzinfo is None:  # SQLite hands back naive UTC
        last = last.replace(tzinfo=UTC)
    if last is None or last < now - TOUCH_INTERVAL:
        # Conditional, so concurrent requests with the same token write once.
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == row.id,
                   or_(ApiToken.last_used_at.is_(None),
                       ApiToken.last_used_at < now - TOUCH_INTERVAL))
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return TokenInfo(name=row.name, role=role)


def revoke_token(session: Session, name: str) -> bool:
    """Revoke a token by name. True if it was active, False if it already was revoked.

    Raises NotFound when no token has that name.
    """
    tok = session.scalar(select(ApiToken).where(ApiToken.name == name))
    if tok is None:
        raise NotFound(f"no token named {name!r}")
    if tok.revoked:
        return False
    tok.revoked = True
    session.flush()
    return True


def list_tokens(session: Session, *, include_revoked: bool = True) -> list[TokenRecord]:
    q = select(ApiToken).order_by(ApiToken.name)
    if not include_revoked:
        q = q.where(ApiToken.revoked.is_(False))
    return [
        TokenRecord(
            name=t.name, role=Role(t.role), created_at=t.created_at,
            last_used_at=t.last_used_at, revoked=bool(t.revoked),
        )
        for t in session.scalars(q)
    ]
