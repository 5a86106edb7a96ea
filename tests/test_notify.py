"""Notifications: the outbox, the signed webhook, the command hook, retries and crashes.

A real HTTP server on 127.0.0.1 (in a thread) receives the webhooks; it remembers every
request, and a receiver that dedupes counts each `X-Hitl-Delivery` id once. "The server
is down" is a bound socket that does not listen (connections are refused at once), which
later starts listening on the same port. Backoff is checked with an injected clock,
never by waiting. The crash tests kill the `notify` CLI with SIGKILL while a command
hook blocks on a FIFO, then deliver again. Every test with a ledger runs on a SQLite file
and on a PostgreSQL database (the `database` fixture).
"""

from __future__ import annotations

import http.server
import json
import os
import random
import select
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from processes import Fifos, records, start_cli

from langgraph_hitl.errors import BadInputError, ConfigurationError
from langgraph_hitl.ledger import NOTIFY_KINDS, ReviewLedger
from langgraph_hitl.models import REQUEST_KIND, ApprovalRequest
from langgraph_hitl.notify import (
    DELIVERY_HEADER,
    EVENT_KINDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    CommandNotifier,
    Notification,
    NotifyConfig,
    WebhookNotifier,
    backoff,
    deliver,
    enqueue_overdue,
    outbox,
    render_text,
    sign,
    verify_signature,
)

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cret-for-tests"
SUMMARY = "Pay INV-7: 52,000.00 EUR to Acme GmbH"
TIMEOUT_S = 60.0
DELIVERY = DELIVERY_HEADER.lower()


# -- a receiver ---------------------------------------------------------------------------


class Receiver:
    """A webhook endpoint on 127.0.0.1; down (refusing) until `up()`."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        self.port = self.sock.getsockname()[1]
        self.status = 200
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.got = threading.Event()
        self._lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/hitl"

    def up(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append((headers, body))
                self.send_response(receiver.status)
                if 300 <= receiver.status < 400:
                    self.send_header("Location", receiver.url + "/moved")
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.got.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", self.port), Handler, bind_and_activate=False
        )
        server.socket.close()
        server.socket = self.sock
        server.server_activate()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,))
        self._thread.start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
        else:
            self.sock.close()

    def ids(self) -> list[str]:
        with self._lock:
            return [headers[DELIVERY] for headers, _ in self.received]

    def unique(self) -> dict[str, bytes]:
        """What a receiver that drops a delivery id it has seen keeps."""
        kept: dict[str, bytes] = {}
        with self._lock:
            for headers, body in self.received:
                kept.setdefault(headers[DELIVERY], body)
        return kept


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    try:
        yield rec
    finally:
        rec.close()


@pytest.fixture
def db(database: Path | str) -> Path | str:
    """The test's database, on each backend."""
    return database


@pytest.fixture
def ledger(db: Path | str) -> Iterator[ReviewLedger]:
    with ReviewLedger.open(db, create=True) as opened:
        yield opened


def make_request(ledger: ReviewLedger, thread_id: str = "INV-7", **fields: Any) -> str:
    request = ApprovalRequest.model_validate(
        {
            "action": {"name": "pay_invoice", "args": {"invoice_id": thread_id, "amount": 52000}},
            "summary": SUMMARY,
            "risk_tier": "high",
            "reviewer_role": "manager",
            **fields,
        }
    )
    payload = {
        "kind": REQUEST_KIND,
        "version": 1,
        "gate": "approve_payment",
        "request": request.to_wire(),
        "args_digest": request.action.digest(),
    }
    return ledger.record_request(
        thread_id=thread_id, interrupt_id=uuid.uuid4().hex, payload=payload
    )


def rows(db: Path | str) -> list[dict[str, Any]]:
    return records(db, "SELECT * FROM hitl_outbox ORDER BY outbox_id")


def hook(received: Receiver, **kwargs: Any) -> WebhookNotifier:
    return WebhookNotifier(received.url, secret=SECRET, **kwargs)


# -- the webhook ----------------------------------------------------------------------------


