"""Notifications: a signed webhook and a command hook, fed by the ledger's outbox.

The ledger writes a row to `hitl_outbox` in the same transaction as the event it
announces (`created`, `decided`, `escalated`, `timed_out`, `cancelled`), so a
notification is never lost, and recording a request never waits on the network.
`deliver()` sends what is due, from any process (`langgraph-hitl notify`):

1. **Overdue.** Pending requests past their deadline get one `overdue` event (in the
   hash-chained event log) and outbox row per escalation step, when a notifier takes
   `overdue`: the log is checked and written in one `BEGIN IMMEDIATE` transaction, so
   two deliverers never add it twice. (`sweep` then escalates or times the request
   out, and those events are notified too.)
2. **Claim.** One due row at a time is leased (`claimed_by`, `claimed_until`) in a
   short transaction: two deliverers never send the same row at the same time. A
   lease whose process died (on this host) or that expired is taken over. Only kinds
   some notifier takes are claimed; other rows wait for a notifier that takes them.
3. **Send**, outside any transaction, to every notifier that takes the row's kind.
4. **Mark** it delivered, or count the attempt, note the error and push
   `next_attempt_at` back: exponential backoff from 1 s to 1 h with jitter, retried
   until delivered. A round stops at its first failure, so an endpoint that is down
   costs one attempt per round, not one per row.

Delivery is at least once: a process killed after sending and before marking sends
the row again. Every send of a row carries the same `X-Hitl-Delivery` id (the outbox
id), so a receiver that remembers ids drops the duplicate. A row goes to all its
notifiers together: if one fails, the retry goes to all of them again.

**Signature.** With a secret, each webhook request carries::

    X-Hitl-Timestamp: 1767225600          (unix seconds when it was sent)
    X-Hitl-Delivery:  42                  (idempotency key: the same on every retry)
    X-Hitl-Signature: sha256=<hex>        (HMAC-SHA256 with the secret over
                                           "<timestamp>.<delivery>." + raw body)

A receiver recomputes the HMAC over the raw bytes it received, compares in constant
time and refuses a timestamp more than five minutes away from its clock: a captured
request cannot be replayed later, nor under another delivery id. `verify_signature`
does all of it. The secret is read from an environment variable named in the
configuration, never from the file.

The time a `created` row was delivered minus the request's creation is how long a
human took to hear about it: time-to-escalate, measured from this path.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import shlex
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from langgraph_hitl._input import read_file, unusable
from langgraph_hitl._time import iso
from langgraph_hitl.errors import BadInputError, ConfigurationError
from langgraph_hitl.ledger import ReviewLedger, clock, lease_owner, owner_is_dead
from langgraph_hitl.models import canonical_json

__all__ = [
    "EVENT_KINDS",
    "CommandNotifier",
    "DeliveryError",
    "DeliveryReport",
    "Notification",
    "Notifier",
    "NotifyConfig",
    "WebhookNotifier",
    "backoff",
    "deliver",
    "enqueue_overdue",
    "outbox",
    "render_text",
    "sign",
    "verify_signature",
]

EVENT_KINDS: tuple[str, ...] = (
    "created",
    "decided",
    "escalated",
    "timed_out",
    "cancelled",
    "overdue",
)
"""Event kinds a notifier can take: the ledger's outbox kinds, and `overdue`."""

CONFIG_FILE = "hitl.toml"
"""Read from the working directory when no `--config` (or `$LANGGRAPH_HITL_CONFIG`)."""

DEFAULT_SECRET_ENV = "LANGGRAPH_HITL_WEBHOOK_SECRET"
"""Where the webhook secret is read from when `secret_env` is not set."""

SIGNATURE_HEADER = "X-Hitl-Signature"
TIMESTAMP_HEADER = "X-Hitl-Timestamp"
DELIVERY_HEADER = "X-Hitl-Delivery"
EVENT_HEADER = "X-Hitl-Event"

SIGNATURE_TOLERANCE_S = 300.0
"""How far a signed timestamp may be from the receiver's clock."""

BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 3600.0
LEASE_MARGIN_S = 30.0
"""A claim lasts the notifiers' timeouts plus this."""

NOTIFY_ACTOR = "langgraph-hitl:notify"
"""Who the event log names for `overdue` events."""

_MAX_ERROR = 300


class DeliveryError(Exception):
    """A notifier could not deliver; the row is retried later with backoff."""


# -- what is sent -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One outbox row as notifiers send it: the event, the request, a line of text.

    Example:
        >>> note = Notification(
        ...     outbox_id=42,
        ...     kind="created",
        ...     event={"kind": "created", "request_id": "req_3f2a9c1b7d40"},
        ...     text="Approval needed: Pay INV-7: 52,000.00 EUR to Acme GmbH (high)",
        ...     sent_at=1767225600.0,
        ... )
        >>> note.delivery_id, json.loads(note.body())["text"][:15]
        ('42', 'Approval needed')
    """

    outbox_id: int
    kind: str
    event: dict[str, Any]
    """The ledger event: `seq`, `at`, `kind`, `request_id`, `thread_id`, `actor`, `data`."""
    text: str
    """One line, Slack-compatible (`&`, `<`, `>` escaped), naming the CLI command to run."""
    sent_at: float
    request: dict[str, Any] | None = None
    """The request as the ledger holds it when sending: summary, tier, role, status."""
    attempt: int = 1

    @property
    def delivery_id(self) -> str:
        """The idempotency key: the same on every attempt to send this row."""
        return str(self.outbox_id)

    def to_json(self) -> dict[str, Any]:
        """The JSON body: `text` (for Slack and the like), then the details."""
        return {
            "text": self.text,
            "delivery_id": self.delivery_id,
            "kind": self.kind,
            "event": self.event,
            "request": self.request,
        }

    def body(self) -> bytes:
        """The exact bytes sent (and signed)."""
        return canonical_json(self.to_json()).encode()


def _slack_escape(text: str) -> str:
    # Slack reads <...> as links and mentions (<!channel>); summaries come from agents.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_text(
    kind: str, event: Mapping[str, Any], request: Mapping[str, Any] | None, cli: str
) -> str:
    """The one-line text of a notification.

    Example:
        >>> render_text(
        ...     "created",
        ...     {"request_id": "req_3f2a9c1b7d40", "data": {}},
        ...     {"summary": "Pay INV-7: 52,000.00 EUR to Acme GmbH", "tier": "high",
        ...      "required_role": "manager"},
        ...     "langgraph-hitl",
        ... )
        'Approval needed: Pay INV-7: 52,000.00 EUR to Acme GmbH (high, needs manager) — langgraph-hitl show req_3f2a9c1b7d40'
    """  # noqa: E501
    rid = event.get("request_id") or "-"
    data = event.get("data") or {}
    req = request or {}
    summary = req.get("summary") or f"request {rid}"
    terms = [t for t in (req.get("tier"), req.get("required_role")) if t]
    if req.get("required_role"):
        terms[-1] = f"needs {terms[-1]}"
    what = f"{summary} ({', '.join(terms)})" if terms else summary
    show, history = f" — {cli} show {rid}", f" — {cli} history {rid}"
    if kind == "created":
        line = f"Approval needed: {what}{show}"
    elif kind == "overdue":
        line = f"Overdue: {what}, deadline {data.get('deadline') or 'passed'}{show}"
    elif kind == "escalated":
        line = f"Escalated to {data.get('to') or 'the next role'}: {what}, deadline passed{show}"
    elif kind == "timed_out":
        line = f"Timed out: {summary}: {data.get('decision', 'reject')} by default{history}"
    elif kind == "decided":
        who = data.get("reviewer") or event.get("actor") or "someone"
        why = data.get("reason") or data.get("comment")
        line = f"Decided: {summary}: {data.get('type', 'decided')} by {who}"
        line += f" ({why}){history}" if why else history
    elif kind == "cancelled":
        line = f"Cancelled: {summary}: {data.get('why') or 'cancelled'}{history}"
    else:
        line = f"{kind}: {summary}{show}"
    return _slack_escape(" ".join(line.split()))


# -- signing ----------------------------------------------------------------------------


def sign(secret: str | bytes, body: bytes, *, timestamp: int, delivery_id: str) -> str:
    """The `X-Hitl-Signature` value for a body: `sha256=` and the hex HMAC.

    The signed material is `"<timestamp>.<delivery_id>."` followed by the raw body.

    Example:
        >>> sign("s3cret", b'{"text":"Approval needed"}', timestamp=1767225600,
        ...      delivery_id="42")[:15]
        'sha256=06687b12'
    """
    key = secret.encode() if isinstance(secret, str) else secret
    material = f"{timestamp}.{delivery_id}.".encode() + body
    return "sha256=" + hmac.new(key, material, hashlib.sha256).hexdigest()


def verify_signature(
    secret: str | bytes,
    body: bytes,
    headers: Mapping[str, str] | Any,
    *,
    tolerance: float | None = SIGNATURE_TOLERANCE_S,
    now: float | None = None,
) -> bool:
    """True when a webhook request is signed with `secret` and recent enough.

    Args:
        secret: The shared secret.
        body: The raw request body, exactly as received.
        headers: The request headers (any mapping or `http.client` headers object;
            names compare case-insensitively).
        tolerance: Seconds the timestamp may be from `now`; None skips the check.
        now: The receiver's clock (default: now).

    Example:
        >>> body = b'{"text":"Approval needed: Pay INV-7"}'
        >>> headers = {"X-Hitl-Timestamp": "1767225600", "X-Hitl-Delivery": "42",
        ...            "X-Hitl-Signature": sign("s3cret", body, timestamp=1767225600,
        ...                                     delivery_id="42")}
        >>> verify_signature("s3cret", body, headers, now=1767225660)
        True
        >>> verify_signature("s3cret", body + b" ", headers, now=1767225660)
        False
    """
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    delivery = lowered.get(DELIVERY_HEADER.lower(), "")
    if not given.startswith("sha256=") or not stamp.isdigit():
        return False
    if tolerance is not None:
        clock = time.time() if now is None else now
        if abs(clock - int(stamp)) > tolerance:
            return False
    wanted = sign(secret, body, timestamp=int(stamp), delivery_id=delivery)
    return hmac.compare_digest(wanted.encode(), given.encode())


# -- notifiers --------------------------------------------------------------------------


class Notifier(Protocol):
    """Anything that can send a `Notification`; raises on failure (the row is retried)."""

    name: str
    timeout: float
    kinds: frozenset[str]

    def send(self, notification: Notification) -> None: ...


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect would re-send (or drop) a signed body somewhere else: count it a failure.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookNotifier:
    """POST each notification as JSON to a URL, signed with HMAC-SHA256 when given a secret.

    The body's `text` is a Slack-compatible line, so a Slack (or Mattermost, Teams
    workflow) incoming webhook URL works as is; the rest of the body is the event and
    the request for receivers that want them. Any 2xx is success; a redirect, any
    other status, a refused connection or a timeout is a failure, retried later.

    Args:
        url: An `http://` or `https://` URL.
        secret: The shared secret for `X-Hitl-Signature`; None sends unsigned.
        timeout: Seconds to wait for the receiver.
        kinds: Event kinds to send (default all of `EVENT_KINDS`).

    Example:
        >>> hook = WebhookNotifier("https://hooks.example.com/hitl", secret="s3cret")
        >>> hook.name
        'webhook https://hooks.example.com/hitl'
    """

    def __init__(
        self,
        url: str,
        *,
        secret: str | None = None,
        timeout: float = 10.0,
        kinds: Sequence[str] = EVENT_KINDS,
    ) -> None:
        self.url = _check_url(url)
        self.secret = secret
        self.timeout = timeout
        self.kinds = _check_kinds(kinds)
        self.name = f"webhook {url}"
        self._opener = urllib.request.build_opener(_NoRedirect)

    def headers(self, notification: Notification, body: bytes) -> dict[str, str]:
        """The headers for one send: delivery id, event kind, timestamp and signature."""
        stamp = int(notification.sent_at)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "langgraph-hitl",
            DELIVERY_HEADER: notification.delivery_id,
            EVENT_HEADER: notification.kind,
            TIMESTAMP_HEADER: str(stamp),
            "X-Hitl-Attempt": str(notification.attempt),
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(
                self.secret, body, timestamp=stamp, delivery_id=notification.delivery_id
            )
        return headers

    def send(self, notification: Notification) -> None:
        """POST the notification; raise `DeliveryError` unless the receiver says 2xx."""
        body = notification.body()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers=self.headers(notification, body)
        )
        host = urlsplit(self.url).netloc
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
                status = response.status
        except urllib.error.HTTPError as error:
            with error:
                detail = error.read(200).decode("utf-8", "replace").strip()
            raise DeliveryError(
                f"{host} answered HTTP {error.code}" + (f": {detail}" if detail else "")
            ) from None
        except urllib.error.URLError as error:
            raise DeliveryError(f"cannot reach {host}: {error.reason}") from None
        except TimeoutError:
            raise DeliveryError(f"{host} did not answer within {self.timeout:g}s") from None
        except OSError as error:  # a reset, a closed connection, a protocol error
            raise DeliveryError(f"{host}: {type(error).__name__}: {error}") from None
        if not 200 <= status < 300:
            raise DeliveryError(f"{host} answered HTTP {status}")


class CommandNotifier:
    """Run a command for each notification, with the JSON body on its stdin.

    Success is exit status 0 within the timeout. The command also gets
    `HITL_DELIVERY_ID` and `HITL_EVENT_KIND` in its environment.

    Args:
        argv: The command and its arguments (no shell).
        timeout: Seconds it may run before it is killed and the send counts as failed.
        kinds: Event kinds to send (default all of `EVENT_KINDS`).

    Example:
        >>> hook = CommandNotifier(["notify-finance", "--channel", "approvals"])
        >>> hook.name
        'command notify-finance --channel approvals'
    """

    def __init__(
        self, argv: Sequence[str], *, timeout: float = 30.0, kinds: Sequence[str] = EVENT_KINDS
    ) -> None:
        if not argv or not all(isinstance(a, str) and a for a in argv):
            raise ConfigurationError(f"a command hook needs a non-empty argv, got {argv!r}")
        self.argv = list(argv)
        self.timeout = timeout
        self.kinds = _check_kinds(kinds)
        self.name = f"command {shlex.join(self.argv)}"

    def send(self, notification: Notification) -> None:
        """Run the command; raise `DeliveryError` unless it exits 0 in time."""
        env = {
            **os.environ,
            "HITL_DELIVERY_ID": notification.delivery_id,
            "HITL_EVENT_KIND": notification.kind,
        }
        try:
            done = subprocess.run(
                self.argv,
                input=notification.body(),
                capture_output=True,
                timeout=self.timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise DeliveryError(f"{self.argv[0]} ran over {self.timeout:g}s") from None
        except OSError as error:
            raise DeliveryError(f"cannot run {self.argv[0]}: {error.strerror}") from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
            raise DeliveryError(
                f"{self.argv[0]} exited {done.returncode}" + (f": {lines[-1]}" if lines else "")
            )


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"webhook url must be http:// or https:// with a host: {url!r}")
    return url


def _check_kinds(kinds: Sequence[str]) -> frozenset[str]:
    unknown = [k for k in kinds if k not in EVENT_KINDS]
    if unknown:
        raise ConfigurationError(
            f"unknown event kind {unknown[0]!r} (allowed: {', '.join(EVENT_KINDS)})"
        )
    return frozenset(kinds)


# -- configuration ----------------------------------------------------------------------


class NotifyConfig(BaseModel):
    """Where notifications go: a `[notify]` table in `hitl.toml`, env vars, CLI options.

    ```toml
    [notify]
    webhook_url = "https://hooks.example.com/hitl"
    secret_env = "HITL_WEBHOOK_SECRET"   # the variable's name; the secret stays out of files
    kinds = ["created", "escalated", "overdue", "timed_out"]
    command = ["notify-finance", "--channel", "approvals"]
    timeout = 10
    ```

    Example:
        >>> config = NotifyConfig(webhook_url="https://hooks.example.com/hitl")
        >>> config.configured, [n.name for n in config.notifiers(env={})]
        (True, ['webhook https://hooks.example.com/hitl'])
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    webhook_url: str | None = None
    """POST notifications here (`http://` or `https://`)."""
    secret_env: str | None = None
    """Name of the environment variable holding the webhook secret; default
    `LANGGRAPH_HITL_WEBHOOK_SECRET` (unsigned when that is not set either)."""
    kinds: tuple[str, ...] = EVENT_KINDS
    """Event kinds to notify."""
    command: tuple[str, ...] | None = None
    """A command hook's argv (a string is split like a shell would)."""
    timeout: float = Field(default=10.0, gt=0, le=600)
    """Seconds each send may take."""
    cli: str = "langgraph-hitl"
    """How the text names the CLI in the command it suggests."""

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        _check_kinds(value)
        return value

    @field_validator("command", mode="before")
    @classmethod
    def _argv(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = shlex.split(value)
        if value is not None and not value:
            raise ValueError("command must not be empty")
        return value

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> NotifyConfig:
        """The configuration from a file, then the environment, then `overrides`.

        `path` defaults to `$LANGGRAPH_HITL_CONFIG`, else `./hitl.toml` if it exists.
        The environment may set `LANGGRAPH_HITL_WEBHOOK_URL` and
        `LANGGRAPH_HITL_NOTIFY_COMMAND`. Overrides that are None are ignored.

        Raises:
            BadInputError: The file is missing (when named), unreadable, not TOML,
                holds a `secret`, or a value is invalid.
        """
        env = os.environ if env is None else env
        data: dict[str, Any] = {}
        named = path is not None or bool(env.get("LANGGRAPH_HITL_CONFIG"))
        file = Path(path if path is not None else env.get("LANGGRAPH_HITL_CONFIG") or CONFIG_FILE)
        if named or file.is_file():
            data = _read_section(file)
        for key, var in (
            ("webhook_url", "LANGGRAPH_HITL_WEBHOOK_URL"),
            ("command", "LANGGRAPH_HITL_NOTIFY_COMMAND"),
        ):
            if env.get(var):
                data[key] = env[var]
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except (ValidationError, ConfigurationError) as error:
            raise BadInputError(f"notify configuration: {_first_error(error)}") from None

    @property
    def configured(self) -> bool:
        """True when at least one notifier is set."""
        return self.webhook_url is not None or self.command is not None

    def notifiers(self, env: Mapping[str, str] | None = None) -> list[Notifier]:
        """The notifiers this configuration describes, secret read from `env`.

        Raises:
            ConfigurationError: `secret_env` names a variable that is not set.
        """
        env = os.environ if env is None else env
        found: list[Notifier] = []
        if self.webhook_url is not None:
            secret = env.get(self.secret_env or DEFAULT_SECRET_ENV) or None
            if self.secret_env and secret is None:
                raise ConfigurationError(
                    f"the webhook secret variable {self.secret_env} (secret_env) is not set"
                )
            found.append(
                WebhookNotifier(
                    self.webhook_url, secret=secret, timeout=self.timeout, kinds=self.kinds
                )
            )
        if self.command is not None:
            found.append(CommandNotifier(self.command, timeout=self.timeout, kinds=self.kinds))
        return found

    def describe(self, env: Mapping[str, str] | None = None) -> list[str]:
        """What is configured, in words (no secret), for `check` and `notify`."""
        env = os.environ if env is None else env
        parts = []
        if self.webhook_url is not None:
            name = self.secret_env or DEFAULT_SECRET_ENV
            signed = f"signed with ${name}" if env.get(name) else f"unsigned (${name} not set)"
            parts.append(f"webhook {urlsplit(self.webhook_url).netloc}, {signed}")
        if self.command is not None:
            parts.append(f"command {shlex.join(self.command)}")
        return parts


def _read_section(file: Path) -> dict[str, Any]:
    try:
        # At most 32 MiB: `--config /dev/zero` is refused, not read until memory runs out.
        data = tomllib.loads(read_file(str(file), "config"))
    except tomllib.TOMLDecodeError as error:
        raise BadInputError(f"config {file} is not valid TOML: {error}") from None
    section = data.get("notify", {})
    if not isinstance(section, dict):
        raise BadInputError(f"{file}: [notify] must be a table")
    problem = unusable(section)
    if problem is not None:  # TOML has nan and inf; no timeout may be either
        raise BadInputError(f"{file}: notify.{problem[0]}: {problem[1]}")
    if "secret" in section:
        raise BadInputError(
            f"{file}: never put the webhook secret in a file; set secret_env to the name of"
            " an environment variable that holds it"
        )
    return dict(section)


def _first_error(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return str(error)


# -- the outbox ---------------------------------------------------------------------------


@dataclass(kw_only=True)
class DeliveryReport:
    """What one `deliver()` round did.

    Example:
        >>> report = deliver(ledger, [CommandNotifier(["false"])])  # a hook that fails
        >>> report.delivered, report.failed, report.items[0]["error"]
        (0, 1, 'command false: false exited 1')
    """

    delivered: int = 0
    failed: int = 0
    overdue_queued: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "overdue_queued": self.overdue_queued,
            "items": list(self.items),
        }


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the `attempts`-th failure: doubling from 1 s, at most 1 h,
    with "equal jitter" (between half and all of it) so retries do not stampede.

    Example:
        >>> 0.5 <= backoff(1) <= 1.0, 1800 <= backoff(40) <= 3600
        (True, True)
    """
    rng = rng or random.Random()
    step = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** min(max(attempts, 1) - 1, 32))
    return float(step / 2 + rng.random() * step / 2)


def enqueue_overdue(ledger: ReviewLedger, *, now: float | None = None) -> int:
    """Add one `overdue` event and outbox row per pending request past its deadline.

    Exactly once per request and escalation step (a request escalated by `sweep` gets
    a new deadline, and may be overdue again at the next role): the event log is
    checked and written in one write transaction. Returns how many were added.

    Example:
        >>> enqueue_overdue(ledger)  # INV-1003 is due in 8 hours: not overdue yet
        0
        >>> later = time.time() + 9 * 3600
        >>> enqueue_overdue(ledger, now=later), enqueue_overdue(ledger, now=later)
        (1, 0)
    """
    now = clock() if now is None else now
    find = (
        "SELECT request_id, thread_id, deadline, level, required_role FROM hitl_requests r"
        " WHERE status = 'pending' AND deadline IS NOT NULL AND deadline <= ?"
        " AND NOT EXISTS (SELECT 1 FROM hitl_events e WHERE e.request_id = r.request_id"
        " AND e.kind = 'overdue' AND CAST(json_extract(e.data, '$.level') AS INTEGER) = r.level)"
        " ORDER BY deadline, request_id"
    )
    if not ledger.read(find, (now,)):  # most rounds: nothing overdue, no write lock
        return 0
    added = 0
    with ledger.write() as conn:
        for request_id, thread_id, deadline, level, role in conn.execute(find, (now,)).fetchall():
            data = {"deadline": iso(deadline), "level": level, "role": role}
            ledger.append_event(
                conn,
                "overdue",
                request_id=request_id,
                thread_id=thread_id,
                actor=NOTIFY_ACTOR,
                data=data,
                at=now,
            )
            added += 1
    return added


@dataclass(frozen=True)
class _Row:
    outbox_id: int
    event_seq: int
    kind: str
    request_id: str | None
    body: str
    attempts: int


def _claim(
    ledger: ReviewLedger, owner: str, kinds: Sequence[str], now: float, lease: float
) -> _Row | None:
    """Lease the next due row of one of `kinds` to `owner`, in one short transaction."""
    with ledger.write() as conn:
        held = conn.execute(
            "SELECT DISTINCT claimed_by FROM hitl_outbox WHERE delivered_at IS NULL"
            " AND claimed_until >= ?",
            (now,),
        ).fetchall()
        dead = [who for (who,) in held if who and who != owner and owner_is_dead(who)]
        dead_marks = ", ".join("?" for _ in dead) or "NULL"
        kind_marks = ", ".join("?" for _ in kinds)
        row = conn.execute(
            "UPDATE hitl_outbox SET claimed_by = ?, claimed_until = ? WHERE outbox_id = ("
            " SELECT outbox_id FROM hitl_outbox WHERE delivered_at IS NULL"
            f" AND next_attempt_at <= ? AND kind IN ({kind_marks})"
            " AND (claimed_until IS NULL OR claimed_until < ?"
            f" OR claimed_by IN ({dead_marks})) ORDER BY next_attempt_at, outbox_id LIMIT 1)"
            " RETURNING outbox_id, event_seq, kind, request_id, body, attempts",
            (owner, now + lease, now, *kinds, now, *dead),
        ).fetchone()
    return None if row is None else _Row(*row)


def _request_view(ledger: ReviewLedger, request_id: str | None) -> dict[str, Any] | None:
    if request_id is None:
        return None
    rows = ledger.read(
        "SELECT summary, tier, required_role, status, deadline, gate, action_name, level,"
        " thread_id FROM hitl_requests WHERE request_id = ?",
        (request_id,),
    )
    if not rows:
        return None
    summary, tier, role, status, deadline, gate, action, level, thread_id = rows[0]
    return {
        "request_id": request_id,
        "thread_id": thread_id,
        "summary": summary,
        "tier": tier,
        "required_role": role,
        "status": status,
        "deadline": iso(deadline),
        "gate": gate,
        "action": action,
        "escalation_level": level,
    }


def _finish(
    ledger: ReviewLedger,
    row: _Row,
    owner: str,
    *,
    now: float,
    error: str | None,
    rng: random.Random | None,
) -> None:
    with ledger.write() as conn:
        if error is None:
            # Delivered is true whoever holds the claim now: note it even if our lease ran out.
            conn.execute(
                "UPDATE hitl_outbox SET delivered_at = ?, attempts = attempts + 1,"
                " last_error = NULL, claimed_by = NULL, claimed_until = NULL"
                " WHERE outbox_id = ? AND delivered_at IS NULL",
                (now, row.outbox_id),
            )
        else:
            conn.execute(
                "UPDATE hitl_outbox SET attempts = attempts + 1, next_attempt_at = ?,"
                " last_error = ?, claimed_by = NULL, claimed_until = NULL"
                " WHERE outbox_id = ? AND claimed_by = ? AND delivered_at IS NULL",
                (now + backoff(row.attempts + 1, rng), error, row.outbox_id, owner),
            )


def deliver(
    ledger: ReviewLedger,
    notifiers: Sequence[Notifier],
    *,
    now: float | None = None,
    limit: int = 100,
    owner: str | None = None,
    cli: str = "langgraph-hitl",
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Send due notifications, at least once each; safe to run from many processes.

    Args:
        ledger: The review ledger (its outbox).
        notifiers: Where to send; each takes the kinds it was configured for.
        now: The clock, for tests (default: the time of each step).
        limit: At most this many rows this round.
        owner: The claim's owner name (default: this host, process and a random part).
        cli: How the text names the CLI.
        rng: Jitter source, for tests.

    Example:
        >>> config = NotifyConfig(command=["tee", "team-channel.json"])  # body on stdin
        >>> with ReviewLedger.open("hitl.sqlite") as ledger:
        ...     report = deliver(ledger, config.notifiers())
        >>> report.delivered, report.failed
        (1, 0)
        >>> print(json.loads(Path("team-channel.json").read_text())["text"])
        Approval needed: Pay INV-1003: 52,000.00 USD to Initech LLC (high, needs manager) — ...
    """
    if not notifiers:
        raise ConfigurationError(
            "no notifier configured: set a webhook url or a command ([notify] in hitl.toml,"
            " --webhook or --command)"
        )

    def at() -> float:
        return clock() if now is None else now

    owner = owner or lease_owner()
    lease = LEASE_MARGIN_S + sum(n.timeout for n in notifiers)
    # Rows of kinds no notifier takes stay in the outbox for a notifier that will.
    kinds = sorted(set().union(*(n.kinds for n in notifiers)))
    report = DeliveryReport(
        overdue_queued=enqueue_overdue(ledger, now=now) if "overdue" in kinds else 0
    )
    for _ in range(limit):
        row = _claim(ledger, owner, kinds, at(), lease)
        if row is None:
            break
        event = json.loads(row.body)
        request = _request_view(ledger, row.request_id)
        note = Notification(
            outbox_id=row.outbox_id,
            kind=row.kind,
            event=event,
            request=request,
            text=render_text(row.kind, event, request, cli),
            sent_at=at(),
            attempt=row.attempts + 1,
        )
        item: dict[str, Any] = {
            "outbox_id": row.outbox_id,
            "kind": row.kind,
            "request_id": row.request_id,
            "status": "delivered",
        }
        report.items.append(item)
        try:
            for notifier in (n for n in notifiers if row.kind in n.kinds):
                try:
                    notifier.send(note)
                except Exception as error:
                    raise DeliveryError(f"{notifier.name}: {error}"[:_MAX_ERROR]) from error
        except DeliveryError as error:
            _finish(ledger, row, owner, now=at(), error=str(error), rng=rng)
            item.update(status="failed", error=str(error))
            report.failed += 1
            break  # the endpoint is likely down: one failed attempt per round is enough
        _finish(ledger, row, owner, now=at(), error=None, rng=rng)
        report.delivered += 1
    return report


def outbox(
    ledger: ReviewLedger, *, include_delivered: bool = False, limit: int | None = 200
) -> list[dict[str, Any]]:
    """Outbox rows for operators: not yet delivered (due, retrying, being sent) first.

    Each row has `state`: `pending` (never tried), `retrying` (failed before),
    `sending` (claimed now) or `delivered`. A kind no notifier takes stays pending.

    Example:
        >>> [(row["kind"], row["state"]) for row in outbox(ledger)]  # INV-1003's request
        [('created', 'pending')]
        >>> deliver(ledger, [CommandNotifier(["false"])]).failed  # the hook is down
        1
        >>> [(row["kind"], row["state"], row["attempts"]) for row in outbox(ledger)]
        [('created', 'retrying', 1)]
    """
    now = clock()
    sql = (
        "SELECT outbox_id, event_seq, kind, request_id, thread_id, created_at, attempts,"
        " next_attempt_at, claimed_by, claimed_until, delivered_at, last_error FROM hitl_outbox"
    )
    if not include_delivered:
        sql += " WHERE delivered_at IS NULL"
    sql += " ORDER BY delivered_at IS NOT NULL, next_attempt_at, outbox_id"
    if limit:
        sql += f" LIMIT {int(limit)}"
    rows = []
    for oid, seq, kind, rid, tid, created, attempts, due, by, until, done, error in ledger.read(
        sql
    ):
        if done is not None:
            state = "delivered"
        elif by is not None and until is not None and until >= now:
            state = "sending"
        else:
            state = "retrying" if attempts else "pending"
        rows.append(
            {
                "outbox_id": oid,
                "event_seq": seq,
                "kind": kind,
                "request_id": rid,
                "thread_id": tid,
                "state": state,
                "attempts": attempts,
                "created_at": iso(created),
                "next_attempt_at": None if done is not None else iso(due),
                "claimed_by": by if state == "sending" else None,
                "delivered_at": iso(done),
                "last_error": error,
            }
        )
    return rows
