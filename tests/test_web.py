"""The browser inbox (`langgraph-hitl serve`): reviewers' passwords, sign-in, the queue,
deciding through the forms, and what keeps it safe.

The app runs in Starlette's TestClient (httpx, no network) on real SQLite files; the
invoice graph is paused for real by `langgraph-hitl run` processes, and reviewers get
their passwords through `langgraph-hitl reviewers add --password` with the password piped
on standard input, as a script would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from processes import PROCESS_TIMEOUT_S, cli_env, query, run_cli

REPO = Path(__file__).resolve().parent.parent
PASSWORDS = {"ana": "ana's long passphrase", "jun": "jun's long passphrase"}


def cli_with_input(db: Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    """One `langgraph-hitl --db DB ...` process with `stdin` piped in (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), *args],
        cwd=REPO,
        env=cli_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
        check=False,
    )


def add_reviewer(db: Path, name: str, role: str) -> subprocess.CompletedProcess[str]:
    done = cli_with_input(
        db, "reviewers", "add", name, "--role", role, "--password", stdin=PASSWORDS[name] + "\n"
    )
    assert done.returncode == 0, done
    return done


# -- reviewers' passwords ----------------------------------------------------------------


def test_a_piped_password_is_stored_as_an_argon2_hash_only(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    done = add_reviewer(db, "ana", "manager")
    assert "ana: password set" in done.stdout
    assert PASSWORDS["ana"] not in done.stdout + done.stderr
    [(stored,)] = query(db, "SELECT password_hash FROM hitl_reviewers WHERE name = 'ana'")
    assert stored.startswith("$argon2id$")
    # Nowhere in the file: not in the reviewers' table, not in the events.
    assert PASSWORDS["ana"].encode() not in db.read_bytes()
    kinds = [k for (k,) in query(db, "SELECT kind FROM hitl_events ORDER BY seq")]
    assert kinds == ["reviewer_added", "reviewer_password_set"]
    [(data,)] = query(db, "SELECT data FROM hitl_events WHERE kind = 'reviewer_password_set'")
    assert json.loads(data) == {"name": "ana"}


def test_a_short_or_missing_password_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "hitl.sqlite"
    add_reviewer(db, "ana", "manager")
    before = query(db, "SELECT name, role, password_hash FROM hitl_reviewers")
    for given in ("short\n", ""):
        done = cli_with_input(
            db, "reviewers", "add", "ana", "--role", "manager", "--password", stdin=given
        )
        assert done.returncode == 2, done
        [line] = done.stderr.splitlines()
        assert line.startswith("error: ") and "password" in line
    assert query(db, "SELECT name, role, password_hash FROM hitl_reviewers") == before
    # Without --password, a role change keeps the password.
    assert run_cli(db, "reviewers", "add", "ana", "--role", "senior").returncode == 0
    [(stored,)] = query(db, "SELECT password_hash FROM hitl_reviewers WHERE name = 'ana'")
    assert stored == before[0][2]
