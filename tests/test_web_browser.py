"""The inbox in a real browser: Debian's chromium, headless, driven by Playwright.

Each test serves a real SQLite ledger with `langgraph-hitl serve --port 0` in its own
process (the address read from the line it prints), after pausing the large invoice for
real and giving reviewers passwords through `reviewers add --password` with the password
piped on standard input. The browser is the one the system has (`chromium`), given by
path: never one Playwright downloads. Without it, or without Playwright, the tests skip
and say why.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
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

sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="the browser tests need Playwright for Python (the dev extra: pip install -e '.[dev]')",
)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="the browser tests need Debian's chromium on PATH (apt-get install chromium);"
    " a browser Playwright downloads is never used",
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "invoices"
SECRET = "a test key that is long enough to sign sessions"
PASSWORDS = {
    "ana": "ana's long passphrase",
    "mia": "mia's long passphrase",
    "jun": "jun's long passphrase",
}
ROLES = {"ana": "manager", "mia": "manager", "jun": "junior"}
ADDRESS = re.compile(r"inbox on (http://\S+?)/ ")
WAIT_MS = 60_000
"""How long a page load or an expectation may take on a loaded machine: a bound on
waiting, never a measure of speed."""


def invoice(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    return {**data, **changes}


def pause(db: Path, data: dict[str, Any], thread_id: str) -> str:
    """Run the invoice graph until its gate pauses it; the request it waits on."""
    status = ReviewDesk(db, base=REPO).run("invoice", data, thread_id=thread_id)
    assert status.status == "paused", status
    (request_id,) = status.pending
    return request_id


def add_reviewer(db: Path, name: str) -> None:
    """`reviewers add NAME --role ROLE --password`, the password piped in as a script would."""
    command = ["reviewers", "add", name, "--role", ROLES[name], "--password"]
    done = subprocess.run(
        [sys.executable, "-m", "langgraph_hitl", "--db", str(db), *command],
        cwd=REPO,
        env=cli_env(),
        input=PASSWORDS[name] + "\n",
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done


@dataclass
class Served:
    """A ledger with the large invoice paused for a manager, and the inbox serving it."""

    db: Path
    url: str
    request_id: str
    """The paused large invoice's request (tier high: a manager's)."""

    def statuses(self) -> list[tuple[Any, ...]]:
        return query(self.db, "SELECT request_id, status FROM hitl_requests ORDER BY request_id")

    def payments(self) -> list[tuple[Any, ...]]:
        return query(self.db, "SELECT invoice_id, thread_id, approved_by FROM payments")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """`langgraph-hitl serve --port 0` on a fresh ledger, stopped after the test."""
    db = tmp_path / "hitl.sqlite"
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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; --no-sandbox because CI runs the tests as root."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Any]:
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
    return sync_api.expect(target)


def sign_in(page: Page, served: Served, name: str) -> None:
    """Through the sign-in form, as a reviewer does: an anonymous visit lands there."""
    page.goto(served.url + "/")
    expect(page).to_have_url(served.url + "/login", timeout=WAIT_MS)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(served.url + "/", timeout=WAIT_MS)
    expect(page.get_by_text(f"Signed in as {name}")).to_be_visible(timeout=WAIT_MS)


def queue_link(page: Page, request_id: str) -> Any:
    return page.locator(f'a[href="/requests/{request_id}"]')


def test_a_manager_signs_in_and_approves_the_paused_invoice_once(
    served: Served, new_context: Any
) -> None:
    page = new_context().new_page()
    page.goto(served.url + "/")
    expect(page).to_have_url(served.url + "/login", timeout=WAIT_MS)

    # When the inbox opens (the queue's load right after sign-in) and when the server
    # answered the approval (it answers once the decision is recorded), by the browser's
    # own events.
    marks: dict[str, float] = {}

    def on_request(request: Any) -> None:
        if request.method == "GET" and request.url == served.url + "/":
            marks.setdefault("opened", time.perf_counter())

    def on_response(response: Any) -> None:
        if response.request.method == "POST" and response.url.endswith("/approve"):
            marks.setdefault("decided", time.perf_counter())

    page.on("request", on_request)
    page.on("response", on_response)

    page.get_by_label("Name").fill("ana")
    page.get_by_label("Password").fill(PASSWORDS["ana"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(served.url + "/", timeout=WAIT_MS)
    expect(page.get_by_role("heading", name="Waiting for you: 1")).to_be_visible(timeout=WAIT_MS)
    link = queue_link(page, served.request_id)
    expect(link).to_contain_text("Initech LLC", timeout=WAIT_MS)

    link.click()
    expect(page).to_have_url(f"{served.url}/requests/{served.request_id}", timeout=WAIT_MS)
    for shown in ("pay_invoice", "Initech LLC", "52000.0", "high"):
        expect(page.locator("main")).to_contain_text(shown, timeout=WAIT_MS)
    page.get_by_label("Comment (optional)").fill("checked the PO")
    page.get_by_role("button", name="Approve").click()

    flash = page.get_by_role("status")
    expect(flash).to_have_text(
        f"{served.request_id}: approve recorded; thread inv-large: done (paid)", timeout=WAIT_MS
    )
    expect(page.get_by_role("heading", name="Waiting for you: 0")).to_be_visible(timeout=WAIT_MS)

    # The ledger: applied, decided by the signed-in reviewer; the invoice paid once.
    assert served.statuses() == [(served.request_id, "applied")]
    assert query(served.db, "SELECT reviewer, type, comment FROM hitl_decisions") == [
        ("ana", "approve", "checked the PO")
    ]
    assert served.payments() == [("INV-1003", "inv-large", "ana")]

    assert set(marks) == {"opened", "decided"}, marks
    print(f"\nopen-to-decision in the browser: {marks['decided'] - marks['opened']:.3f} s")


def test_a_second_manager_sees_the_request_leave_the_queue_on_reload(
    served: Served, new_context: Any
) -> None:
    ana, mia, jun = (new_context().new_page() for _ in range(3))
    for page, name in ((ana, "ana"), (mia, "mia"), (jun, "jun")):
        sign_in(page, served, name)
    expect(queue_link(mia, served.request_id)).to_be_visible(timeout=WAIT_MS)
    # The junior's queue never has the manager's request, and its page is not shown.
    expect(jun.get_by_role("heading", name="Waiting for you: 0")).to_be_visible(timeout=WAIT_MS)
    jun.goto(f"{served.url}/requests/{served.request_id}")
    expect(jun.get_by_role("alert")).to_have_text(
        "no request of that id is waiting for you", timeout=WAIT_MS
    )

    queue_link(ana, served.request_id).click()
    ana.get_by_role("button", name="Approve").click()
    expect(ana.get_by_role("status")).to_contain_text("approve recorded", timeout=WAIT_MS)

    # No live updates yet: mia's page still lists it until she reloads.
    expect(queue_link(mia, served.request_id)).to_be_visible(timeout=WAIT_MS)
    mia.reload()
    expect(mia.get_by_role("heading", name="Waiting for you: 0")).to_be_visible(timeout=WAIT_MS)
    expect(queue_link(mia, served.request_id)).to_have_count(0, timeout=WAIT_MS)
    mia.goto(f"{served.url}/requests/{served.request_id}")
    expect(mia.get_by_role("alert")).to_have_text(
        "no request of that id is waiting for you", timeout=WAIT_MS
    )
    assert served.payments() == [("INV-1003", "inv-large", "ana")]


def test_markup_in_a_request_renders_as_visible_text_and_never_runs(
    served: Served, new_context: Any
) -> None:
    vendor = "<script>alert(1)</script><img src=x onerror=alert(2)> Evil Ltd"
    evil = invoice("large", invoice_id="INV-666", vendor=vendor, po_number="javascript:alert(3)")
    request_id = pause(served.db, evil, "inv-evil")
    page = new_context().new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, served, "ana")

    link = queue_link(page, request_id)
    expect(link).to_contain_text(vendor, timeout=WAIT_MS)
    link.click()
    expect(page).to_have_url(f"{served.url}/requests/{request_id}", timeout=WAIT_MS)
    expect(page.locator("h1.summary")).to_contain_text(vendor, timeout=WAIT_MS)
    expect(page.locator("table.args")).to_contain_text(vendor, timeout=WAIT_MS)
    expect(page.locator("table.args")).to_contain_text("javascript:alert(3)", timeout=WAIT_MS)
    # The request's text made no element: no script, no image, no link of its own.
    assert page.locator("script, img").count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    assert page.locator("main a").evaluate_all("links => links.map(a => a.pathname)") == ["/"]

    page.goto(served.url + "/")
    expect(queue_link(page, request_id)).to_contain_text(vendor, timeout=WAIT_MS)
    assert page.locator("script, img").count() == 0
    assert dialogs == []
    assert served.statuses() == sorted([(served.request_id, "pending"), (request_id, "pending")])
