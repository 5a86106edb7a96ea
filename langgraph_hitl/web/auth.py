"""What signing in to the inbox rests on: password hashes, the session secret, session
ids, the login rate limit, CSRF tokens, and the sign-in settings (single sign-on, the
trusted proxy header).

Passwords are hashed with argon2id (argon2-cffi's `PasswordHasher`, RFC 9106's
low-memory profile: 64 MiB, 3 passes), so a stolen ledger costs an attacker memory as
well as time per guess. The session cookie is Starlette's signed cookie (itsdangerous)
holding a random session id whose row the ledger keeps (`ledger.sessions`): the secret
that signs it is `$LANGGRAPH_HITL_SECRET`, or, for a SQLite ledger, a random one kept in
a file beside the database, readable by its owner only.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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
    failure leaves the window. Kept in the serving process's memory, bounded: entries
    whose failures all left the window are dropped as new failures come, and past
    `max_entries` names and addresses the least recently failed are forgotten first (a
    spray of made-up names cannot grow the server without end; it can, at worst, make
    it forget the oldest counts).

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
        self,
        limit: int = 5,
        window: float = 15 * 60,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_entries = max_entries
        self._clock = clock
        # Least recently failed first: a failure moves its entry to the end.
        self._failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def __len__(self) -> int:
        """How many names and addresses the limiter holds counts for."""
        return len(self._failures)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures.get(key, deque())
        cutoff = self._clock() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        return times

    def blocked(self, name: str, address: str) -> bool:
        """Whether this name, from this address, has used up its failures."""
        return len(self._recent((name.casefold(), address))) >= self.limit

    def fail(self, name: str, address: str) -> None:
        """Count a failed sign-in."""
        key = (name.casefold(), address)
        times = self._recent(key)
        times.append(self._clock())
        self._failures[key] = times
        self._failures.move_to_end(key)
        self._prune()

    def _prune(self) -> None:
        """Drop the entries whose last failure left the window (they are first: ordered
        by last failure), then, past `max_entries`, the least recently failed."""
        cutoff = self._clock() - self.window
        while self._failures:
            times = next(iter(self._failures.values()))
            if times and times[-1] > cutoff and len(self._failures) <= self.max_entries:
                break
            self._failures.popitem(last=False)

    def succeed(self, name: str, address: str) -> None:
        """A sign-in that worked clears the count."""
        self._failures.pop((name.casefold(), address), None)


def new_session_id() -> str:
    """A session id: 256 random bits. The cookie carries it (signed); the ledger keeps
    only its SHA-256 (`ledger.sessions`)."""
    return secrets.token_urlsafe(32)


OIDC_SECRET_ENV = "LANGGRAPH_HITL_OIDC_CLIENT_SECRET"
"""Where `serve` reads the OpenID Connect client secret: never from an option (options
show in `ps` and shell history)."""


@dataclass(frozen=True)
class OidcSettings:
    """Single sign-on through an OpenID Connect provider (authorization code flow with
    PKCE, state and nonce; Authlib's Starlette client).

    Attributes:
        issuer: The provider's issuer URL; its discovery document is
            `<issuer>/.well-known/openid-configuration`.
        client_id: The inbox's client id at the provider.
        client_secret: Its secret ($LANGGRAPH_HITL_OIDC_CLIENT_SECRET), or None for a
            public client (PKCE alone).
        claim: The ID token claim that names the reviewer (`preferred_username`,
            `email`, ...): it must name a reviewer registered in the ledger.
        public_url: The inbox's address as browsers reach it (for the redirect URI
            registered at the provider); None: taken from each request.
    """

    issuer: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    claim: str = "preferred_username"
    public_url: str | None = None

    def __post_init__(self) -> None:
        if not self.issuer.startswith(("https://", "http://")):
            raise BadInputError(f"the OpenID Connect issuer must be a URL, not {self.issuer!r}")
        if not self.client_id:
            raise BadInputError("OpenID Connect needs a client id (--oidc-client-id)")
        if not self.claim:
            raise BadInputError("--oidc-claim needs the name of a claim")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(given: Iterable[str]) -> tuple[Network, ...]:
    """The addresses (or networks, `10.0.0.0/24`) `--trusted-proxy` names.

    Example:
        >>> [str(n) for n in proxy_networks(["10.0.0.5", "fd00::/64"])]
        ['10.0.0.5/32', 'fd00::/64']
    """
    networks = []
    for item in given:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise BadInputError(
                f"bad --trusted-proxy {item!r}: give an IP address or a network (10.0.0.0/24)"
            ) from None
    return tuple(networks)


@dataclass(frozen=True)
class SignInSettings:
    """How reviewers may sign in, besides a local password.

    Attributes:
        oidc: Single sign-on through OpenID Connect, or None.
        proxy_header: The header an authenticating reverse proxy sets to the reviewer's
            name (`X-Forwarded-User`), believed only on connections from
            `trusted_proxies`; None (the default): no header is believed.
        trusted_proxies: The proxies' addresses.
    """

    oidc: OidcSettings | None = None
    proxy_header: str | None = None
    trusted_proxies: tuple[Network, ...] = ()

    def __post_init__(self) -> None:
        if self.proxy_header is not None and not self.trusted_proxies:
            raise BadInputError(
                "--trust-proxy-header needs --trusted-proxy ADDRESS: the header is believed"
                " only from the proxy's own address"
            )
        if self.trusted_proxies and self.proxy_header is None:
            raise BadInputError("--trusted-proxy is only used with --trust-proxy-header HEADER")

    def trusted(self, address: str | None) -> bool:
        """Whether a connection from `address` comes from a trusted proxy."""
        if self.proxy_header is None or address is None:
            return False
        try:
            peer = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(peer in network for network in self.trusted_proxies)
