"""What signing in to the inbox rests on: password hashes, the session secret, the login
rate limit and CSRF tokens.

Passwords are hashed with argon2id (argon2-cffi's `PasswordHasher`, RFC 9106's
low-memory profile: 64 MiB, 3 passes), so a stolen ledger costs an attacker memory as
well as time per guess. Sessions are Starlette's signed cookies (itsdangerous): the
secret that signs them is `$LANGGRAPH_HITL_SECRET`, or, for a SQLite ledger, a random
one kept in a file beside the database, readable by its owner only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from langgraph_hitl.errors import BadInputError

SECRET_ENV = "LANGGRAPH_HITL_SECRET"
MIN_PASSWORD = 8
"""The shortest password `reviewers add --password` accepts."""

_hasher = PasswordHasher()
# Verified against when a name has no password, so a wrong name costs as long as a wrong
# password and the time taken does not tell which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash of `password`, in the PHC string form the ledger stores.

    Example:
        >>> stored = hash_password("correct horse battery")
        >>> stored.startswith("$argon2id$"), verify_password(stored, "correct horse battery")
        (True, True)
    """
    if len(password) < MIN_PASSWORD:
        raise BadInputError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether `password` matches the stored hash (None: no password; still hashed, so
    it takes as long as a real check)."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def hash_fingerprint(stored: str) -> str:
    """A short digest of a stored hash, kept in the session: a new password (or a removed
    reviewer) ends every session signed in with the old one."""
    return hashlib.sha256(stored.encode()).hexdigest()[:16]


def session_secret(db: str | Path) -> str:
    """The key that signs session cookies: `$LANGGRAPH_HITL_SECRET`, else (SQLite only) a
    random key in `<db>.secret` beside the database, created mode 0600 on first use.

    A PostgreSQL ledger has no file to keep it beside: every inbox process must be given
    the same `$LANGGRAPH_HITL_SECRET`, so it is required there.
    """
    from langgraph_hitl.ledger.store.postgres import is_postgres

    given = os.environ.get(SECRET_ENV)
    if given:
        if len(given) < 32:
            raise BadInputError(f"${SECRET_ENV} must be at least 32 characters")
        return given
    if is_postgres(str(db)):
        raise BadInputError(
            f"serving a PostgreSQL ledger needs ${SECRET_ENV} (at least 32 random characters,"
            " the same for every inbox process)"
        )
    path = Path(f"{db}.secret")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _kept_secret(path)
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def _kept_secret(path: Path) -> str:
    if path.stat().st_mode & 0o077:
        raise BadInputError(
            f"{path} is readable by others: `chmod 600 {path}` (or delete it to start over)"
        )
    key = path.read_text().strip()
    if len(key) < 32:
        raise BadInputError(f"{path} does not hold a session key: delete it to make one")
    return key


def new_token() -> str:
    """A CSRF token: 256 random bits."""
    return secrets.token_urlsafe(32)


def same_token(expected: object, given: object) -> bool:
    """Whether a form's CSRF token is the session's (compared in constant time)."""
    return (
        isinstance(expected, str)
        and isinstance(given, str)
        and bool(expected)
        and hmac.compare_digest(expected.encode(), given.encode())
    )


class LoginLimiter:
    """At most `limit` failed sign-ins per name and client address in `window` seconds;
    past that, sign-in is refused (429) without checking the password, until the oldest
    failure leaves the window. Kept in the serving process's memory.

    Example:
        >>> now = [0.0]
        >>> limiter = LoginLimiter(limit=2, window=60, clock=lambda: now[0])
        >>> limiter.fail("ana", "10.0.0.1"); limiter.fail("ana", "10.0.0.1")
        >>> limiter.blocked("ana", "10.0.0.1"), limiter.blocked("ana", "10.0.0.2")
        (True, False)
        >>> now[0] = 61.0
        >>> limiter.blocked("ana", "10.0.0.1")
        False
    """

    def __init__(
        self, limit: int = 5, window: float = 15 * 60, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _recent(self, name: str, address: str) -> deque[float]:
        times = self._failures.setdefault((name.casefold(), address), deque())
        cutoff = self._clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def blocked(self, name: str, address: str) -> bool:
        """Whether this name, from this address, has used up its failures."""
        return len(self._recent(name, address)) >= self.limit

    def fail(self, name: str, address: str) -> None:
        """Count a failed sign-in."""
        self._recent(name, address).append(self._clock())

    def succeed(self, name: str, address: str) -> None:
        """A sign-in that worked clears the count."""
        self._failures.pop((name.casefold(), address), None)
