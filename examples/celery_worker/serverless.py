"""Celery's serverless broker and result backend, made safe to share between processes.

kombu's filesystem transport writes a message file in place (it creates the file, then
encodes and writes the message), and Celery's file result backend writes a result file
the same way; neither reader locks. A worker polling the queue folder, or a producer
polling for results, can therefore read a file that is still being written: this example
met it, a 64 KiB-torn chunk result (``kombu.exceptions.DecodeError: Unterminated
string``) in a 20,000-reference run, where a torn task message would be lost instead.

These subclasses write each file under a temporary name in the same folder and rename it
into place (``os.replace``: atomic on POSIX), so a reader sees a whole file or none.
``settings.celery_config`` uses them for ``filesystem://`` brokers and ``file://``
backends. They serve one machine only (tests, demos); production runs use Redis or
RabbitMQ.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

# Celery ships no type hints (no py.typed), and kombu's are partial: the few untyped
# names used are given types here, or ignored on their line, saying which.
from celery.backends.filesystem import FilesystemBackend  # type: ignore[import-untyped]
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils import json as kombu_json

#: kombu's JSON encoder, the one its transports write messages with (datetimes, UUIDs...).
_dumps = cast("Callable[[Any], str]", kombu_json.dumps)  # pyright: ignore[reportUnknownMemberType]

__all__ = ["FileBackend", "FilesystemTransport"]


def _write_atomically(final: str, data: bytes, folder: str) -> None:
    """Write ``data`` to ``final`` (in ``folder``) so that nobody ever sees it in part.

    The temporary name starts with a dot and ends in ``.tmp``: neither a message of any
    queue nor a result key.
    """
    temporary = os.path.join(folder, f".{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
        os.replace(temporary, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class FilesystemChannel(filesystem.Channel):
    """kombu's filesystem channel, publishing each message file whole."""

    # kombu's two bases name the message differently (message, payload): either is wrong.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # kombu's own name, so readers sort and match it as theirs.
        name = f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        folder = cast("str", self.data_folder_out)  # pyright: ignore[reportUnknownMemberType]
        final = os.path.join(folder, name)
        try:
            _write_atomically(final, _dumps(payload).encode(), folder)
        except OSError as error:
            raise ChannelError(f"Cannot add file {final!r} to directory") from error


class FilesystemTransport(filesystem.Transport):
    """kombu's filesystem transport (``filesystem://``) with ``FilesystemChannel``."""

    Channel = FilesystemChannel


class FileBackend(FilesystemBackend):  # type: ignore[misc]  # (Celery is untyped)
    """Celery's file result backend (``file://``), writing each result file whole."""

    def set(self, key: bytes, value: bytes | str) -> None:
        """Store ``value`` under ``key``."""
        data = value.encode() if isinstance(value, str) else value
        final = self._filename(key)  # pyright: ignore[reportUnknownMemberType]
        folder = cast("bytes", self.path)  # pyright: ignore[reportUnknownMemberType]
        _write_atomically(os.fsdecode(final), data, os.fsdecode(folder))

    def incr(self, key: bytes | str) -> int:
        """Add one to the counter ``key`` (0 when new) and return it; one process at a time.

        Celery's file backend has no counters; the chunk task counts its starts with one.
        """
        name = key.decode() if isinstance(key, bytes) else key
        folder = os.fsdecode(cast("bytes", self.path))  # pyright: ignore[reportUnknownMemberType]
        with open(os.path.join(folder, ".counters.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            final = os.path.join(folder, name)
            try:
                with open(final, "rb") as file:
                    count = int(file.read() or b"0") + 1
            except FileNotFoundError:
                count = 1
            _write_atomically(final, str(count).encode(), folder)
        return count
