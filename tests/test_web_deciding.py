"""Deciding in the browser inbox beyond approve and reject: modify through the form made
from the action's JSON Schema, respond, and what a request's page shows.

TestClient tests run on both backends (`inbox`: the large invoice paused for a manager
by the real invoice graph; ana and mia managers, jun a junior). The browser test drives
Debian's chromium against a real `langgraph-hitl serve` process (`served`).
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest
from processes import query
from web_support import (
    REPO,
    Inbox,
    Served,
    browser_sign_in,
    csrf_of,
    expect,
    invoice,
    pause,
    queue_link,
    signed_in,
)

from langgraph_hitl.deciding.desk import ReviewDesk
from langgraph_hitl.errors import BadInputError
from langgraph_hitl.web.editing import edit_fields, edited_args

GATED_PAY = "tests/graphs/gated_pay.py:make_graph"
SEATS_368 = [
    {"description": "Annual licence, 368 seats", "quantity": 368, "unit_price": 125.0},
    {"description": "Onboarding", "quantity": 1, "unit_price": 2000.0},
]
"""The large invoice's lines for 48,000.00: what a valid edit of its amount goes with."""


class _Form(HTMLParser):
    """The fields of one form of a page (by its action's last part), as a browser sends
    them: inputs' values, textareas' text, selects' selected option."""

    def __init__(self, action: str) -> None:
        super().__init__()
        self.action = action
        self.inside = False
        self.fields: dict[str, str] = {}
        self._text: str | None = None
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("action", "").endswith("/" + self.action)
        elif not self.inside:
            return
        elif tag == "input" and "name" in a:
            self.fields[a["name"]] = a.get("value", "")
        elif tag == "textarea":
            self._text = a["name"]
            self.fields[a["name"]] = ""
        elif tag == "select":
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self.fields[self._select] = a["value"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "textarea":
            self._text = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self.fields[self._text] += data


def form_of(html: str, action: str) -> dict[str, str]:
    parser = _Form(action)
    parser.feed(html)
    parser.close()
    return parser.fields


def refusal_in(html: str, kind: str) -> str:
    """The text of the refusal shown beside the form (`<p id="modify-refused">`)."""
    start = html.index(f'id="{kind}-refused">') + len(f'id="{kind}-refused">')
    return html[start : html.index("</p>", start)]


def paid(db: Any) -> list[tuple[Any, ...]]:
    return query(db, "SELECT invoice_id, thread_id, approved_by, amount FROM payments")


def nothing_changed(inbox: Inbox) -> None:
    assert inbox.pending() == [(inbox.request_id, "pending")]
    assert query(inbox.db, "SELECT COUNT(*) FROM hitl_decisions") == [(0,)]
    assert paid(inbox.db) == []


def test_a_valid_edit_through_the_schema_form_is_applied_and_paid_once(inbox: Inbox) -> None:
    client = signed_in(inbox, "ana")
    page = client.get(f"/requests/{inbox.request_id}").text
    fields = form_of(page, "modify")
    # Prefilled from the args, one input per arg of the schema; nested ones as JSON.
    assert fields["arg.amount"] == "52000.0"
    assert fields["arg.vendor"] == "Initech LLC"
    assert json.loads(fields["arg.line_items"])[0]["quantity"] == 400
    assert fields["arg.issue_date"] == ""  # in the schema, not in the args
    # 368 seats, not 400: the amount and the line it comes from, or the graph asks again.
    fields["arg.amount"] = "48000"
    fields["arg.line_items"] = json.dumps(SEATS_368)
    fields["comment"] = "32 seats were never delivered"
    fields["reviewer"] = "mallory"  # ignored: the session's reviewer is recorded
    answer = client.post(
        f"/requests/{inbox.request_id}/modify", data=fields, follow_redirects=False
    )
    assert (answer.status_code, answer.headers["location"]) == (303, "/"), answer.text
    queue = client.get("/").text
    assert f"{inbox.request_id}: modify recorded; thread inv-large: done (paid)" in queue
    assert inbox.pending() == [(inbox.request_id, "applied")]
    assert paid(inbox.db) == [("INV-1003", "inv-large", "ana", 48000.0)]
    [(kind, reviewer, comment, payload)] = query(
        inbox.db, "SELECT type, reviewer, comment, payload FROM hitl_decisions"
    )
    assert (kind, reviewer, comment) == ("modify", "ana", "32 seats were never delivered")
    # Only the amount changed: the empty issue_date stayed absent, the rest as shown.
    shown = {k: v for k, v in invoice("large").items() if k != "ocr_confidence"}
    assert json.loads(payload)["args"] == {**shown, "amount": 48000, "line_items": SEATS_368}


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("arg.amount", "abc", "amount: 'abc' is not a number"),
        ("arg.amount", "-5", "edited amount: -5 is less than or equal to the minimum of 0"),
        ("arg.amount", "NaN", "amount: NaN is not a finite number"),
        ("arg.amount", "-Infinity", "amount: -Infinity is not a finite number"),
        ("arg.amount", "1e999", "amount: 1e999 is past the range of a number"),
        ("arg.currency", "usd", "edited currency: 'usd' does not match"),
        ("arg.line_items", '[{"description": "x",', "line_items is not valid JSON"),
        ("arg.line_items", "[]", "edited line_items: [] should be non-empty"),
        (
            "arg.line_items",
            '[{"description": "x", "quantity": NaN, "unit_price": 1}]',
            "line_items: NaN is not a JSON number",
        ),
        ("arg.line_items", "@/etc/passwd", "line_items is not valid JSON: it starts with '@'"),
        ("arg.vendor", None, "vendor: missing from the form; reload the page"),
    ],
)
def test_a_bad_value_is_refused_in_place_and_changes_nothing(
    inbox: Inbox, field: str, value: str | None, said: str
) -> None:
    client = signed_in(inbox, "ana")
    page = client.get(f"/requests/{inbox.request_id}").text
    fields = form_of(page, "modify")
    if value is None:
        del fields[field]
    else:
        fields[field] = value
    fields["comment"] = "my note stays"
    answer = client.post(f"/requests/{inbox.request_id}/modify", data=fields)
    assert answer.status_code == 400
    # The request's page again, the server's message beside the form, what was typed kept.
    assert "Pay INV-1003: 52,000.00 USD to Initech LLC" in answer.text
    assert said in refusal_in(answer.text, "modify").replace("&#39;", "'")
    again = form_of(answer.text, "modify")
    if value is not None:
        assert again[field] == value
    assert again["comment"] == "my note stays"
    nothing_changed(inbox)


