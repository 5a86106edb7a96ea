"""Reviewers and their roles: who may decide what."""

from __future__ import annotations

import json
from typing import Any

from langgraph_hitl._time import clock, iso
from langgraph_hitl.errors import (
    BadInputError,
    UnknownRequestError,
)
from langgraph_hitl.ledger.sessions import Sessions


class Reviewers(Sessions):
    """The registered reviewers and the roles requests name."""

    def add_reviewer(self, name: str, role: str, *, actor: str | None = None) -> str | None:
        """Register a reviewer with a role, or change their role (logged).

        Returns the role they had before, or None for a new reviewer.
        """
        if not name.strip() or not role.strip():
            raise BadInputError("a reviewer needs a name and a role")
        with self.write() as conn:
            before = conn.execute(
                "SELECT role FROM hitl_reviewers WHERE name = ?", (name,)
            ).fetchone()
            conn.execute(
                "INSERT INTO hitl_reviewers (name, role, added_at) VALUES (?, ?, ?)"
                " ON CONFLICT (name) DO UPDATE SET role = excluded.role",
                (name, role, clock()),
            )
            self.append_event(
                conn,
                "reviewer_added" if before is None else "reviewer_changed",
                actor=actor,
                data={"name": name, "role": role, "was": None if before is None else before[0]},
            )
        return None if before is None else str(before[0])

    def set_password_hash(self, name: str, password_hash: str, *, actor: str | None = None) -> None:
        """Store a reviewer's password hash (made by `langgraph_hitl.web.auth.hash_password`;
        the ledger never sees the password), replacing any before it: logged, without
        the hash; it ends the reviewer's open sessions. `UnknownRequestError` if there
        is no reviewer of that name."""
        if not password_hash.startswith("$argon2"):
            raise BadInputError("a reviewer's password is stored as an argon2 hash only")
        with self.write() as conn:
            row = conn.execute(
                "UPDATE hitl_reviewers SET password_hash = ?, password_set_at = ?"
                " WHERE name = ? RETURNING role",
                (password_hash, clock(), name),
            ).fetchone()
            if row is None:
                raise UnknownRequestError(f"no reviewer named {name!r}")
            self._end_sessions(conn, name)
            self.append_event(conn, "reviewer_password_set", actor=actor, data={"name": name})

    def sign_in_record(self, name: str) -> tuple[str, str] | None:
        """A reviewer's role and password hash, for signing in; None when there is no
        reviewer of that name or they have no password."""
        rows = self.read(
            "SELECT role, password_hash FROM hitl_reviewers"
            " WHERE name = ? AND password_hash IS NOT NULL",
            (name,),
        )
        return None if not rows else (str(rows[0][0]), str(rows[0][1]))

    def request_roles(self) -> list[str]:
        """Every reviewer role the ledger's requests name: the whole chain of the policy
        each gate applied (lowest first), then the roles requests need or allow."""
        chains = self.read(
            "SELECT DISTINCT json_extract(payload, '$.roles') FROM hitl_requests"
            " WHERE json_type(payload, '$.roles') = 'array'"
        )
        others = self.read(
            "SELECT required_role FROM hitl_requests WHERE required_role IS NOT NULL"
            " UNION SELECT e.value FROM hitl_requests r, json_each(r.eligible) e"
            " WHERE r.eligible IS NOT NULL"
        )
        ordered = [role for (chain,) in chains for role in json.loads(chain)]
        rest = sorted(str(role) for (role,) in others)
        return [r for r in dict.fromkeys([*ordered, *rest]) if isinstance(r, str)]

    def highest_roles(self) -> list[str]:
        """The roles the ledger ranks highest: the last of each policy's role chain its
        requests recorded (a request's deadline escalates it up to that role); with no
        chain recorded, every role a request needs or allows (roles are not ranked
        then); empty when requests name no role at all (no role outranks another)."""
        chains = self.read(
            "SELECT DISTINCT json_extract(payload, '$.roles') FROM hitl_requests"
            " WHERE json_type(payload, '$.roles') = 'array'"
        )
        tops = [roles[-1] for (chain,) in chains if (roles := json.loads(chain))]
        if not tops:
            return self.request_roles()
        return sorted({str(role) for role in tops})

    def remove_reviewer(self, name: str, *, actor: str | None = None) -> None:
        """Remove a reviewer (logged), ending their sessions and reset links;
        `UnknownRequestError` if there is none of that name."""
        with self.write() as conn:
            row = conn.execute(
                "DELETE FROM hitl_reviewers WHERE name = ? RETURNING role", (name,)
            ).fetchone()
            if row is None:
                raise UnknownRequestError(f"no reviewer named {name!r}")
            self._end_sessions(conn, name)
            conn.execute("DELETE FROM hitl_reset_tokens WHERE reviewer = ?", (name,))
            self.append_event(
                conn, "reviewer_removed", actor=actor, data={"name": name, "role": row[0]}
            )

    def reviewers(self) -> list[dict[str, Any]]:
        """Registered reviewers and their roles, by name."""
        rows = self.read("SELECT name, role, added_at FROM hitl_reviewers ORDER BY name")
        return [{"name": n, "role": r, "added_at": iso(a)} for n, r, a in rows]