def test_webhook_is_delivered_signed_with_slack_text(
    ledger: ReviewLedger, db: Path | str, receiver: Receiver
) -> None:
    receiver.up()
    rid = make_request(ledger)

    report = deliver(ledger, [hook(receiver)])

    assert (report.delivered, report.failed) == (1, 0)
    [(headers, body)] = receiver.received
    assert verify_signature(SECRET, body, headers)
    assert not verify_signature("another secret", body, headers)
    assert not verify_signature(SECRET, body.replace(b"52,000", b"5,200"), headers)
    # A replay: the same signed request, presented six minutes later.
    stamp = int(headers[TIMESTAMP_HEADER.lower()])
    assert not verify_signature(SECRET, body, headers, now=stamp + 360)
    # The delivery id is signed too: a receiver's dedupe cannot be dodged.
    assert not verify_signature(SECRET, body, {**headers, DELIVERY: "999"})
    assert headers[SIGNATURE_HEADER.lower()].startswith("sha256=")
    assert headers["content-type"].startswith("application/json")

    sent = json.loads(body)
    assert sent["text"] == (
        f"Approval needed: {SUMMARY} (high, needs manager) — langgraph-hitl show {rid}"
    )
    assert sent["event"]["kind"] == "created" and sent["event"]["request_id"] == rid
    assert sent["request"]["summary"] == SUMMARY
    assert sent["request"]["required_role"] == "manager"
    [row] = rows(db)
    assert headers[DELIVERY] == sent["delivery_id"] == str(row["outbox_id"])
    assert row["delivered_at"] is not None and row["attempts"] == 1
    assert row["claimed_by"] is None and row["last_error"] is None
    assert deliver(ledger, [hook(receiver)]).delivered == 0  # nothing twice


def test_server_down_records_backoff_then_redelivers(
    ledger: ReviewLedger, db: Path | str, receiver: Receiver
) -> None:
    make_request(ledger)
    t0 = time.time()

    down = deliver(ledger, [hook(receiver)], now=t0, rng=random.Random(7))

    assert (down.delivered, down.failed) == (0, 1)
    [row] = rows(db)
    assert row["attempts"] == 1 and row["delivered_at"] is None
    assert "cannot reach 127.0.0.1" in row["last_error"]
    assert t0 + 0.5 <= row["next_attempt_at"] <= t0 + 1.0
    assert row["claimed_by"] is None
    assert [r["state"] for r in outbox(ledger)] == ["retrying"]

    # Not due yet: nothing is tried, the endpoint is not touched.
    early = deliver(ledger, [hook(receiver)], now=t0 + 0.4)
    assert (early.delivered, early.failed) == (0, 0)

    again = deliver(ledger, [hook(receiver)], now=t0 + 1.0, rng=random.Random(7))
    assert again.failed == 1
    [row] = rows(db)
    assert row["attempts"] == 2
    assert t0 + 1.0 + 1.0 <= row["next_attempt_at"] <= t0 + 1.0 + 2.0

    receiver.up()
    up = deliver(ledger, [hook(receiver)], now=t0 + 3.0)
    assert (up.delivered, up.failed) == (1, 0)
    [(headers, body)] = receiver.received
    assert headers["x-hitl-attempt"] == "3"
    assert verify_signature(SECRET, body, headers, now=t0 + 3.0)
    [row] = rows(db)
    assert row["delivered_at"] == t0 + 3.0 and row["attempts"] == 3
    assert outbox(ledger) == []
    assert [r["state"] for r in outbox(ledger, include_delivered=True)] == ["delivered"]


def test_backoff_doubles_with_jitter_up_to_an_hour() -> None:
    rng = random.Random(1)
    for attempts in range(1, 40):
        step = min(3600.0, 2.0 ** (attempts - 1))
        assert step / 2 <= backoff(attempts, rng) <= step
    assert {round(backoff(30, random.Random(seed))) for seed in range(5)} != {3600}


def test_a_round_stops_at_the_first_failure(ledger: ReviewLedger, db: Path | str) -> None:
    for n in range(3):
        make_request(ledger, f"INV-{n}")
    refused = Receiver()
    try:
        report = deliver(ledger, [hook(refused)])
    finally:
        refused.close()
    assert (report.delivered, report.failed) == (0, 1)
    assert [r["attempts"] for r in rows(db)] == [1, 0, 0]


