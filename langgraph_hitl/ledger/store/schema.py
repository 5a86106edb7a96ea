"""The ledger's tables, as numbered migrations: each runs once, in order, in one transaction.

Append a migration to change the schema; never edit one that shipped. The SQL stays
plain enough to port to PostgreSQL.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE IF NOT EXISTS hitl_threads (
        thread_id     TEXT PRIMARY KEY,
        graph         TEXT,
        created_at    REAL NOT NULL,
        lease_owner   TEXT,
        lease_expires REAL
    );
    CREATE TABLE IF NOT EXISTS hitl_requests (
        request_id    TEXT PRIMARY KEY,
        thread_id     TEXT NOT NULL,
        interrupt_id  TEXT NOT NULL,
        task_id       TEXT,
        graph         TEXT,
        gate          TEXT,
        action_name   TEXT NOT NULL,
        action_args   TEXT NOT NULL,
        summary       TEXT NOT NULL,
        tier          TEXT,
        confidence    REAL,
        reasons       TEXT NOT NULL,
        status        TEXT NOT NULL,
        created_at    REAL NOT NULL,
        deadline      REAL,
        payload       TEXT NOT NULL,
        args_digest   TEXT NOT NULL,
        decision_id   TEXT,
        decided_at    REAL,
        apply_started_at REAL,
        applied_at    REAL,
        UNIQUE (thread_id, interrupt_id)
    );
    CREATE INDEX IF NOT EXISTS hitl_requests_status ON hitl_requests (status, created_at);
    CREATE INDEX IF NOT EXISTS hitl_requests_thread ON hitl_requests (thread_id, status);
    CREATE TABLE IF NOT EXISTS hitl_decisions (
        decision_id   TEXT PRIMARY KEY,
        request_id    TEXT NOT NULL UNIQUE,
        type          TEXT NOT NULL,
        reviewer      TEXT,
        comment       TEXT,
        payload       TEXT NOT NULL,
        seen_digest   TEXT NOT NULL,
        decided_at    REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hitl_reviews (
        review_id     TEXT PRIMARY KEY,
        thread_id     TEXT NOT NULL,
        graph         TEXT,
        node          TEXT,
        action_name   TEXT NOT NULL,
        action_args   TEXT NOT NULL,
        summary       TEXT NOT NULL,
        tier          TEXT,
        confidence    REAL,
        reasons       TEXT NOT NULL,
        status        TEXT NOT NULL,
        created_at    REAL NOT NULL,
        closed_at     REAL,
        reviewer      TEXT,
        note          TEXT
    );
    CREATE INDEX IF NOT EXISTS hitl_reviews_status ON hitl_reviews (status, created_at);
    CREATE TABLE IF NOT EXISTS hitl_events (
        seq           INTEGER PRIMARY KEY,
        at            REAL NOT NULL,
        kind          TEXT NOT NULL,
        request_id    TEXT,
        thread_id     TEXT,
        actor         TEXT,
        data          TEXT NOT NULL,
        prev_hash     TEXT NOT NULL,
        hash          TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS hitl_events_request ON hitl_events (request_id);
    CREATE INDEX IF NOT EXISTS hitl_events_thread ON hitl_events (thread_id);
    """,
    # Review at scale: who may decide (roles, quorum, owner), deadlines and escalation,
    # the routing log, reviewers, partial approvals, the notification outbox.
    """
    ALTER TABLE hitl_requests ADD COLUMN required_role TEXT;
    ALTER TABLE hitl_requests ADD COLUMN eligible TEXT;
    ALTER TABLE hitl_requests ADD COLUMN level INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE hitl_requests ADD COLUMN quorum INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE hitl_requests ADD COLUMN owner TEXT;
    ALTER TABLE hitl_requests ADD COLUMN opened_at REAL;
    CREATE INDEX IF NOT EXISTS hitl_requests_deadline ON hitl_requests (status, deadline);
    CREATE INDEX IF NOT EXISTS hitl_requests_decided ON hitl_requests (decided_at);
    ALTER TABLE hitl_threads ADD COLUMN result TEXT;
    ALTER TABLE hitl_threads ADD COLUMN cost REAL;
    ALTER TABLE hitl_threads ADD COLUMN finished_at REAL;
    ALTER TABLE hitl_reviews ADD COLUMN route_id TEXT;
    ALTER TABLE hitl_reviews ADD COLUMN sample_rate REAL;
    CREATE TABLE IF NOT EXISTS hitl_routes (
        route_id      TEXT PRIMARY KEY,
        thread_id     TEXT NOT NULL,
        graph         TEXT,
        node          TEXT,
        outcome       TEXT NOT NULL,
        tier          TEXT,
        confidence    REAL,
        score         REAL,
        sampled       INTEGER NOT NULL DEFAULT 0,
        sample_rate   REAL,
        reasons       TEXT NOT NULL,
        action_name   TEXT,
        action_args   TEXT,
        created_at    REAL NOT NULL
    );
    CREATE INDEX IF NOT EXISTS hitl_routes_created ON hitl_routes (created_at);
    CREATE INDEX IF NOT EXISTS hitl_routes_thread ON hitl_routes (thread_id);
    CREATE TABLE IF NOT EXISTS hitl_reviewers (
        name          TEXT PRIMARY KEY,
        role          TEXT NOT NULL,
        added_at      REAL NOT NULL
    );
    CREATE TABLE IF NOT EXISTS hitl_votes (
        request_id    TEXT NOT NULL,
        reviewer      TEXT NOT NULL,
        type          TEXT NOT NULL,
        comment       TEXT,
        voted_at      REAL NOT NULL,
        PRIMARY KEY (request_id, reviewer)
    );
    CREATE TABLE IF NOT EXISTS hitl_outbox (
        outbox_id     INTEGER PRIMARY KEY,
        event_seq     INTEGER NOT NULL,
        kind          TEXT NOT NULL,
        request_id    TEXT,
        thread_id     TEXT,
        body          TEXT NOT NULL,
        created_at    REAL NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        claimed_by    TEXT,
        claimed_until REAL,
        delivered_at  REAL,
        last_error    TEXT
    );
    CREATE INDEX IF NOT EXISTS hitl_outbox_due ON hitl_outbox (delivered_at, next_attempt_at);
    """,  # Args stored once, under the action's digest (`_args`): request rows stay small.
    """
    CREATE TABLE IF NOT EXISTS hitl_args (
        digest        TEXT PRIMARY KEY,
        args          TEXT NOT NULL
    );
    """,
    # Nothing done twice, nothing hidden: who applied a decision (the lease it was applied
    # under) and why applying failed; under a quorum, the edited args that replaced the
    # proposal, and the args digest each vote approved; on each event, the digest of the
    # request row (and its votes) as the event left it, chained with the event.
    """
    ALTER TABLE hitl_requests ADD COLUMN applier TEXT;
    ALTER TABLE hitl_requests ADD COLUMN apply_error TEXT;
    ALTER TABLE hitl_requests ADD COLUMN proposal TEXT;
    ALTER TABLE hitl_requests ADD COLUMN proposal_digest TEXT;
    ALTER TABLE hitl_votes ADD COLUMN digest TEXT;
    CREATE INDEX IF NOT EXISTS hitl_requests_task ON hitl_requests (thread_id, task_id);
    ALTER TABLE hitl_events ADD COLUMN subject TEXT;
    """,
    # Where a thread's graph reference resolves from (the project root: where its
    # langgraph.json was found, or where the run started), so any process loads it.
    """
    ALTER TABLE hitl_threads ADD COLUMN graph_root TEXT;
    """,
    # The queue in the order it is shown (overdue and nearest deadline first, then oldest):
    # `list --limit` reads its first rows off this index instead of sorting every pending
    # request first.
    """
    CREATE INDEX IF NOT EXISTS hitl_requests_queue
        ON hitl_requests (status, (deadline IS NULL), deadline, created_at, request_id);
    """,
    # Sign-in for the browser inbox: a reviewer's argon2id password hash (never the
    # password), and when it was last set.
    """
    ALTER TABLE hitl_reviewers ADD COLUMN password_hash TEXT;
    ALTER TABLE hitl_reviewers ADD COLUMN password_set_at REAL;
    """,
    # Sessions of the browser inbox, kept on the server: the cookie carries a random id,
    # the row (under the id's SHA-256, never the id) who it is for, how they signed in,
    # until when, and whether it was ended; signing out, a new password or removing the
    # reviewer ends it for every copy of the cookie. One-time password reset links, under
    # the SHA-256 of their token (never the token).
    """
    CREATE TABLE IF NOT EXISTS hitl_sessions (
        session_hash  TEXT PRIMARY KEY,
        reviewer      TEXT NOT NULL,
        method        TEXT NOT NULL,
        created_at    REAL NOT NULL,
        last_seen_at  REAL NOT NULL,
        expires_at    REAL NOT NULL,
        revoked_at    REAL
    );
    CREATE INDEX IF NOT EXISTS hitl_sessions_reviewer ON hitl_sessions (reviewer, expires_at);
    CREATE INDEX IF NOT EXISTS hitl_sessions_expires ON hitl_sessions (expires_at);
    CREATE TABLE IF NOT EXISTS hitl_reset_tokens (
        token_hash    TEXT PRIMARY KEY,
        reviewer      TEXT NOT NULL,
        created_at    REAL NOT NULL,
        expires_at    REAL NOT NULL,
        used_at       REAL
    );
    CREATE INDEX IF NOT EXISTS hitl_reset_tokens_reviewer ON hitl_reset_tokens (reviewer);
    """,
)


PG_AFTER: dict[int, tuple[str, ...]] = {
    # SQLite numbers every row (`rowid`): requests created in one step keep their order.
    1: ("ALTER TABLE hitl_requests ADD COLUMN rowid BIGINT GENERATED BY DEFAULT AS IDENTITY",),
}
"""On PostgreSQL, what follows a migration (by number) so the shared SQL reads the same."""
