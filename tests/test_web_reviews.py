"""After-the-fact review in the inbox (`/reviews`): work the invoice graph paid without a
human first, closed as ok or as a problem for the signed-in reviewer, as the CLI's
`review` closes it; who may see and close an item follows its tier's roles.

The review items are made for real: blurry scans of clean invoices pay on their own and
are queued for a look afterwards by the invoice graph (tier low under 2,000, medium
above). Starlette's TestClient on a real SQLite file and a real PostgreSQL database.
"""

from __future__ import annotations

import json
import re
from typing import Any

from processes import query, run_cli
from web_support import REPO, Inbox, csrf_of, invoice, signed_in

from langgraph_hitl.deciding.desk import ReviewDesk


def reviewed(inbox: Inbox, data: dict[str, Any], thread_id: str) -> str:
    """Run an invoice that pays alone and is queued for review; its review id."""
    status = ReviewDesk(inbox.db, base=REPO).run("invoice", data, thread_id=thread_id)
    assert status.status == "done" and status.values["route"] == "review", status
    review_id: str = status.values["review_id"]
    return review_id


def low(invoice_id: str, **changes: Any) -> dict[str, Any]:
    return invoice("blurry", invoice_id=invoice_id, **changes)


def medium(invoice_id: str) -> dict[str, Any]:
    lines = [{"description": "Cloud backup, year", "quantity": 1, "unit_price": 5000.0}]
    return invoice("blurry", invoice_id=invoice_id, amount=5000.0, line_items=lines)


def listed(page: Any) -> list[str]:
    return re.findall(r'<section class="review" id="([^"]+)">', page.text)


def rows(inbox: Inbox) -> dict[str, tuple[Any, ...]]:
    found = query(inbox.db, "SELECT review_id, status, reviewer, note FROM hitl_reviews")
    return {rid: tuple(rest) for rid, *rest in found}


def test_closed_ok_or_problem_as_the_cli_closes_it_and_it_leaves_the_queue(inbox: Inbox) -> None:
    fine = reviewed(inbox, low("INV-2001"), "t-fine")
    wrong = reviewed(inbox, low("INV-2002", vendor="Acme GmbH", currency="EUR"), "t-wrong")
    by_cli = reviewed(
        inbox,
        low(
            "INV-2003",
            amount=700.0,
            line_items=[{"description": "Cloud backup", "quantity": 1, "unit_price": 700.0}],
        ),
        "t-cli",
    )
    client = signed_in(inbox, "ana")
    page = client.get("/reviews")
    assert page.status_code == 200
    assert sorted(listed(page)) == sorted([fine, wrong, by_cli])
    # What was done automatically: the action, its args, the thread, tier, confidence.
    for shown in ("pay_invoice", "INV-2001", "Globex Ltd", "t-fine", "low", "0.86"):
        assert shown in page.text, shown
    token = csrf_of(page.text)

    # A problem needs a note; a bad outcome is refused; neither changes anything.
    for data in ({"outcome": "problem"}, {"outcome": "problem", "note": "  "}, {"outcome": "x"}):
        answer = client.post(f"/reviews/{wrong}/close", data={"csrf": token, **data})
        assert answer.status_code == 400, data
    assert {rid: r[0] for rid, r in rows(inbox).items()} == dict.fromkeys(
        [fine, wrong, by_cli], "open"
    )

    ok = client.post(
        f"/reviews/{fine}/close",
        data={"csrf": token, "outcome": "ok", "reviewer": "mallory"},
        follow_redirects=False,
    )
    assert (ok.status_code, ok.headers["location"]) == (303, "/reviews")
    problem = client.post(
        f"/reviews/{wrong}/close",
        data={"csrf": token, "outcome": "problem", "note": "PO belongs to Globex"},
    )
    assert problem.status_code == 200 and f"{wrong}: closed as problem" in problem.text
    assert listed(problem) == [by_cli]
    # The CLI closes the third the same way, for comparison.
    done = run_cli(
        inbox.db, "review", by_cli, "--problem", "PO belongs to Globex", "--reviewer", "mia"
    )
    assert done.returncode == 0, done.stderr
    assert rows(inbox) == {
        fine: ("ok", "ana", None),
        wrong: ("problem", "ana", "PO belongs to Globex"),
        by_cli: ("problem", "mia", "PO belongs to Globex"),
    }
    events = query(
        inbox.db, "SELECT request_id, actor, data FROM hitl_events WHERE kind = 'reviewed'"
    )
    data = {rid: (actor, json.loads(raw)) for rid, actor, raw in events}
    assert data[fine] == ("ana", {"status": "ok", "problem": None})
    assert data[wrong] == ("ana", {"status": "problem", "problem": "PO belongs to Globex"})
    assert data[by_cli] == ("mia", data[wrong][1])
    assert "Nothing waits for a look after the fact" in client.get("/reviews").text

    # Closing again is refused as the CLI refuses it; an unknown id is a 404.
    again = client.post(
        f"/reviews/{fine}/close",
        data={"csrf": token, "outcome": "problem", "note": "changed my mind"},
    )
    assert again.status_code == 409 and "already closed" in again.text
    unknown = client.post("/reviews/rev_000000000000/close", data={"csrf": token, "outcome": "ok"})
    assert unknown.status_code == 404
    assert rows(inbox)[fine] == ("ok", "ana", None)


def test_a_junior_sees_and_closes_only_what_juniors_decide(inbox: Inbox) -> None:
    # A medium request is in the ledger (a small invoice with a problem goes one tier
    # up): medium work is for seniors and managers, as its request says.
    typo = ReviewDesk(inbox.db, base=REPO).run("invoice", invoice("typo"), thread_id="t-typo")
    assert typo.status == "paused"
    small = reviewed(inbox, low("INV-2001"), "t-small")
    larger = reviewed(inbox, medium("INV-2010"), "t-larger")
    junior = signed_in(inbox, "jun")
    page = junior.get("/reviews")
    assert listed(page) == [small]
    assert "INV-2010" not in page.text
    answer = junior.post(
        f"/reviews/{larger}/close", data={"csrf": csrf_of(page.text), "outcome": "ok"}
    )
    assert answer.status_code == 403 and "jun is a junior" in answer.text
    refused = query(inbox.db, "SELECT request_id, actor FROM hitl_events WHERE kind = 'refused'")
    assert refused == [(larger, "jun")]
    assert rows(inbox)[larger] == ("open", None, None)
    # Their own tier they close.
    closed = junior.post(
        f"/reviews/{small}/close", data={"csrf": csrf_of(page.text), "outcome": "ok"}
    )
    assert closed.status_code == 200 and listed(closed) == []
    assert rows(inbox)[small] == ("ok", "jun", None)
    # A manager sees the medium one.
    assert listed(signed_in(inbox, "ana").get("/reviews")) == [larger]


def test_markup_in_an_item_renders_inert(inbox: Inbox) -> None:
    lines = [
        {"description": "<script>alert(1)</script> backup", "quantity": 1, "unit_price": 640.0}
    ]
    review_id = reviewed(
        inbox,
        low("<script>alert(2)</script>", po_number="javascript:alert(1)", line_items=lines),
        "t-evil",
    )
    client = signed_in(inbox, "ana")
    page = client.get("/reviews").text
    assert review_id in page
    lowered = page.lower()
    assert "<script" not in lowered and 'href="javascript' not in lowered
    assert "Pay &lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "javascript:alert(1)" in page  # shown, as text
