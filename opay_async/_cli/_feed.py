"""Items made by blocking code in a thread, handed to the event loop one by one, promptly.

``close-many`` reads its input in a thread so that a slow pipe never stalls the requests
in flight. The thread is a daemon that reads with ``os.read`` (see ``_input.chunks``):
it holds no lock of the interpreter's (``sys.stdin``'s buffer has one, and a daemon
thread holding it makes interpreter shutdown fatal), so Ctrl-C ends the command at once
even while the thread waits for a producer that is still writing. Each item is handed
over as soon as it is made (rows already in a pipe are closed at once, not held back for
a batch), and at most ``window`` items wait in the loop (back-pressure: the thread stops
reading while they do). The loop may close while the thread still reads: the thread then
drops what it holds and ends.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from typing import Final, Generic, TypeVar

__all__ = ["ThreadFeed"]

_T = TypeVar("_T")

#: Items waiting in the loop at most.
DEFAULT_WINDOW: Final = 256


class _End:
    """Put last: the producer is exhausted, or failed with ``error``."""

    __slots__ = ("error",)

    def __init__(self, error: Exception | None) -> None:
        self.error = error


class ThreadFeed(Generic[_T]):
    """Runs ``produce`` in a daemon thread; :meth:`items` yields what it makes.

    Args:
        produce: A blocking iterator (it may wait for input for ever).
        window: Items made but not yet taken, at most.

    Examples:
        >>> async def demo():
        ...     feed = ThreadFeed(iter(range(3)))
        ...     return [item async for item in feed.items()]
        >>> asyncio.run(demo())
        [0, 1, 2]
    """

    def __init__(self, produce: Iterator[_T], *, window: int = DEFAULT_WINDOW) -> None:
        self._produce = produce
        self._room = threading.Semaphore(window)
        self._stopped = threading.Event()

    async def items(self) -> AsyncGenerator[_T, None]:
        """Each item, as soon as the thread makes it; re-raises the producer's exception.

        Leaving the loop early (or being cancelled) tells the thread to stop; a thread
        waiting for input ends when the input comes, or with the process.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_T | _End] = asyncio.Queue()
        thread = threading.Thread(
            target=self._pump, args=(loop, queue.put_nowait), name="opay-async input", daemon=True
        )
        thread.start()
        try:
            while not isinstance(item := await queue.get(), _End):
                self._room.release()
                yield item
            if item.error is not None:
                raise item.error
        finally:
            self._stopped.set()
            self._room.release()  # wakes a thread waiting for room, which then sees the stop

    def _pump(self, loop: asyncio.AbstractEventLoop, put: Callable[[_T | _End], None]) -> None:
        """The thread: make items, hand each to the loop, wait for room as needed."""
        error: Exception | None = None
        try:
            for item in self._produce:
                self._room.acquire()
                if self._stopped.is_set() or not _hand(loop, put, item):
                    return
        except Exception as caught:  # noqa: BLE001 (raised in the loop by items())
            error = caught
        if not self._stopped.is_set():
            _hand(loop, put, _End(error))


def _hand(loop: asyncio.AbstractEventLoop, put: Callable[[_T], None], item: _T) -> bool:
    """Hand ``item`` to ``loop``; ``False`` if the loop is closed (the run is over)."""
    try:
        loop.call_soon_threadsafe(put, item)
    except RuntimeError:  # the event loop is closed
        return False
    return True