@pytest.mark.parametrize(("status", "why"), [(500, "answered HTTP 500"), (302, "HTTP 302")])
def test_an_error_status_or_a_redirect_is_a_failure(
    ledger: ReviewLedger, db: Path | str, receiver: Receiver, status: int, why: str
) -> None:
    receiver.status = status
    receiver.up()
    make_request(ledger)
    report = deliver(ledger, [hook(receiver)])
    assert report.failed == 1
    assert why in rows(db)[0]["last_error"]
    assert len(receiver.received) == 1  # the redirect was not followed


def test_two_deliverers_at_once_send_each_row_once(
    ledger: ReviewLedger, db: Path | str, receiver: Receiver
) -> None:
    receiver.up()
    for n in range(24):
        make_request(ledger, f"INV-{n}")
    start = threading.Barrier(2)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with ReviewLedger.open(db) as own:
                start.wait(TIMEOUT_S)
                reports.append(deliver(own, [hook(receiver)]))
        except BaseException as error:  # surfaced below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert not errors
    assert sum(r.delivered for r in reports) == 24
    counts = Counter(receiver.ids())
    assert len(counts) == 24 and set(counts.values()) == {1}
    assert all(r["delivered_at"] is not None and r["attempts"] == 1 for r in rows(db))


# -- never blocking ----------------------------------------------------------------------------