def test_a_junior_may_neither_modify_nor_respond_by_direct_post(inbox: Inbox) -> None:
    fields = form_of(signed_in(inbox, "ana").get(f"/requests/{inbox.request_id}").text, "modify")
    client = signed_in(inbox, "jun")
    token = csrf_of(client.get("/").text)
    fields["arg.amount"] = "1"
    for action, data in (
        ("modify", {**fields, "csrf": token}),
        ("respond", {"csrf": token, "response": "paid by hand"}),
    ):
        answer = client.post(f"/requests/{inbox.request_id}/{action}", data=data)
        assert answer.status_code == 403, (action, answer.text)
        assert "jun is a junior and may not decide" in answer.text
        assert "Initech" not in answer.text  # the request is not shown to them
    # A bad value is refused the same way: nothing of the request comes back.
    answer = client.post(
        f"/requests/{inbox.request_id}/modify", data={**fields, "csrf": token, "arg.amount": "x"}
    )
    assert answer.status_code == 403 and "Initech" not in answer.text
    refused = query(
        inbox.db,
        "SELECT actor, data FROM hitl_events WHERE kind = 'refused' AND request_id = ?"
        " ORDER BY seq",
        inbox.request_id,
    )
    assert [(actor, json.loads(data)["type"]) for actor, data in refused] == [
        ("jun", "modify"),
        ("jun", "respond"),
        ("jun", "modify"),
    ]
    nothing_changed(inbox)


