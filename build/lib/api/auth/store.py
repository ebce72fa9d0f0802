"""Login state in Postgres, so any API process can finish a login another one started:
single-use challenges, sessions whose refresh token rotates, per-client rate limits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from api.prepared import Prepared
from veriframe_core.warehouse.tables import auth_challenges, auth_sessions, rate_limits

SESSION_IS_LIVE = (
    "EXISTS (SELECT 1 FROM auth_sessions WHERE session_id = :sid AND revoked_at IS NULL "
    "AND expires_at > now())"
)
"""The session `:sid` is not logged out, revoked or expired (a primary-key read)."""
LIVE_SESSION = Prepared("veriframe_live_session", f"SELECT {SESSION_IS_LIVE}")
SESSION_ENDED = "session ended (logged out, revoked or expired): log in again"


class LoginRefused(Exception):
    """A challenge or refresh token that cannot be used; the message says why."""


@dataclass(frozen=True)
class Challenge:
    nonce: int
    address: str
    chain_id: int
    issued_at: int  # unix seconds, as signed
    expires_at: int


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def issue_challenge(conn: sa.Connection, address: str, chain_id: int, ttl_s: int) -> Challenge:
    now = int(datetime.now(UTC).timestamp())
    challenge = Challenge(secrets.randbits(248), address, chain_id, now, now + ttl_s)
    conn.execute(
        auth_challenges.insert().values(
            nonce=hex(challenge.nonce),
            address=address,
            chain_id=hex(chain_id),
            issued_at=datetime.fromtimestamp(challenge.issued_at, UTC),
            expires_at=datetime.fromtimestamp(challenge.expires_at, UTC),
        )
    )
    return challenge


def find_challenge(conn: sa.Connection, nonce: int, address: str) -> Challenge:
    """The usable challenge `nonce` of `address`; LoginRefused says why it is not usable."""
    c = auth_challenges.c
    row = conn.execute(
        sa.select(c.address, c.chain_id, c.issued_at, c.expires_at, c.used_at).where(
            c.nonce == hex(nonce)
        )
    ).first()
    if row is None or row.address != address:
        raise LoginRefused("unknown challenge for this address: request one at /auth/challenge")
    if row.used_at is not None:
        raise LoginRefused("challenge already used: request a new one at /auth/challenge")
    if row.expires_at <= datetime.now(UTC):
        raise LoginRefused("challenge expired: request a new one at /auth/challenge")
    return Challenge(
        nonce, address, int(row.chain_id, 16), _unix(row.issued_at), _unix(row.expires_at)
    )


def consume_challenge(conn: sa.Connection, challenge: Challenge) -> None:
    """Mark the challenge used, atomically: of two logins with one signed challenge, one wins."""
    c = auth_challenges.c
    used = conn.execute(
        auth_challenges.update()
        .where(c.nonce == hex(challenge.nonce), c.used_at.is_(None), c.expires_at > sa.func.now())
        .values(used_at=sa.func.now())
    ).rowcount
    if not used:
        raise LoginRefused("challenge already used or expired: request a new one")


def open_session(
    conn: sa.Connection, session_id: str, address: str, roles: tuple[str, ...], jti: str, ttl_s: int
) -> None:
    now = datetime.now(UTC)
    conn.execute(
        auth_sessions.insert().values(
            session_id=session_id,
            address=address,
            roles=list(roles),
            refresh_jti=jti,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_s),
        )
    )


def rotate_refresh(conn: sa.Connection, session_id: str, used_jti: str, new_jti: str) -> str | None:
    """Replace the session's refresh token; None when done, else why not. Presenting an
    older one means it was copied: the whole session is revoked (the caller commits that),
    so neither copy works any more."""
    s = auth_sessions.c
    rotated = conn.execute(
        auth_sessions.update()
        .where(
            s.session_id == session_id,
            s.refresh_jti == used_jti,
            s.revoked_at.is_(None),
            s.expires_at > sa.func.now(),
        )
        .values(refresh_jti=new_jti, refreshed_at=sa.func.now())
    ).rowcount
    if rotated:
        return None
    row = conn.execute(
        sa.select(s.revoked_at, s.expires_at).where(s.session_id == session_id)
    ).first()
    if row is None:
        return "unknown session: log in again"
    if row.revoked_at is not None:
        return "session revoked: log in again"
    if row.expires_at <= datetime.now(UTC):
        return "session expired: log in again"
    revoke_session(conn, session_id, "refresh_reused")
    return "refresh token already used: the session is revoked, log in again"


def revoke_session(conn: sa.Connection, session_id: str, reason: str) -> bool:
    s = auth_sessions.c
    return bool(
        conn.execute(
            auth_sessions.update()
            .where(s.session_id == session_id, s.revoked_at.is_(None))
            .values(revoked_at=sa.func.now(), revoked_reason=reason)
        ).rowcount
    )


def count_hit(conn: sa.Connection, key: str) -> int:
    """Count one request of `key` in the current minute; returns the minute's count so far."""
    statement = sa.text(
        "INSERT INTO rate_limits (key, window_start, hits) VALUES (:key, date_trunc('minute', "
        "now()), 1) ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limits.hits + 1 "
        "RETURNING hits"
    )
    return conn.execute(statement, {"key": key}).scalar_one()


def forget_expired(conn: sa.Connection) -> None:
    """Drop challenges, sessions and rate windows nobody can use any more."""
    day_ago = sa.func.now() - sa.text("interval '1 day'")
    conn.execute(auth_challenges.delete().where(auth_challenges.c.expires_at < day_ago))
    conn.execute(auth_sessions.delete().where(auth_sessions.c.expires_at < day_ago))
    conn.execute(rate_limits.delete().where(rate_limits.c.window_start < day_ago))
