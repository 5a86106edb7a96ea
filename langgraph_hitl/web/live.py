"""Live updates: `GET /api/events`, server-sent events whenever the queues may have changed.

Another process, on this machine or another, may create, decide, apply, cancel or time
out a request at any moment, and every change to a request is written to the ledger's
event log in the same transaction. So one `LiveFeed` per server process reads the log's
newest sequence number (and the kinds of the events after the last one it saw, off the
primary key) about once a second, on one task shared by every open stream, and only
while a stream is open: a thousand reviewers watching cost one small query a second,
not a thousand.

A message carries the sequence number only, never a request: the page asks for its rows
again (`/api/queue`, or the page itself) through the same guard as any other request, so
what it then shows is what the reviewer may see.

A stream ends when its client goes away (Starlette cancels the response when the
connection closes) and when the server shuts down (`LiveFeed.close`, which `serve` calls
on SIGTERM or Ctrl-C: uvicorn waits for open responses to finish before it exits).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import FrameType

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from langgraph_hitl.ledger import ReviewLedger
from langgraph_hitl.web.inbox import guarded

POLL_SECONDS = 1.0
"""How often the feed reads the ledger's newest event while a stream is open."""

KEEPALIVE_SECONDS = 20.0
"""A comment line this often on a quiet stream, so proxies keep the connection open."""

QUIET_KINDS = frozenset(
    {"shown", "refused", "routed", "queued_for_review", "reviewed", "reviewer_password_set"}
)
"""Events that never change what is in anyone's queue: no message for these."""


class LiveFeed:
    """The ledger's changes, polled once for every stream of one server process.

    Args:
        db: The ledger's database, as `create_app` takes it.
        interval: Seconds between two reads of the ledger while a stream is open.
    """

    def __init__(self, db: str | Path, *, interval: float = POLL_SECONDS) -> None:
        self.db = db
        self.interval = interval
        self.seq: int | None = None
        """The newest event the feed has seen (None before its first read)."""
        self.listeners: set[asyncio.Queue[int | None]] = set()
        self.closed = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _read(self) -> tuple[int, frozenset[str]]:
        with ReviewLedger.open(self.db, pooled=True) as ledger:
            return ledger.kinds_since(self.seq)

    async def listen(self) -> AsyncIterator[int | None]:
        """The newest event's seq at once, then again each time the queues may have
        changed; None after `KEEPALIVE_SECONDS` of quiet. Ends when the feed closes."""
        if self.closed:
            return
        self._loop = asyncio.get_running_loop()
        mine: asyncio.Queue[int | None] = asyncio.Queue(maxsize=1)
        self.listeners.add(mine)
        try:
            if self.seq is None:
                self.seq, _ = await run_in_threadpool(self._read)
            if self._task is None or self._task.done():
                self._task = asyncio.create_task(self._poll())
            yield self.seq
            while not self.closed:
                try:
                    seq = await asyncio.wait_for(mine.get(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield None
                    continue
                if seq is None:  # closed
                    return
                yield seq
        finally:
            self.listeners.discard(mine)

    async def _poll(self) -> None:
        """While anyone listens: read the ledger, tell every listener of a change."""
        while self.listeners and not self.closed:
            await asyncio.sleep(self.interval)
            try:
                seq, kinds = await run_in_threadpool(self._read)
            except Exception:  # the database is briefly unavailable: try again next time
                continue
            if seq == self.seq:
                continue
            self.seq = seq
            if kinds - QUIET_KINDS:
                for queue in list(self.listeners):
                    # A full queue already holds a change its stream has not sent yet;
                    # the page reloads its rows once for both.
                    with contextlib.suppress(asyncio.QueueFull):
                        queue.put_nowait(seq)

    def close(self) -> None:
        """End every stream and the polling; safe to call from a signal handler."""
        self.closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for queue in list(self.listeners):
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()
            queue.put_nowait(None)
        if self._task is not None:
            self._task.cancel()


class StreamingServer(uvicorn.Server):
    """uvicorn's server that, told to stop (SIGTERM, Ctrl-C), also ends the open streams
    of `feed`: uvicorn's graceful shutdown waits for every open response to finish, and a
    stream of events never would."""

    def __init__(self, config: uvicorn.Config, feed: LiveFeed) -> None:
        super().__init__(config)
        self.feed = feed

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.feed.close()


def feed_of(app: Starlette) -> LiveFeed:
    """The app's `LiveFeed`, made on first use (one per app, so one per server process)."""
    feed: LiveFeed | None = getattr(app.state, "live", None)
    if feed is None:
        feed = app.state.live = LiveFeed(app.state.inbox.db)
    return feed


def message(seq: int | None, event: str = "queue") -> str:
    """One server-sent event (`queue`: reload your rows) with the ledger's newest seq, or
    a keep-alive comment for None.

    >>> message(42)
    'event: queue\\ndata: {"seq": 42}\\n\\n'
    """
    if seq is None:
        return ": still here\n\n"
    return f"event: {event}\ndata: {json.dumps({'seq': seq})}\n\n"


async def events(request: Request) -> Response:
    """A stream of `queue` events for a signed-in reviewer: reload your rows."""
    feed = feed_of(request.app)

    async def stream() -> AsyncIterator[str]:
        first = True
        async for seq in feed.listen():
            if first:
                # `retry`: how long a browser waits to reconnect once the stream ends;
                # `ready`: a page that reconnected reloads its rows for what it missed.
                yield "retry: 3000\n" + message(seq, "ready")
                first = False
            else:
                yield message(seq)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"x-accel-buffering": "no"},
    )


ROUTES: list[BaseRoute] = [
    Route("/api/events", guarded(events), methods=["GET"]),
]
