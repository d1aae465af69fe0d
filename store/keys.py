"""API keys: created once (the plain key is shown only then), stored as a SHA-256 hash, revocable."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from nlp.errors import BazkhordError
from store.schema import ROLES, ApiKey

KEY_PREFIX = "bzk_"
PREFIX_LEN = 12  # "bzk_" + 8 characters: enough to tell keys apart in listings, useless to an attacker


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens, so a plain SHA-256 is a safe one-way store (no need for a slow KDF).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, role: str, name: str) -> tuple[ApiKey, str]:
    """Add a key (caller commits). Returns the row and the plain key, which is never stored."""
    if role not in ROLES:
        raise BazkhordError(
            "keys.invalid_role", f"Unknown role '{role}'; use one of: {', '.join(ROLES)}.", {"roles": list(ROLES)}, 422
        )
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise BazkhordError("keys.invalid_name", "A key needs a name of 1 to 100 characters.", None, 422)
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(name=name, role=role, prefix=plain[:PREFIX_LEN], key_hash=hash_key(plain), created_at=utcnow())
    session.add(row)
    session.flush()
    return row, plain


def list_keys(session: Session, include_revoked: bool = True) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.id)
    if not include_revoked:
        stmt = stmt.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(stmt))


def find_key(session: Session, ident: str | int) -> ApiKey:
    """A key by id or by its displayed prefix."""
    row = None
    text = str(ident).strip()
    if text.isdigit():
        row = session.get(ApiKey, int(text))
    if row is None and text:
        rows = list(session.scalars(select(ApiKey).where(ApiKey.prefix == text)))
        if len(rows) > 1:
            raise BazkhordError("keys.ambiguous", "Several keys share this prefix; use the id.", {"ids": [r.id for r in rows]}, 409)
        row = rows[0] if rows else None
    if row is None:
        raise BazkhordError("keys.not_found", f"No API key '{text}'.", {"key": text}, 404)
    return row


def lookup_key(session: Session, plain: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(plain)))


def revoke_key(session: Session, ident: str | int) -> ApiKey:
    """Revoke (caller commits); revoking twice keeps the first time."""
    row = find_key(session, ident)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def key_to_dict(row: ApiKey) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "role": row.role,
        "prefix": row.prefix,
        "created_at": row.created_at.isoformat(),
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
    }