def test_recording_a_request_never_touches_the_network(
    db: Path | str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph_hitl.deciding.desk import ReviewDesk

    blackhole = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with blackhole:
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(8)  # accepts connections into the backlog, never answers
        url = f"http://127.0.0.1:{blackhole.getsockname()[1]}/hook"
        monkeypatch.setenv("LANGGRAPH_HITL_WEBHOOK_URL", url)

        status = ReviewDesk(db, base=REPO).run(
            "tests/graphs/gated_pay.py:make_graph", {"item_id": "A-1", "amount": 50.0}
        )

        assert status.status == "paused"
        readable, _, _ = select.select([blackhole], [], [], 0)
        assert readable == []  # nobody connected while the request was recorded
        [row] = rows(db)
        assert (row["kind"], row["attempts"], row["delivered_at"]) == ("created", 0, None)
        assert row["request_id"] == status.pending[0]

        monkeypatch.chdir(tmp_path)  # no ./hitl.toml
        with ReviewLedger.open(db) as ledger:
            config = NotifyConfig.load(env={"LANGGRAPH_HITL_WEBHOOK_URL": url}, timeout=0.2)
            report = deliver(ledger, config.notifiers(env={}))
        assert report.failed == 1
        assert "did not answer within 0.2s" in rows(db)[0]["last_error"]


# -- the command hook -------------------------------------------------------------------------


def test_command_hook_gets_the_json_on_stdin(
    ledger: ReviewLedger, db: Path | str, tmp_path: Path
) -> None:
    rid = make_request(ledger)
    out = tmp_path / "hook.json"
    script = (
        "import json, os, sys; data = json.load(sys.stdin);"
        " data['env'] = os.environ['HITL_DELIVERY_ID'] + ' ' + os.environ['HITL_EVENT_KIND'];"
        " open(sys.argv[1], 'w').write(json.dumps(data))"
    )
    report = deliver(ledger, [CommandNotifier([sys.executable, "-c", script, str(out)])])
    assert report.delivered == 1
    got = json.loads(out.read_text())
    assert got["event"]["request_id"] == rid and got["kind"] == "created"
    assert got["text"].startswith(f"Approval needed: {SUMMARY}")
    assert got["env"] == f"{rows(db)[0]['outbox_id']} created"


def test_a_failing_command_hook_is_retried(ledger: ReviewLedger, db: Path | str) -> None:
    make_request(ledger)
    script = (
        "import sys; sys.stdin.read();"
        " print('boom: no route to pager', file=sys.stderr); sys.exit(3)"
    )
    report = deliver(ledger, [CommandNotifier([sys.executable, "-c", script])])
    assert report.failed == 1
    [row] = rows(db)
    assert "exited 3: boom: no route to pager" in row["last_error"]
    assert row["attempts"] == 1 and row["delivered_at"] is None


# -- crashes -------------------------------------------------------------------------------------

# A command hook that says it is running, then blocks until the test kills it.
BLOCKING_HOOK = (
    "import os, sys; sys.stdin.buffer.read();"
    " ready = open(os.environ['E2E_READY_FIFO'], 'w'); ready.write(f'hook {os.getpid()}\\n');"
    " ready.close(); open(os.environ['E2E_BLOCK_FIFO']).read()"
)


@pytest.mark.parametrize("point", ["after-send", "before-send"])
def test_a_deliverer_killed_mid_delivery_loses_nothing(
    db: Path | str, fifos: Fifos, receiver: Receiver, point: str
) -> None:
    """SIGKILL after claiming, with the webhook sent (or not yet): delivered again, and a
    receiver that dedupes on the delivery id sees it exactly once."""
    receiver.up()
    with ReviewLedger.open(db, create=True) as ledger:
        make_request(ledger)
    # The webhook goes first, then the hook blocks: "after-send" has sent it.
    webhook = ["--webhook", receiver.url] if point == "after-send" else []
    proc = start_cli(
        db,
        "notify",
        "--once",
        *webhook,
        "--command",
        shlex.join([sys.executable, "-c", BLOCKING_HOOK]),
        env={**fifos.env(), "LANGGRAPH_HITL_WEBHOOK_SECRET": SECRET},
    )
    hook_pid = int(fifos.wait_ready(proc).split()[1])
    proc.send_signal(signal.SIGKILL)
    proc.communicate()  # reaped: a zombie would still look alive to the claim check
    os.kill(hook_pid, signal.SIGKILL)

    [row] = rows(db)
    assert row["claimed_by"] is not None and row["delivered_at"] is None
    assert len(receiver.received) == (1 if point == "after-send" else 0)

    # The claim's process is dead: the next deliverer takes the row over at once.
    with ReviewLedger.open(db) as ledger:
        report = deliver(ledger, [hook(receiver)])
    assert report.delivered == 1
    [row] = rows(db)
    assert row["delivered_at"] is not None
    assert len(receiver.received) == (2 if point == "after-send" else 1)  # at least once
    assert list(receiver.unique()) == [str(row["outbox_id"])]  # exactly once, deduped
    for headers, body in receiver.received:
        assert verify_signature(SECRET, body, headers)


def test_an_expired_claim_is_taken_over(
    ledger: ReviewLedger, db: Path | str, receiver: Receiver
) -> None:
    receiver.up()
    make_request(ledger)
    t0 = time.time()
    with ledger.write() as conn:  # a live deliverer elsewhere claimed it, then went quiet
        conn.execute(
            "UPDATE hitl_outbox SET claimed_by = 'elsewhere:1:abc', claimed_until = ?", (t0 + 60,)
        )
    assert deliver(ledger, [hook(receiver)], now=t0).delivered == 0
    assert deliver(ledger, [hook(receiver)], now=t0 + 61).delivered == 1


# -- overdue -------------------------------------------------------------------------------------


def test_overdue_is_notified_once_per_step(ledger: ReviewLedger, db: Path | str) -> None:
    from langgraph_hitl.ledger.audit import verify

    rid = make_request(
        ledger, reviewer_role="clerk", review_roles=["clerk", "manager"], deadline_in=60
    )
    created = ledger.get(rid).created_at
    assert enqueue_overdue(ledger, now=created + 30) == 0
    assert enqueue_overdue(ledger, now=created + 61) == 1
    assert enqueue_overdue(ledger, now=created + 62) == 0  # once
    assert ledger.sweep_step(rid, level=0, now=created + 63) == "escalated"
    assert enqueue_overdue(ledger, now=created + 64) == 0  # a new deadline, not passed yet
    assert enqueue_overdue(ledger, now=created + 63 + 61) == 1  # overdue at the next role

    kinds = [r["kind"] for r in rows(db)]
    assert kinds == ["created", "overdue", "escalated", "overdue"]
    overdue = json.loads(rows(db)[1]["body"])
    assert overdue["data"]["level"] == 0 and overdue["data"]["role"] == "clerk"
    assert verify(ledger).ok  # the overdue events are links of the audit chain
    text = render_text("overdue", overdue, {"summary": SUMMARY, "tier": "high"}, "lh")
    assert text.startswith(f"Overdue: {SUMMARY} (high), deadline ")


def test_deliver_queues_overdue_and_sends_it(
    ledger: ReviewLedger, db: Path | str, receiver: Receiver
) -> None:
    receiver.up()
    rid = make_request(ledger, deadline_in=60)
    later = ledger.get(rid).created_at + 120
    # Nobody takes `overdue` (nor `created`): nothing is queued or sent.
    assert deliver(ledger, [hook(receiver, kinds=["decided"])], now=later).overdue_queued == 0
    report = deliver(ledger, [hook(receiver, kinds=["overdue"])], now=later)
    assert (report.overdue_queued, report.delivered) == (1, 1)
    [(headers, body)] = receiver.received
    assert headers["x-hitl-event"] == "overdue"
    assert json.loads(body)["text"].startswith(f"Overdue: {SUMMARY} (high, needs manager)")
    # The `created` row is of a kind this notifier does not take: it waits for one that does.
    assert [(r["kind"], r["delivered_at"] is None) for r in rows(db)] == [
        ("created", True),
        ("overdue", False),
    ]


# -- text, signatures, configuration ---------------------------------------------------------------


def test_event_kinds_are_the_ledgers_and_overdue() -> None:
    assert set(EVENT_KINDS) == set(NOTIFY_KINDS) | {"overdue"}


def test_text_of_each_kind_escapes_slack_markup() -> None:
    request = {"summary": "Pay <!channel> & co", "tier": "low", "required_role": None}
    event = {"request_id": "req_1", "actor": "ana", "data": {"type": "reject", "reason": "dup"}}
    assert render_text("decided", event, request, "lh") == (
        "Decided: Pay &lt;!channel&gt; &amp; co: reject by ana (dup) — lh history req_1"
    )
    for kind in EVENT_KINDS:
        assert "req_1" in render_text(kind, event, request, "lh")
    assert render_text("created", {"request_id": "req_2"}, None, "lh").startswith(
        "Approval needed: request req_2"
    )


def test_signature_scheme_is_documented_hmac() -> None:
    import hashlib
    import hmac

    body = b'{"text":"x"}'
    expected = hmac.new(SECRET.encode(), b"1700000000.42." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body, timestamp=1700000000, delivery_id="42") == f"sha256={expected}"
    note = Notification(outbox_id=42, kind="created", event={}, text="x", sent_at=1700000000.9)
    headers = WebhookNotifier("http://127.0.0.1:9/h", secret=SECRET).headers(note, body)
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert verify_signature(SECRET, body, headers, now=1700000100)
    assert not verify_signature(SECRET, body, {}, tolerance=None)
    unsigned = WebhookNotifier("http://127.0.0.1:9/h").headers(note, body)
    assert SIGNATURE_HEADER not in unsigned


def test_config_from_file_env_and_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    file = tmp_path / "notify.toml"  # not ./hitl.toml: that one is read by default
    file.write_text(
        '[notify]\nwebhook_url = "https://hooks.example.com/a"\nsecret_env = "HOOK_SECRET"\n'
        'kinds = ["created", "overdue"]\ncommand = ["page", "--team", "finance"]\n'
    )
    config = NotifyConfig.load(file, env={})
    assert config.kinds == ("created", "overdue") and config.command == (
        "page",
        "--team",
        "finance",
    )
    notifiers = config.notifiers(env={"HOOK_SECRET": "x"})
    assert [n.name for n in notifiers] == [
        "webhook https://hooks.example.com/a",
        "command page --team finance",
    ]
    assert isinstance(notifiers[0], WebhookNotifier) and notifiers[0].secret == "x"
    with pytest.raises(ConfigurationError, match="HOOK_SECRET"):
        config.notifiers(env={})

    env = {"LANGGRAPH_HITL_WEBHOOK_URL": "http://env.example/h"}
    assert NotifyConfig.load(file, env=env).webhook_url == "http://env.example/h"
    assert (
        NotifyConfig.load(file, env=env, webhook_url="http://cli.example/h").webhook_url
        == "http://cli.example/h"
    )
    assert NotifyConfig.load(file, env={}, command="notify-send 'HITL queue'").command == (
        "notify-send",
        "HITL queue",
    )
    nothing = NotifyConfig.load(env={}, cli="x")
    assert not nothing.configured
    default_secret = NotifyConfig(webhook_url="https://h.example/x")
    [signed] = default_secret.notifiers(env={"LANGGRAPH_HITL_WEBHOOK_SECRET": "d"})
    assert isinstance(signed, WebhookNotifier) and signed.secret == "d"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            '[notify]\nwebhook_url = "https://h.example/x"\nsecret = "x"',
            "never put the webhook secret",
        ),
        ('[notify]\nwebhook_url = "file:///etc/passwd"', "http:// or https://"),
        ('[notify]\nkinds = ["created", "paid"]', "unknown event kind 'paid'"),
        ('[notify]\nwebhook_url = "https://h.example/x"\ntimeout = 0', "timeout"),
        ("[notify]\nwebhook_url = ", "not valid TOML"),
        ('[notify]\nwebhok_url = "https://h.example/x"', "webhok_url"),
        ('[notify]\nwebhook_url = "https://h.example/x"\ntimeout = nan', "notify.timeout: nan"),
        ('[notify]\nwebhook_url = "https://h.example/x"\ntimeout = inf', "notify.timeout: inf"),
    ],
)
def test_bad_config_is_refused_with_the_reason(tmp_path: Path, text: str, needle: str) -> None:
    file = tmp_path / "hitl.toml"
    file.write_text(text)
    with pytest.raises(BadInputError) as error:
        NotifyConfig.load(file, env={})
    assert needle in str(error.value)


