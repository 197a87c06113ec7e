"""API keys: shown once at creation, stored only as SHA-256 hashes.

Keys are 256-bit random tokens, so a fast hash is the right tool (a password hash would
only slow every request down without adding protection). A short prefix is stored to let
people recognise a key in lists and logs.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from leitstand.errors import LeitstandError, NotFoundError
from leitstand.store.database import Database
from leitstand.store.models import ApiKey, utcnow

log = logging.getLogger(__name__)

KEY_PREFIX = "lsk_"
ROLES = ("user", "admin")
CACHE_SECONDS = 5.0
"""How long a verified key is trusted without asking the database (revocation delay)."""


@dataclass(frozen=True)
class KeyInfo:
    name: str
    prefix: str
    use_case: str | None
    team: str | None
    role: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        name=row.name,
        prefix=row.prefix,
        use_case=row.use_case,
        team=row.team,
        role=row.role,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cache: dict[str, tuple[float, KeyInfo]] = {}
        self._last_touch: dict[str, float] = {}
        self._lock = threading.Lock()

    def create(
        self,
        name: str,
        *,
        use_case: str | None = None,
        team: str | None = None,
        role: str = "user",
    ) -> tuple[str, KeyInfo]:
        """Create a key; the returned secret is shown once and never stored."""
        if not name.strip():
            raise LeitstandError("a key needs a name", hint="e.g. leitstand keys create crm-bot")
        if role not in ROLES:
            raise LeitstandError(f"role {role!r} is not known; allowed: {', '.join(ROLES)}")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        row = ApiKey(
            name=name,
            prefix=secret[:12],
            key_hash=hash_key(secret),
            use_case=use_case,
            team=team,
            role=role,
        )
        try:
            with self.db.write() as session:
                session.add(row)
        except IntegrityError:
            raise LeitstandError(
                f"a key named {name!r} already exists",
                hint="choose another name, or revoke the old key first",
            ) from None
        return secret, _info(row)

    def list(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        query = select(ApiKey).order_by(ApiKey.created_at)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        with self.db.read() as session:
            return [_info(row) for row in session.scalars(query)]

    def revoke(self, name: str) -> KeyInfo:
        with self.db.write() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.name == name))
            if row is None:
                raise NotFoundError(
                    f"no key named {name!r}", hint="`leitstand keys list` shows the key names"
                )
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            info = _info(row)
        with self._lock:
            self._cache.clear()
        return info

    def any_active(self) -> bool:
        with self.db.read() as session:
            return (
                session.scalar(select(ApiKey.id).where(ApiKey.revoked_at.is_(None)).limit(1))
                is not None
            )

    def verify(self, presented: str) -> KeyInfo | None:
        """The active key matching a presented secret, or None."""
        digest = hash_key(presented)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
            if cached and now - cached[0] < CACHE_SECONDS:
                return cached[1]
        with self.db.read() as session:
            row = session.scalar(
                select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
            )
            info = _info(row) if row is not None else None
        if info is not None:
            with self._lock:
                self._cache[digest] = (now, info)
            self._touch(digest, now)
        return info

    def _touch(self, digest: str, now: float) -> None:
        """Record last use at most once a minute per key, off the request path."""
        with self._lock:
            if now - self._last_touch.get(digest, -1e9) < 60:
                return
            self._last_touch[digest] = now

        def write() -> None:
            try:
                with self.db.write() as session:
                    session.execute(
                        update(ApiKey)
                        .where(ApiKey.key_hash == digest)
                        .values(last_used_at=utcnow())
                    )
            except Exception:  # best effort; a busy database must not fail a request
                log.debug("could not record the last use of an API key", exc_info=True)

        threading.Thread(target=write, name="leitstand-key-touch", daemon=True).start()
