"""Metrics in the inbox (`langgraph_hitl.web.metrics`): the figures and warning signs the
CLI's `metrics --json` gives for the same ledger, as a page and as JSON, for auditors only.

On both backends (the `inbox` fixture: the large invoice paused for a manager; ana and
mia are managers, the top of the invoice policy's chain, jun a junior). The invoice is
decided through the CLI, and more work is routed through the ledger's own API, so the
figures and a warning sign are real.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from processes import run_cli
from web_support import REPO, Inbox, Served, browser_sign_in, expect, signed_in

from langgraph_hitl.insight._report import pct
from langgraph_hitl.ledger import ReviewLedger

STEADY = ("routed", "escalated", "outcomes", "rate")
"""Figures of the escalation that do not move with the clock between two computations."""
COUNTS = ("decided", "approved", "overrides", "timeouts", "by_type", "escalations")


def cli_metrics(db: Path | str) -> dict[str, Any]:
    done = run_cli(db, "metrics", "--since", "all", "--json", cwd=REPO)
    assert done.returncode == 0, done
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def route_to_humans(db: Path | str, count: int) -> None:
    """`count` more pieces of work, each escalated to a human, as a gate logs them."""
    with ReviewLedger.open(db) as ledger:
        for n in range(count):
            ledger.record_route(
                thread_id=f"inv-more-{n}",
                routing={"outcome": "escalated", "tier": "high", "reasons": ["amount"]},
                node="approve_payment",
                step=1,
            )


def cell(html: str, name: str) -> str:
    """The `all` column of the figures table's row `name`."""
    found = re.search(rf"<tr><td>{re.escape(name)}</td><td>([^<]*)</td>", html)
    assert found, name
    return found.group(1)


def test_the_metrics_page_shows_the_clis_figures_and_marks_warning_signs(inbox: Inbox) -> None:
    done = run_cli(inbox.db, "approve", inbox.request_id, "--reviewer", "ana", cwd=REPO)
    assert done.returncode == 0, done
    route_to_humans(inbox.db, 20)  # 21 routed, all to a human: too cautious
    told = cli_metrics(inbox.db)
    client = signed_in(inbox, "mia")
    answer = client.get("/api/metrics", params={"since": "all"})
    assert answer.status_code == 200
    given = answer.json()
    for key in STEADY:
        assert given["overall"]["escalation"][key] == told["overall"]["escalation"][key], key
    for key in COUNTS:
        assert given["overall"]["decisions"][key] == told["overall"]["decisions"][key], key
    assert given["overall"]["queue"]["depth"] == told["overall"]["queue"]["depth"] == 0
    assert [(r["reviewer"], r["decisions"]) for r in given["reviewers"]] == [("ana", 1)]
    assert [(r["reviewer"], r["decisions"]) for r in told["reviewers"]] == [("ana", 1)]
    signs = [(w["name"], w["scope"]) for w in told["warnings"]]
    assert ("too_cautious", "all") in signs
    assert [(w["name"], w["scope"]) for w in given["warnings"]] == signs

    page = client.get("/metrics", params={"since": "all"})
    assert page.status_code == 200
    html = page.text
    escalation = told["overall"]["escalation"]
    assert escalation["routed"] == 21
    assert cell(html, "routed") == "21"
    assert cell(html, "escalation rate") == pct(escalation["rate"]) == "100.0%"
    assert cell(html, "human decisions") == str(told["overall"]["decisions"]["decided"])
    assert cell(html, "queue depth") == "0"
    # Warning signs first, each marked as one, with the CLI's message.
    assert '<section id="metrics-warnings" class="warnings"' in html
    assert html.index("metrics-warnings") < html.index("metrics-summary")
    message = next(w["message"] for w in told["warnings"] if w["name"] == "too_cautious")
    assert f'<li class="warning"><code>too_cautious</code> [all]: {message}' in html
    assert f"{len(signs)} warning sign" in html
    # The page's script is a file of the package; nothing inline (CSP default-src 'self').
    assert '<script src="/static/metrics.js" defer></script>' in html
    assert re.findall(r"<script(?![^>]*\ssrc=)", html) == []
    assert "<style" not in html and " style=" not in html
    script = client.get("/static/metrics.js")
    assert script.status_code == 200 and "/api/metrics" in script.text
    assert "innerHTML" not in script.text  # figures are set as text


def test_a_quiet_ledger_has_no_warning_sign_and_bad_windows_are_refused(inbox: Inbox) -> None:
    client = signed_in(inbox, "ana")
    page = client.get("/metrics")
    assert page.status_code == 200
    assert '<section id="metrics-warnings" class="warnings none"' in page.text
    assert "No warning signs." in page.text
    assert cell(page.text, "queue depth") == "1"  # the paused invoice
    assert client.get("/api/metrics").json()["warnings"] == []
    grouped = client.get("/api/metrics", params={"since": "30d", "by": "tier"}).json()
    assert grouped["group_by"] == "tier" and "high" in grouped["groups"]
    for params in ({"since": "last tuesday"}, {"by": "colour"}, {"since": "-1d"}):
        assert client.get("/metrics", params=params).status_code == 400, params
        answer = client.get("/api/metrics", params=params)
        assert answer.status_code == 400 and answer.json()["error"].startswith("bad "), params


def test_a_junior_sees_no_metrics_by_page_or_json(inbox: Inbox) -> None:
    client = signed_in(inbox, "jun")
    page = client.get("/metrics")
    assert page.status_code == 403
    assert "jun is a junior and may not read the metrics of the whole ledger" in page.text
    assert "metrics-summary" not in page.text
    answer = client.get("/api/metrics", params={"since": "all"})
    assert answer.status_code == 403 and "overall" not in answer.json()


def test_the_metrics_page_refreshes_itself_in_a_browser(served: Served, new_context: Any) -> None:
    """The page's script fetches the figures again on its own: a decision taken elsewhere
    empties the queue on the open page, without a reload."""
    page = new_context().new_page()
    browser_sign_in(page, served, "mia")
    page.get_by_role("link", name="Metrics").click()
    expect(page).to_have_url(served.url + "/metrics")
    depth = page.locator("#metrics-summary tr", has_text="queue depth").locator("td").nth(1)
    expect(depth).to_have_text("1")
    loads: list[str] = []
    page.on("framenavigated", lambda frame: loads.append(frame.url))
    done = run_cli(served.db, "approve", served.request_id, "--reviewer", "ana", cwd=REPO)
    assert done.returncode == 0, done
    expect(depth).to_have_text("0")
    expect(page.locator("#metrics-live")).to_contain_text("Refreshed at")
    assert loads == []  # the same page, refreshed in place