def test_a_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="cannot read config"):
        NotifyConfig.load(tmp_path / "missing.toml", env={})


def test_deliver_needs_a_notifier(ledger: ReviewLedger) -> None:
    with pytest.raises(ConfigurationError, match="no notifier configured"):
        deliver(ledger, [])


# -- the CLI -------------------------------------------------------------------------------------


def _cli(
    db: Path | str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = start_cli(db, *args, env=env or {})
    out, err = proc.communicate(timeout=TIMEOUT_S)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_cli_notify_outbox_and_failures(db: Path | str, receiver: Receiver) -> None:
    with ReviewLedger.open(db, create=True) as ledger:
        rid = make_request(ledger)

    down = _cli(db, "notify", "--once", "--webhook", receiver.url, "--json")
    assert down.returncode == 1, down
    assert json.loads(down.stdout)["failed"] == 1
    listed = _cli(db, "outbox", "--json")
    assert listed.returncode == 0, listed
    [row] = json.loads(listed.stdout)
    assert (row["request_id"], row["state"], row["attempts"]) == (rid, "retrying", 1)
    assert "cannot reach" in row["last_error"]
    assert "retrying" in _cli(db, "outbox").stdout

    with ReviewLedger.open(db) as ledger, ledger.write() as conn:  # due again now
        conn.execute("UPDATE hitl_outbox SET next_attempt_at = 0")
    receiver.up()
    env = {"TEST_HOOK_SECRET": SECRET}
    args = ("notify", "--webhook", receiver.url, "--secret-env", "TEST_HOOK_SECRET")
    sent = _cli(db, *args, env=env)
    assert sent.returncode == 0, sent
    assert sent.stdout.strip() == "delivered 1, failed 0"
    [(headers, body)] = receiver.received
    assert verify_signature(SECRET, body, headers)
    assert json.loads(_cli(db, "outbox", "--json").stdout) == []
    assert "outbox empty" in _cli(db, "outbox").stdout

    missing = _cli(db, *args)  # the secret's variable is not set: refused, nothing sent
    assert missing.returncode == 1 and missing.stderr.startswith("error: "), missing
    assert "TEST_HOOK_SECRET" in missing.stderr and len(missing.stderr.splitlines()) == 1
    nothing = _cli(db, "notify")
    assert nothing.returncode == 2 and "no notifier configured" in nothing.stderr, nothing


def test_cli_notify_loop_delivers_until_interrupted(db: Path | str, receiver: Receiver) -> None:
    receiver.up()
    with ReviewLedger.open(db, create=True) as ledger:
        make_request(ledger)
    proc = start_cli(
        db, "notify", "--loop", "--interval", "0.1", "--webhook", receiver.url, "--json", env={}
    )
    try:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], TIMEOUT_S)
        assert readable, "the loop printed no round"
        first = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT_S)
    assert proc.returncode == 0, (first, out, err)
    assert json.loads(first)["delivered"] == 1
    assert len(receiver.received) == 1
    assert rows(db)[0]["delivered_at"] is not None
