"""History and audit in the inbox (`langgraph_hitl.web.history`): a request's and a
thread's events as `langgraph-hitl history` gives them, the audit chain verified on
demand as `langgraph-hitl audit verify` does, and who may read what.

On both backends (the `inbox` fixture: the large invoice paused for a manager; ana and
mia are managers, the top of the invoice policy's chain, jun a junior). Decisions are
taken through the CLI as real processes first, so the history has real events, and the
pages are compared with the CLI's own `--json` answers on the same ledger.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from processes import execute, query, run_cli
from web_support import (
    REPO,
    Inbox,
    Served,
    browser_sign_in,
    expect,
    invoice,
    pause,
    sign_in,
    signed_in,
)

from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.web.auth import hash_password

EVENT_ROW = re.compile(
    r'<tr class="event-([a-z_]+)">\s*<td>(\d+)</td>\s*<td><time[^>]*>[^<]*</time></td>'
    r"\s*<td>[a-z_]+</td>\s*<td>([^<]*)</td>"
)


def cli_json(db: Path | str, *args: str) -> Any:
    done = run_cli(db, *args, "--json", cwd=REPO)
    assert done.returncode in (0, 1), done
    return json.loads(done.stdout)


def rows_of(html: str) -> list[tuple[str, int, str]]:
    """The history table's rows: (kind, seq, who)."""
    return [(kind, int(seq), who) for kind, seq, who in EVENT_ROW.findall(html)]


def decide_through_the_cli(inbox: Inbox) -> None:
    """jun tries (refused, logged), then ana approves: the invoice is paid."""
    refused = run_cli(inbox.db, "approve", inbox.request_id, "--reviewer", "jun", cwd=REPO)
    assert refused.returncode != 0 and "jun is a junior" in refused.stderr
    done = run_cli(
        inbox.db,
        "approve",
        inbox.request_id,
        "--reviewer",
        "ana",
        "--comment",
        "PO matches",
        cwd=REPO,
    )
    assert done.returncode == 0, done
    assert inbox.payments() == [("INV-1003", "inv-large", "ana")]


def add_senior(inbox: Inbox, name: str = "sam") -> None:
    with ReviewLedger.open(inbox.db) as ledger:
        ledger.add_reviewer(name, "senior")
        ledger.set_password_hash(name, hash_password(f"{name}'s long passphrase"))


def test_a_requests_history_lists_its_events_in_order_with_the_reviewer(inbox: Inbox) -> None:
    decide_through_the_cli(inbox)
    rid = inbox.request_id
    client = signed_in(inbox, "mia")  # another manager reads what ana decided
    page = client.get(f"/audit/requests/{rid}")
    assert page.status_code == 200
    rows = rows_of(page.text)
    assert [(kind, who) for kind, _, who in rows][:3] == [
        ("created", "-"),
        ("refused", "jun"),
        ("decided", "ana"),
    ]
    assert rows[-1][0] == "applied"
    seqs = [seq for _, seq, _ in rows]
    assert seqs == sorted(seqs)
    # The same events as `langgraph-hitl history`, in the same order.
    told = cli_json(inbox.db, "history", rid)
    assert [(e["kind"], e["seq"], e["actor"] or "-") for e in told] == rows
    assert client.get(f"/api/audit/requests/{rid}").json()["events"] == told
    # Who, when, what, and the decision's details.
    assert "approve by ana (PO matches)" in page.text
    assert "<dt>comment</dt><dd><pre>PO matches</pre></dd>" in page.text
    assert "may not decide" in page.text  # why jun was refused
    decided_at = next(e["at"] for e in told if e["kind"] == "decided")
    assert f'<time datetime="{decided_at}">' in page.text


