"""Which ``AsyncClient`` a request goes through, in whichever event loop is running.

An httpx client, like an aiohttp session, belongs to the event loop it first sent
from: its connections and locks are that loop's. Scripts that call ``asyncio.run``
twice, Celery tasks, threads with a loop each and test suites with a loop per test all
use one ``OPayClient`` from several loops. So the client's own pool is one
``AsyncClient`` per event loop (`PerLoop`), made when a loop first sends and closed
when that loop ends (``asyncio.run`` and ``asyncio.Runner`` close the async generators
of a loop before closing it: a generator per pool closes the pool there).

The pool is per process too: a forked child (Celery's prefork pool, ``gunicorn
--preload``) forgets its parent's clients, without closing them (see ``_fork``), and
makes its own, even in a loop object it inherited.

A caller's ``http_client`` (`Borrowed`), and the client made around a caller's
``transport`` (`Owned`), are used as they are: which loop they belong to is the
caller's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncGenerator, Callable
from typing import Final, Protocol

import httpx2

from ._fork import forgotten, generation, watch

__all__ = ["Borrowed", "Connections", "Owned", "PerLoop", "Route"]

#: The client a request goes through, and a transport it may go to directly instead.
Route = tuple[httpx2.AsyncClient, httpx2.AsyncBaseTransport | None]

#: Seconds ``aclose`` waits for the pools of loops running in other threads to close.
_ELSEWHERE_SECONDS: Final = 2.0


class Connections(Protocol):
    """Where a request's ``AsyncClient`` comes from."""

    async def get(self) -> Route:
        """The client to send through from the running loop (and its transport, if direct)."""
        ...

    async def aclose(self) -> None:
        """Close what is owned; never raises."""
        ...

    @property
    def is_closed(self) -> bool:
        """Whether nothing can be sent through these any more."""
        ...


class Borrowed:
    """A caller's client: used as it is, never closed."""

    __slots__ = ("http", "route")

    def __init__(self, http: httpx2.AsyncClient) -> None:
        self.http = http
        self.route: Route = (http, None)

    async def get(self) -> Route:
        """The caller's client (requests always go through it)."""
        return self.route

    async def aclose(self) -> None:
        """Nothing: the client stays the caller's."""

    @property
    def is_closed(self) -> bool:
        """Whether the caller closed the client."""
        return self.http.is_closed


class Owned(Borrowed):
    """A client made around a caller's transport: closed with the ``OPayClient``."""

    __slots__ = ()

    async def aclose(self) -> None:
        """Close the client and its transport (a transport of another loop: quietly)."""
        with contextlib.suppress(RuntimeError):
            await self.http.aclose()


class _Entry:
    """One loop's client, and the generator that closes it when the loop ends."""

    __slots__ = ("lifetime", "loop", "route")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, route: Route, lifetime: AsyncGenerator[None, None]
    ) -> None:
        self.loop = loop
        self.route = route
        self.lifetime = lifetime


async def _finish(lifetime: AsyncGenerator[None, None]) -> None:
    await lifetime.aclose()


class PerLoop:
    """The client's own pool: one ``AsyncClient`` per running event loop.

    Args:
        make: Makes a new client and its direct transport (called in the loop that will
            use them).
    """

    __slots__ = ("__weakref__", "_closed", "_entries", "_last", "_lock", "_make")

    def __init__(self, make: Callable[[], Route]) -> None:
        self._make = make
        self._entries: dict[asyncio.AbstractEventLoop, _Entry] = {}
        # The last loop and its client, read and written as one object (several threads
        # may each run a loop of their own).
        self._last: tuple[asyncio.AbstractEventLoop | None, Route | None] = (None, None)
        self._lock = threading.Lock()
        self._closed = False
        watch(self)

    def after_fork(self) -> None:
        """In a forked child: forget every loop's client; the next request makes one anew.

        The lock too: another thread of the parent may have held it as the process forked.
        """
        forgotten(self._entries)
        self._entries = {}
        self._last = (None, None)
        self._lock = threading.Lock()

    @property
    def is_closed(self) -> bool:
        """Whether [`aclose`][opay_async._http._loops.PerLoop.aclose] was called."""
        return self._closed

    @property
    def loops(self) -> int:
        """How many event loops have a client now."""
        return len(self._entries)

    async def get(self) -> Route:
        """The running loop's client and transport, made at its first request."""
        loop = asyncio.get_running_loop()
        last_loop, last_route = self._last
        if last_loop is loop and last_route is not None:
            return last_route
        entry = self._entries.get(loop)
        if entry is None:
            entry = await self._open(loop)
        self._last = (loop, entry.route)
        return entry.route

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Entry:
        route = self._make()
        lifetime = self._lifetime(loop, route[0])
        entry = _Entry(loop, route, lifetime)
        with self._lock:
            # Loops that ended without closing their generators leave their entry.
            for ended in [other for other in self._entries if other.is_closed()]:
                del self._entries[ended]
            self._entries[loop] = entry
        await anext(lifetime)  # now the loop knows it, and closes it before it closes
        return entry

    async def _lifetime(
        self, loop: asyncio.AbstractEventLoop, client: httpx2.AsyncClient
    ) -> AsyncGenerator[None, None]:
        born = generation()
        try:
            yield
        finally:
            if generation() == born:  # a forked child leaves its parent's client alone
                await self._end(loop, client)

    async def _end(self, loop: asyncio.AbstractEventLoop, client: httpx2.AsyncClient) -> None:
        """Forget ``loop``'s client, and close it."""
        with self._lock:
            if self._entries.get(loop) is not None and self._entries[loop].route[0] is client:
                del self._entries[loop]
            if self._last[0] is loop:
                self._last = (None, None)
        with contextlib.suppress(Exception):  # a broken connection must not stop the rest
            await client.aclose()

    async def aclose(self) -> None:
        """Close every loop's client: this loop's now, a running other loop's in that loop.

        A client of a loop that is closed, or not running, is left to the garbage
        collector (its loop can no longer run anything; in development mode Python warns
        about its sockets, as it does for any pool of a loop closed with ``loop.close()``
        alone instead of ``asyncio.run`` or ``asyncio.Runner``).
        """
        self._closed = True
        with self._lock:
            entries = list(self._entries.values())
        here = asyncio.get_running_loop()
        elsewhere: list[asyncio.Future[None]] = []
        for entry in entries:
            if entry.loop is here:
                await entry.lifetime.aclose()
            elif entry.loop.is_running() and not entry.loop.is_closed():
                with contextlib.suppress(RuntimeError):  # it closed meanwhile
                    done = asyncio.run_coroutine_threadsafe(_finish(entry.lifetime), entry.loop)
                    elsewhere.append(asyncio.wrap_future(done))
        if elsewhere:  # a busy or stopping loop does not hold this one up for long
            await asyncio.wait(elsewhere, timeout=_ELSEWHERE_SECONDS)
        with self._lock:
            self._entries.clear()
            self._last = (None, None)
