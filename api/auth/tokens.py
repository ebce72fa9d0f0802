"""Access and refresh tokens: HS256 JWTs, typed so one kind can never pass for the other.

Access tokens are short-lived and checked without a database read (the hot paths, such as
`GET /jobs/available`, pay no lookup); refresh tokens are bound to a session row and rotate
on every use, so a stolen, already-used refresh token is detected and ends the session.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import jwt

from veriframe_core.settings import Settings

ALGORITHM = "HS256"
ISSUER = "veriframe-api"
ACCESS = "access"
REFRESH = "refresh"
ROLES = ("worker", "creator", "admin", "verifier")
MAX_VERIFIED = 100_000


class TokenError(Exception):
    """The token is missing, malformed, expired, of the wrong type or badly signed."""


@dataclass(frozen=True)
class Claims:
    address: str
    roles: tuple[str, ...]
    session_id: str
    token_id: str
    expires_at: int


def load_jwt_secret(settings: Settings) -> bytes:
    """The configured secret, else the one kept in `data_dir/api/jwt_secret` (made once, with
    O_EXCL, so API processes starting together agree on it)."""
    if settings.api_jwt_secret is not None:
        return settings.api_jwt_secret.get_secret_value().encode()
    path: Path = settings.api_dir / "jwt_secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process is writing it
            if secret := path.read_bytes().strip():
                return secret
            time.sleep(0.01)
        raise RuntimeError(f"{path} is empty: delete it to have a new secret made") from None
    secret = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as file:
        file.write(secret)
    return secret


class TokenIssuer:
    """Signs and checks the API's tokens with one secret."""

    def __init__(self, secret: bytes, access_ttl_s: int, refresh_ttl_s: int):
        if len(secret) < 32:
            raise ValueError("the JWT secret must be at least 32 bytes")
        self.secret = secret
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s
        self._verified: dict[str, Claims] = {}  # access tokens already checked

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenIssuer:
        return cls(
            load_jwt_secret(settings),
            settings.api_access_token_ttl_s,
            settings.api_refresh_token_ttl_s,
        )

    def _sign(
        self, kind: str, address: str, roles: tuple[str, ...], sid: str, ttl: int
    ) -> tuple[str, str]:
        now, jti = int(time.time()), secrets.token_hex(16)
        payload = {
            "iss": ISSUER,
            "sub": address,
            "typ": kind,
            "roles": list(roles),
            "sid": sid,
            "jti": jti,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(payload, self.secret, algorithm=ALGORITHM), jti

    def access_token(self, address: str, roles: tuple[str, ...], session_id: str) -> str:
        return self._sign(ACCESS, address, roles, session_id, self.access_ttl_s)[0]

    def refresh_token(
        self, address: str, roles: tuple[str, ...], session_id: str
    ) -> tuple[str, str]:
        """A refresh token and its id (the session row keeps the id of the one valid token)."""
        return self._sign(REFRESH, address, roles, session_id, self.refresh_ttl_s)

    def check(self, token: str, kind: str) -> Claims:
        """The claims of a valid token of `kind`; TokenError says what is wrong otherwise.

        An access token is checked once, then remembered until it expires: a worker polls
        with the same token for minutes, and the signature check was a sixth of a poll's CPU.
        """
        known = self._verified.get(token) if kind == ACCESS else None
        if known is not None and known.expires_at > time.time():
            return known
        claims = self._check(token, kind)
        if kind == ACCESS:
            if len(self._verified) >= MAX_VERIFIED:
                self._verified.clear()
            self._verified[token] = claims
        return claims

    def _check(self, token: str, kind: str) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "typ", "sid", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.PyJWTError as err:
            raise TokenError(f"invalid token: {err}") from None
        if payload["typ"] != kind:
            raise TokenError(f"a {payload['typ']} token cannot be used as a {kind} token")
        roles = payload.get("roles")
        if not isinstance(roles, list) or not set(roles) <= set(ROLES):
            raise TokenError("invalid token: unknown roles")
        return Claims(payload["sub"], tuple(roles), payload["sid"], payload["jti"], payload["exp"])
