"""Batch review in the inbox (`/batch`): the reviewer's groups, a group as a table of the
fields that differ, and a selection approved or rejected with a result per request.

The app runs in Starlette's TestClient on a real SQLite file and a real PostgreSQL
database (the `inbox` fixture: the large invoice paused for a manager); two more
invoices with other vendors and amounts are paused for real by the invoice graph, so
the group has three requests. One real-browser test serves the inbox from its own
process and batch-approves through the page.
"""

from __future__ import annotations

import html
import re
from typing import Any

from processes import query
from web_support import (
    Inbox,
    Served,
    browser_sign_in,
    csrf_of,
    expect,
    invoice,
    pause,
    signed_in,
)

from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.models import Decision

GROUP = "approve_payment/pay_invoice"
RESULT = re.compile(
    r'<tr class="result-([\w-]+)" data-request="([^"]+)">\s*<td>.*?</td>\s*<td>.*?</td>'
    r"\s*<td>(.*?)</td>",
    re.S,
)


def big(invoice_id: str, vendor: str, amount: float, po_number: str) -> dict[str, Any]:
    """A clean invoice over the autonomous limit (tier high: a manager's)."""
    lines = [{"description": "Licences", "quantity": 1, "unit_price": amount}]
    return invoice(
        "large",
        invoice_id=invoice_id,
        vendor=vendor,
        amount=amount,
        po_number=po_number,
        line_items=lines,
    )


def three(inbox: Inbox) -> list[str]:
    """The fixture's large invoice and two more of other vendors and amounts, paused."""
    return [
        inbox.request_id,
        pause(inbox.db, big("INV-3001", "Umbrella Corp", 30000.0, "PO-7901"), "inv-umbrella"),
        pause(inbox.db, big("INV-3002", "Initech LLC", 41000.0, "PO-7902"), "inv-initech"),
    ]


def group_page(client: Any) -> Any:
    page = client.get("/batch", params={"group": GROUP})
    assert page.status_code == 200, page.text
    return page


def post(client: Any, page: Any, ids: list[str], **fields: str) -> Any:
    data: dict[str, Any] = {"csrf": csrf_of(page.text), "group": GROUP, "request_id": ids}
    return client.post("/batch/decide", data={"decision": "approve", **data, **fields})


def results(page: Any) -> dict[str, tuple[str, str]]:
    """Each result row: request id -> (result, detail)."""
    return {rid: (kind, html.unescape(detail)) for kind, rid, detail in RESULT.findall(page.text)}


def statuses(inbox: Inbox) -> dict[str, str]:
    return dict(inbox.pending())


def test_the_groups_and_a_table_of_only_the_fields_that_differ(inbox: Inbox) -> None:
    ids = three(inbox)
    client = signed_in(inbox, "ana")
    listing = client.get("/batch")
    assert listing.status_code == 200
    assert f'href="/batch?group={GROUP}"' in listing.text
    assert re.search(rf"<code>{GROUP}</code></a></td><td>3</td>", listing.text)

    page = group_page(client)
    head = page.text.split("<thead>", 1)[1].split("</thead>", 1)[0]
    columns = re.findall(r"<th>([^<]*)</th>", head)
    # Vendors, amounts, numbers, POs, lines and threads differ; the rest is said once.
    assert columns[0] == "Request"
    assert sorted(columns[1:]) == [
        "amount",
        "invoice_id",
        "line_items",
        "po_number",
        "thread",
        "vendor",
    ]
    same = page.text.split('class="facts batch-same">', 1)[1].split("</dl>", 1)[0]
    assert sorted(re.findall(r"<dt>([^<]*)</dt>", same)) == [
        "confidence",
        "currency",
        "due_date",
        "tier",
    ]
    assert "<pre>USD</pre>" in same and "<pre>high</pre>" in same
    for rid in ids:
        assert f'name="request_id" value="{rid}"' in page.text
    for shown in ("Umbrella Corp", "30000.0", "Initech LLC", "41000.0", "inv-umbrella"):
        assert f"<pre>{shown}</pre>" in page.text, shown
    # Looking at the group is noted per request, as `batch --reviewer` notes it.
    shown_to = query(
        inbox.db, "SELECT request_id, actor FROM hitl_events WHERE kind = 'shown' ORDER BY 1"
    )
    assert shown_to == sorted((rid, "ana") for rid in ids)
    # A group that is not there (or not the reviewer's) is a 404 page.
    assert client.get("/batch", params={"group": "nope/nothing"}).status_code == 404


