"""The inbox in a real browser: Debian's chromium, headless, driven by Playwright.

Each test serves a real SQLite ledger with `langgraph-hitl serve --port 0` in its own
process (the address read from the line it prints), after pausing the large invoice for
real and giving reviewers passwords through `reviewers add --password` with the password
piped on standard input. The browser is the one the system has (`chromium`), given by
path: never one Playwright downloads. Without it, or without Playwright, the tests skip
and say why.
"""

from __future__ import annotations

import time
from typing import Any

from processes import query
from web_support import (
    PASSWORDS,
    Served,
    browser_sign_in,
    expect,
    invoice,
    pause,
    queue_link,
)


def test_a_manager_signs_in_and_approves_the_paused_invoice_once(
    served: Served, new_context: Any
) -> None:
    page = new_context().new_page()
    page.goto(served.url + "/")
    expect(page).to_have_url(served.url + "/login")

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
    expect(page).to_have_url(served.url + "/")
    expect(page.get_by_role("heading", name="Waiting for you: 1")).to_be_visible()
    link = queue_link(page, served.request_id)
    expect(link).to_contain_text("Initech LLC")

    link.click()
    expect(page).to_have_url(f"{served.url}/requests/{served.request_id}")
    for shown in ("pay_invoice", "Initech LLC", "52000.0", "high"):
        expect(page.locator("main")).to_contain_text(shown)
    page.get_by_label("Comment (optional)").fill("checked the PO")
    page.get_by_role("button", name="Approve").click()

    flash = page.get_by_role("status")
    expect(flash).to_have_text(
        f"{served.request_id}: approve recorded; thread inv-large: done (paid)"
    )
    expect(page.get_by_role("heading", name="Waiting for you: 0")).to_be_visible()

    # The ledger: applied, decided by the signed-in reviewer; the invoice paid once.
    assert served.statuses() == [(served.request_id, "applied")]
    assert query(served.db, "SELECT reviewer, type, comment FROM hitl_decisions") == [
        ("ana", "approve", "checked the PO")
    ]
    assert served.payments() == [("INV-1003", "inv-large", "ana")]

    assert set(marks) == {"opened", "decided"}, marks
    print(f"\nopen-to-decision in the browser: {marks['decided'] - marks['opened']:.3f} s")


def test_a_second_manager_sees_the_request_leave_the_queue_live(
    served: Served, new_context: Any
) -> None:
    ana, mia, jun = (new_context().new_page() for _ in range(3))
    for page, name in ((ana, "ana"), (mia, "mia"), (jun, "jun")):
        browser_sign_in(page, served, name)
    expect(queue_link(mia, served.request_id)).to_be_visible()
    # The junior's queue never has the manager's request, and its page is not shown.
    expect(jun.get_by_role("heading", name="Waiting for you: 0")).to_be_visible()
    jun.goto(f"{served.url}/requests/{served.request_id}")
    expect(jun.get_by_role("alert")).to_have_text("no request of that id is waiting for you")

    queue_link(ana, served.request_id).click()
    ana.get_by_role("button", name="Approve").click()
    expect(ana.get_by_role("status")).to_contain_text("approve recorded")

    # Mia's page drops it by itself: the same document throughout (a reload or a
    # navigation would drop the mark set on it).
    mia.evaluate("window.stillTheSamePage = true")
    expect(mia.get_by_role("heading", name="Waiting for you: 0")).to_be_visible()
    expect(queue_link(mia, served.request_id)).to_have_count(0)
    assert mia.evaluate("window.stillTheSamePage") is True
    mia.goto(f"{served.url}/requests/{served.request_id}")
    expect(mia.get_by_role("alert")).to_have_text("no request of that id is waiting for you")
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
    browser_sign_in(page, served, "ana")

    link = queue_link(page, request_id)
    expect(link).to_contain_text(vendor)
    link.click()
    expect(page).to_have_url(f"{served.url}/requests/{request_id}")
    expect(page.locator("h1.summary")).to_contain_text(vendor)
    expect(page.locator("table.args")).to_contain_text(vendor)
    expect(page.locator("table.args")).to_contain_text("javascript:alert(3)")
    # The request's text made no element: no script, no image, no link of its own.
    assert page.locator("script:not([src^='/static/']), img").count() == 0
    assert page.locator('a[href^="javascript"]').count() == 0
    links = page.locator("main a").evaluate_all("links => links.map(a => a.pathname)")
    assert links == ["/", f"/audit/requests/{request_id}"]

    page.goto(served.url + "/")
    expect(queue_link(page, request_id)).to_contain_text(vendor)
    assert page.locator("script:not([src^='/static/']), img").count() == 0
    assert dialogs == []
    assert served.statuses() == sorted([(served.request_id, "pending"), (request_id, "pending")])


def test_on_postgresql_a_manager_approves_once_and_a_junior_cannot(
    served_postgres: Served, new_context: Any
) -> None:
    """The issue's "Done when" on PostgreSQL: the same server, the ledger and LangGraph's
    checkpoints in one PostgreSQL database."""
    served = served_postgres
    jun = new_context().new_page()
    browser_sign_in(jun, served, "jun")
    expect(jun.get_by_role("heading", name="Waiting for you: 0")).to_be_visible()
    # A direct POST from the junior's signed-in browser, with a good CSRF token: refused.
    token = jun.locator('input[name="csrf"]').first.get_attribute("value")
    answer = jun.request.post(
        f"{served.url}/requests/{served.request_id}/approve", form={"csrf": token or ""}
    )
    assert answer.status == 403 and "jun" in answer.text()

    ana = new_context().new_page()
    browser_sign_in(ana, served, "ana")
    queue_link(ana, served.request_id).click()
    expect(ana.locator("main")).to_contain_text("Initech LLC")
    ana.get_by_role("button", name="Approve").click()
    expect(ana.get_by_role("status")).to_have_text(
        f"{served.request_id}: approve recorded; thread inv-large: done (paid)"
    )
    assert served.statuses() == [(served.request_id, "applied")]
    assert served.payments() == [("INV-1003", "inv-large", "ana")]
    refused = query(
        served.db,
        "SELECT actor FROM hitl_events WHERE kind = 'refused' AND request_id = ?",
        served.request_id,
    )
    assert refused == [("jun",)]