def test_respond_where_the_gate_allows_it_and_refused_where_not(inbox: Inbox) -> None:
    client = signed_in(inbox, "ana")
    url = f"/requests/{inbox.request_id}/respond"
    page = client.get(f"/requests/{inbox.request_id}").text
    token = csrf_of(page)
    assert f'action="{url}"' in page
    blank = client.post(url, data={"csrf": token, "response": "  "})
    assert blank.status_code == 400 and refusal_in(blank.text, "respond") == (
        "a response needs text"
    )
    nothing_changed(inbox)
    answer = client.post(url, data={"csrf": token, "response": "paid by phone with the vendor"})
    assert answer.status_code == 200  # followed to the queue
    assert f"{inbox.request_id}: respond recorded; thread inv-large: done" in answer.text
    [(kind, reviewer, payload)] = query(
        inbox.db, "SELECT type, reviewer, payload FROM hitl_decisions"
    )
    assert (kind, reviewer) == ("respond", "ana")
    assert json.loads(payload)["response"] == "paid by phone with the vendor"
    assert inbox.pending() == [(inbox.request_id, "applied")]
    assert paid(inbox.db) == []

    # A gate built without on_respond: no respond form, and a direct POST is refused.
    run = ReviewDesk(inbox.db, base=REPO).run(
        GATED_PAY, {"item_id": "A-1", "amount": 10.0}, thread_id="pay-1"
    )
    (request_id,) = run.pending
    page = client.get(f"/requests/{request_id}").text
    assert "/respond" not in page and "Send answer" not in page
    answer = client.post(
        f"/requests/{request_id}/respond", data={"csrf": token, "response": "done"}
    )
    assert answer.status_code == 400
    assert "'respond' is not allowed for this request" in answer.text.replace("&#39;", "'")
    assert query(inbox.db, "SELECT status FROM hitl_requests WHERE request_id = ?", request_id) == [
        ("pending",)
    ]


def test_the_page_shows_reasons_confidence_and_similar_past_decisions(inbox: Inbox) -> None:
    client = signed_in(inbox, "ana")
    page = client.get(f"/requests/{inbox.request_id}").text
    assert "amount 52,000.00 is over the 10,000.00 limit" in page  # why it was escalated
    assert '<dd class="confidence">0.97</dd>' in page
    assert "pay: the invoice checks out" in page  # the recommendation
    assert "reject the invoice" in page  # an alternative
    assert "0 invoices paid to Initech LLC" in page  # recent history
    assert "None yet on this gate and action." in page
    # The field the reasons name comes first, then the schema's required ones in order.
    args = page[page.index('<table class="args">') :]
    order = [args.index(f"<th>{name}") for name in ("amount", "invoice_id", "vendor")]
    assert order == sorted(order)
    assert "data-countdown" in page and "in 7 h" in page

    other = pause(inbox.db, invoice("large", invoice_id="INV-2001"), "inv-2001")
    token = csrf_of(page)
    answer = client.post(
        f"/requests/{other}/reject", data={"csrf": token, "reason": "over this vendor's budget"}
    )
    assert answer.status_code == 200
    page = client.get(f"/requests/{inbox.request_id}").text
    past = page[
        page.index('<table class="past">') : page.index(
            "</table>", page.index('<table class="past">')
        )
    ]
    assert "Pay INV-2001: 52,000.00 USD to Initech LLC" in past
    assert "reject" in past and "overrode the agent" in past
    assert "over this vendor&#39;s budget" in past
    assert "<td>ana</td>" in past and "<td>applied</td>" in past


def test_markup_in_args_renders_inert_in_the_form_too(inbox: Inbox) -> None:
    vendor = '"><script>alert(1)</script> Evil Ltd'
    items = [
        {"description": "</textarea><script>alert(2)</script>", "quantity": 1, "unit_price": 1.0}
    ]
    evil = invoice(
        "large",
        invoice_id="INV-666",
        vendor=vendor,
        line_items=items,
        po_number="javascript:alert(3)",
    )
    request_id = pause(inbox.db, evil, "inv-evil")
    client = signed_in(inbox, "ana")
    page = client.get(f"/requests/{request_id}")
    assert page.status_code == 200
    html = page.text
    tags = [t for t in html.lower().split("<script")[1:]]
    assert all(t.startswith(' src="/static/') for t in tags), tags
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt; Evil Ltd"' in html
    assert "&lt;/textarea&gt;&lt;script&gt;alert(2)" in html
    assert 'href="javascript' not in html.lower()
    # The form gives the values back exactly: escaping is for showing only.
    fields = form_of(html, "modify")
    assert fields["arg.vendor"] == vendor
    assert json.loads(fields["arg.line_items"]) == items
    # Refused and shown again with what was typed: still text.
    fields["arg.amount"] = "<script>alert(4)</script>"
    again = client.post(f"/requests/{request_id}/modify", data=fields)
    assert again.status_code == 400
    assert "<script>alert(4)" not in again.text
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in again.text
    assert form_of(again.text, "modify")["arg.amount"] == "<script>alert(4)</script>"


