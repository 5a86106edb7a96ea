"""Take the README's screenshots of the inbox: docs/inbox-queue.png and docs/inbox-request.png.

    .venv/bin/python docs/make_screenshots.py

Pauses the sample invoices on a throwaway SQLite ledger, gives `ana` (a manager) a
password through `reviewers add --password` on standard input, serves the ledger with
`langgraph-hitl serve --port 0`, and photographs her queue and the large invoice's page in
Debian's headless chromium (by path, through Playwright; never a downloaded browser).
Needs the dev extra and the `chromium` package; nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from langgraph_hitl.deciding.desk import ReviewDesk

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
SAMPLES = ("huge", "large", "messy", "blurry", "typo", "routine")
PASSWORD = "ana's long passphrase"


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("error: needs Debian's chromium on PATH (apt-get install chromium)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANGGRAPH_HITL_")}
    env["LANGGRAPH_HITL_SECRET"] = "a throwaway key that only signs these screenshots"
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "hitl.sqlite"
        desk = ReviewDesk(db, base=REPO)
        paused = {}
        for name in SAMPLES:
            data = json.loads((REPO / "examples" / "invoices" / f"{name}.json").read_text())
            status = desk.run("invoice", data, thread_id=data["invoice_id"])
            if status.status == "paused":
                paused[name] = status.pending[0]
        cli = [sys.executable, "-m", "langgraph_hitl", "--db", str(db)]
        subprocess.run(
            [*cli, "reviewers", "add", "ana", "--role", "manager", "--password"],
            input=PASSWORD + "\n",
            text=True,
            env=env,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        server = subprocess.Popen(
            [*cli, "serve", "--port", "0"], stdout=subprocess.PIPE, text=True, env=env, cwd=REPO
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            found = re.search(r"inbox on (http://\S+?)/ ", line)
            if found is None:
                sys.exit(f"error: serve did not start: {line!r}")
            shoot(chromium, found.group(1), paused["large"])
        finally:
            server.terminate()
            server.wait(timeout=60)


def shoot(chromium: str, url: str, request_id: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1100, "height": 700})
        page.goto(url + "/login")
        page.get_by_label("Name").fill("ana")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(url + "/")
        page.screenshot(path=DOCS / "inbox-queue.png", full_page=True)
        page.locator(f'a[href="/requests/{request_id}"]').click()
        page.wait_for_url(f"{url}/requests/{request_id}")
        page.screenshot(path=DOCS / "inbox-request.png", full_page=True)
        browser.close()
    print(f"wrote {DOCS / 'inbox-queue.png'} and {DOCS / 'inbox-request.png'}")


if __name__ == "__main__":
    main()
