"""Password hashing (argon2id) and bearer tokens (random, stored only as a keyed hash)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import anyio.to_thread
from anyio import CapacityLimiter
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_PREFIX = "sdk_"  # noqa: S105  (a public marker, not a secret)
_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

# An argon2id check takes about 200 ms of CPU and 64 MiB of memory. Run on the event loop it would stall
# every other request of the process, so the async variants below run it in worker threads (the
# library releases the GIL while hashing). At most this many run at once: a flood of logins then
# waits here instead of occupying every thread of the shared pool that other blocking calls need.
PASSWORD_HASHING_THREADS = 2
_hashing_threads = CapacityLimiter(PASSWORD_HASHING_THREADS)


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; a missing or malformed hash never matches."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_in_thread(password: str) -> str:
    """:func:`hash_password` in a worker thread, leaving the event loop free."""
    return await anyio.to_thread.run_sync(hash_password, password, limiter=_hashing_threads)


async def verify_password_in_thread(password_hash: str | None, password: str) -> bool:
    """:func:`verify_password` in a worker thread, leaving the event loop free."""
    return await anyio.to_thread.run_sync(verify_password, password_hash, password, limiter=_hashing_threads)


def new_token() -> str:
    """A fresh bearer token: a recognisable prefix and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str, secret_key: str) -> str:
    """The stored form of a token. Tokens carry 256 bits of entropy, so a keyed SHA-256 is enough
    and keeps the per-request check cheap, unlike a password hash."""
    return hmac.new(secret_key.encode(), token.encode(), hashlib.sha256).hexdigest()


def token_display_prefix(token: str) -> str:
    """The first characters of a token, safe to show so people can tell their tokens apart."""
    return token[: len(TOKEN_PREFIX) + 6]
