"""What the inbox's tests share (a pytest plugin: `conftest.py` loads it).

- `inbox` fixture: a ledger on each backend with the large invoice paused for a manager,
  and reviewers with passwords, for Starlette's TestClient (`signed_in`, `csrf_of`).
- `served` fixture: the same on a SQLite file (`served_postgres`: on PostgreSQL), served
  by a real `langgraph-hitl serve --port 0` process; `browser` (Debian's chromium,
  headless, through Playwright, by path: never a downloaded browser) and `new_context`
  (a reviewer's own cookies each), with `browser_sign_in` and `queue_link`. Without
  Playwright or chromium the browser tests skip and say why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from processes import (
    HANDSHAKE_TIMEOUT_S,
    PROCESS_TIMEOUT_S,
    cli_env,
    finish,
    query,
    read_line,
    start_cli,
)

from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.ledger import ReviewLedger

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page
    from starlette.testclient import TestClient

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "invoices"
SECRET = "a test key that is long enough to sign sessions"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORDS = {
    "ana": "ana's long passphrase",
    "mia": "mia's long passphrase",
    "jun": "jun's long passphrase",
}
ROLES = {"ana": "manager", "mia": "manager", "jun": "junior"}
ADDRESS = re.compile(r"inbox on (http://\S+?)/ ")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
WAIT_MS = 60_000
"""How long a page load or an expectation may take in the browser on a loaded machine: a
bound on waiting, never a measure of speed."""


def invoice(name: str, **changes: Any) -> dict[str, Any]:
    """A sample invoice from examples/invoices, with `changes` applied."""
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return {**data, **changes}


def pause(db: str | Path, data: dict[str, Any], thread_id: str) -> str:
    """Run the invoice graph until its gate pauses it; the request it waits on."""
    status = ReviewDesk(db, base=REPO).run("invoice", data, thread_id=thread_id)
    assert status.status == "paused", status
    (request_id,) = status.pending
    return request_id


def cli_with_input(db: str | Path, *args: str, stdin: str) -> subprocess.CompletedProcess[str]:
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


def add_reviewer(
    db: str | Path, name: str, role: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`reviewers add NAME --role ROLE --password`, the password piped in as a script would."""
    done = cli_with_input(
        db,
        "reviewers",
        "add",
        name,
        "--role",
        role or ROLES[name],
        "--password",
        stdin=PASSWORDS[name] + "\n",
    )
    assert done.returncode == 0, done
    return done


def statuses(db: str | Path) -> list[tuple[Any, ...]]:
    return query(db, "SELECT request_id, status FROM hitl_requests ORDER BY request_id")


def payments(db: str | Path) -> list[tuple[Any, ...]]:
    return query(db, "SELECT invoice_id, thread_id, approved_by FROM payments")


# -- in-process, through Starlette's TestClient ------------------------------------------


@dataclass
class Inbox:
    db: Path | str
    request_id: str
    """The paused large invoice's request (tier high: a manager's)."""

    def client(self) -> TestClient:
        from starlette.testclient import TestClient

        from langgraph_hitl.web.app import create_app

        return TestClient(create_app(self.db, secret=SECRET, apply=True))

    def pending(self) -> list[tuple[Any, ...]]:
        return statuses(self.db)

    def payments(self) -> list[tuple[Any, ...]]:
        return payments(self.db)


@pytest.fixture
def inbox(database: Path | str) -> Inbox:
    """A ledger on each backend with the large invoice paused for a manager, and
    reviewers with passwords: ana and mia (managers) and jun (junior)."""
    pytest.importorskip("starlette", reason="the inbox needs the web extra")
    from langgraph_hitl.web.auth import hash_password

    db = database
    request_id = pause(db, invoice("large"), "inv-large")
    with ReviewLedger.open(db) as ledger:
        for name, role in ROLES.items():
            ledger.add_reviewer(name, role)
            ledger.set_password_hash(name, hash_password(PASSWORDS[name]))
    return Inbox(db, request_id)


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str | None = None) -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "name": name, "password": password or PASSWORDS[name]},
        follow_redirects=False,
    )


def signed_in(inbox: Inbox, name: str) -> TestClient:
    """A TestClient with `name` signed in through the form."""
    client = inbox.client()
    answer = sign_in(client, name)
    assert answer.status_code == 303 and answer.headers["location"] == "/", answer.text
    return client


# -- a real server process and a real browser ----------------------------------------------


@dataclass
class Served:
    """A ledger with the large invoice paused for a manager, and the inbox serving it."""

    db: Path | str
    url: str
    request_id: str
    """The paused large invoice's request (tier high: a manager's)."""

    def statuses(self) -> list[tuple[Any, ...]]:
        return statuses(self.db)

    def payments(self) -> list[tuple[Any, ...]]:
        return payments(self.db)


@contextmanager
def serving(db: Path | str) -> Iterator[Served]:
    """The large invoice paused on `db`, reviewers with passwords, and `langgraph-hitl
    serve --port 0` on it in its own process, stopped at the end."""
    request_id = pause(db, invoice("large"), "inv-large")
    for name in PASSWORDS:
        add_reviewer(db, name)
    proc = start_cli(db, "serve", "--port", "0", env={"LANGGRAPH_HITL_SECRET": SECRET})
    assert proc.stdout is not None
    try:
        line = read_line(proc.stdout.fileno(), proc, HANDSHAKE_TIMEOUT_S)
    except (TimeoutError, ChildProcessError) as error:
        raise AssertionError(f"serve did not start: {error}\n{finish(proc)}") from None
    found = ADDRESS.search(line)
    assert found, line
    try:
        yield Served(db, found.group(1), request_id)
    finally:
        proc.terminate()
        done = finish(proc)
        assert "Traceback" not in done.stderr, done.stderr


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`langgraph-hitl serve --port 0` on a fresh SQLite ledger, stopped after the test."""
    with serving(tmp_path / "hitl.sqlite") as inbox:
        yield inbox


@pytest.fixture
def served_postgres(postgres_dsn: str) -> Iterator[Served]:
    """The same on a fresh PostgreSQL database of the session's server."""
    with serving(postgres_dsn) as inbox:
        yield inbox


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; --no-sandbox because CI runs the tests as root."""
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="the browser tests need Playwright for Python (the dev extra)",
    )
    if CHROMIUM is None:
        pytest.skip(
            "the browser tests need Debian's chromium on PATH (apt-get install chromium);"
            " a browser Playwright downloads is never used"
        )
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """Fresh browser contexts (a reviewer's own cookies each), closed after the test."""
    opened: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context()
        context.set_default_timeout(WAIT_MS)
        context.set_default_navigation_timeout(WAIT_MS)
        opened.append(context)
        return context

    yield make
    for context in opened:
        context.close()


def expect(target: Any) -> Any:
    """Playwright's `expect`, waiting up to `WAIT_MS`."""
    from playwright.sync_api import expect as playwright_expect

    playwright_expect.set_options(timeout=WAIT_MS)
    return playwright_expect(target)


def browser_sign_in(page: Page, served: Served, name: str) -> None:
    """Through the sign-in form, as a reviewer does: an anonymous visit lands there."""
    page.goto(served.url + "/")
    expect(page).to_have_url(served.url + "/login")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(served.url + "/")
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible()


def queue_link(page: Page, request_id: str) -> Any:
    return page.locator(f'a[href="/requests/{request_id}"]')