def test_approving_a_selection_applies_exactly_the_selected_once_for_the_session_reviewer(
    inbox: Inbox,
) -> None:
    first, second, third = three(inbox)
    client = signed_in(inbox, "ana")
    page = group_page(client)
    # The form names another reviewer: ignored, the session's name is recorded.
    answer = post(client, page, [first, third], reviewer="mallory", comment="POs checked")
    assert answer.status_code == 200, answer.text
    assert results(answer) == {first: ("applied", "done"), third: ("applied", "done")}
    assert "2 applied" in answer.text
    assert statuses(inbox) == {first: "applied", second: "pending", third: "applied"}
    assert sorted(inbox.payments()) == [
        ("INV-1003", "inv-large", "ana"),
        ("INV-3002", "inv-initech", "ana"),
    ]
    decided = sorted(
        query(inbox.db, "SELECT request_id, reviewer, type, comment FROM hitl_decisions")
    )
    assert decided == [(rid, "ana", "approve", "POs checked") for rid in sorted([first, third])]

    # The same selection again: each row says it was already decided, nothing is paid twice.
    again = post(client, page, [first, third])
    assert again.status_code == 409
    assert {rid: kind for rid, (kind, _) in results(again).items()} == {
        first: "refused",
        third: "refused",
    }
    assert all("already" in detail for _, detail in results(again).values())
    assert len(inbox.payments()) == 2
    # The group now holds the one left.
    left = group_page(client)
    assert f'value="{second}"' in left.text and f'value="{first}"' not in left.text


def test_rejecting_a_selection_needs_a_reason(inbox: Inbox) -> None:
    first, second, _ = three(inbox)
    client = signed_in(inbox, "ana")
    page = group_page(client)
    for reason in (None, "", "   "):
        fields = {"decision": "reject"} | ({} if reason is None else {"reason": reason})
        answer = post(client, page, [first, second], **fields)
        assert answer.status_code == 400 and "a rejection needs a reason" in answer.text
    assert set(statuses(inbox).values()) == {"pending"}
    assert query(inbox.db, "SELECT COUNT(*) FROM hitl_decisions") == [(0,)]

    answer = post(client, page, [first, second], decision="reject", reason="not budgeted")
    assert answer.status_code == 200
    assert {rid: kind for rid, (kind, _) in results(answer).items()} == {
        first: "applied",
        second: "applied",
    }
    rows = sorted(query(inbox.db, "SELECT request_id, reviewer, type, payload FROM hitl_decisions"))
    assert [(rid, who, kind) for rid, who, kind, _ in rows] == [
        (rid, "ana", "reject") for rid in sorted([first, second])
    ]
    assert all(Decision.model_validate_json(p).reason == "not budgeted" for *_, p in rows)
    assert inbox.payments() == []


def test_a_junior_cannot_batch_a_managers_requests_by_direct_post(inbox: Inbox) -> None:
    ids = three(inbox)
    client = signed_in(inbox, "jun")
    listing = client.get("/batch")
    assert GROUP not in listing.text and "Nothing waits for you" in listing.text
    assert client.get("/batch", params={"group": GROUP}).status_code == 404
    answer = post(client, listing, ids)
    assert answer.status_code == 403
    found = results(answer)
    assert list(found) == ids
    for kind, detail in found.values():
        assert kind == "refused" and "jun is a junior" in detail
    # Refused by the ledger and logged, one `refused` event each; nothing changed.
    refused = query(
        inbox.db, "SELECT request_id, actor FROM hitl_events WHERE kind = 'refused' ORDER BY 1"
    )
    assert refused == sorted((rid, "jun") for rid in ids)
    assert set(statuses(inbox).values()) == {"pending"}
    assert query(inbox.db, "SELECT COUNT(*) FROM hitl_decisions") == [(0,)]
    assert inbox.payments() == []


