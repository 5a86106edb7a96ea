"""Sign-in sessions and one-time password reset links, kept in the ledger.

The browser inbox's cookie carries only a random session id; the row here says whom it
is for, how they signed in (`password`, `oidc`, `proxy`), until when, and whether it was
ended. The ledger stores the SHA-256 of the id, never the id, and of a reset token,
never the token: a copy of the database (a backup, a read-only role) opens no session
and resets no password. Ending a session ends it for every copy of its cookie.
"""

from __future__ import annotations

import hashlib
from typing import Any

from langgraph_hitl._time import clock, iso
from langgraph_hitl.errors import BadInputError, UnknownRequestError
from langgraph_hitl.ledger.events import Events
from langgraph_hitl.ledger.store import Connection

SIGN_IN_METHODS = ("password", "oidc", "proxy")
"""How a session was signed in: a local password, OpenID Connect, a trusted proxy."""

TOUCH_EVERY_S = 60.0
"""How stale a session's `last_seen_at` may get before a check writes it again: one
write a minute per active session, not one per page."""


def secret_digest(secret: str) -> str:
    """The SHA-256 (hex) under which the ledger keeps a session id or a reset token.

    A plain hash is enough: both are 256 random bits, not passwords to guess.

    Example:
        >>> len(secret_digest("a session id")), secret_digest("x") == secret_digest("x")
        (64, True)
    """
    return hashlib.sha256(secret.encode()).hexdigest()