def test_a_threads_history_and_the_search_box(inbox: Inbox) -> None:
    decide_through_the_cli(inbox)
    client = signed_in(inbox, "ana")
    found = client.get("/audit", params={"q": "inv-large"}, follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (303, "/audit/threads/inv-large")
    found = client.get("/audit", params={"q": inbox.request_id}, follow_redirects=False)
    assert found.headers["location"] == f"/audit/requests/{inbox.request_id}"
    assert client.get("/audit", params={"q": "no-such-thing"}).status_code == 404
    page = client.get("/audit/threads/inv-large")
    assert page.status_code == 200
    told = cli_json(inbox.db, "history", "inv-large")
    kinds = [e["kind"] for e in told]
    assert kinds[:2] == ["routed", "created"] and "decided" in kinds
    assert [(e["kind"], e["seq"], e["actor"] or "-") for e in told] == rows_of(page.text)
    assert client.get("/api/audit/threads/inv-large").json() == {
        "thread_id": "inv-large",
        "requests": [inbox.request_id],
        "events": told,
    }
    assert f'href="/audit/requests/{inbox.request_id}"' in page.text
    assert client.get("/audit/threads/no-such-thread").status_code == 404
    assert client.get("/api/audit/threads/no-such-thread").status_code == 404


def test_the_audit_is_verified_on_request_and_names_the_broken_row(inbox: Inbox) -> None:
    decide_through_the_cli(inbox)
    client = signed_in(inbox, "ana")
    # The audit page does not walk the chain by itself: only when asked.
    assert "Audit trail intact" not in client.get("/audit").text
    told = cli_json(inbox.db, "audit", "verify")
    assert told["ok"]
    page = client.get("/audit/verify")
    assert page.status_code == 200
    assert f"Audit trail intact: {told['events']} events, head <code>{told['head']}</code>" in (
        page.text
    )
    assert re.search(r"Verified in \d+\.\d{3} s\.", page.text)
    answer = client.get("/api/audit/verify").json()
    assert {k: v for k, v in answer.items() if k != "seconds"} == told
    # The head kept from this check, given back: still intact; a malformed one is refused.
    assert (
        "Audit trail intact"
        in client.get("/audit/verify", params={"expect_head": told["head"]}).text
    )
    assert client.get("/audit/verify", params={"expect_head": "not-a-hash"}).status_code == 400

    # Someone rewrites who decided, by hand.
    [(seq,)] = query(inbox.db, "SELECT seq FROM hitl_events WHERE kind = 'decided'")
    assert execute(inbox.db, "UPDATE hitl_events SET actor = 'mallory' WHERE seq = ?", seq) == 1
    told = cli_json(inbox.db, "audit", "verify")
    assert not told["ok"] and told["broken_at"] == seq
    page = client.get("/audit/verify")
    assert f"at event {seq}: event {seq} (decided) was altered after it was written" in page.text
    assert "Audit trail intact" not in page.text
    answer = client.get("/api/audit/verify").json()
    assert (answer["ok"], answer["broken_at"], answer["problem"]) == (
        False,
        seq,
        told["problem"],
    )


def test_a_junior_reads_neither_a_managers_history_nor_the_audit(inbox: Inbox) -> None:
    decide_through_the_cli(inbox)
    rid = inbox.request_id
    client = signed_in(inbox, "jun")
    for path in (f"/audit/requests/{rid}", "/audit/threads/inv-large", "/audit/verify"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "jun is a junior and may not read" in answer.text
        assert "PO matches" not in answer.text and "Initech" not in answer.text
    for path in (
        f"/api/audit/requests/{rid}",
        "/api/audit/threads/inv-large",
        "/api/audit/verify",
    ):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert answer.json()["error"].startswith("jun is a junior and may not read")
    # The audit page itself offers no verification to a junior.
    page = client.get("/audit")
    assert page.status_code == 200 and "Verify the chain" not in page.text
    # The search box does not open a way around it.
    assert client.get("/audit", params={"q": rid}).status_code == 403


def test_a_senior_reads_the_requests_their_role_may_decide_only(inbox: Inbox) -> None:
    """The typo invoice goes to a senior or a manager; the large one to a manager only."""
    typo = pause(inbox.db, invoice("typo"), "inv-typo")
    add_senior(inbox)
    client = inbox.client()
    assert sign_in(client, "sam", "sam's long passphrase").status_code == 303
    assert client.get(f"/audit/requests/{typo}").status_code == 200
    assert client.get("/audit/threads/inv-typo").status_code == 200
    assert client.get(f"/api/audit/requests/{typo}").json()["request_id"] == typo
    assert client.get(f"/audit/requests/{inbox.request_id}").status_code == 403
    assert client.get("/api/audit/verify").status_code == 403
    # A junior may not read the typo invoice either; a manager reads both.
    jun = signed_in(inbox, "jun")
    assert jun.get(f"/audit/requests/{typo}").status_code == 403
    ana = signed_in(inbox, "ana")
    assert ana.get(f"/audit/requests/{typo}").status_code == 200
    assert ana.get("/audit/requests/req_nonexistent").status_code == 404


def test_markup_in_a_request_and_a_rejection_renders_inert_in_history(inbox: Inbox) -> None:
    evil = invoice(
        "large",
        invoice_id="INV-666",
        vendor="<script>alert(1)</script> Evil Ltd",
        po_number="javascript:alert(1)",
    )
    rid = pause(inbox.db, evil, "inv-evil")
    reason = "<img src=x onerror=alert(2)> see javascript:alert(3)"
    done = run_cli(inbox.db, "reject", rid, "--reason", reason, "--reviewer", "ana", cwd=REPO)
    assert done.returncode == 0, done
    client = signed_in(inbox, "mia")
    for path in (f"/audit/requests/{rid}", "/audit/threads/inv-evil"):
        html = client.get(path).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; Evil Ltd" in html, path
        assert "&lt;img src=x onerror=alert(2)&gt; see javascript:alert(3)" in html, path
        assert "javascript:alert(1)" in html, path  # shown, as text
        assert "<script" not in html.lower(), path
        assert "<img" not in html.lower(), path
        assert 'href="javascript' not in html.lower(), path


def test_with_no_role_named_every_reviewer_audits(database: Path | str) -> None:
    """A ledger whose requests name no role ranks none above another, as the ledger lets
    anyone decide then: any signed-in reviewer runs the verification."""
    from web_support import SECRET, csrf_of

    from langgraph_hitl.web.app import create_app

    with ReviewLedger.open(database, create=True) as ledger:
        ledger.add_reviewer("jun", "junior")
        ledger.set_password_hash("jun", hash_password("jun's long passphrase"))
        assert ledger.highest_roles() == []
    from starlette.testclient import TestClient

    client = TestClient(create_app(database, secret=SECRET, apply=False))
    form = client.get("/login")
    client.post(
        "/login",
        data={"csrf": csrf_of(form.text), "name": "jun", "password": "jun's long passphrase"},
    )
    answer = client.get("/api/audit/verify")
    assert answer.status_code == 200 and answer.json()["ok"] is True
    assert answer.json()["events"] == 2  # jun added, and given a password
    assert "Verify the chain" in client.get("/audit").text


def test_a_manager_finds_a_requests_history_from_the_audit_search_in_a_browser(
    served: Served, new_context: Any
) -> None:
    done = run_cli(
        served.db,
        "approve",
        served.request_id,
        "--reviewer",
        "ana",
        "--comment",
        "PO ok",
        cwd=REPO,
    )
    assert done.returncode == 0, done
    page = new_context().new_page()
    browser_sign_in(page, served, "mia")
    page.get_by_role("link", name="History").click()
    expect(page).to_have_url(served.url + "/audit")
    page.get_by_label("Request or thread id").fill(served.request_id)
    page.get_by_role("button", name="Show its history").click()
    expect(page).to_have_url(f"{served.url}/audit/requests/{served.request_id}")
    expect(page.get_by_text("approve by ana (PO ok)")).to_be_visible()
    decided = page.locator("tr.event-decided")
    expect(decided).to_have_count(1)
    expect(decided.locator("td").nth(3)).to_have_text("ana")
    page.get_by_role("link", name="← History and audit").click()
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.get_by_role("status")).to_contain_text("Audit trail intact")
