"""The inbox's queue: filters and counts, paging, live updates (`/api/events`), shortcuts.

Filters and counts run in Starlette's TestClient on both backends (a real SQLite file and
a real PostgreSQL database), on requests recorded through the ledger's own API as a gate
records them, beside the large invoice paused for real. The event stream is read from a
real `langgraph-hitl serve` process while another real process (`langgraph-hitl approve`)
decides; the live page is checked in Debian's chromium.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import (
    HANDSHAKE_TIMEOUT_S,
    PROCESS_TIMEOUT_S,
    finish,
    query,
    read_line,
    run_cli,
    start_cli,
)
from web_support import (
    ADDRESS,
    CSRF,
    PASSWORDS,
    SECRET,
    Inbox,
    Served,
    add_reviewer,
    browser_sign_in,
    expect,
    invoice,
    pause,
    queue_link,
    signed_in,
)

from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.models import REQUEST_KIND, Action, ApprovalRequest

MANAGERS = ["manager"]
ANYONE = ["junior", "manager"]


def ask(
    db: Path | str,
    *,
    gate: str,
    action: str,
    tier: str,
    roles: list[str],
    summary: str,
    deadline_in: float | None = None,
) -> str:
    """Record one request as a gate does (its interrupt payload), through the ledger."""
    request = ApprovalRequest(
        action=Action(name=action, args={"summary": summary}),
        summary=summary,
        risk_tier=tier,
        review_roles=roles,
        deadline_in=deadline_in,
    )
    payload = {
        "kind": REQUEST_KIND,
        "version": 1,
        "gate": gate,
        "request": request.to_wire(),
        "args_digest": request.action.digest(),
    }
    with ReviewLedger.open(db) as ledger:
        return ledger.record_request(
            thread_id=f"t-{uuid.uuid4().hex[:8]}",
            interrupt_id=uuid.uuid4().hex,
            payload=payload,
            graph="invoice",
        )


@pytest.fixture
def mixed(inbox: Inbox) -> dict[str, str]:
    """Besides the paused large invoice (gate approve_payment, pay_invoice, high, for
    managers): two critical refunds and a high payment for managers only, and for anyone
    three low e-mails and a medium payment. Their summaries, by request id."""
    asked = [
        ("approve_refund", "refund", "critical", MANAGERS, "Refund R-1 to Acme"),
        ("approve_refund", "refund", "critical", MANAGERS, "Refund R-2 to Globex"),
        ("approve_payment", "pay_invoice", "high", MANAGERS, "Pay INV-9 to Umbrella"),
        ("notify", "send_email", "low", ANYONE, "Mail vendor A"),
        ("notify", "send_email", "low", ANYONE, "Mail vendor B"),
        ("notify", "send_email", "low", ANYONE, "Mail vendor C"),
        ("approve_payment", "pay_invoice", "medium", ANYONE, "Pay INV-8 to Hooli"),
    ]
    return {
        ask(inbox.db, gate=g, action=a, tier=t, roles=r, summary=s): s for g, a, t, r, s in asked
    }


def summaries(client: Any, query: str = "") -> list[str]:
    return [row["summary"] for row in client.get("/api/queue" + query).json()]


def test_filters_and_counts_come_from_the_reviewers_own_queue(
    inbox: Inbox, mixed: dict[str, str]
) -> None:
    ana = signed_in(inbox, "ana")
    page = ana.get("/").text
    assert "Waiting for you: 8" in page
    assert "tier: critical 2 · high 2 · medium 1 · low 3" in page
    assert "gate: approve_payment 3 · notify 3 · approve_refund 2" in page
    assert "action: pay_invoice 3 · send_email 3 · refund 2" in page
    # Every value is offered as a filter.
    for value in ("critical", "approve_refund", "send_email"):
        assert f'<option value="{value}">{value}</option>' in page

    critical = ana.get("/", params={"tier": "critical"})
    assert "Waiting for you: 8" in critical.text and "Matching the filters: 2" in critical.text
    assert '<option value="critical" selected>' in critical.text
    assert "Refund R-1 to Acme" in critical.text and "Mail vendor A" not in critical.text
    assert sorted(summaries(ana, "?tier=critical")) == [
        "Refund R-1 to Acme",
        "Refund R-2 to Globex",
    ]
    # Filters combine; a blank one is no filter.
    assert sorted(summaries(ana, "?gate=approve_payment&action=pay_invoice&tier=")) == [
        "Pay INV-1003: 52,000.00 USD to Initech LLC",
        "Pay INV-8 to Hooli",
        "Pay INV-9 to Umbrella",
    ]
    answer = ana.get("/api/queue", params={"gate": "notify"})
    assert [row["tier"] for row in answer.json()] == ["low", "low", "low"]
    assert (answer.headers["x-queue-total"], answer.headers["x-queue-matching"]) == ("8", "3")
    nothing = ana.get("/", params={"tier": "nonexistent"})
    assert "Nothing in your queue matches the filters." in nothing.text
    assert ana.get("/api/queue", params={"tier": "nonexistent"}).json() == []


def test_a_juniors_filters_and_counts_never_reveal_a_managers_requests(
    inbox: Inbox, mixed: dict[str, str]
) -> None:
    jun = signed_in(inbox, "jun")
    page = jun.get("/").text
    assert "Waiting for you: 4" in page
    assert "tier: medium 1 · low 3" in page
    assert "gate: notify 3 · approve_payment 1" in page
    managers = [s for rid, s in mixed.items() if "Refund" in s or "INV-9" in s]
    for shown in [*managers, "critical", "approve_refund", "refund", "Initech"]:
        assert shown not in page, shown
    for asked in ("?tier=critical", "?gate=approve_refund", "?action=refund", "?tier=high"):
        assert jun.get("/api/queue" + asked).json() == [], asked
        html = jun.get("/" + asked).text
        assert "Nothing in your queue matches the filters." in html, asked
        assert not any(s in html for s in managers) and "Initech" not in html, asked
    assert summaries(jun, "?gate=approve_payment") == ["Pay INV-8 to Hooli"]
    # The manager's requests' pages stay refused, however the junior got their ids.
    for request_id in [inbox.request_id, *(r for r, s in mixed.items() if s in managers)]:
        assert jun.get(f"/requests/{request_id}").status_code == 404


def test_the_counts_follow_every_change_to_the_ledger(inbox: Inbox, mixed: dict[str, str]) -> None:
    """The server keeps a reviewer's counts until the ledger changes: a new request, a
    decision by another process, a role change each show at the next page."""
    ana = signed_in(inbox, "ana")
    assert "tier: critical 2 · high 2 · medium 1 · low 3" in ana.get("/").text
    assert len(mixed) == 7
    ask(inbox.db, gate="approve_refund", action="refund", tier="critical", roles=MANAGERS,
        summary="Refund R-3 to Initrode")  # fmt: skip
    page = ana.get("/").text
    assert "Waiting for you: 9" in page and "tier: critical 3 · high 2" in page
    done = run_cli(
        inbox.db, "reject", inbox.request_id, "--reason", "duplicate", "--reviewer", "mia"
    )
    assert done.returncode == 0, done
    page = ana.get("/").text
    assert "Waiting for you: 8" in page and "tier: critical 3 · high 1" in page
    with ReviewLedger.open(inbox.db) as ledger:
        ledger.add_reviewer("ana", "junior")
    page = ana.get("/").text
    assert "Waiting for you: 4" in page and "tier: medium 1 · low 3" in page


def test_nearest_deadline_first_then_the_higher_tier_then_the_oldest(inbox: Inbox) -> None:
    db = inbox.db

    def new(tier: str, summary: str, deadline_in: float | None = None) -> str:
        return ask(
            db, gate="g", action="a", tier=tier, roles=ANYONE, summary=summary,
            deadline_in=deadline_in,
        )  # fmt: skip

    low = new("low", "low, no deadline")
    high = new("high", "high, no deadline")
    later = new("low", "low, in 2 h", 7200)
    soon = new("low", "low, in 1 h", 3600)
    critical = new("critical", "critical, no deadline")
    high_newer = new("high", "high, no deadline, newer")
    rows = signed_in(inbox, "ana").get("/api/queue").json()
    # The paused invoice's tier gives it 8 hours.
    assert [row["request_id"] for row in rows] == [
        soon,
        later,
        inbox.request_id,
        critical,
        high,
        high_newer,
        low,
    ]


def test_a_long_queue_shows_200_rows_and_says_how_many_more(inbox: Inbox) -> None:
    for i in range(205):
        ask(inbox.db, gate="bulk", action="send_email", tier="low", roles=ANYONE, summary=f"m{i}")
    ana = signed_in(inbox, "ana")
    page = ana.get("/").text
    assert "Waiting for you: 206" in page
    assert page.count('<tr data-request="') == 200
    assert "6 more: the first 200 are shown; narrow the queue with the filters." in page
    assert len(ana.get("/api/queue").json()) == 200
    # Narrowed by a filter, everything fits.
    narrowed = ana.get("/", params={"tier": "high"}).text
    assert narrowed.count('<tr data-request="') == 1 and "more:" not in narrowed


def test_markup_in_gate_tier_and_action_names_renders_as_text(inbox: Inbox) -> None:
    ask(
        inbox.db,
        gate="<script>alert(1)</script>",
        action="send_email",
        tier='"><img src=x onerror=alert(2)>',
        roles=ANYONE,
        summary="javascript:alert(3)",
    )
    ana = signed_in(inbox, "ana")
    for asked in ("", '?gate=<script>alert(4)</script>&tier="><b>'):
        html = ana.get("/" + asked).text.lower()
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "<img" not in html and "<b>" not in html
        assert [s for s in html.split("<script")[1:] if not s.startswith(' src="/static/')] == []
        assert 'href="javascript' not in html


# -- live updates: the event stream of a real server process -------------------------------


def test_the_event_stream_needs_a_signed_in_reviewer(inbox: Inbox) -> None:
    answer = inbox.client().get("/api/events")
    assert answer.status_code == 401 and answer.json() == {"error": "sign in first"}


class Stream:
    """The server-sent events of one open `/api/events` response, read with a bound."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.iter_lines()

    def next_event(self) -> tuple[str, str] | None:
        """The next event's name and data (keep-alive comments skipped), or None when the
        stream ends. Waits at most PROCESS_TIMEOUT_S: a bound, never a measure."""
        deadline = time.monotonic() + PROCESS_TIMEOUT_S
        fields: dict[str, str] = {}
        for line in self.lines:
            if line == "" and "event" in fields:
                return fields["event"], fields.get("data", "")
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
            assert time.monotonic() < deadline, "no event in time"
        return None


