"""An event loop in a thread of its own, for driving async graphs from sync code.

A graph with an `async def` node runs only under `ainvoke`. `ReviewDesk` is sync (and
its awaitable twins run it in a worker thread), so it drives such graphs on a loop it
owns: one thread running one loop for the desk's lifetime, so whatever a graph's
nodes keep on the loop (a client, a connection pool) stays usable from one decision to
the next, and a caller already inside an event loop is not asked to nest one.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """One event loop, running in a daemon thread until `close()`.

    Example:
        >>> async def answer() -> int:
        ...     return 42
        >>> loop = LoopThread()
        >>> loop.run(answer())
        42
        >>> loop.close()
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._closing = False
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="langgraph-hitl-loop", daemon=True)
        self._thread.start()
        ready.wait()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop and wait for its result (or its exception)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            # Interrupted while waiting (Ctrl-C): do not leave the run going on alone.
            future.cancel()
            raise

    def close(self) -> None:
        """Finish async generators and the executor, stop the loop, join its thread.

        Safe to call twice, and from any thread but the loop's own.
        """
        if self._closing:
            return
        self._closing = True
        if threading.current_thread() is self._thread:
            self._loop.stop()  # a loop cannot close itself while it runs
            return

        async def finish() -> None:
            await self._loop.shutdown_asyncgens()
            await self._loop.shutdown_default_executor()

        try:
            asyncio.run_coroutine_threadsafe(finish(), self._loop).result()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()