def test_a_stale_selection_gets_its_own_row_and_the_rest_go_through(inbox: Inbox) -> None:
    first, second, third = three(inbox)
    client = signed_in(inbox, "ana")
    page = group_page(client)
    # While ana's page is open, mia rejects one of them elsewhere.
    ReviewDesk(inbox.db).decide(second, Decision(type="reject", reason="dup", reviewer="mia"))
    answer = post(client, page, [first, second, third, "req_000000000000"])
    assert answer.status_code == 200
    found = results(answer)
    assert list(found) == [first, second, third, "req_000000000000"]
    assert found[first] == found[third] == ("applied", "done")
    assert found[second][0] == "refused" and "already" in found[second][1]
    assert found["req_000000000000"] == ("refused", f"not a request of {GROUP}")
    assert statuses(inbox) == {first: "applied", second: "applied", third: "applied"}
    assert sorted(
        query(inbox.db, "SELECT request_id, reviewer, type FROM hitl_decisions")
    ) == sorted([(first, "ana", "approve"), (second, "mia", "reject"), (third, "ana", "approve")])
    assert sorted(p[0] for p in inbox.payments()) == ["INV-1003", "INV-3002"]


def test_markup_in_request_data_renders_inert_on_the_batch_pages(inbox: Inbox) -> None:
    evil = big("INV-666", "Umbrella Corp", 30000.0, "javascript:alert(1)")
    evil["line_items"][0]["description"] = "<script>alert(1)</script> licences"
    rid = pause(inbox.db, evil, "inv-evil")
    client = signed_in(inbox, "ana")
    page = group_page(client)
    answer = post(client, page, [rid], decision="reject", reason="<img src=x onerror=alert(1)>")
    for shown in (page.text, answer.text):
        lowered = shown.lower()
        assert "<script>alert" not in lowered and "<img" not in lowered
        assert 'href="javascript' not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt; licences" in page.text
    assert "<pre>javascript:alert(1)</pre>" in page.text  # shown, as text
    # The only script on the page is the inbox's own file.
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/batch.js" defer>']


def test_a_manager_batch_approves_two_of_three_in_the_browser(
    served: Served, new_context: Any
) -> None:
    umbrella = pause(
        served.db, big("INV-3001", "Umbrella Corp", 30000.0, "PO-7901"), "inv-umbrella"
    )
    initech = pause(served.db, big("INV-3002", "Initech LLC", 41000.0, "PO-7902"), "inv-initech")
    page = new_context().new_page()
    browser_sign_in(page, served, "ana")
    page.get_by_role("link", name="Batch").click()
    expect(page).to_have_url(served.url + "/batch")
    page.get_by_role("link", name=GROUP).click()
    expect(page.get_by_role("heading", name=f"{GROUP}: 3 pending")).to_be_visible()
    # Select all, then leave the Umbrella invoice out.
    page.get_by_label("Select all").check()
    page.get_by_label(f"Select {umbrella}").uncheck()
    expect(page.get_by_label("Select all")).not_to_be_checked()
    page.get_by_role("button", name="Approve selected").click()

    expect(page.get_by_role("heading", name=f"Approve {GROUP}: 2 applied")).to_be_visible()
    for rid in (served.request_id, initech):
        expect(page.locator(f'tr[data-request="{rid}"]')).to_contain_text("applied")
    expect(page.locator("tr[data-request]")).to_have_count(2)
    statuses = dict(served.statuses())
    assert statuses == {served.request_id: "applied", initech: "applied", umbrella: "pending"}
    assert sorted(served.payments()) == [
        ("INV-1003", "inv-large", "ana"),
        ("INV-3002", "inv-initech", "ana"),
    ]