@contextmanager
def http_sign_in(url: str, name: str) -> Iterator[httpx.Client]:
    """An httpx client signed in to a served inbox through the sign-in form."""
    with httpx.Client(base_url=url, timeout=PROCESS_TIMEOUT_S) as client:
        found = CSRF.search(client.get("/login").text)
        assert found
        answer = client.post(
            "/login", data={"csrf": found.group(1), "name": name, "password": PASSWORDS[name]}
        )
        assert answer.status_code == 303, answer.text
        yield client


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[Path, str, Any]]:
    """A paused large invoice served by a real `serve --port 0`: db, address, process."""
    db = tmp_path / "hitl.sqlite"
    pause(db, invoice("large"), "inv-large")
    for name in PASSWORDS:
        add_reviewer(db, name)
    proc = start_cli(db, "serve", "--port", "0", env={"LANGGRAPH_HITL_SECRET": SECRET})
    assert proc.stdout is not None
    found = ADDRESS.search(read_line(proc.stdout.fileno(), proc, HANDSHAKE_TIMEOUT_S))
    assert found
    try:
        yield db, found.group(1), proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        assert "Traceback" not in finish(proc).stderr


def test_a_decision_by_another_process_reaches_the_stream(
    serving: tuple[Path, str, Any],
) -> None:
    db, url, _ = serving
    [(request_id,)] = query(db, "SELECT request_id FROM hitl_requests")
    with http_sign_in(url, "ana") as ana, ana.stream("GET", "/api/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = Stream(response)
        ready = stream.next_event()
        assert ready is not None and ready[0] == "ready"
        # Subscribed (the ready message says so): now another process decides.
        done = run_cli(db, "approve", request_id, "--reviewer", "mia")
        assert done.returncode == 0, done
        event = stream.next_event()
        assert event is not None and event[0] == "queue", event
        # Only the ledger's newest sequence number: nothing of the request.
        assert set(json.loads(event[1])) == {"seq"}
        assert json.loads(event[1])["seq"] > json.loads(ready[1])["seq"]
        assert request_id not in event[1]
        assert ana.get("/api/queue").json() == []


def test_sigterm_ends_open_streams_and_stops_the_server(serving: tuple[Path, str, Any]) -> None:
    _, url, proc = serving
    with http_sign_in(url, "ana") as ana, ana.stream("GET", "/api/events") as response:
        stream = Stream(response)
        ready = stream.next_event()
        assert ready is not None and ready[0] == "ready"
        proc.send_signal(signal.SIGTERM)
        # The stream ends (rather than waiting forever), and so does the process.
        assert stream.next_event() is None
    done = finish(proc)
    # uvicorn shuts down gracefully, then raises the signal again for its default action.
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert "Traceback" not in done.stderr


def test_a_stream_whose_client_goes_away_stops_listening(tmp_path: Path) -> None:
    """In this process, so the server's feed can be looked at: a real uvicorn server on
    a thread, a real connection, closed by the client."""
    import uvicorn

    from langgraph_hitl.web.app import create_app
    from langgraph_hitl.web.live import StreamingServer, feed_of

    db = tmp_path / "hitl.sqlite"
    for name in ("ana",):
        add_reviewer(db, name)
    app = create_app(db, secret=SECRET, apply=False)
    feed = feed_of(app)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = StreamingServer(config, feed)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT_S
        while not (server.started and server.servers):
            assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        port = server.servers[0].sockets[0].getsockname()[1]
        address = f"http://127.0.0.1:{port}"
        with http_sign_in(address, "ana") as ana, ana.stream("GET", "/api/events") as response:
            ready = Stream(response).next_event()
            assert ready is not None and ready[0] == "ready"
            assert len(feed.listeners) <= 1, feed.listeners
        # The client is closed: its connection went away. Nothing is left listening, and
        # the shared poll of the ledger stops with the last stream.
        deadline = time.monotonic() + PROCESS_TIMEOUT_S
        while feed.listeners or (feed._task is not None and not feed._task.done()):
            assert time.monotonic() < deadline, f"the stream still listens: {feed.listeners}"
            time.sleep(0.05)
    finally:
        server.should_exit = True
        feed.close()
        thread.join(PROCESS_TIMEOUT_S)
    assert not thread.is_alive()


# -- in a real browser -----------------------------------------------------------------------


def test_a_request_paused_elsewhere_appears_live_and_opens_from_the_keyboard(
    served: Served, new_context: Any
) -> None:
    page = new_context().new_page()
    browser_sign_in(page, served, "ana")
    expect(page.get_by_role("heading", name="Waiting for you: 1")).to_be_visible()
    expect(page.locator("html[data-live=on]")).to_have_count(1)
    # Another process pauses a second invoice: the page shows it without a reload.
    page.evaluate("window.stillTheSamePage = true")
    request_id = pause(served.db, invoice("large", invoice_id="INV-2001"), "inv-second")
    expect(page.get_by_role("heading", name="Waiting for you: 2")).to_be_visible()
    expect(queue_link(page, request_id)).to_be_visible()
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page.locator(".count-tier")).to_have_text("tier: critical 1 · high 1")
    # ? shows the shortcuts; j selects the first row, j the next, k back; Enter opens.
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    first, second = page.locator("#queue-live tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.request)"
    )
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(page.locator("tr.selected")).to_have_attribute("data-request", second)
    page.keyboard.press("k")
    expect(page.locator("tr.selected")).to_have_attribute("data-request", first)
    # Typing in a filter is typing, not a shortcut.
    page.get_by_label("Tier").focus()
    page.keyboard.press("j")
    expect(page.locator("tr.selected")).to_have_attribute("data-request", first)
    page.locator("main h1").click()
    page.keyboard.press("Enter")
    expect(page).to_have_url(f"{served.url}/requests/{first}")
