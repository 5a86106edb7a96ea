"""Large checkpoint values stored once per thread, not once per step.

LangGraph's `SqliteSaver` serializes a checkpoint's `channel_values` inline, so every
step stores the whole state again: a 30 MB invoice that sits unchanged in state through
eight steps is written eight times, plus once more in each task's writes. LangGraph's
Postgres saver avoids this with a `checkpoint_blobs` table keyed by (thread, namespace,
channel, version). This module does the same for our SQLite saver, keyed by content:

- A channel value or a task's write whose serialized form is `BLOB_MIN_BYTES` or more is
  stored once per thread in `hitl_blobs`, under the SHA-256 of its serialized bytes.
  The checkpoint row keeps every smaller value inline and, for each large one, a
  reference. A value unchanged from one step to the next serializes to the same bytes,
  so it is stored once; so is a node's write and the channel value it becomes.
- Everything smaller, which is every value of most graphs, is stored exactly as
  LangGraph stores it: such rows are byte for byte what the plain saver writes.
- Rows that hold references carry type tags of their own (`SPLIT_TYPE`, `BLOB_TYPE`).
  The serializer that reads them (`BlobSerializer`) resolves the references, so every
  reader of LangGraph's saver (`get_tuple`, `list`, the delta-channel walk) works
  unchanged, and rows written before this existed (type `msgpack`) read as before.
  A saver without it (LangGraph's own, or an older langgraph-hitl) refuses such a row
  loudly (`Unknown serialization type`) instead of reading a state with values missing.
- Blobs belong to a thread: `delete_thread` (and so `prune`) deletes them with its
  checkpoints. A reference names its thread, so one thread's rows never resolve to
  another's.

Blobs are deserialized with the same serializer as everything else (no pickle, the
same allowlist).
"""

from __future__ import annotations

import copy
import hashlib
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import Checkpoint
from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

BLOB_MIN_BYTES = 16 * 1024
"""A value whose serialized form is this size or more is stored once, in `hitl_blobs`."""

SPLIT_TYPE = "msgpack+hitl_blobs"
"""The type tag of a checkpoint whose large channel values are in `hitl_blobs`."""

BLOB_TYPE = "hitl_blob"
"""The type tag of a write whose value is in `hitl_blobs`; the row holds the reference."""

REFS_KEY = "hitl_blobs"
"""The key, in a split checkpoint, mapping each channel stored apart to its reference."""

_DIGEST_BYTES = 32

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS hitl_blobs (thread_id TEXT NOT NULL, digest BLOB NOT NULL,"
    " type TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (thread_id, digest))"
)


class MissingBlobError(LookupError):
    """A checkpoint refers to a stored value that is not in `hitl_blobs`."""


@dataclass(frozen=True)
class BlobRef:
    """A write's value, stored apart: what `BlobSerializer` writes in its place."""

    ref: bytes


class _Split(dict[str, Any]):
    """A checkpoint with its large channel values replaced by references."""