class Sessions(Events):
    """The inbox's sessions and reset links (the `hitl_sessions` and `hitl_reset_tokens`
    tables, migration 8)."""

    def start_session(self, session_id: str, reviewer: str, method: str, *, seconds: float) -> None:
        """Record a new session for an existing reviewer, lasting `seconds` from now;
        expired rows are pruned in the same transaction. `UnknownRequestError` if there
        is no reviewer of that name."""
        if method not in SIGN_IN_METHODS:
            raise BadInputError(f"unknown sign-in method {method!r}")
        now = clock()
        # Not part of the event chain: no serial lock; the row is the record.
        with self.write(serial=False) as conn:
            if conn.execute("SELECT 1 FROM hitl_reviewers WHERE name = ?", (reviewer,)).fetchone():
                conn.execute("DELETE FROM hitl_sessions WHERE expires_at < ?", (now,))
                conn.execute("DELETE FROM hitl_reset_tokens WHERE expires_at < ?", (now,))
                conn.execute(
                    "INSERT INTO hitl_sessions (session_hash, reviewer, method, created_at,"
                    " last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (secret_digest(session_id), reviewer, method, now, now, now + seconds),
                )
                return
        raise UnknownRequestError(f"no reviewer named {reviewer!r}")

    def session_reviewer(self, session_id: str) -> str | None:
        """Whom a session is for, if it is still good: not ended, not expired, and the
        reviewer still registered. One read by primary key; `last_seen_at` is written
        at most once a minute."""
        now = clock()
        digest = secret_digest(session_id)
        rows = self.read(
            "SELECT s.reviewer, s.last_seen_at FROM hitl_sessions s"
            " JOIN hitl_reviewers r ON r.name = s.reviewer"
            " WHERE s.session_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ?",
            (digest, now),
        )
        if not rows:
            return None
        reviewer, seen = rows[0]
        if now - float(seen) >= TOUCH_EVERY_S:
            with self.write(serial=False) as conn:
                conn.execute(
                    "UPDATE hitl_sessions SET last_seen_at = ? WHERE session_hash = ?",
                    (now, digest),
                )
        return str(reviewer)

    def end_session(self, session_id: str) -> bool:
        """End one session (signing out): whether it was open."""
        with self.write(serial=False) as conn:
            cur = conn.execute(
                "UPDATE hitl_sessions SET revoked_at = ?"
                " WHERE session_hash = ? AND revoked_at IS NULL",
                (clock(), secret_digest(session_id)),
            )
            return bool(cur.rowcount)

    def end_sessions(self, reviewer: str, *, actor: str | None = None) -> int:
        """End every open session of a reviewer (logged): how many there were."""
        with self.write() as conn:
            ended = self._end_sessions(conn, reviewer)
            self.append_event(
                conn, "sessions_ended", actor=actor, data={"name": reviewer, "sessions": ended}
            )
        return ended

    def _end_sessions(self, conn: Connection, reviewer: str) -> int:
        """End a reviewer's open sessions inside the caller's write transaction."""
        now = clock()
        cur = conn.execute(
            "UPDATE hitl_sessions SET revoked_at = ?"
            " WHERE reviewer = ? AND revoked_at IS NULL AND expires_at > ?",
            (now, reviewer, now),
        )
        return int(cur.rowcount)

    def sessions(self, reviewer: str) -> list[dict[str, Any]]:
        """A reviewer's sessions not yet pruned, newest first: `id` (the first 12 hex of
        the stored digest: enough to tell them apart, useless to sign in with),
        `method`, `created`, `last_seen`, `expires` and `state` (active, ended,
        expired)."""
        now = clock()
        rows = self.read(
            "SELECT session_hash, method, created_at, last_seen_at, expires_at, revoked_at"
            " FROM hitl_sessions WHERE reviewer = ? ORDER BY created_at DESC, session_hash",
            (reviewer,),
        )
        return [
            {
                "id": digest[:12],
                "method": method,
                "created": iso(created),
                "last_seen": iso(seen),
                "expires": iso(expires),
                "state": "ended" if revoked else "expired" if expires <= now else "active",
            }
            for digest, method, created, seen, expires, revoked in rows
        ]

    def add_reset_token(
        self, reviewer: str, token: str, *, seconds: float, actor: str | None = None
    ) -> float:
        """Keep a one-time password reset token (its digest) for `seconds`; any earlier
        unused one of the reviewer's stops working. Logged, without the token. Returns
        when it expires. `UnknownRequestError` if there is no reviewer of that name."""
        now = clock()
        with self.write() as conn:
            known = conn.execute("SELECT 1 FROM hitl_reviewers WHERE name = ?", (reviewer,))
            if known.fetchone() is None:
                raise UnknownRequestError(f"no reviewer named {reviewer!r}")
            conn.execute(
                "DELETE FROM hitl_reset_tokens WHERE reviewer = ? OR expires_at < ?",
                (reviewer, now),
            )
            conn.execute(
                "INSERT INTO hitl_reset_tokens (token_hash, reviewer, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (secret_digest(token), reviewer, now, now + seconds),
            )
            self.append_event(
                conn,
                "reviewer_reset_link",
                actor=actor,
                data={"name": reviewer, "expires": iso(now + seconds)},
            )
        return now + seconds

    def reset_password(self, token: str, password_hash: str) -> str | None:
        """Use a reset token once: set the reviewer's new password hash and end their
        sessions, in one transaction. The reviewer, or None when the token is unknown,
        used or expired (nothing changes then)."""
        if not password_hash.startswith("$argon2"):
            raise BadInputError("a reviewer's password is stored as an argon2 hash only")
        now = clock()
        with self.write() as conn:
            row = conn.execute(
                "UPDATE hitl_reset_tokens SET used_at = ?"
                " WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?"
                " RETURNING reviewer",
                (now, secret_digest(token), now),
            ).fetchone()
            if row is None:
                return None
            reviewer = str(row[0])
            changed = conn.execute(
                "UPDATE hitl_reviewers SET password_hash = ?, password_set_at = ?"
                " WHERE name = ? RETURNING name",
                (password_hash, now, reviewer),
            ).fetchone()
            if changed is None:  # removed since the link was made
                return None
            self._end_sessions(conn, reviewer)
            self.append_event(
                conn,
                "reviewer_password_set",
                actor=reviewer,
                data={"name": reviewer, "by": "reset link"},
            )
        return reviewer