def test_without_a_schema_each_arg_keeps_its_kind() -> None:
    args = {"amount": 12, "paid": False, "note": "x", "lines": [1, 2], "rate": 0.5}
    fields = edit_fields(args, None)
    assert [(f.name, f.kind) for f in fields] == [
        ("amount", "integer"),
        ("paid", "choice"),
        ("note", "text"),
        ("lines", "json"),
        ("rate", "number"),
    ]
    form = {f.input_name: f.value for f in fields}
    assert edited_args(fields, form) == args  # unchanged, exactly
    form["arg.paid"] = "true"
    form["arg.amount"] = "13"
    assert edited_args(fields, form) == {**args, "paid": True, "amount": 13}
    for bad in ("12.5", "1e3"):
        with pytest.raises(BadInputError, match="is not a whole number"):
            edited_args(fields, {**form, "arg.amount": bad})
    with pytest.raises(BadInputError, match="choose one of the listed values"):
        edited_args(fields, {**form, "arg.paid": '"yes"'})


def test_in_the_browser_a_bad_edit_is_refused_in_place_then_fixed_and_paid_once(
    served: Served, new_context: Any
) -> None:
    page = new_context().new_page()
    browser_sign_in(page, served, "ana")
    queue_link(page, served.request_id).click()
    expect(page).to_have_url(f"{served.url}/requests/{served.request_id}")

    # `e` goes to the edit form; a key typed in a field stays in the field.
    page.keyboard.press("e")
    amount = page.get_by_label("amount")
    expect(amount).to_be_focused()
    amount.fill("-5")
    page.get_by_role("button", name="Submit edit").click()
    refusal = page.locator("#modify-refused")
    expect(refusal).to_contain_text("edited amount: -5 is less than or equal to the minimum of 0")
    expect(page.get_by_label("amount")).to_have_value("-5")
    assert served.statuses() == [(served.request_id, "pending")]

    page.get_by_label("amount").fill("48000")
    page.get_by_label("line_items").fill(json.dumps(SEATS_368, indent=2))
    page.get_by_role("button", name="Submit edit").click()
    expect(page.get_by_role("status")).to_have_text(
        f"{served.request_id}: modify recorded; thread inv-large: done (paid)"
    )
    assert served.statuses() == [(served.request_id, "applied")]
    assert paid(served.db) == [("INV-1003", "inv-large", "ana", 48000.0)]

    # Reject another with a reason, from the keyboard: `r` to the reason, `a` only
    # focuses Approve (nothing is decided by one key), `?` lists the keys.
    other = pause(served.db, invoice("large", invoice_id="INV-2002"), "inv-2002")
    page.goto(f"{served.url}/requests/{other}")
    expect(page.locator("time[data-countdown]")).to_have_text(_counting())
    page.keyboard.press("?")
    expect(page.locator("#shortcuts")).to_be_visible()
    page.keyboard.press("a")
    expect(page.get_by_role("button", name="Approve")).to_be_focused()
    page.keyboard.press("r")
    reason = page.get_by_label("Reason")
    expect(reason).to_be_focused()
    page.keyboard.type("a duplicate of INV-1003")
    expect(reason).to_have_value("a duplicate of INV-1003")  # `a` typed, not a shortcut
    page.get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"{other}: reject recorded; thread inv-2002: done (rejected)"
    )
    assert query(served.db, "SELECT type, reviewer FROM hitl_decisions ORDER BY decided_at") == [
        ("modify", "ana"),
        ("reject", "ana"),
    ]
    assert paid(served.db) == [("INV-1003", "inv-large", "ana", 48000.0)]


def _counting() -> Any:
    import re

    return re.compile(r"^in \d+ h \d+ min$")