class BlobStore:
    """The `hitl_blobs` table on one SQLite connection.

    Args:
        conn: The connection to write and read blobs with.
        lock: The lock that guards `conn` for writes.
        lock_reads: Take `lock` to read too. False for the connection of LangGraph's
            `SqliteSaver`, which deserializes while it holds that (non re-entrant)
            lock itself; True for a connection shared with other threads that do not.
        min_bytes: The size from which a value is stored apart (`BLOB_MIN_BYTES`
            unless given).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        lock: threading.Lock,
        *,
        lock_reads: bool,
        min_bytes: int | None = None,
    ) -> None:
        self.conn = conn
        self.lock = lock
        self.lock_reads = lock_reads
        self.min_bytes = BLOB_MIN_BYTES if min_bytes is None else min_bytes

    def setup(self) -> None:
        """Create the table, if missing."""
        with self.lock:
            self.conn.execute(SCHEMA)
            self.conn.commit()

    # -- reading --------------------------------------------------------------------

    def fetch(self, ref: bytes) -> tuple[str, bytes]:
        """The serialized value a reference names: `(type, data)`."""
        digest, thread_id = bytes(ref[:_DIGEST_BYTES]), bytes(ref[_DIGEST_BYTES:]).decode()
        with self.lock if self.lock_reads else nullcontext():
            row = self.conn.execute(
                "SELECT type, data FROM hitl_blobs WHERE thread_id = ? AND digest = ?",
                (thread_id, digest),
            ).fetchone()
        if row is None:
            raise MissingBlobError(
                f"thread {thread_id!r}: checkpoint value {digest.hex()[:12]} is missing from"
                " hitl_blobs"
            )
        return str(row[0]), bytes(row[1])

    # -- writing --------------------------------------------------------------------

    def split_checkpoint(
        self, config: RunnableConfig, checkpoint: Checkpoint, serde: SerializerProtocol
    ) -> Checkpoint:
        """The checkpoint to hand LangGraph's `put`: large channel values stored apart."""
        if not isinstance(serde, BlobSerializer):
            return checkpoint
        thread_id = str(config["configurable"]["thread_id"])
        rows: list[tuple[str, bytes, str, bytes]] = []
        kept: dict[str, Any] = {}
        refs: dict[str, bytes] = {}
        for channel, value in checkpoint["channel_values"].items():
            ref = self._apart(thread_id, value, serde, rows)
            if ref is None:
                kept[channel] = value
            else:
                refs[channel] = ref
        if not refs:
            return checkpoint
        self._store(rows)
        return _Split({**checkpoint, "channel_values": kept, REFS_KEY: refs})  # type: ignore[return-value]

    def split_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        serde: SerializerProtocol,
    ) -> Sequence[tuple[str, Any]]:
        """The writes to hand LangGraph's `put_writes`: large values stored apart."""
        if not isinstance(serde, BlobSerializer):
            return writes
        thread_id = str(config["configurable"]["thread_id"])
        rows: list[tuple[str, bytes, str, bytes]] = []
        out: list[tuple[str, Any]] = []
        for channel, value in writes:
            ref = self._apart(thread_id, value, serde, rows)
            out.append((channel, value if ref is None else BlobRef(ref)))
        if not rows:
            return writes
        self._store(rows)
        return out

    def delete_thread(self, thread_id: str) -> None:
        """Delete a thread's blobs (after LangGraph deleted its checkpoints and writes)."""
        with self.lock:
            self.conn.execute("DELETE FROM hitl_blobs WHERE thread_id = ?", (str(thread_id),))
            self.conn.commit()

    def _apart(
        self,
        thread_id: str,
        value: Any,
        serde: BlobSerializer,
        rows: list[tuple[str, bytes, str, bytes]],
    ) -> bytes | None:
        """A reference if `value` is large enough to store apart (queued in `rows`)."""
        if value is None or isinstance(value, bool | int | float):
            return None
        if isinstance(value, str) and len(value) * 4 < self.min_bytes:
            return None  # at most 4 bytes a character in UTF-8: small for sure
        type_, data = serde.dumps_typed(value)
        if len(data) < self.min_bytes:
            return None
        digest = hashlib.sha256(type_.encode() + b"\0" + data).digest()
        rows.append((thread_id, digest, type_, data))
        return digest + thread_id.encode()

    def _store(self, rows: list[tuple[str, bytes, str, bytes]]) -> None:
        # Committed before LangGraph writes the row that refers to them: a reader never
        # meets a reference without its blob. A crash in between leaves an unreferenced
        # blob, which goes with its thread.
        with self.lock:
            for row in rows:
                known = self.conn.execute(
                    "SELECT 1 FROM hitl_blobs WHERE thread_id = ? AND digest = ?", row[:2]
                ).fetchone()
                if known is None:
                    self.conn.execute(
                        "INSERT OR IGNORE INTO hitl_blobs (thread_id, digest, type, data)"
                        " VALUES (?, ?, ?, ?)",
                        row,
                    )
            self.conn.commit()


class BlobSerializer(JsonPlusSerializer):
    """LangGraph's serializer, that also reads and writes references into `hitl_blobs`.

    Made by `with_blobs` from the saver's own serializer (same allowlist, no pickle), so
    LangGraph's `with_allowlist`, which copies the serializer, keeps it.
    """

    blobs: BlobStore

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        if isinstance(obj, BlobRef):
            return BLOB_TYPE, obj.ref
        if isinstance(obj, _Split):
            type_, data = super().dumps_typed(dict(obj))
            if type_ != "msgpack":
                raise ValueError(f"a checkpoint serialized as {type_!r}, not msgpack")
            return SPLIT_TYPE, data
        return super().dumps_typed(obj)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        type_, raw = data
        if type_ == BLOB_TYPE:
            return super().loads_typed(self.blobs.fetch(raw))
        if type_ == SPLIT_TYPE:
            checkpoint = super().loads_typed(("msgpack", raw))
            refs = checkpoint.pop(REFS_KEY)
            values = checkpoint["channel_values"]
            for channel, ref in refs.items():
                values[channel] = super().loads_typed(self.blobs.fetch(ref))
            return checkpoint
        return super().loads_typed(data)


def with_blobs(serde: SerializerProtocol, blobs: BlobStore) -> SerializerProtocol:
    """`serde` as a `BlobSerializer` on `blobs`; any other kind of serializer unchanged.

    Only LangGraph's own `JsonPlusSerializer` is converted (a copy, its settings kept);
    with another serializer, values are stored inline as LangGraph does, and rows that
    refer to blobs cannot be read.
    """
    if type(serde) is not JsonPlusSerializer and not isinstance(serde, BlobSerializer):
        return serde
    clone = copy.copy(serde)
    clone.__class__ = BlobSerializer
    assert isinstance(clone, BlobSerializer)
    clone.blobs = blobs
    return clone
